/* {±1, ±i} row kernel, AVX-512 BW + VNNI, multiplication-free. For group l of a 64-byte block,
 * vptestnmb / vptestmb against bits 2l and 2l+1 give the byte masks "real weight" and "negative
 * weight" straight from the packed codes. Per token, the activations are negated under the
 * negative mask (σ·q; q >= −127 so it fits) and summed four ways with vpdpbusd against 0/1
 * bytes, which here is only a horizontal add of 4 bytes into int32:
 *   Σ_real σ q_re = A, Σ_all σ q_re = A + D, Σ_real σ q_im = −C, Σ_all σ q_im = B − C.
 * Tiles of T = 2..4 tokens; one token goes through gemv1 below. */
#include "kernels/lowbit_kern.h"

#if defined(__x86_64__)
#include <immintrin.h>

#define TGT __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define INL TGT __attribute__((always_inline)) static inline

INL void tile(const uint8_t *w, int64_t row_bytes, const int8_t *qre, const int8_t *qim,
              int64_t qstride, int32_t *out, int T) {
  __m512i acc[4][4];
  for (int t = 0; t < T; t++)
    for (int s = 0; s < 4; s++) acc[t][s] = _mm512_setzero_si512();
  const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512(),
                bit_neg = _mm512_set1_epi8(2);
  for (int64_t b = 0; b < row_bytes; b += 64) {
    _mm_prefetch((const char *)w + b + SLT_LB_PREFETCH, _MM_HINT_T0);
    __m512i v = _mm512_load_si512((const void *)(w + b));
    for (int l = 0; l < 4; l++) {
      /* Shifting 16-bit words moves the neighbour byte's bits into the top, never into bits 0-1. */
      __m512i vl = l ? _mm512_srli_epi16(v, 2 * l) : v;
      __mmask64 real = _mm512_testn_epi8_mask(vl, ones), neg = _mm512_test_epi8_mask(vl, bit_neg);
      __m512i sel = _mm512_maskz_mov_epi8(real, ones);
      for (int t = 0; t < T; t++) {
        const int8_t *xr = qre + t * qstride + 4 * b + 64 * l,
                     *xi = qim + t * qstride + 4 * b + 64 * l;
        __m512i r = _mm512_load_si512((const void *)xr), i = _mm512_load_si512((const void *)xi);
        r = _mm512_mask_sub_epi8(r, neg, zero, r);
        i = _mm512_mask_sub_epi8(i, neg, zero, i);
        acc[t][0] = _mm512_dpbusd_epi32(acc[t][0], sel, r);
        acc[t][1] = _mm512_dpbusd_epi32(acc[t][1], ones, r);
        acc[t][2] = _mm512_dpbusd_epi32(acc[t][2], sel, i);
        acc[t][3] = _mm512_dpbusd_epi32(acc[t][3], ones, i);
      }
    }
  }
  for (int t = 0; t < T; t++) {
    int32_t s[4];
    for (int k = 0; k < 4; k++) s[k] = _mm512_reduce_add_epi32(acc[t][k]);
    int32_t *o = out + 4 * t;
    o[0] = s[0];        /* A */
    o[1] = s[3] - s[2]; /* B = (B − C) − (−C) */
    o[2] = -s[2];       /* C */
    o[3] = s[1] - s[0]; /* D = (A + D) − A */
  }
}

/* One token (decode), two vector ops fewer per 64 weights than tile: codes & (1 << 2l) is
 * 4^l on the ±i weights and 0 on the ±1 ones, so it serves as the selector without a mask-to-vector
 * move; each l then needs its own accumulator, shifted back exactly at the end (|lane| <= 4·64·127
 * per block). D = Σ_i σ q_re and B = Σ_i σ q_im come out directly, A and C from the totals. */
