/* Complex attention on the [re | im] layout: heads split and merged so each head's row holds
 * [re | im] of that head; on that layout complex RoPE and the complex score are exactly the real
 * ops (rotate halves; a dot over 2D columns with scale 1/√(2D)), so those reuse slt_rope and the
 * fused slt_attention rather than copies of them. */
#include "complex.h"

#include "op_util.h"
#include "ops.h"
#include "parallel.h"

#include <string.h>

static void split_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_permute_heads(n->saved, n->out->grad, n->in[0]->grad, false, true);
}

static void merge_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_permute_heads(n->saved, n->out->grad, n->in[0]->grad, true, true);
}

/* out from x through L in the given direction, with its node. */
static slt_tensor *permute_op(slt_ctx *c, slt_tensor *x, const slt_heads_layout *L, bool to_heads,
                              int ndim, const int *shape) {
  slt_tensor *out = slt_new(c, ndim, shape);
  if (!out) return NULL;
  slt_permute_heads(L, x->data, out->data, to_heads, false);
  if (slt_needs_grad(c, 1, &x)) {
    slt_node *n = slt_record(c, to_heads ? "cplx_split_heads" : "cplx_merge_heads",
                             to_heads ? split_backward : merge_backward, out, 1, &x, sizeof *L);
    if (!n) return NULL;
    *(slt_heads_layout *)n->saved = *L;
  }
  return out;
}

slt_tensor *slt_cplx_split_heads(slt_ctx *c, slt_tensor *x, int col0, int heads, int head_dim) {
  if (!x) return NULL;
  if (x->ndim != 3 || x->shape[2] % 2 || heads < 1 || head_dim < 1 || col0 < 0 ||
      col0 + (int64_t)heads * head_dim > x->shape[2] / 2)
    return slt_op_shape_error(
        "cplx_split_heads", "expected (B, T, 2C) = [re | im] holding the requested heads", x, NULL);
  /* re at col0 + h·D, im C = width/2 columns later */
  slt_heads_layout L = {x->shape[0], x->shape[1], x->shape[2], col0, heads, head_dim, 2,
                        x->shape[2] / 2};
  return permute_op(c, x, &L, true, 4, (int[]){L.B, heads, L.T, 2 * head_dim});
}

slt_tensor *slt_cplx_merge_heads(slt_ctx *c, slt_tensor *x) {
  if (!x) return NULL;
  if (x->ndim != 4 || x->shape[3] % 2)
    return slt_op_shape_error("cplx_merge_heads", "expected (B, H, T, 2D)", x, NULL);
  int H = x->shape[1], D = x->shape[3] / 2;
  slt_heads_layout L = {x->shape[0], x->shape[2], 2 * H * D, 0, H, D, 2, H * D};
  return permute_op(c, x, &L, false, 3, (int[]){L.B, L.T, 2 * H * D});
}

slt_tensor *slt_cplx_rope(slt_ctx *c, slt_tensor *x, int pos0, float base) {
  /* rope's inv_freq[d] = base^(−2d/2D) = base^(−d/D), and rotating the halves (re, im) by θ is
   * (re + i·im)·e^{iθ}: the complex RoPE of SPEC §6, not an approximation of it. */
  return slt_rope(c, x, pos0, base);
}

slt_tensor *slt_cplx_attention(slt_ctx *c, slt_tensor *q, slt_tensor *k, slt_tensor *v) {
  /* q·kᵀ over the 2D columns [re | im] is q_re·k_re + q_im·k_im = Re(q·conj(k)); the scale
   * 1/√(last dim) is 1/√(2D); P·[v_re | v_im] = [P·v_re | P·v_im]. */
  return slt_attention(c, q, k, v);
}
