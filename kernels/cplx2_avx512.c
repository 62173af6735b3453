/* {±1, ±i} row kernel, AVX-512 BW + VNNI, multiplication-free per weight: a weight w = i^k is two
 * ternary weights, f_R(k) = Re w / s_re = (1, 0, −1, 0) and f_I(k) = Im w / s_im = (0, 1, 0, −1),
 * and the kernel is the ternary one twice over. A 64-byte block v holds 4 groups of 64 codes
 * (bits 2l..2l+1); v & 0x0f and (v >> 4) & 0x0f hold the codes of groups (0, 1) and (2, 3), and a
 * 16-entry vpshufb table maps such a nibble straight to the unsigned coefficient u = 1 + f (0, 1
 * or 2) of one group's weights. vpdpbusd adds u·q of 4 bytes into int32, and with the
 * activation sums S = Σ q of the token (from the quantizer):
 *   A = Σ u_R q_re − S_re,  D = Σ u_I q_re − S_re,  B = Σ u_I q_im − S_im,  C = S_im − Σ u_R q_im.
 * Per 64 weights: 2 vpshufb and 4 vpdpbusd (and 3 shift/and per 256), against 8 vector ops in the
 * sign-then-sum form this replaced. vpdpbusd is the only product and multiplies by a 0/1/2
 * selector: it stands for the horizontal add of the SPEC's sign-and-swap sums.
 * Exactness: every lane sum is an int32; |Σ u q| <= 2·127·in <= 2^30 for in <= SLT_CPLX2_MAX_IN
 * = 2^22, and |Σ u q − S| <= 3·127·2^22 < 2^31, so nothing wraps.
 * One token (decode) takes four rows at a time (four memory streams, as the ternary kernel);
 * 2..4 tokens share a row's coefficients. */
#include "kernels/lowbit_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vnni")))
/* Prefetch distance along each of the 4 rows: this kernel spends ~4x the ternary one's time per
 * byte, so SLT_LB_PREFETCH (1024) runs too far ahead; 256-512 measured best (512 MiB GEMV, one
 * thread: 7.4-7.8 GB/s at 512 against 6.6 at 1024 and 6.9-7.2 without prefetch). */
#define CPLX2_PREFETCH 512
#define INL TGT __attribute__((always_inline)) static inline

INL __m512i bcast16(const int8_t *t) {
  return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)t));
}

INL void tile(const uint8_t *w, int64_t row_bytes, const int8_t *qre, const int8_t *qim,
              int64_t qstride, const int32_t *sre, const int32_t *sim, int n, int32_t *out, int R,
              int T) {
  __m512i acc[4][4][4]; /* [row][token][u_R q_re, u_I q_re, u_R q_im, u_I q_im] */
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++)
      for (int s = 0; s < 4; s++) acc[r][t][s] = _mm512_setzero_si512();
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m512i ur[2] = {bcast16(slt_cplx2_lut[0]), bcast16(slt_cplx2_lut[1])},
                ui[2] = {bcast16(slt_cplx2_lut[2]), bcast16(slt_cplx2_lut[3])};
  for (int64_t b = 0; b < row_bytes; b += 64) {
    __m512i k[4][2]; /* nibbles of groups (0, 1) and (2, 3) */
    for (int r = 0; r < R; r++) {
      const uint8_t *p = w + r * row_bytes + b;
      _mm_prefetch((const char *)p + CPLX2_PREFETCH, _MM_HINT_T0);
      __m512i v = _mm512_load_si512((const void *)p);
      k[r][0] = _mm512_and_si512(v, nib);
      /* 16-bit shift: the neighbour byte's bits land in the top nibble, which the and clears. */
      k[r][1] = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
    }
    for (int l = 0; l < 4; l++)
      for (int r = 0; r < R; r++) {
        __m512i cr = _mm512_shuffle_epi8(ur[l & 1], k[r][l >> 1]);
        __m512i ci = _mm512_shuffle_epi8(ui[l & 1], k[r][l >> 1]);
        for (int t = 0; t < T; t++) {
          int64_t off = t * qstride + 4 * b + 64 * l;
          __m512i xr = _mm512_load_si512((const void *)(qre + off));
          __m512i xi = _mm512_load_si512((const void *)(qim + off));
          acc[r][t][0] = _mm512_dpbusd_epi32(acc[r][t][0], cr, xr);
          acc[r][t][1] = _mm512_dpbusd_epi32(acc[r][t][1], ci, xr);
          acc[r][t][2] = _mm512_dpbusd_epi32(acc[r][t][2], cr, xi);
          acc[r][t][3] = _mm512_dpbusd_epi32(acc[r][t][3], ci, xi);
        }
      }
  }
  for (int r = 0; r < R; r++)
    for (int t = 0; t < T; t++) {
      int32_t *o = out + (r * n + t) * 4;
      o[0] = _mm512_reduce_add_epi32(acc[r][t][0]) - sre[t]; /* A */
      o[1] = _mm512_reduce_add_epi32(acc[r][t][3]) - sim[t]; /* B */
      o[2] = sim[t] - _mm512_reduce_add_epi32(acc[r][t][2]); /* C */
      o[3] = _mm512_reduce_add_epi32(acc[r][t][1]) - sre[t]; /* D */
    }
}

