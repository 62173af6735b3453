/* Ternary row kernel, AVX-512 VNNI. A 64-byte block v holds 4 groups of 64 codes (bits 2l..2l+1);
 * v & 0x03 and v & 0x0c give groups 0 and 1 as code and 4·code, (v >> 4) the same for groups 2
 * and 3, all unsigned bytes <= 8 that vpdpbusd multiplies with 64 contiguous int8 activations.
 * Two accumulators per row and token, for scale 1 and scale 4; the second is a multiple of 4 in
 * every lane and an arithmetic shift by 2 recovers its sum exactly (|lane| <= 2^13 per block).
 * Σ (code − 1) q = Σ code q − Σ q. One token takes four rows at a time: one core reaches DRAM's
 * bandwidth only with several streams and software prefetch; more tokens share each row. */
#include "kernels/lowbit_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define INL TGT __attribute__((always_inline)) static inline

INL void tile(const uint8_t *w, int64_t row_bytes, const int8_t *q, int64_t qstride,
              const int32_t *qsum, int n, int32_t *out, int R, int T) {
  __m512i acc[4][4][2]; /* [row][token][scale 1 or 4] */
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) acc[r][t][0] = acc[r][t][1] = _mm512_setzero_si512();
  const __m512i m0 = _mm512_set1_epi8(0x03), m1 = _mm512_set1_epi8(0x0c);
  for (int64_t b = 0; b < row_bytes; b += 64) {
    __m512i v[4][2];
    for (int r = 0; r < R; r++) {
      const uint8_t *p = w + r * row_bytes + b;
      _mm_prefetch((const char *)p + SLT_LB_PREFETCH, _MM_HINT_T0);
      v[r][0] = _mm512_load_si512((const void *)p);
      v[r][1] = _mm512_srli_epi16(v[r][0], 4); /* groups 2, 3 down to bits 0-3 */
    }
    for (int l = 0; l < 4; l++)
      for (int r = 0; r < R; r++) {
        __m512i c = _mm512_and_si512(v[r][l / 2], l % 2 ? m1 : m0);
        for (int t = 0; t < T; t++) {
          __m512i xv = _mm512_load_si512((const void *)(q + t * qstride + 4 * b + 64 * l));
          acc[r][t][l % 2] = _mm512_dpbusd_epi32(acc[r][t][l % 2], c, xv);
        }
      }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) {
      __m512i s = _mm512_add_epi32(acc[r][t][0], _mm512_srai_epi32(acc[r][t][1], 2));
      out[r * n + t] = _mm512_reduce_add_epi32(s) - qsum[t];
    }
}

/* Named instances so each (R, T) is compiled with constant trip counts. */
TGT static void tile_4x1(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                         const int32_t *qsum, int n, int32_t *out) {
  tile(w, rb, q, qs, qsum, n, out, 4, 1);
}
TGT static void tile_2x1(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                         const int32_t *qsum, int n, int32_t *out) {
  tile(w, rb, q, qs, qsum, n, out, 2, 1);
}
TGT static void tile_1x1(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                         const int32_t *qsum, int n, int32_t *out) {
  tile(w, rb, q, qs, qsum, n, out, 1, 1);
}
TGT static void tile_1x2(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                         const int32_t *qsum, int n, int32_t *out) {
  tile(w, rb, q, qs, qsum, n, out, 1, 2);
}
TGT static void tile_1x3(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                         const int32_t *qsum, int n, int32_t *out) {
  tile(w, rb, q, qs, qsum, n, out, 1, 3);
}
TGT static void tile_1x4(const uint8_t *w, int64_t rb, const int8_t *q, int64_t qs,
                         const int32_t *qsum, int n, int32_t *out) {
  tile(w, rb, q, qs, qsum, n, out, 1, 4);
}

TGT void slt_tern_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                              int64_t qstride, const int32_t *qsum, int n, int32_t *out) {
  if (n == 1) { /* GEMV: four rows at a time, four memory streams and 16 independent chains */
    int r = 0;
    for (; r + 4 <= nrows; r += 4)
      tile_4x1(w + r * row_bytes, row_bytes, q, qstride, qsum, 1, out + r);
    for (; r + 2 <= nrows; r += 2)
      tile_2x1(w + r * row_bytes, row_bytes, q, qstride, qsum, 1, out + r);
    if (r < nrows) tile_1x1(w + r * row_bytes, row_bytes, q, qstride, qsum, 1, out + r);
    return;
  }
  /* Token groups outer: a group's activations stay in cache across the rows of the tile. */
  for (int t = 0; t < n; t += 4)
    for (int r = 0; r < nrows; r++) {
      const int8_t *qt = q + t * qstride;
      int32_t *o = out + r * n + t;
      switch (n - t < 4 ? n - t : 4) {
      case 1:
        tile_1x1(w + r * row_bytes, row_bytes, qt, qstride, qsum + t, n, o);
        break;
      case 2:
        tile_1x2(w + r * row_bytes, row_bytes, qt, qstride, qsum + t, n, o);
        break;
      case 3:
        tile_1x3(w + r * row_bytes, row_bytes, qt, qstride, qsum + t, n, o);
        break;
      default:
        tile_1x4(w + r * row_bytes, row_bytes, qt, qstride, qsum + t, n, o);
        break;
      }
    }
}

#else /* not x86-64: never selected (slt_cpu_supports says no) */
void slt_tern_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                          int64_t qstride, const int32_t *qsum, int n, int32_t *out) {
  slt_tern_kern_portable(w, row_bytes, nrows, q, qstride, qsum, n, out);
}
#endif
