/* reshape (a view of the same data) and the attention head layouts. */
#include "ops.h"

#include "op_util.h"
#include "parallel.h"

#include <string.h>

static void reshape_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *a = n->in[0];
  const float *g = n->out->grad;
  bool set = slt_grad_take(a);
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < a->numel; i++) a->grad[i] = slt_grad_acc(set, a->grad[i], g[i]);
}

slt_tensor *slt_reshape(slt_ctx *c, slt_tensor *a, int ndim, const int *shape) {
  if (!a) return NULL;
  slt_tensor *out = slt_wrap(c, a->data, ndim, shape);
  if (!out) return NULL;
  if (out->numel != a->numel) return slt_op_shape_error("reshape", "numel must not change", a, out);
  if (slt_needs_grad(c, 1, &a)) {
    slt_node *n = slt_record(c, "reshape", reshape_backward, out, 1, &a, 0);
    if (!n) return NULL;
    n->assigns = true;
  }
  return out;
}

void slt_permute_heads(const slt_heads_layout *L, const float *src, float *dst, bool to_heads,
                       bool accumulate) {
  int B = L->B, T = L->T, H = L->H, D = L->D, P = L->parts;
#pragma omp parallel for collapse(2) schedule(static) if ((int64_t)B * T * H * D * P >= SLT_PAR_MIN)
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int h = 0; h < H; h++)
        for (int part = 0; part < P; part++) {
          int64_t flat = ((int64_t)b * T + t) * L->row + (int64_t)part * L->part_cols + L->col0 +
                         (int64_t)h * D;                                      /* (B, T, row) */
          int64_t bht = (((int64_t)b * H + h) * T + t) * P * D + (int64_t)part * D; /* (B,H,T,PD) */
          const float *s = src + (to_heads ? flat : bht);
          float *d = dst + (to_heads ? bht : flat);
          if (accumulate)
            for (int i = 0; i < D; i++) d[i] += s[i];
          else
            memcpy(d, s, D * sizeof(float));
        }
}

/* Zero the columns of (B, T, C) outside the heads' [col0, col0 + H·D). */
static void zero_other_columns(const slt_heads_layout *L, float *x) {
  int64_t lo = L->col0, hi = L->col0 + (int64_t)L->H * L->D;
  if (lo == 0 && hi == L->row) return;
#pragma omp parallel for schedule(static) if ((int64_t)L->B * L->T * L->row >= SLT_PAR_MIN)
  for (int64_t r = 0; r < (int64_t)L->B * L->T; r++) {
    memset(x + r * L->row, 0, lo * sizeof(float));
    memset(x + r * L->row + hi, 0, (L->row - hi) * sizeof(float));
  }
}

static void split_heads_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  /* The first of the splits of one tensor (q, k, v of a fused projection) writes its columns
   * and zeros the others; the later ones add into their own columns. */
  bool set = slt_grad_take(n->in[0]);
  if (set) zero_other_columns(n->saved, n->in[0]->grad);
  slt_permute_heads(n->saved, n->out->grad, n->in[0]->grad, false, !set);
}

slt_tensor *slt_split_heads_at(slt_ctx *c, slt_tensor *a, int col0, int heads, int head_dim) {
  if (!a) return NULL;
  if (a->ndim != 3 || heads < 1 || head_dim < 1 || col0 < 0 ||
      col0 + heads * head_dim > a->shape[2])
    return slt_op_shape_error("split_heads", "expected (B, T, C) holding the requested heads", a,
                              NULL);
  slt_heads_layout L = {a->shape[0], a->shape[1], a->shape[2], col0, heads, head_dim, 1, 0};
  slt_tensor *out = slt_new(c, 4, (int[]){L.B, heads, L.T, head_dim});
  if (!out) return NULL;
  slt_permute_heads(&L, a->data, out->data, true, false);
  if (slt_needs_grad(c, 1, &a)) {
    slt_node *n = slt_record(c, "split_heads", split_heads_backward, out, 1, &a, sizeof L);
    if (!n) return NULL;
    *(slt_heads_layout *)n->saved = L;
    n->assigns = true;
  }
  return out;
}

slt_tensor *slt_split_heads(slt_ctx *c, slt_tensor *a, int heads) {
  if (!a) return NULL;
  if (a->ndim != 3 || heads < 1 || a->shape[2] % heads)
    return slt_op_shape_error("split_heads", "expected (B, T, H*D) with H dividing the last dim",
                              a, NULL);
  return slt_split_heads_at(c, a, 0, heads, a->shape[2] / heads);
}

static void merge_heads_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_permute_heads(n->saved, n->out->grad, n->in[0]->grad, true, !slt_grad_take(n->in[0]));
}

slt_tensor *slt_merge_heads(slt_ctx *c, slt_tensor *a) {
  if (!a) return NULL;
  if (a->ndim != 4) return slt_op_shape_error("merge_heads", "expected (B, H, T, D)", a, NULL);
  slt_heads_layout L = {a->shape[0], a->shape[2], a->shape[1] * a->shape[3], 0, a->shape[1],
                        a->shape[3], 1, 0};
  slt_tensor *out = slt_new(c, 3, (int[]){L.B, L.T, L.row});
  if (!out) return NULL;
  slt_permute_heads(&L, a->data, out->data, false, false);
  if (slt_needs_grad(c, 1, &a)) {
    slt_node *n = slt_record(c, "merge_heads", merge_heads_backward, out, 1, &a, sizeof L);
    if (!n) return NULL;
    *(slt_heads_layout *)n->saved = L;
    n->assigns = true;
  }
  return out;
}
