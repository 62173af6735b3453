/* Integer fake-quant (SPEC §5): affine with fixed or on-the-fly scales, PyTorch's
 * fake_quantize_per_{tensor,channel}_affine to the bit, and the MinMaxObserver's qparams.
 * Backward recomputes q from x and the saved scales instead of saving a mask: reading x again
 * costs about what writing and reading a mask would, and keeps the arena small. */
#include "quant.h"

#include "error.h"
#include "op_util.h"
#include "parallel.h"
#include "quant_kernel.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* rintf, not nearbyintf: the same result in the default rounding mode, and GCC inlines it as one
 * vector round instruction (nearbyintf only with -fno-trapping-math). */
static inline float fq_clamp(float q, float qmin, float qmax) {
  return q < qmin ? qmin : q > qmax ? qmax : q; /* a NaN stays NaN */
}

int slt_quant_qparams(const slt_tensor *x, const slt_quant_spec *spec, float *scale, float *zero) {
  int64_t rows = slt_tensor_rows(x);
  int cols = slt_tensor_cols(x);
  if (spec->kind != SLT_QUANT_INT && spec->kind != SLT_QUANT_LSQ) {
    slt_err_set("quant qparams: not an integer spec");
    return -1;
  }
  if (slt_quant_check(spec, rows, cols, NULL, 0)) return -1;
  if (spec->scale == SLT_QSCALE_MINMAX && !zero) {
    slt_err_set("quant qparams: minmax needs a zero-point buffer");
    return -1;
  }
  int64_t block = slt_quant_block(spec, rows, cols), nb = x->numel / block;
  int qmin, qmax;
  slt_quant_range(spec, &qmin, &qmax);
  if (spec->scale == SLT_QSCALE_ABSMAX) {
    block_ranges(x->data, x->numel, block, NULL, scale);
    for (int64_t b = 0; b < nb; b++) {
      float s = scale[b] / (float)qmax;
      scale[b] = s >= FLT_MIN ? s : 1.0f; /* 0 (or denormal) absmax: 1/s would overflow */
      if (zero) zero[b] = 0;
    }
    return 0;
  }
  block_ranges(x->data, x->numel, block, zero, scale); /* zero holds min, scale max for now */
  for (int64_t b = 0; b < nb; b++) {
    /* PyTorch's MinMaxObserver (per_tensor_affine): the range always includes 0. */
    float mn = zero[b] < 0 ? zero[b] : 0, mx = scale[b] > 0 ? scale[b] : 0;
    float s = (mx - mn) / (float)(qmax - qmin);
    s = s > FLT_EPSILON ? s : FLT_EPSILON;
    float z = (float)qmin - rintf(mn / s);
    scale[b] = s;
    zero[b] = fq_clamp(z, (float)qmin, (float)qmax);
  }
  return 0;
}

/* ---- affine fake-quant with fixed qparams ---- */

typedef struct {
  float *scale, *zero; /* per block, copied into the arena; zero NULL: 0 */
  int64_t block;
  float qmin, qmax;
} affine_saved;

static void affine_forward(const affine_saved *a, const float *x, float *y, int64_t n) {
  quant_split sp = quant_split_make(n, a->block);
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t t = 0; t < sp.tasks; t++) {
    int64_t lo, hi, b = quant_task(&sp, t, &lo, &hi);
    float s = a->scale[b], inv = 1.0f / s, z = a->zero ? a->zero[b] : 0.0f;
    float qmin = a->qmin, qmax = a->qmax;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++) y[i] = (fq_clamp(rintf(x[i] * inv) + z, qmin, qmax) - z) * s;
  }
}

