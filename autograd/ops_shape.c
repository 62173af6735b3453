/* reshape (a view of the same data) and the attention head layouts. */
#include "ops.h"

#include "op_util.h"
#include "parallel.h"

#include <string.h>

static void reshape_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *a = n->in[0];
  const float *g = n->out->grad;
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < a->numel; i++) a->grad[i] += g[i];
}

slt_tensor *slt_reshape(slt_ctx *c, slt_tensor *a, int ndim, const int *shape) {
  if (!a) return NULL;
  slt_tensor *out = slt_wrap(c, a->data, ndim, shape);
  if (!out) return NULL;
  if (out->numel != a->numel) return slt_op_shape_error("reshape", "numel must not change", a, out);
  if (slt_needs_grad(c, 1, &a) && !slt_record(c, "reshape", reshape_backward, out, 1, &a, 0))
    return NULL;
  return out;
}

/* Copy between (B, T, H, D) and (B, H, T, D); to_heads picks the direction.
 * src and dst are both indexed as (b, t, h) rows of D floats. */
static void permute_heads(const float *src, float *dst, int B, int T, int H, int D, bool to_heads,
                          bool accumulate) {
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * T * H * D >= SLT_PAR_MIN)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int h = 0; h < H; h++) {
        int64_t bth = (((int64_t)b * T + t) * H + h) * D; /* (B, T, H, D) */
        int64_t bht = (((int64_t)b * H + h) * T + t) * D; /* (B, H, T, D) */
        const float *s = src + (to_heads ? bth : bht);
        float *d = dst + (to_heads ? bht : bth);
        if (accumulate)
          for (int i = 0; i < D; i++) d[i] += s[i];
        else
          memcpy(d, s, D * sizeof(float));
      }
}

static void split_heads_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const int *s = n->out->shape; /* (B, H, T, D) */
  permute_heads(n->out->grad, n->in[0]->grad, s[0], s[2], s[1], s[3], false, true);
}

slt_tensor *slt_split_heads(slt_ctx *c, slt_tensor *a, int heads) {
  if (!a) return NULL;
  if (a->ndim != 3 || heads < 1 || a->shape[2] % heads)
    return slt_op_shape_error("split_heads", "expected (B, T, H*D) with H dividing the last dim", a, NULL);
  int B = a->shape[0], T = a->shape[1], D = a->shape[2] / heads;
  slt_tensor *out = slt_new(c, 4, (int[]){B, heads, T, D});
  if (!out) return NULL;
  permute_heads(a->data, out->data, B, T, heads, D, true, false);
  if (slt_needs_grad(c, 1, &a) && !slt_record(c, "split_heads", split_heads_backward, out, 1, &a, 0))
    return NULL;
  return out;
}

static void merge_heads_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const int *s = n->in[0]->shape; /* (B, H, T, D) */
  permute_heads(n->out->grad, n->in[0]->grad, s[0], s[2], s[1], s[3], true, true);
}

slt_tensor *slt_merge_heads(slt_ctx *c, slt_tensor *a) {
  if (!a) return NULL;
  if (a->ndim != 4) return slt_op_shape_error("merge_heads", "expected (B, H, T, D)", a, NULL);
  int B = a->shape[0], H = a->shape[1], T = a->shape[2], D = a->shape[3];
  slt_tensor *out = slt_new(c, 3, (int[]){B, T, H * D});
  if (!out) return NULL;
  permute_heads(a->data, out->data, B, T, H, D, false, false);
  if (slt_needs_grad(c, 1, &a) && !slt_record(c, "merge_heads", merge_heads_backward, out, 1, &a, 0))
    return NULL;
  return out;
}
