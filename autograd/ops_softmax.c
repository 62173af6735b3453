/* Softmax over the last dim. Backward needs only the output, which the node already holds:
 *   dx = y ⊙ (dy − Σ dy ⊙ y). */
#include "ops.h"

#include "fastmath.h"

#include "parallel.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Independent partial results: a row reduction vectorises without -ffast-math, in an order
 * fixed by the row length alone. */
#define LANES 64
_Static_assert(LANES == 64, "fold_lanes is written out for 64 lanes");


static float row_max(const float *x, int C) {
  float acc[LANES];
  for (int l = 0; l < LANES; l++) acc[l] = -INFINITY;
  int j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
  for (int l = 0; j + l < C; l++) acc[l] = x[j + l] > acc[l] ? x[j + l] : acc[l];
  for (int w = 32; w >= 1; w /= 2) /* max is order-free: a plain loop over levels will do */
    for (int l = 0; l < w; l++) acc[l] = acc[l + w] > acc[l] ? acc[l + w] : acc[l];
  return acc[0];
}

/* y = exp(x − max) / Σ; x, y (C). Exponentials go to y first so the row is read once. */
static void softmax_row(const float *x, float *y, int C) {
  float m = row_max(x, C), acc[LANES] = {0};
  int j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += y[j + l] = slt_expf(x[j + l] - m);
  for (int l = 0; j + l < C; l++) acc[l] += y[j + l] = slt_expf(x[j + l] - m);
  float inv = 1.0f / slt_fold64(acc);
  for (j = 0; j < C; j++) y[j] *= inv;
}

/* dx += y ⊙ (dy − Σ dy ⊙ y); y, dy, dx (C) */
static void softmax_row_backward(const float *y, const float *dy, float *dx, int C) {
  float acc[LANES] = {0};
  int j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += dy[j + l] * y[j + l];
  for (int l = 0; j + l < C; l++) acc[l] += dy[j + l] * y[j + l];
  float dot = slt_fold64(acc);
  for (j = 0; j < C; j++) dx[j] += y[j] * (dy[j] - dot);
}

static void softmax_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const slt_tensor *y = n->out;
  int C = slt_tensor_cols(y);
  int64_t rows = slt_tensor_rows(y);
  // y, dy, dx (rows, C)
#pragma omp parallel for schedule(static) if (rows * C >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++)
    softmax_row_backward(y->data + r * C, y->grad + r * C, n->in[0]->grad + r * C, C);
}

slt_tensor *slt_softmax(slt_ctx *c, slt_tensor *x) {
  if (!x) return NULL;
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  int C = slt_tensor_cols(x);
  int64_t rows = slt_tensor_rows(x);
  // x, y (rows, C)
#pragma omp parallel for schedule(static) if (rows * C >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) softmax_row(x->data + r * C, y->data + r * C, C);
  if (slt_needs_grad(c, 1, &x) && !slt_record(c, "softmax", softmax_backward, y, 1, &x, 0))
    return NULL;
  return y;
}
