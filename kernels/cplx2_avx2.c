/* {±1, ±i} row kernel, AVX2, multiplication-free. Per 32 weights the 2-bit codes index a
 * vpshufb table giving the sign σ = ±1 of each weight, and code & 1 marks the ±i weights;
 * _mm256_sign_epi8 applies σ to the activations (q >= −127 so −q fits), and maddubs against
 * 1 (all weights) or against the 0/1 marks (±i weights only) adds byte pairs into int16:
 *   Σ_all σ q_re = A + D, Σ_i σ q_re = D, Σ_all σ q_im = B − C, Σ_i σ q_im = B.
 * A pair sum is <= 254 and a 256-weight block adds 8 of them per int16 lane, after which the
 * lanes are flushed to int32 with madd(·, 1). */
#include "kernels/lowbit_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2")))
#define INL TGT __attribute__((always_inline)) static inline

INL int32_t hsum(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}

INL void tile(const uint8_t *w, int64_t row_bytes, const int8_t *qre, const int8_t *qim,
              int64_t qstride, int32_t *out, int T) {
  __m256i acc[2][4];
  for (int t = 0; t < T; t++)
    for (int s = 0; s < 4; s++) acc[t][s] = _mm256_setzero_si256();
  const __m256i three = _mm256_set1_epi8(3), one8 = _mm256_set1_epi8(1),
                one16 = _mm256_set1_epi16(1);
  /* σ by code: 0 (+1), 1 (+i) → +1; 2 (−1), 3 (−i) → −1 */
  const __m256i lut_sign = _mm256_setr_epi8(1, 1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1,
                                            -1, -1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);
  for (int64_t b = 0; b < row_bytes; b += 64) {
    __m256i p[2][4];
    for (int t = 0; t < T; t++)
      for (int s = 0; s < 4; s++) p[t][s] = _mm256_setzero_si256();
    _mm_prefetch((const char *)w + b + SLT_LB_PREFETCH, _MM_HINT_T0);
    for (int h = 0; h < 2; h++) {
      __m256i v = _mm256_load_si256((const __m256i *)(w + b + 32 * h));
      for (int l = 0; l < 4; l++) {
        __m256i c = _mm256_and_si256(_mm256_srli_epi16(v, 2 * l), three);
        __m256i sg = _mm256_shuffle_epi8(lut_sign, c), im = _mm256_and_si256(c, one8);
        for (int t = 0; t < T; t++) {
          int64_t off = t * qstride + 4 * b + 64 * l + 32 * h;
          __m256i r = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)(qre + off)), sg);
          __m256i i = _mm256_sign_epi8(_mm256_load_si256((const __m256i *)(qim + off)), sg);
          p[t][0] = _mm256_add_epi16(p[t][0], _mm256_maddubs_epi16(one8, r));
          p[t][1] = _mm256_add_epi16(p[t][1], _mm256_maddubs_epi16(im, r));
          p[t][2] = _mm256_add_epi16(p[t][2], _mm256_maddubs_epi16(one8, i));
          p[t][3] = _mm256_add_epi16(p[t][3], _mm256_maddubs_epi16(im, i));
        }
      }
    }
    for (int t = 0; t < T; t++)
      for (int s = 0; s < 4; s++)
        acc[t][s] = _mm256_add_epi32(acc[t][s], _mm256_madd_epi16(p[t][s], one16));
  }
  for (int t = 0; t < T; t++) {
    int32_t all_re = hsum(acc[t][0]), D = hsum(acc[t][1]), all_im = hsum(acc[t][2]),
            B = hsum(acc[t][3]);
    int32_t *o = out + 4 * t;
    o[0] = all_re - D; /* A */
    o[1] = B;
    o[2] = B - all_im; /* C = −(Σ_all σ q_im − B) */
    o[3] = D;
  }
}

TGT static void tile1(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, int64_t qs,
                      int32_t *out) {
  tile(w, rb, qr, qi, qs, out, 1);
}
TGT static void tile2(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, int64_t qs,
                      int32_t *out) {
  tile(w, rb, qr, qi, qs, out, 2);
}

TGT void slt_cplx2_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                             const int8_t *qim, int64_t qstride, int n, int32_t *out) {
  /* Token groups outer: a group's activations stay in cache across the rows of the tile. */
  for (int t = 0; t < n; t += 2)
    for (int r = 0; r < nrows; r++) {
      const uint8_t *wr = w + r * row_bytes;
      int32_t *o = out + (r * n + t) * 4;
      if (n - t >= 2)
        tile2(wr, row_bytes, qre + t * qstride, qim + t * qstride, qstride, o);
      else
        tile1(wr, row_bytes, qre + t * qstride, qim + t * qstride, qstride, o);
    }
}

#else
void slt_cplx2_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                         const int8_t *qim, int64_t qstride, int n, int32_t *out) {
  slt_cplx2_kern_portable(w, row_bytes, nrows, qre, qim, qstride, n, out);
}
#endif
