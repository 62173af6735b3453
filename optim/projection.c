#include "projection.h"

#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A parameter as a matrix: rows = dim 0 (the channel view), each row the rest flattened. */
typedef struct shape2 {
  int64_t rows, cols, cpr; /* cpr: chunks (pieces) per row */
} shape2;

static shape2 shape_of(const slt_param *q) {
  shape2 s = {q->t.ndim > 1 ? q->t.shape[0] : 1, 0, 0};
  s.cols = q->t.numel / s.rows;
  s.cpr = (s.cols + SLT_PROJ_CHUNK - 1) / SLT_PROJ_CHUNK;
  return s;
}

/* [b, e) of piece k, relative to the parameter's first element. */
static void piece_range(shape2 s, int64_t k, int64_t *b, int64_t *e) {
  int64_t r = k / s.cpr, c = k % s.cpr;
  *b = r * s.cols + c * SLT_PROJ_CHUNK;
  *e = r * s.cols + (c + 1 < s.cpr ? (c + 1) * SLT_PROJ_CHUNK : s.cols);
}

int slt_proj_init(slt_proj *pr, const slt_params *p, double delta, double wd_ratio, double eps) {
  memset(pr, 0, sizeof *pr);
  pr->delta = delta, pr->wd_ratio = wd_ratio, pr->eps = eps, pr->count = p->count;
  pr->first = calloc((size_t)p->count + 1, sizeof *pr->first);
  pr->views = calloc((size_t)p->count + 1, 1);
  pr->held = calloc((size_t)p->count + 1, 1);
  if (!pr->first || !pr->views || !pr->held) goto oom;
  int64_t pieces = 0;
  for (int i = 0; i < p->count; i++) {
    pr->first[i] = pieces;
    if (p->items[i]->t.ndim < 2) continue;
    shape2 s = shape_of(p->items[i]);
    pieces += s.rows * s.cpr;
  }
  pr->sums = malloc((size_t)(pieces + 1) * 4 * sizeof(double));
  pr->coef = malloc((size_t)(pieces + 1) * sizeof(double));
  if (pr->sums && pr->coef) return 0;
oom:
  slt_proj_free(pr);
  slt_err_set("out of memory allocating the AdamP/SGDP projection scratch");
  return -1;
}

void slt_proj_free(slt_proj *pr) {
  free(pr->first);
  free(pr->sums);
  free(pr->coef);
  free(pr->views);
  free(pr->held);
  memset(pr, 0, sizeof *pr);
}

/* The sums of a piece: 8 lanes (lane k takes the elements ≡ k mod 8) of float partial sums over
 * each sub-chunk of SUB elements, added into double lanes; the lanes added in order at the end.
 * The result depends on the data and the shape alone. Float partials over SUB/8 = 32 terms keep
 * the work vectorised (GCC 12 splits every float→double vector conversion) and lose nothing that
 * matters: the reference computes these sums in float32 throughout. */
enum { SUB = SLT_PROJ_SUB };
typedef float v8f __attribute__((vector_size(32), aligned(4))); /* at any float address */

typedef struct sums_acc {
  double lane[4][8]; /* Σg·p, Σg², Σp², Σp·d */
} sums_acc;

/* Add n elements (a multiple of 8, at most SUB) to the lanes. */
static void sums_add(sums_acc *a, const float *x, const float *g, const float *d, int64_t n) {
  v8f gp = {0}, gg = {0}, pp = {0}, pd = {0};
  for (int64_t i = 0; i < n; i += 8) {
    v8f xv = *(const v8f *)(x + i), gv = *(const v8f *)(g + i), dv = *(const v8f *)(d + i);
    gp += gv * xv, gg += gv * gv, pp += xv * xv, pd += xv * dv;
  }
  for (int k = 0; k < 8; k++)
    a->lane[0][k] += gp[k], a->lane[1][k] += gg[k], a->lane[2][k] += pp[k], a->lane[3][k] += pd[k];
}

/* The piece's last n < 8 elements go to lanes 0..n-1; out = the four sums. */
static void sums_finish(sums_acc *a, const float *x, const float *g, const float *d, int64_t n,
                        double *out) {
  for (int k = 0; k < n; k++) {
    double xi = x[k], gi = g[k], di = d[k];
    a->lane[0][k] += gi * xi, a->lane[1][k] += gi * gi, a->lane[2][k] += xi * xi;
    a->lane[3][k] += xi * di;
  }
  for (int q = 0; q < 4; q++) {
    out[q] = 0;
    for (int k = 0; k < 8; k++) out[q] += a->lane[q][k];
  }
}

/* One piece [b, e): the kernel's step and the sums of the old p, a sub-chunk at a time. */
static void step_piece(const float *g, int64_t b, int64_t e, const slt_proj_kernel *k, bool hold,
                       double *out) {
  float d[SUB], old[SUB];
  sums_acc a = {{{0}}};
  for (int64_t s = b; s < e; s += SUB) {
    int64_t n = e - s < SUB ? e - s : SUB, n8 = n & ~(int64_t)7;
    k->step(k->ctx, s, s + n, hold, d, old);
    sums_add(&a, old, g + s, d, n8);
    if (n8 < n) sums_finish(&a, old + n8, g + s + n8, d + n8, n - n8, out);
  }
  if ((e - b) % 8 == 0) sums_finish(&a, NULL, NULL, NULL, 0, out);
}

