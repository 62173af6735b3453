/* PhaseQuant: complex weights to {±s_re, ±i·s_im} (SPEC §6), and Fairy2i's two-stage residual
 * form. Two passes over the weights: sums per fixed piece (double, in SIMD lanes within a piece,
 * pieces added in order, so the scales do not depend on the thread count), then the values. */
#include "complex.h"

#include "op_util.h"
#include "parallel.h"
#include "ternary.h"

#include <math.h>
#include <stdlib.h>

/* k with w ≈ s·i^k. The sector bounds of φ = atan2(im, re) as exact comparisons (a float atan2
 * would round φ near the diagonals): +1 is −re ≤ im < re (φ ∈ [−π/4, π/4)), +i is
 * −im < re ≤ im ([π/4, 3π/4)), −i is im ≤ re < −im ([−3π/4, −π/4)), −1 the rest: re < 0 with
 * |im| ≤ |re|, bar re = im (φ = −3π/4). w = 0 is +1 whatever the signs of its zeros. */
static inline int pq_code(float re, float im) {
  /* The sets are disjoint, so the code is a sum of flags: branch-free, the loops vectorise. */
  int c0 = (re > 0.0f) & (-re <= im) & (im < re);
  int c1 = (im > 0.0f) & (-im < re) & (re <= im);
  int c3 = (im < 0.0f) & (im <= re) & (re < -im);
  int zero = (re == 0.0f) & (im == 0.0f);
  return 2 - 2 * c0 - c1 + c3 - 2 * zero;
}

typedef struct {
  double sum_re, sum_im; /* Σ|w_re| over ±1, Σ|w_im| over ±i */
  int64_t n_re, n_im;
} pq_part;

static float pq_scale(double sum, int64_t n) {
  float m = n ? (float)(sum / (double)n) : 0.0f;
  return m > SLT_QUANT_FLOOR ? m : SLT_QUANT_FLOOR;
}

void slt_phasequant_stage(const float *w_re, const float *w_im, int64_t n, uint8_t *codes,
                          float *scales, float *q_re, float *q_im) {
  pq_part part[SLT_REDUCE_PIECES];
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    int64_t b, e;
    slt_piece(n, SLT_REDUCE_PIECES, p, &b, &e);
    double sum_re = 0, sum_im = 0;
    int64_t n_im = 0;
#pragma omp simd reduction(+ : sum_re, sum_im, n_im)
    for (int64_t i = b; i < e; i++) {
      int k = pq_code(w_re[i], w_im[i]), odd = k & 1; /* ±i: 1 */
      sum_re += odd ? 0.0 : (double)fabsf(w_re[i]);
      sum_im += odd ? (double)fabsf(w_im[i]) : 0.0;
      n_im += odd;
    }
    for (int64_t i = b; codes && i < e; i++) codes[i] = (uint8_t)pq_code(w_re[i], w_im[i]);
    pq_part s = {sum_re, sum_im, (e - b) - n_im, n_im};
    part[p] = s;
  }
  pq_part t = {0};
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    t.sum_re += part[p].sum_re, t.sum_im += part[p].sum_im;
    t.n_re += part[p].n_re, t.n_im += part[p].n_im;
  }
  float s_re = pq_scale(t.sum_re, t.n_re), s_im = pq_scale(t.sum_im, t.n_im);
  scales[0] = s_re, scales[1] = s_im;
  if (!q_re) return;
    // q_re, q_im (n): s·i^k, the re part from ±1 and the im part from ±i
#pragma omp parallel for simd schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    int k = pq_code(w_re[i], w_im[i]);
    q_re[i] = k == 0 ? s_re : k == 2 ? -s_re : 0.0f;
    q_im[i] = k == 1 ? s_im : k == 3 ? -s_im : 0.0f;
  }
}

/* Stage 1 into q (and codes/scales), then for stages = 2 stage 2 on the residual w − q₁ added to
 * q. r: scratch (2·n) for the residual and stage 2's values; unused for one stage. */
static void phasequant_run(const float *w_re, const float *w_im, int64_t n, int stages,
                           uint8_t *codes, float *scales, float *q_re, float *q_im, float *r) {
  slt_phasequant_stage(w_re, w_im, n, codes, scales, q_re, q_im);
  if (stages < 2) return;
  float *r_re = r, *r_im = r + n;
#pragma omp parallel for simd schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    r_re[i] = w_re[i] - q_re[i];
    r_im[i] = w_im[i] - q_im[i];
  }
  /* stage 2's values overwrite the residual in place: each element reads only itself */
  slt_phasequant_stage(r_re, r_im, n, codes ? codes + n : NULL, scales + 2, r_re, r_im);
#pragma omp parallel for simd schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t i = 0; i < n; i++) {
    q_re[i] += r_re[i];
    q_im[i] += r_im[i];
  }
}

static int check_args(const char *op, const slt_tensor *w_re, const slt_tensor *w_im, int stages) {
  if (!slt_tensor_same_shape(w_re, w_im)) {
    slt_op_shape_error(op, "w_re and w_im must have the same shape", w_re, w_im);
    return -1;
  }
  if (stages != 1 && stages != 2) {
    slt_err_set("%s: stages must be 1 or 2, got %d", op, stages);
    return -1;
  }
  return 0;
}

/* Straight-through estimator: dx += dy. */
static void ste_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *x = n->in[0];
  const float *dy = n->out->grad;
#pragma omp parallel for simd schedule(static) if (x->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < x->numel; i++) x->grad[i] += dy[i];
}

int slt_phasequant(slt_ctx *c, slt_tensor *w_re, slt_tensor *w_im, int stages, slt_tensor **q_re,
                   slt_tensor **q_im) {
  *q_re = *q_im = NULL;
  if (!w_re || !w_im) return -1;
  if (check_args("phasequant", w_re, w_im, stages)) return -1;
  int64_t n = w_re->numel;
  slt_tensor *yr = slt_new(c, w_re->ndim, w_re->shape), *yi = slt_new(c, w_re->ndim, w_re->shape);
  float *r = stages > 1 ? slt_arena_alloc(&c->arena, (size_t)(2 * n) * sizeof(float)) : NULL;
  if (!yr || !yi || (stages > 1 && !r)) return -1;
  float scales[4];
  phasequant_run(w_re->data, w_im->data, n, stages, NULL, scales, yr->data, yi->data, r);
  /* The STE is separable: each part's gradient reaches its own input, so two identity nodes. */
  if (slt_needs_grad(c, 1, &w_re) && !slt_record(c, "phasequant_re", ste_backward, yr, 1, &w_re, 0))
    return -1;
  if (slt_needs_grad(c, 1, &w_im) && !slt_record(c, "phasequant_im", ste_backward, yi, 1, &w_im, 0))
    return -1;
  *q_re = yr, *q_im = yi;
  return 0;
}

int slt_phasequant_codes(const slt_tensor *w_re, const slt_tensor *w_im, int stages, uint8_t *codes,
                         float *scales) {
  if (check_args("phasequant_codes", w_re, w_im, stages)) return -1;
  int64_t n = w_re->numel;
  float *q = malloc((size_t)(stages > 1 ? 4 : 2) * n * sizeof(float));
  if (!q) {
    slt_err_set("phasequant_codes: out of memory for %lld weights", (long long)n);
    return -1;
  }
  phasequant_run(w_re->data, w_im->data, n, stages, codes, scales, q, q + n, q + 2 * n);
  free(q);
  return 0;
}
