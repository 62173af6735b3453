/* Floating-point fake-quant (SPEC §5), as microsoft/microxcaling's mx/elemwise_ops.py:
 * e = max(floor(log2|x|), emin), q = round(x·2^(M−e))·2^(e−M), saturated to ±max_norm.
 * The exponent comes from the float's bits and the powers of two are built from bits, so the
 * element function is plain arithmetic and its loops vectorise. Scaled per block:
 * y = s·Q(x/s), s = amax/max_norm (fp) or a power of two (mx, which makes x/s exact). */
#include "quant.h"

#include "error.h"
#include "op_util.h"
#include "parallel.h"
#include "quant_kernel.h"

#include <float.h>
#include <math.h>
#include <string.h>

typedef struct {
  const char *name;
  int ebits, mbits, emax; /* emax: the largest normal exponent, microxcaling's */
  float max_norm;
} fp_format;

static const fp_format formats[] = {
    {"e4m3", 4, 3, 8, 448.0f},    /* OCP: 1.75·2^8, the all-ones code is NaN */
    {"e5m2", 5, 2, 15, 57344.0f}, /* 1.75·2^15 */
    {"e3m2", 3, 2, 4, 28.0f},     /* 1.75·2^4 */
    {"e2m3", 2, 3, 2, 7.5f},      /* 1.875·2^2 */
    {"e2m1", 2, 1, 2, 6.0f},      /* 1.5·2^2 */
};

static const fp_format *format_of(slt_quant_format f) {
  return (unsigned)f < sizeof formats / sizeof *formats ? &formats[f] : NULL;
}

const char *slt_quant_format_name(slt_quant_format f) {
  const fp_format *p = format_of(f);
  return p ? p->name : NULL;
}

int slt_quant_format_bits(slt_quant_format f) {
  const fp_format *p = format_of(f);
  return p ? 1 + p->ebits + p->mbits : 0;
}

float slt_quant_fp_max(slt_quant_format f) {
  const fp_format *p = format_of(f);
  return p ? p->max_norm : 0.0f;
}

/* 2^k for k in [−126, 127], from its bits. */
static inline float pow2i(int k) {
  uint32_t b = (uint32_t)(k + 127) << 23;
  float f;
  memcpy(&f, &b, 4);
  return f;
}

/* floor(v) from rintf: GCC vectorises rintf, but floorf only with -fno-trapping-math. */
static inline float floor_r(float v) {
  float r = rintf(v);
  return r > v ? r - 1.0f : r;
}

/* Element quantizer. The exponent is floor(log2|x|) exactly (a subnormal float reads −127,
 * clipped to emin anyway; inf/NaN read 128, kept at 127 so the powers stay finite: inf
 * saturates, NaN stays NaN). Away from zero is microxcaling's sign(a)·floor(|a| + 0.5) in
 * float, taken literally (so |a| = 0.5 − 2^−25, where |a| + 0.5 rounds to 1, gives 1, as
 * there). */
static inline float fp_q(float x, int mbits, int emin, float maxn, bool even) {
  uint32_t u;
  memcpy(&u, &x, 4);
  int e = (int)((u >> 23) & 0xffu) - 127;
  e = e < emin ? emin : e > 127 ? 127 : e;
  float a = x * pow2i(mbits - e);
  float r = even ? rintf(a) : copysignf(floor_r(fabsf(a) + 0.5f), a);
  float q = r * pow2i(e - mbits);
  return q > maxn ? maxn : q < -maxn ? -maxn : q;
}

static inline int emin_of(const fp_format *p) {
  return 2 - (1 << (p->ebits - 1));
}

float slt_quant_fp_round(float x, slt_quant_format f, bool round_even) {
  const fp_format *p = format_of(f);
  return p ? fp_q(x, p->mbits, emin_of(p), p->max_norm, round_even) : NAN;
}

/* ---- the scaled op, shared by fp and mx ---- */

typedef struct {
  float *scale; /* per block, in the arena */
  int64_t block;
  float maxn;
  bool mask;
  bool pow2; /* every scale a power of two (mx): x·(1/s) is x/s exactly, and cheaper */
} fp_saved;

/* One task's y = s·Q(x/s). even and pow2 are constants at each call, so every inlined copy is a
 * plain vector map. */
static inline void fp_chunk(const float *x, float *y, int64_t lo, int64_t hi, float s, int mbits,
                            int emin, float maxn, bool even, bool pow2) {
  float inv = 1.0f / s;
#pragma omp simd
  for (int64_t i = lo; i < hi; i++)
    y[i] = s * fp_q(pow2 ? x[i] * inv : x[i] / s, mbits, emin, maxn, even);
}

static void fp_forward(const fp_saved *a, const fp_format *p, bool even, const float *x, float *y,
                       int64_t n) {
  quant_split sp = quant_split_make(n, a->block);
  int mbits = p->mbits, emin = emin_of(p);
  float maxn = p->max_norm;
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t t = 0; t < sp.tasks; t++) {
    int64_t lo, hi, b = quant_task(&sp, t, &lo, &hi);
    float s = a->scale[b];
    if (a->pow2 && even)
      fp_chunk(x, y, lo, hi, s, mbits, emin, maxn, true, true);
    else if (a->pow2)
      fp_chunk(x, y, lo, hi, s, mbits, emin, maxn, false, true);
    else if (even)
      fp_chunk(x, y, lo, hi, s, mbits, emin, maxn, true, false);
    else
      fp_chunk(x, y, lo, hi, s, mbits, emin, maxn, false, false);
  }
}