/* Named instances so each (R, T) is compiled with constant trip counts. */
#define INSTANCE(R, T)                                                                             \
  TGT static void tile_##R##x##T(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, \
                                 int64_t qs, const int32_t *sr, const int32_t *si, int n,          \
                                 int32_t *out) {                                                   \
    tile(w, rb, qr, qi, qs, sr, si, n, out, R, T);                                                 \
  }
INSTANCE(4, 1)
INSTANCE(2, 1)
INSTANCE(1, 1)
INSTANCE(1, 2)
INSTANCE(1, 3)
INSTANCE(1, 4)

TGT void slt_cplx2_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                               const int8_t *qim, int64_t qstride, const int32_t *sre,
                               const int32_t *sim, int n, int32_t *out) {
  if (n == 1) { /* GEMV: four rows at a time, four memory streams */
    int r = 0;
    for (; r + 4 <= nrows; r += 4)
      tile_4x1(w + r * row_bytes, row_bytes, qre, qim, qstride, sre, sim, 1, out + 4 * r);
    for (; r + 2 <= nrows; r += 2)
      tile_2x1(w + r * row_bytes, row_bytes, qre, qim, qstride, sre, sim, 1, out + 4 * r);
    if (r < nrows)
      tile_1x1(w + r * row_bytes, row_bytes, qre, qim, qstride, sre, sim, 1, out + 4 * r);
    return;
  }
  /* Token groups outer: a group's activations stay in cache across the rows of the tile. */
  for (int t = 0; t < n; t += 4)
    for (int r = 0; r < nrows; r++) {
      const uint8_t *wr = w + r * row_bytes;
      const int8_t *qr = qre + t * qstride, *qi = qim + t * qstride;
      int32_t *o = out + (r * n + t) * 4;
      switch (n - t < 4 ? n - t : 4) {
      case 1:
        tile_1x1(wr, row_bytes, qr, qi, qstride, sre + t, sim + t, n, o);
        break;
      case 2:
        tile_1x2(wr, row_bytes, qr, qi, qstride, sre + t, sim + t, n, o);
        break;
      case 3:
        tile_1x3(wr, row_bytes, qr, qi, qstride, sre + t, sim + t, n, o);
        break;
      default:
        tile_1x4(wr, row_bytes, qr, qi, qstride, sre + t, sim + t, n, o);
        break;
      }
    }
}

#else
void slt_cplx2_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                           const int8_t *qim, int64_t qstride, const int32_t *sre,
                           const int32_t *sim, int n, int32_t *out) {
  slt_cplx2_kern_portable(w, row_bytes, nrows, qre, qim, qstride, sre, sim, n, out);
}
#endif
