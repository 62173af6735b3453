/* Ternary row kernel, AVX-512 VNNI. For group l of a 64-byte block, codes & (3 << 2l) equals
 * 4^l · code as an unsigned byte (<= 128), so vpdpbusd multiplies it with 64 contiguous int8
 * activations without shifting; every lane's sum is then a multiple of 4^l and an arithmetic
 * shift by 2l recovers Σ code · q exactly (|lane| <= 2^16 per block, SLT_TERN_MAX_IN bounds the
 * row). Σ (code − 1) q = Σ code q − Σ q. Tiles of R rows × T tokens keep 4·R·T accumulators in
 * registers, enough independent chains to hide vpdpbusd's latency. */
#include "kernels/lowbit_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define INL TGT __attribute__((always_inline)) static inline

INL void tile(const uint8_t *w, int64_t row_bytes, const int8_t *q, int64_t qstride,
              const int32_t *qsum, int n, int32_t *out, int R, int T) {
  __m512i acc[2][4][4];
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++)
      for (int l = 0; l < 4; l++) acc[r][t][l] = _mm512_setzero_si512();
  const __m512i m0 = _mm512_set1_epi8(0x03), m1 = _mm512_set1_epi8(0x0c),
                m2 = _mm512_set1_epi8(0x30), m3 = _mm512_set1_epi8((char)0xc0);
  for (int64_t b = 0; b < row_bytes; b += 64) {
    __m512i c[2][4];
    for (int r = 0; r < R; r++) {
      __m512i v = _mm512_load_si512((const void *)(w + r * row_bytes + b));
      c[r][0] = _mm512_and_si512(v, m0);
      c[r][1] = _mm512_and_si512(v, m1);
      c[r][2] = _mm512_and_si512(v, m2);
      c[r][3] = _mm512_and_si512(v, m3);
    }
    for (int t = 0; t < T; t++) {
      const int8_t *x = q + t * qstride + 4 * b;
      for (int l = 0; l < 4; l++) {
        __m512i xv = _mm512_load_si512((const void *)(x + 64 * l));
        for (int r = 0; r < R; r++) acc[r][t][l] = _mm512_dpbusd_epi32(acc[r][t][l], c[r][l], xv);
      }
    }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) {
      __m512i s = _mm512_add_epi32(
          _mm512_add_epi32(acc[r][t][0], _mm512_srai_epi32(acc[r][t][1], 2)),
          _mm512_add_epi32(_mm512_srai_epi32(acc[r][t][2], 4), _mm512_srai_epi32(acc[r][t][3], 6)));
      out[r * n + t] = _mm512_reduce_add_epi32(s) - qsum[t];
    }
}

/* Named instances so each (R, T) is compiled with constant trip counts. */
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
  if (n == 1) { /* GEMV: two rows at a time for eight independent chains */
    int r = 0;
    for (; r + 2 <= nrows; r += 2)
      tile_2x1(w + r * row_bytes, row_bytes, q, qstride, qsum, 1, out + r);
    if (r < nrows) tile_1x1(w + r * row_bytes, row_bytes, q, qstride, qsum, 1, out + r);
    return;
  }
  for (int r = 0; r < nrows; r++)
    for (int t = 0; t < n; t += 4) {
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