static void affine_backward(slt_ctx *c, slt_node *nd) {
  (void)c;
  const affine_saved *a = nd->saved;
  const float *x = nd->in[0]->data, *dy = nd->out->grad;
  float *dx = nd->in[0]->grad;
  int64_t n = nd->in[0]->numel;
  bool set = slt_grad_take(nd->in[0]); /* an activation's gradient: written, not added to */
  quant_split sp = quant_split_make(n, a->block);
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t t = 0; t < sp.tasks; t++) {
    int64_t lo, hi, b = quant_task(&sp, t, &lo, &hi);
    float inv = 1.0f / a->scale[b], z = a->zero ? a->zero[b] : 0.0f;
    float qmin = a->qmin, qmax = a->qmax;
    if (set) {
#pragma omp simd
      for (int64_t i = lo; i < hi; i++) {
        float q = rintf(x[i] * inv) + z;
        dx[i] = q >= qmin && q <= qmax ? dy[i] : 0.0f;
      }
    } else {
#pragma omp simd
      for (int64_t i = lo; i < hi; i++) {
        float q = rintf(x[i] * inv) + z;
        dx[i] += q >= qmin && q <= qmax ? dy[i] : 0.0f;
      }
    }
  }
}

/* Checks shared by the blocked ops: x given, block divides numel, qmin < qmax. */
static bool blocked_ok(const char *op, const slt_tensor *x, int64_t block, int qmin, int qmax) {
  if (!x) return false;
  if (block < 1 || x->numel % block) {
    char s[64];
    slt_err_set("%s: block %lld does not divide the %lld elements of %s", op, (long long)block,
                (long long)x->numel, slt_tensor_shape_str(x, s, sizeof s));
    return false;
  }
  if (qmin >= qmax) {
    slt_err_set("%s: qmin %d must be below qmax %d", op, qmin, qmax);
    return false;
  }
  return true;
}

slt_tensor *slt_quant_affine(slt_ctx *c, slt_tensor *x, const float *scale, const float *zero,
                             int64_t block, int qmin, int qmax) {
  if (!blocked_ok("quant_affine", x, block, qmin, qmax)) return NULL;
  int64_t nb = x->numel / block;
  affine_saved a = {slt_arena_alloc(&c->arena, nb * sizeof(float)),
                    zero ? slt_arena_alloc(&c->arena, nb * sizeof(float)) : NULL, block,
                    (float)qmin, (float)qmax};
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y || !a.scale || (zero && !a.zero)) return NULL;
  memcpy(a.scale, scale, nb * sizeof(float));
  if (zero) memcpy(a.zero, zero, nb * sizeof(float));
  affine_forward(&a, x->data, y->data, x->numel);
  if (slt_needs_grad(c, 1, &x)) {
    slt_node *nd = slt_record(c, "quant_affine", affine_backward, y, 1, &x, sizeof a);
    if (!nd) return NULL;
    nd->assigns = true;
    memcpy(nd->saved, &a, sizeof a);
  }
  return y;
}

/* ---- LSQ and LSQ+ (learned scale, zero point or offset) ---- */

typedef struct {
  affine_saved a; /* effective per-block s and z (LSQ) or β (LSQ+) */
  float g;        /* gradient factor of ds and dz (dβ) */
  double *part;   /* per task: Σ ds, Σ dz partials (2·tasks), combined in task order */
  bool plus;      /* LSQ+ (zero holds β) */
} lsq_saved;

/* Effective per-block parameters: s floored at FLT_EPSILON (where PyTorch clamps the parameter
 * in place), the zero point rounded half to even and clamped as PyTorch's forward does. */
static void lsq_params(lsq_saved *L, const slt_tensor *scale, const slt_tensor *off, bool plus,
                       int64_t nb) {
  for (int64_t b = 0; b < nb; b++) {
    float s = scale->data[b];
    L->a.scale[b] = s < FLT_EPSILON ? FLT_EPSILON : s;
    if (off)
      L->a.zero[b] = plus ? off->data[b] : fq_clamp(rintf(off->data[b]), L->a.qmin, L->a.qmax);
  }
}

static void lsq_plus_forward(const affine_saved *a, const float *x, float *y, int64_t n) {
  quant_split sp = quant_split_make(n, a->block);
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t t = 0; t < sp.tasks; t++) {
    int64_t lo, hi, b = quant_task(&sp, t, &lo, &hi);
    float s = a->scale[b], inv = 1.0f / s, beta = a->zero[b], qmin = a->qmin, qmax = a->qmax;
#pragma omp simd
    for (int64_t i = lo; i < hi; i++)
      y[i] = rintf(fq_clamp((x[i] - beta) * inv, qmin, qmax)) * s + beta;
  }
}

