/* Ternary row kernel, AVX2. maddubs multiplies the unsigned codes {0, 1, 2} (shifted down and
 * masked per group l) with 32 contiguous int8 activations into int16 pair sums (<= 512); one
 * 256-weight block adds 8 of them to each int16 lane (<= 4096), then the lanes are flushed to
 * int32 with madd(·, 1), so int16 never holds more than 256 weights' worth.
 * Σ (code − 1) q = Σ code q − Σ q. One token takes two rows at a time (two memory streams,
 * software prefetch); several tokens take one row and up to 4 tokens. */
#include "kernels/avx2_hsum.h"
#include "kernels/lowbit_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx2")))
#define INL TGT __attribute__((always_inline)) static inline

/* Rows × tokens: R = 2 (one token, two memory streams) or R = 1 with T <= 4 tokens. out[r·n + t].
 */
INL void tile(const uint8_t *w, int64_t row_bytes, const int8_t *q, int64_t qstride,
              const int32_t *qsum, int n, int32_t *out, int R, int T) {
  __m256i acc[2][4];
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) acc[r][t] = _mm256_setzero_si256();
  const __m256i three = _mm256_set1_epi8(3), ones = _mm256_set1_epi16(1);
  for (int64_t b = 0; b < row_bytes; b += 64) {
    __m256i v[2][2], p[2][4];
    for (int r = 0; r < R; r++) {
      const uint8_t *wr = w + r * row_bytes + b;
      _mm_prefetch((const char *)wr + SLT_LB_PREFETCH, _MM_HINT_T0);
      v[r][0] = _mm256_load_si256((const __m256i *)wr);
      v[r][1] = _mm256_load_si256((const __m256i *)(wr + 32));
      for (int t = 0; t < T; t++) p[r][t] = _mm256_setzero_si256();
    }
    for (int l = 0; l < 4; l++)
      for (int r = 0; r < R; r++) {
        __m256i c0 = _mm256_and_si256(_mm256_srli_epi16(v[r][0], 2 * l), three);
        __m256i c1 = _mm256_and_si256(_mm256_srli_epi16(v[r][1], 2 * l), three);
        for (int t = 0; t < T; t++) {
          const int8_t *x = q + t * qstride + 4 * b + 64 * l;
          __m256i s0 = _mm256_maddubs_epi16(c0, _mm256_load_si256((const __m256i *)x));
          __m256i s1 = _mm256_maddubs_epi16(c1, _mm256_load_si256((const __m256i *)(x + 32)));
          p[r][t] = _mm256_add_epi16(p[r][t], _mm256_add_epi16(s0, s1));
        }
      }
    for (int r = 0; r < R; r++)
      for (int t = 0; t < T; t++)
        acc[r][t] = _mm256_add_epi32(acc[r][t], _mm256_madd_epi16(p[r][t], ones));
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) out[r * n + t] = slt_hsum_avx2(acc[r][t]) - qsum[t];
}

TGT static void rows2(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                      const int32_t *qsum, int32_t *out) {
  tile(w, rb, q, qs, qsum, 1, out, 2, 1);
}
TGT static void tile1(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                      const int32_t *qsum, int32_t *out) {
  tile(w, rb, q, qs, qsum, 1, out, 1, 1);
}
TGT static void tile2(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                      const int32_t *qsum, int32_t *out) {
  tile(w, rb, q, qs, qsum, 2, out, 1, 2);
}
TGT static void tile3(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                      const int32_t *qsum, int32_t *out) {
  tile(w, rb, q, qs, qsum, 3, out, 1, 3);
}
TGT static void tile4(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                      const int32_t *qsum, int32_t *out) {
  tile(w, rb, q, qs, qsum, 4, out, 1, 4);
}

TGT void slt_tern_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                            int64_t qstride, const int32_t *qsum, int n, int32_t *out) {
  int r0 = 0;
  if (n == 1)
    for (; r0 + 2 <= nrows; r0 += 2)
      rows2(w + r0 * row_bytes, row_bytes, q, qstride, qsum, out + r0);
  /* Token groups outer: a group's activations stay in cache across the rows of the tile. */
  for (int t = 0; t < n; t += 4)
    for (int r = r0; r < nrows; r++) {
      const uint8_t *wr = w + r * row_bytes;
      const int8_t *qt = q + t * qstride;
      int32_t *o = out + r * n + t;
      switch (n - t < 4 ? n - t : 4) {
      case 1:
        tile1(wr, row_bytes, qt, qstride, qsum + t, o);
        break;
      case 2:
        tile2(wr, row_bytes, qt, qstride, qsum + t, o);
        break;
      case 3:
        tile3(wr, row_bytes, qt, qstride, qsum + t, o);
        break;
      default:
        tile4(wr, row_bytes, qt, qstride, qsum + t, o);
        break;
      }
    }
}

#else
void slt_tern_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                        int64_t qstride, const int32_t *qsum, int n, int32_t *out) {
  slt_tern_kern_portable(w, row_bytes, nrows, q, qstride, qsum, n, out);
}
#endif
