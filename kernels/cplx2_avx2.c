/* {±1, ±i} row kernel, AVX2, multiplication-free per weight: as the AVX-512 kernel, a weight is
 * two ternary weights f_R, f_I, and a 16-entry vpshufb table maps a nibble of packed codes
 * straight to one group's unsigned coefficients u = 1 + f (0, 1 or 2). maddubs adds the byte
 * pairs u·q into int16 and the activation sums S = Σ q undo the offset:
 *   A = Σ u_R q_re − S_re,  D = Σ u_I q_re − S_re,  B = Σ u_I q_im − S_im,  C = S_im − Σ u_R q_im.
 * Per 32 weights: 2 vpshufb, 4 maddubs, 4 int16 adds (and 3 shift/and per 128), against 2 + 2
 * sign + 4 + 4 + 2 in the sign-then-sum form this replaced.
 * Exactness: a pair is at most 2·2·127 = 508 (maddubs never saturates) and an int16 lane takes
 * 8 pairs per 256-weight block; lanes are flushed to int32 with madd(·, 1) every 8 blocks
 * (64 · 508 = 32512 <= 32767). int32 sums as in the AVX-512 kernel. */
#include "kernels/avx2_hsum.h"
#include "kernels/lowbit_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2")))
#define INL TGT __attribute__((always_inline)) static inline

#define FLUSH_BLOCKS 8 /* 256-weight blocks per int16 flush (bound above) */

INL __m256i bcast16(const int8_t *t) {
  return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)t));
}

INL void tile(const uint8_t *w, int64_t row_bytes, const int8_t *qre, const int8_t *qim,
              int64_t qstride, const int32_t *sre, const int32_t *sim, int32_t *out, int T) {
  __m256i acc[2][4]; /* [token][u_R q_re, u_I q_re, u_R q_im, u_I q_im] */
  for (int t = 0; t < T; t++)
    for (int s = 0; s < 4; s++) acc[t][s] = _mm256_setzero_si256();
  const __m256i nib = _mm256_set1_epi8(0x0f), one16 = _mm256_set1_epi16(1);
  const __m256i ur[2] = {bcast16(slt_cplx2_lut[0]), bcast16(slt_cplx2_lut[1])},
                ui[2] = {bcast16(slt_cplx2_lut[2]), bcast16(slt_cplx2_lut[3])};
  for (int64_t b0 = 0; b0 < row_bytes; b0 += 64 * FLUSH_BLOCKS) {
    int64_t b1 = b0 + 64 * FLUSH_BLOCKS < row_bytes ? b0 + 64 * FLUSH_BLOCKS : row_bytes;
    __m256i p[2][4];
    for (int t = 0; t < T; t++)
      for (int s = 0; s < 4; s++) p[t][s] = _mm256_setzero_si256();
    for (int64_t b = b0; b < b1; b += 64) {
      _mm_prefetch((const char *)w + b + SLT_LB_PREFETCH, _MM_HINT_T0);
      for (int h = 0; h < 2; h++) {
        __m256i v = _mm256_load_si256((const __m256i *)(w + b + 32 * h));
        __m256i k[2] = {_mm256_and_si256(v, nib), _mm256_and_si256(_mm256_srli_epi16(v, 4), nib)};
        for (int l = 0; l < 4; l++) {
          __m256i cr = _mm256_shuffle_epi8(ur[l & 1], k[l >> 1]);
          __m256i ci = _mm256_shuffle_epi8(ui[l & 1], k[l >> 1]);
          for (int t = 0; t < T; t++) {
            int64_t off = t * qstride + 4 * b + 64 * l + 32 * h;
            __m256i r = _mm256_load_si256((const __m256i *)(qre + off));
            __m256i i = _mm256_load_si256((const __m256i *)(qim + off));
            p[t][0] = _mm256_add_epi16(p[t][0], _mm256_maddubs_epi16(cr, r));
            p[t][1] = _mm256_add_epi16(p[t][1], _mm256_maddubs_epi16(ci, r));
            p[t][2] = _mm256_add_epi16(p[t][2], _mm256_maddubs_epi16(cr, i));
            p[t][3] = _mm256_add_epi16(p[t][3], _mm256_maddubs_epi16(ci, i));
          }
        }
      }
    }
    for (int t = 0; t < T; t++)
      for (int s = 0; s < 4; s++)
        acc[t][s] = _mm256_add_epi32(acc[t][s], _mm256_madd_epi16(p[t][s], one16));
  }
  for (int t = 0; t < T; t++) {
    int32_t *o = out + 4 * t;
    o[0] = slt_hsum_avx2(acc[t][0]) - sre[t]; /* A */
    o[1] = slt_hsum_avx2(acc[t][3]) - sim[t]; /* B */
    o[2] = sim[t] - slt_hsum_avx2(acc[t][2]); /* C */
    o[3] = slt_hsum_avx2(acc[t][1]) - sre[t]; /* D */
  }
}

TGT static void tile1(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, int64_t qs,
                      const int32_t *sr, const int32_t *si, int32_t *out) {
  tile(w, rb, qr, qi, qs, sr, si, out, 1);
}
TGT static void tile2(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, int64_t qs,
                      const int32_t *sr, const int32_t *si, int32_t *out) {
  tile(w, rb, qr, qi, qs, sr, si, out, 2);
}

TGT void slt_cplx2_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                             const int8_t *qim, int64_t qstride, const int32_t *sre,
                             const int32_t *sim, int n, int32_t *out) {
  /* Token groups outer: a group's activations stay in cache across the rows of the tile. */
  for (int t = 0; t < n; t += 2)
    for (int r = 0; r < nrows; r++) {
      const uint8_t *wr = w + r * row_bytes;
      int32_t *o = out + (r * n + t) * 4;
      const int8_t *qr = qre + t * qstride, *qi = qim + t * qstride;
      if (n - t >= 2)
        tile2(wr, row_bytes, qr, qi, qstride, sre + t, sim + t, o);
      else
        tile1(wr, row_bytes, qr, qi, qstride, sre + t, sim + t, o);
    }
}

#else
void slt_cplx2_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                         const int8_t *qim, int64_t qstride, const int32_t *sre, const int32_t *sim,
                         int n, int32_t *out) {
  slt_cplx2_kern_portable(w, row_bytes, nrows, qre, qim, qstride, sre, sim, n, out);
}
#endif