/* One task's LSQ terms (PyTorch's per-element formulas): dx when wanted, Σ ds and Σ dz.
 * want_dx is a constant at each call, so each inlined copy is a branch-free vector loop. */
static inline void lsq_chunk(const float *x, const float *dy, float *dx, int64_t lo, int64_t hi,
                             float s, float z, float qmin, float qmax, bool want_dx, double *out) {
  float inv = 1.0f / s;
  double ds = 0, dz = 0;
#pragma omp simd reduction(+ : ds, dz)
  for (int64_t i = lo; i < hi; i++) {
    float q = rintf(x[i] * inv) + z;
    bool in = q >= qmin && q <= qmax;
    if (want_dx) dx[i] += in ? dy[i] : 0.0f;
    ds += in ? dy[i] * ((q - z) * s - x[i]) * inv : dy[i] * ((q < qmin ? qmin : qmax) - z);
    dz += in ? 0.0f : -dy[i] * s;
  }
  out[0] = ds, out[1] = dz;
}

/* The same for LSQ+: v = (x − β)/s; in range ds = dy·(round(v) − v); outside ds = dy·qmin|qmax,
 * dβ = dy. */
static inline void lsq_plus_chunk(const float *x, const float *dy, float *dx, int64_t lo,
                                  int64_t hi, float s, float beta, float qmin, float qmax,
                                  bool want_dx, double *out) {
  float inv = 1.0f / s;
  double ds = 0, dbeta = 0;
#pragma omp simd reduction(+ : ds, dbeta)
  for (int64_t i = lo; i < hi; i++) {
    float v = (x[i] - beta) * inv;
    bool below = v<qmin, above = v> qmax, in = !below && !above;
    if (want_dx) dx[i] += in ? dy[i] : 0.0f;
    ds += in ? dy[i] * (rintf(v) - v) : dy[i] * (below ? qmin : qmax);
    dbeta += in ? 0.0f : dy[i];
  }
  out[0] = ds, out[1] = dbeta;
}

/* Per-task partial sums of ds and dz (dβ) into L->part, and dx += when dx is given. */
static void lsq_terms(const lsq_saved *L, const float *x, const float *dy, float *dx, int64_t n) {
  const affine_saved *a = &L->a;
  quant_split sp = quant_split_make(n, a->block);
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t t = 0; t < sp.tasks; t++) {
    int64_t lo, hi, b = quant_task(&sp, t, &lo, &hi);
    float s = a->scale[b], z = a->zero ? a->zero[b] : 0.0f;
    double *out = L->part + 2 * t;
    if (L->plus && dx)
      lsq_plus_chunk(x, dy, dx, lo, hi, s, z, a->qmin, a->qmax, true, out);
    else if (L->plus)
      lsq_plus_chunk(x, dy, dx, lo, hi, s, z, a->qmin, a->qmax, false, out);
    else if (dx)
      lsq_chunk(x, dy, dx, lo, hi, s, z, a->qmin, a->qmax, true, out);
    else
      lsq_chunk(x, dy, dx, lo, hi, s, z, a->qmin, a->qmax, false, out);
  }
}

static void lsq_backward(slt_ctx *c, slt_node *nd) {
  (void)c;
  const lsq_saved *L = nd->saved;
  slt_tensor *x = nd->in[0], *scale = nd->in[1], *off = nd->nin > 2 ? nd->in[2] : NULL;
  float *dx = x->requires_grad ? x->grad : NULL;
  lsq_terms(L, x->data, nd->out->grad, dx, x->numel);
  quant_split sp = quant_split_make(x->numel, L->a.block);
  for (int64_t b = 0; b < sp.tasks / sp.per_block; b++) {
    double ds = 0, dz = 0;
    for (int64_t t = b * sp.per_block; t < (b + 1) * sp.per_block; t++)
      ds += L->part[2 * t], dz += L->part[2 * t + 1];
    if (scale->requires_grad) scale->grad[b] += (float)(ds * L->g);
    if (off && off->requires_grad) off->grad[b] += (float)(dz * L->g);
  }
}