void slt_proj_step(slt_proj *pr, const slt_params *p, int i, const slt_proj_kernel *k) {
  const slt_param *q = p->items[i];
  shape2 s = shape_of(q);
  const float *g = p->grad + q->offset;
  double *sums = pr->sums + 4 * pr->first[i];
  bool hold = !(k->decay >= 0.5f);
#pragma omp master
  pr->held[i] = hold; /* read after the barrier that follows the last step */
#pragma omp for schedule(static) nowait
  for (int64_t j = 0; j < s.rows * s.cpr; j++) {
    int64_t b, e;
    piece_range(s, j, &b, &e);
    step_piece(g, b, e, k, hold, sums + 4 * j);
  }
}

/* |cos| as torch.nn.functional.cosine_similarity: each norm clamped to eps separately. */
static double abs_cos(double gp, double gg, double pp, double eps) {
  return fabs(gp) / (fmax(sqrt(gg), eps) * fmax(sqrt(pp), eps));
}

/* Parameter i's view from its piece sums; when one fires, the coefficient of every piece:
 * d − p̂·⟨p̂, d⟩ with p̂ = p/(‖p‖ + eps) is d − coef·p, coef = ⟨p, d⟩/(‖p‖ + eps)². */
static slt_proj_view decide(slt_proj *pr, int64_t first, shape2 s) {
  const double *sums = pr->sums + 4 * first;
  double max_cos = 0, T[4] = {0};
  for (int64_t r = 0; r < s.rows; r++) {
    double row[4] = {0};
    for (int64_t c = 0; c < s.cpr; c++)
      for (int k = 0; k < 4; k++) row[k] += sums[4 * (r * s.cpr + c) + k];
    double cos = abs_cos(row[0], row[1], row[2], pr->eps);
    max_cos = cos > max_cos ? cos : max_cos;
    for (int k = 0; k < 4; k++) T[k] += row[k];
  }
  double *coef = pr->coef + first;
  if (max_cos < pr->delta / sqrt((double)s.cols)) {
    for (int64_t r = 0; r < s.rows; r++) {
      double pp = 0, pd = 0;
      for (int64_t c = 0; c < s.cpr; c++)
        pp += sums[4 * (r * s.cpr + c) + 2], pd += sums[4 * (r * s.cpr + c) + 3];
      double inv = 1.0 / (sqrt(pp) + pr->eps);
      for (int64_t c = 0; c < s.cpr; c++) coef[r * s.cpr + c] = pd * inv * inv;
    }
    return SLT_PROJ_CHANNEL;
  }
  if (abs_cos(T[0], T[1], T[2], pr->eps) < pr->delta / sqrt((double)(s.rows * s.cols))) {
    double inv = 1.0 / (sqrt(T[2]) + pr->eps);
    for (int64_t j = 0; j < s.rows * s.cpr; j++) coef[j] = T[3] * inv * inv;
    return SLT_PROJ_LAYER;
  }
  return SLT_PROJ_NONE;
}

bool slt_proj_decide_all(slt_proj *pr, const slt_params *p) {
  /* One thread per parameter (its sums' order is fixed), dynamic because wte alone holds a
   * quarter of the rows; the loop's barrier publishes the views and coefficients. */
#pragma omp for schedule(dynamic)
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    pr->views[i] = q->t.ndim < 2 ? SLT_PROJ_NONE : (uint8_t)decide(pr, pr->first[i], shape_of(q));
  }
  bool any = false;
  for (int i = 0; i < p->count; i++) any |= slt_proj_needs_fix(pr, i);
#pragma omp master
  for (int i = 0; i < p->count; i++) pr->fired[pr->views[i]]++;
  return any;
}

void slt_proj_fix(slt_proj *pr, const slt_params *p, int i, const slt_proj_kernel *k) {
  const slt_param *q = p->items[i];
  shape2 s = shape_of(q);
  float *restrict x = p->data + q->offset;
  const double *coef = pr->coef + pr->first[i];
  bool fired = pr->views[i] != SLT_PROJ_NONE, held = pr->held[i];
  /* old p = (p + back·d)·inv, undoing the first pass (or p itself when it was held); then
   * p ← old·decay' − scale·(d − coef·old) = old·(decay' + scale·coef) − scale·d. */
  const double scale = k->scale, back = held ? 0 : scale, inv = held ? 1 : 1.0 / k->decay;
  const double decay_fix = fired ? k->decay_proj : k->decay;
  float d[SUB];
#pragma omp for schedule(static) nowait
  for (int64_t j = 0; j < s.rows * s.cpr; j++) {
    int64_t b, e;
    piece_range(s, j, &b, &e);
    const double keep = decay_fix + scale * (fired ? coef[j] : 0);
    for (int64_t sb = b; sb < e; sb += SUB) {
      int64_t n = e - sb < SUB ? e - sb : SUB;
      for (int64_t t = 0; t < n; t += 16) __builtin_prefetch(x + sb + t, 1); /* during redo */
      k->redo(k->ctx, sb, sb + n, d);
      for (int64_t t = 0; t < n; t++) {
        double old = ((double)x[sb + t] + back * d[t]) * inv;
        x[sb + t] = (float)(old * keep - scale * d[t]);
      }
    }
  }
}
