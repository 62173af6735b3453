/* Integer codes of a fake-quantized tensor, for export: the same scales and the same float
 * expressions as the ops (ops_quant_int.c, ops_quant_fp.c), so dequantizing the codes gives the
 * fake-quant output bit for bit. */
#include "quant.h"

#include "error.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Exponent and mantissa bits in slt_quant_format's order. */
static const int ebits[] = {4, 5, 3, 2, 2}, mbits[] = {3, 2, 2, 3, 1};

static inline float clampf(float q, float lo, float hi) { return q < lo ? lo : q > hi ? hi : q; }

float slt_quant_fp_decode(slt_quant_format f, int code) {
  if ((unsigned)f > SLT_QFMT_E2M1) return NAN;
  int E = ebits[f], M = mbits[f], bias = (1 << (E - 1)) - 1;
  int e = (code >> M) & ((1 << E) - 1), m = code & ((1 << M) - 1);
  float sign = (code >> (E + M)) & 1 ? -1.0f : 1.0f;
  if (f == SLT_QFMT_E4M3 && e == 15 && m == 7) return NAN; /* OCP E4M3: no infinities */
  if (f == SLT_QFMT_E5M2 && e == 31) return m ? NAN : sign * INFINITY;
  if (e == 0) return sign * ldexpf((float)m, 1 - bias - M);
  return sign * ldexpf((float)((1 << M) + m), e - bias - M);
}

int slt_quant_fp_encode(slt_quant_format f, float v) {
  if ((unsigned)f > SLT_QFMT_E2M1 || isnan(v)) return -1;
  int E = ebits[f], M = mbits[f], lo = 0, hi = (1 << (E + M)) - 1;
  float a = fabsf(v);
  /* Positive codes are ordered like their values: binary search among the finite ones. */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    float d = slt_quant_fp_decode(f, mid);
    if (d < a && !isnan(d))
      lo = mid + 1;
    else
      hi = mid;
  }
  if (slt_quant_fp_decode(f, lo) != a) return -1;
  return signbit(v) ? lo | 1 << (E + M) : lo; /* −0 too: the fake-quant output keeps it */
}

static int int_codes(const slt_tensor *x, const slt_quant_spec *s, const float *ls,
                     const float *lo, int64_t block, float *q, float *scale, float *zero) {
  int64_t nb = x->numel / block;
  int imin, imax;
  slt_quant_range(s, &imin, &imax);
  float qmin = (float)imin, qmax = (float)imax;
  bool lsq = s->kind == SLT_QUANT_LSQ, plus = lsq && s->scale == SLT_QSCALE_MINMAX;
  if (!lsq && slt_quant_qparams(x, s, scale, s->scale == SLT_QSCALE_MINMAX ? zero : NULL))
    return -1;
  for (int64_t b = 0; b < nb; b++) {
    if (lsq) { /* ops_quant_int.c's lsq_params: s floored; LSQ's zero point is 0 */
      scale[b] = ls[b] < FLT_EPSILON ? FLT_EPSILON : ls[b];
      zero[b] = plus ? lo[b] : 0.0f;
    } else if (s->scale == SLT_QSCALE_ABSMAX) {
      zero[b] = 0.0f;
    }
    float sc = scale[b], inv = 1.0f / sc, z = zero[b];
    const float *xb = x->data + b * block;
    float *qb = q + b * block;
    for (int64_t i = 0; i < block; i++)
      qb[i] = plus ? rintf(clampf((xb[i] - z) * inv, qmin, qmax))
                   : clampf(rintf(xb[i] * inv) + z, qmin, qmax);
  }
  return 0;
}

static int fp_codes(const slt_tensor *x, const slt_quant_spec *s, int64_t block, float *q,
                    float *scale, float *zero) {
  bool mx = s->kind == SLT_QUANT_MX;
  if (slt_quant_fp_scales(x, s->format, block, mx, scale)) return -1;
  for (int64_t b = 0; b < x->numel / block; b++) {
    float sc = scale[b], inv = 1.0f / sc;
    zero[b] = 0.0f;
    for (int64_t i = b * block; i < (b + 1) * block; i++) {
      float v = slt_quant_fp_round(mx ? x->data[i] * inv : x->data[i] / sc, s->format, s->round_even);
      int code = slt_quant_fp_encode(s->format, v);
      if (code < 0) {
        slt_err_set("quant codes: %g is not a %s value", v, slt_quant_format_name(s->format));
        return -1;
      }
      q[i] = (float)code;
    }
  }
  return 0;
}

int slt_quant_codes(const slt_tensor *x, const slt_quant_spec *s, const float *lsq_scale,
                    const float *lsq_offset, float *q, float *scale, float *zero) {
  int64_t rows = slt_tensor_rows(x);
  int cols = slt_tensor_cols(x);
  if (s->kind == SLT_QUANT_NONE || slt_quant_check(s, rows, cols, NULL, 0)) {
    if (s->kind == SLT_QUANT_NONE) slt_err_set("quant codes: kind none has no codes");
    return -1;
  }
  bool plus = s->kind == SLT_QUANT_LSQ && s->scale == SLT_QSCALE_MINMAX;
  if (s->kind == SLT_QUANT_LSQ && (!lsq_scale || (plus && !lsq_offset))) {
    slt_err_set("quant codes: lsq needs its learned scale%s", plus ? " and offset" : "");
    return -1;
  }
  int64_t block = slt_quant_block(s, rows, cols);
  if (s->kind == SLT_QUANT_INT || s->kind == SLT_QUANT_LSQ)
    return int_codes(x, s, lsq_scale, lsq_offset, block, q, scale, zero);
  return fp_codes(x, s, block, q, scale, zero);
}

void slt_quant_dequant(const slt_quant_spec *s, int64_t n, int64_t block, const float *q,
                       const float *scale, const float *zero, float *y) {
  bool fp = s->kind == SLT_QUANT_FP || s->kind == SLT_QUANT_MX;
  bool plus = s->kind == SLT_QUANT_LSQ && s->scale == SLT_QSCALE_MINMAX;
  for (int64_t b = 0; b < n / block; b++) {
    float sc = scale[b], z = zero[b];
    for (int64_t i = b * block; i < (b + 1) * block; i++)
      y[i] = fp     ? sc * slt_quant_fp_decode(s->format, (int)q[i])
             : plus ? q[i] * sc + z /* as LSQ+'s forward: rint(...)·s + β */
                    : (q[i] - z) * sc;
  }
}