static slt_tensor *lsq_op(slt_ctx *c, const char *op, slt_tensor *x, slt_tensor *scale,
                          slt_tensor *off, int64_t block, int qmin, int qmax, bool gs) {
  bool plus = op[3] == '+'; /* "lsq+" */
  if (!blocked_ok(op, x, block, qmin, qmax)) return NULL;
  if (!scale || (plus && !off)) {
    slt_err_set("%s: needs a scale%s tensor", op, plus ? " and a beta" : "");
    return NULL;
  }
  int64_t nb = x->numel / block;
  if (scale->numel != nb || (off && off->numel != nb)) {
    slt_err_set("%s: scale%s must have %lld elements (one per block of %lld), got %lld%s", op,
                off ? " and offset" : "", (long long)nb, (long long)block, (long long)scale->numel,
                off && off->numel != nb ? " (offset differs)" : "");
    return NULL;
  }
  quant_split sp = quant_split_make(x->numel, block);
  lsq_saved L = {{slt_arena_alloc(&c->arena, nb * sizeof(float)),
                  off ? slt_arena_alloc(&c->arena, nb * sizeof(float)) : NULL, block, (float)qmin,
                  (float)qmax},
                 gs ? (float)(1.0 / sqrt((double)x->numel * qmax)) : 1.0f,
                 NULL,
                 plus};
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y || !L.a.scale || (off && !L.a.zero)) return NULL;
  lsq_params(&L, scale, off, plus, nb);
  (plus ? lsq_plus_forward : affine_forward)(&L.a, x->data, y->data, x->numel);
  slt_tensor *in[3] = {x, scale, off};
  int nin = off ? 3 : 2;
  if (slt_needs_grad(c, nin, in)) {
    L.part = slt_arena_alloc(&c->arena, 2 * sp.tasks * sizeof(double)); /* not in backward */
    slt_node *nd = L.part ? slt_record(c, op, lsq_backward, y, nin, in, sizeof L) : NULL;
    if (!nd) return NULL;
    memcpy(nd->saved, &L, sizeof L);
  }
  return y;
}

slt_tensor *slt_quant_lsq(slt_ctx *c, slt_tensor *x, slt_tensor *scale, slt_tensor *zero,
                          int64_t block, int qmin, int qmax, bool grad_scaling) {
  return lsq_op(c, "lsq", x, scale, zero, block, qmin, qmax, grad_scaling);
}

slt_tensor *slt_quant_lsq_plus(slt_ctx *c, slt_tensor *x, slt_tensor *scale, slt_tensor *beta,
                               int64_t block, int qmin, int qmax, bool grad_scaling) {
  return lsq_op(c, "lsq+", x, scale, beta, block, qmin, qmax, grad_scaling);
}

int slt_quant_lsq_init(const slt_tensor *x, const slt_quant_spec *spec, float *scale,
                       float *offset) {
  int64_t rows = slt_tensor_rows(x);
  int cols = slt_tensor_cols(x), qmin, qmax;
  if (slt_quant_check(spec, rows, cols, NULL, 0)) return -1;
  int64_t block = slt_quant_block(spec, rows, cols), nb = x->numel / block;
  slt_quant_range(spec, &qmin, &qmax);
  if (spec->scale == SLT_QSCALE_MINMAX) {
    if (!offset) {
      slt_err_set("quant lsq init: minmax (LSQ+) needs an offset buffer");
      return -1;
    }
    block_ranges(x->data, x->numel, block, offset, scale); /* offset = min, scale = max */
    for (int64_t b = 0; b < nb; b++) {
      float s = (scale[b] - offset[b]) / (float)(qmax - qmin);
      scale[b] = s > FLT_EPSILON ? s : FLT_EPSILON;
    }
    return 0;
  }
#pragma omp parallel for schedule(static) if (x->numel >= SLT_PAR_MIN && nb > 1)
  for (int64_t b = 0; b < nb; b++) {
    double a = 0;
    for (int64_t i = b * block; i < (b + 1) * block; i++) a += fabsf(x->data[i]);
    float s = (float)(2.0 * a / (double)block / sqrt((double)qmax));
    scale[b] = s > FLT_EPSILON ? s : FLT_EPSILON;
  }
  return 0;
}