TGT static void gemv1(const uint8_t *w, int64_t row_bytes, const int8_t *qre, const int8_t *qim,
                      int32_t *out) {
  __m512i dre[4], dim[4], are[2], aim[2];
  for (int l = 0; l < 4; l++) dre[l] = dim[l] = _mm512_setzero_si512();
  are[0] = are[1] = aim[0] = aim[1] = _mm512_setzero_si512();
  const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512();
  for (int64_t b = 0; b < row_bytes; b += 64) {
    _mm_prefetch((const char *)w + b + SLT_LB_PREFETCH, _MM_HINT_T0);
    __m512i v = _mm512_load_si512((const void *)(w + b));
    for (int l = 0; l < 4; l++) {
      __mmask64 neg = _mm512_test_epi8_mask(v, _mm512_set1_epi8((char)(2 << (2 * l))));
      __m512i sel = _mm512_and_si512(v, _mm512_set1_epi8((char)(1 << (2 * l))));
      __m512i r = _mm512_load_si512((const void *)(qre + 4 * b + 64 * l));
      __m512i i = _mm512_load_si512((const void *)(qim + 4 * b + 64 * l));
      r = _mm512_mask_sub_epi8(r, neg, zero, r);
      i = _mm512_mask_sub_epi8(i, neg, zero, i);
      dre[l] = _mm512_dpbusd_epi32(dre[l], sel, r);
      dim[l] = _mm512_dpbusd_epi32(dim[l], sel, i);
      are[l & 1] = _mm512_dpbusd_epi32(are[l & 1], ones, r);
      aim[l & 1] = _mm512_dpbusd_epi32(aim[l & 1], ones, i);
    }
  }
  __m512i d = _mm512_add_epi32(
      _mm512_add_epi32(dre[0], _mm512_srai_epi32(dre[1], 2)),
      _mm512_add_epi32(_mm512_srai_epi32(dre[2], 4), _mm512_srai_epi32(dre[3], 6)));
  __m512i bb = _mm512_add_epi32(
      _mm512_add_epi32(dim[0], _mm512_srai_epi32(dim[1], 2)),
      _mm512_add_epi32(_mm512_srai_epi32(dim[2], 4), _mm512_srai_epi32(dim[3], 6)));
  int32_t D = _mm512_reduce_add_epi32(d), B = _mm512_reduce_add_epi32(bb);
  int32_t all_re = _mm512_reduce_add_epi32(_mm512_add_epi32(are[0], are[1]));
  int32_t all_im = _mm512_reduce_add_epi32(_mm512_add_epi32(aim[0], aim[1]));
  out[0] = all_re - D; /* A = Σ_all σ q_re − Σ_i σ q_re */
  out[1] = B;
  out[2] = B - all_im; /* C = −(Σ_all σ q_im − Σ_i σ q_im) */
  out[3] = D;
}

TGT static void tile2(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, int64_t qs,
                      int32_t *out) {
  tile(w, rb, qr, qi, qs, out, 2);
}
TGT static void tile3(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, int64_t qs,
                      int32_t *out) {
  tile(w, rb, qr, qi, qs, out, 3);
}
TGT static void tile4(const uint8_t *w, int64_t rb, const int8_t *qr, const int8_t *qi, int64_t qs,
                      int32_t *out) {
  tile(w, rb, qr, qi, qs, out, 4);
}

TGT void slt_cplx2_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                               const int8_t *qim, int64_t qstride, int n, int32_t *out) {
  /* Token groups outer: a group's activations stay in cache across the rows of the tile. */
  for (int t = 0; t < n; t += 4)
    for (int r = 0; r < nrows; r++) {
      const uint8_t *wr = w + r * row_bytes;
      const int8_t *qr = qre + t * qstride, *qi = qim + t * qstride;
      int32_t *o = out + (r * n + t) * 4;
      switch (n - t < 4 ? n - t : 4) {
      case 1:
        gemv1(wr, row_bytes, qr, qi, o);
        break;
      case 2:
        tile2(wr, row_bytes, qr, qi, qstride, o);
        break;
      case 3:
        tile3(wr, row_bytes, qr, qi, qstride, o);
        break;
      default:
        tile4(wr, row_bytes, qr, qi, qstride, o);
        break;
      }
    }
}

#else
void slt_cplx2_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                           const int8_t *qim, int64_t qstride, int n, int32_t *out) {
  slt_cplx2_kern_portable(w, row_bytes, nrows, qre, qim, qstride, n, out);
}
#endif