static void fp_backward(slt_ctx *c, slt_node *nd) {
  (void)c;
  const fp_saved *a = nd->saved;
  const float *x = nd->in[0]->data, *dy = nd->out->grad;
  float *dx = nd->in[0]->grad;
  int64_t n = nd->in[0]->numel;
  bool set = slt_grad_take(nd->in[0]); /* an activation's gradient: written, not added to */
  if (!a->mask) {
    if (set) {
      memcpy(dx, dy, (size_t)n * sizeof *dx);
      return;
    }
#pragma omp parallel for simd schedule(static) if (n >= SLT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) dx[i] += dy[i];
    return;
  }
  quant_split sp = quant_split_make(n, a->block);
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t t = 0; t < sp.tasks; t++) {
    int64_t lo, hi, b = quant_task(&sp, t, &lo, &hi);
    float inv = 1.0f / a->scale[b], maxn = a->maxn; /* only mx masks: s = 2^k, x·(1/s) exact */
    if (set) {
#pragma omp simd
      for (int64_t i = lo; i < hi; i++) dx[i] = fabsf(x[i] * inv) <= maxn ? dy[i] : 0.0f;
    } else {
#pragma omp simd
      for (int64_t i = lo; i < hi; i++) dx[i] += fabsf(x[i] * inv) <= maxn ? dy[i] : 0.0f;
    }
  }
}

/* The op once the per-block scales are in a->scale. */
static slt_tensor *fp_op(slt_ctx *c, const char *op, slt_tensor *x, fp_saved *a, const fp_format *p,
                         bool even) {
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  fp_forward(a, p, even, x->data, y->data, x->numel);
  if (slt_needs_grad(c, 1, &x)) {
    slt_node *nd = slt_record(c, op, fp_backward, y, 1, &x, sizeof *a);
    if (nd) nd->assigns = true;
    if (!nd) return NULL;
    memcpy(nd->saved, a, sizeof *a);
  }
  return y;
}

/* Checks shared by fp and mx; the format's entry, or NULL (error recorded). */
static const fp_format *fp_args(const char *op, const slt_tensor *x, slt_quant_format f,
                                int64_t block) {
  const fp_format *p = format_of(f);
  if (!x) return NULL;
  if (!p) {
    slt_err_set("%s: unknown format %d", op, (int)f);
    return NULL;
  }
  if (block < 1 || x->numel % block) {
    char s[64];
    slt_err_set("%s: block %lld does not divide the %lld elements of %s", op, (long long)block,
                (long long)x->numel, slt_tensor_shape_str(x, s, sizeof s));
    return NULL;
  }
  return p;
}

slt_tensor *slt_quant_fp(slt_ctx *c, slt_tensor *x, slt_quant_format f, int64_t block,
                         bool round_even) {
  const fp_format *p = fp_args("quant_fp", x, f, block);
  if (!p) return NULL;
  int64_t nb = x->numel / block;
  fp_saved a = {slt_arena_alloc(&c->arena, nb * sizeof(float)), block, p->max_norm, false, false};
  if (!a.scale || slt_quant_fp_scales(x, f, block, false, a.scale)) return NULL;
  return fp_op(c, "quant_fp", x, &a, p, round_even);
}

/* floor(log2 v) for v ≥ 0 as microxcaling takes it: v = 0 counts as FLT_MIN (−126). Read from
 * the bits (frexpf for the rare subnormal): this runs once per 32 elements. */
static inline int floor_log2(float v) {
  uint32_t u;
  memcpy(&u, &v, 4);
  int e = (int)((u >> 23) & 0xffu);
  if (e == 0 && v != 0) { /* subnormal */
    frexpf(v, &e);
    return e - 1;
  }
  return e == 0 ? -126 : e - 127; /* inf/NaN: 128, clamped by the caller */
}

/* 2^k for k in [−127, 127] (2^−127 is subnormal). */
static inline float pow2_scale(int k) {
  if (k >= -126) return pow2i(k);
  uint32_t b = 0x00400000u; /* 2^−127 */
  float f;
  memcpy(&f, &b, 4);
  return f;
}

slt_tensor *slt_quant_mx(slt_ctx *c, slt_tensor *x, slt_quant_format f, bool round_even,
                         bool ste_mask) {
  const fp_format *p = fp_args("quant_mx", x, f, SLT_QUANT_MX_BLOCK);
  if (!p) return NULL;
  if (x->shape[x->ndim - 1] % SLT_QUANT_MX_BLOCK) {
    char s[64];
    slt_err_set("quant_mx: the last dim must be a multiple of %d, shape %s", SLT_QUANT_MX_BLOCK,
                slt_tensor_shape_str(x, s, sizeof s));
    return NULL;
  }
  int64_t nb = x->numel / SLT_QUANT_MX_BLOCK;
  fp_saved a = {slt_arena_alloc(&c->arena, nb * sizeof(float)), SLT_QUANT_MX_BLOCK, p->max_norm,
                ste_mask, true};
  if (!a.scale || slt_quant_fp_scales(x, f, SLT_QUANT_MX_BLOCK, true, a.scale)) return NULL;
  return fp_op(c, "quant_mx", x, &a, p, round_even);
}

int slt_quant_fp_scales(const slt_tensor *x, slt_quant_format f, int64_t block, bool mx,
                        float *scale) {
  const fp_format *p = fp_args(mx ? "quant_mx" : "quant_fp", x, f, block);
  if (!p) return -1;
  int64_t nb = x->numel / block;
  block_ranges(x->data, x->numel, block, NULL, scale);
  for (int64_t b = 0; b < nb; b++) {
    if (mx) {
      int k = floor_log2(scale[b]) - p->emax; /* E8M0: exponents −127..127 */
      scale[b] = pow2_scale(k < -127 ? -127 : k > 127 ? 127 : k);
    } else {
      float s = scale[b] / p->max_norm;
      scale[b] = s >= FLT_MIN ? s : 1.0f; /* an all-zero block: any s gives 0 */
    }
  }
  return 0;
}
