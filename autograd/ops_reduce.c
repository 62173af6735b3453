/* sum and mean of all elements, accumulated in double in an order fixed by the size alone. */
#include "ops.h"

#include "parallel.h"

static void reduce_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *a = n->in[0];
  float g = n->out->grad[0] * *(const float *)n->saved; /* saved: 1 or 1/numel */
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < a->numel; i++) a->grad[i] += g;
}

static slt_tensor *reduce(slt_ctx *c, slt_tensor *a, bool mean) {
  if (!a) return NULL;
  slt_tensor *out = slt_new(c, 1, (int[]){1});
  if (!out) return NULL;
  float factor = mean ? 1.0f / (float)a->numel : 1.0f;
  double s = slt_sum_fixed(a->data, a->numel);
  out->data[0] = (float)(mean ? s / (double)a->numel : s);
  if (slt_needs_grad(c, 1, &a)) {
    slt_node *n = slt_record(c, mean ? "mean" : "sum", reduce_backward, out, 1, &a, sizeof(float));
    if (!n) return NULL;
    *(float *)n->saved = factor;
  }
  return out;
}

slt_tensor *slt_sum(slt_ctx *c, slt_tensor *a) { return reduce(c, a, false); }
slt_tensor *slt_mean(slt_ctx *c, slt_tensor *a) { return reduce(c, a, true); }
