/* Block-diagonal products and the interleave permutation of the structured linears.
 * The blocks read and write strided column slices of x and y in place (lda = B·n, ldc = B·m), so a
 * block-diagonal product is B plain GEMMs with no gather or scatter copies. */
#include "ops.h"

#include "op_util.h"
#include "parallel.h"

#include <omp.h>
#include <string.h>

/* Blocks run in parallel, each GEMM single-threaded (OpenBLAS-OpenMP runs serially inside a
 * parallel region), when they split evenly over the threads: small per-block GEMMs scale
 * better this way than with BLAS's own threading. Each block writes its own slice: deterministic. */
static bool par_blocks(int B) {
  int t = omp_get_max_threads();
  return t > 1 && B % t == 0;
}

/* Y[:, b·m:(b+1)m] (+)= X[:, b·n:(b+1)n] · W_bᵀ for each block; X (rows, B·n), W (B, m, n). */
static void blockdiag_fwd(const float *x, const float *w, float *y, int rows, int B, int m, int n) {
#pragma omp parallel for schedule(static) if (par_blocks(B))
  for (int b = 0; b < B; b++)
    slt_gemm_ex(false, true, rows, m, n, 1.0f, x + (size_t)b * n, B * n, w + (size_t)b * m * n, n,
                0.0f, y + (size_t)b * m, B * m);
}

typedef struct {
  int rows, B, m, n;
} blockdiag_saved;

static void blockdiag_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const blockdiag_saved *s = n->saved;
  slt_tensor *x = n->in[0], *w = n->in[1];
  const float *dy = n->out->grad;
  int rows = s->rows, B = s->B, bm = s->m, bn = s->n;
#pragma omp parallel for schedule(static) if (par_blocks(B))
  for (int b = 0; b < B; b++) {
    const float *dyb = dy + (size_t)b * bm, *wb = w->data + (size_t)b * bm * bn;
    /* dX_b (rows, n) += dY_b (rows, m) · W_b (m, n) */
    if (x->requires_grad)
      slt_gemm_ex(false, false, rows, bn, bm, 1.0f, dyb, B * bm, wb, bn, 1.0f,
                  x->grad + (size_t)b * bn, B * bn);
    /* dW_b (m, n) += dY_bᵀ (m, rows) · X_b (rows, n) */
    if (w->requires_grad)
      slt_gemm_ex(true, false, bm, bn, rows, 1.0f, dyb, B * bm, x->data + (size_t)b * bn, B * bn,
                  1.0f, w->grad + (size_t)b * bm * bn, bn);
  }
}

slt_tensor *slt_blockdiag(slt_ctx *c, slt_tensor *x, slt_tensor *w) {
  if (!x || !w) return NULL;
  if (w->ndim != 3 || slt_tensor_cols(x) != w->shape[0] * w->shape[2])
    return slt_op_shape_error("blockdiag", "expected x (..., B·n) and w (B, m, n)", x, w);
  blockdiag_saved s = {(int)slt_tensor_rows(x), w->shape[0], w->shape[1], w->shape[2]};
  int shape[SLT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = s.B * s.m;
  slt_tensor *y = slt_new(c, x->ndim, shape);
  if (!y) return NULL;
  blockdiag_fwd(x->data, w->data, y->data, s.rows, s.B, s.m, s.n);
  slt_tensor *in[2] = {x, w};
  if (slt_needs_grad(c, 2, in)) {
    slt_node *nd = slt_record(c, "blockdiag", blockdiag_backward, y, 2, in, sizeof s);
    if (!nd) return NULL;
    *(blockdiag_saved *)nd->saved = s;
  }
  return y;
}

/* dst (rows, l, r) (+)= src (rows, r, l) transposed per row, plus bias (l·r) when given. */
static void transpose_rows(const float *src, float *dst, int64_t rows, int r, int l, bool acc,
                           const float *bias) {
  int64_t rl = (int64_t)r * l;
#pragma omp parallel for schedule(static) if (rows * rl >= SLT_PAR_MIN)
  for (int64_t t = 0; t < rows; t++) {
    const float *s = src + t * rl;
    float *d = dst + t * rl;
    for (int i = 0; i < r; i++)
      for (int j = 0; j < l; j++) {
        if (acc) d[(int64_t)j * r + i] += s[(int64_t)i * l + j];
        else d[(int64_t)j * r + i] = s[(int64_t)i * l + j];
      }
    if (bias)
      for (int64_t k = 0; k < rl; k++) d[k] += bias[k];
  }
}

typedef struct {
  int r, l;
} interleave_saved;

static void interleave_backward(slt_ctx *c, slt_node *n) {
  const interleave_saved *s = n->saved;
  slt_tensor *x = n->in[0];
  /* The inverse permutation is the transpose with the roles of r and l swapped. */
  int64_t rows = slt_tensor_rows(x);
  if (x->requires_grad) transpose_rows(n->out->grad, x->grad, rows, s->l, s->r, true, NULL);
  slt_tensor *bias = n->nin > 1 ? n->in[1] : NULL;
  if (bias && bias->requires_grad) {
    int cols = s->r * s->l;
    float *scratch = slt_arena_alloc(&c->arena, sizeof(float) * SLT_COLSUM_PIECES * cols);
    slt_column_sums(bias->grad, n->out->grad, NULL, rows, cols, 1.0f, scratch);
  }
}

slt_tensor *slt_interleave(slt_ctx *c, slt_tensor *x, int r, int l, slt_tensor *bias) {
  if (!x) return NULL;
  if (r < 1 || l < 1 || slt_tensor_cols(x) != r * l) {
    slt_err_set("interleave: last dim %d is not r·l = %d·%d", slt_tensor_cols(x), r, l);
    return NULL;
  }
  if (bias && bias->numel != r * l)
    return slt_op_shape_error("interleave", "bias must have one entry per output", bias, x);
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  transpose_rows(x->data, y->data, slt_tensor_rows(x), r, l, false, bias ? bias->data : NULL);
  slt_tensor *in[2] = {x, bias};
  if (slt_needs_grad(c, bias ? 2 : 1, in)) {
    slt_node *nd = slt_record(c, "interleave", interleave_backward, y, bias ? 2 : 1, in,
                              sizeof(interleave_saved));
    if (!nd) return NULL;
    *(interleave_saved *)nd->saved = (interleave_saved){r, l};
  }
  return y;
}
