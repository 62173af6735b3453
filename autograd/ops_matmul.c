/* Matrix products through slt_gemm (kernels/gemm.h), with transposes passed as flags rather than copies. */
#include "ops.h"

#include "op_util.h"
#include "parallel.h"

#include <string.h>

typedef struct {
  bool ta, tb;
  int M, N, K;
  int batch;              /* number of GEMMs */
  int64_t sa, sb, sc;     /* element strides between batch entries (0: broadcast) */
} matmul_saved;

/* dA and dB for one batch entry, with beta 0 (first write) or 1 (accumulate) each. */
static void matmul_backward_one(const matmul_saved *s, const float *a, const float *b,
                                const float *dc, float *da, float beta_a, float *db,
                                float beta_b) {
  if (da) {
    if (!s->ta) slt_gemm(false, !s->tb, s->M, s->K, s->N, dc, b, beta_a, da); /* dC·op(B)ᵀ */
    else slt_gemm(s->tb, true, s->K, s->M, s->N, b, dc, beta_a, da);          /* (dC·op(B)ᵀ)ᵀ */
  }
  if (db) {
    if (!s->tb) slt_gemm(!s->ta, false, s->K, s->N, s->M, a, dc, beta_b, db); /* op(A)ᵀ·dC */
    else slt_gemm(true, s->ta, s->N, s->K, s->M, dc, a, beta_b, db);          /* (op(A)ᵀ·dC)ᵀ */
  }
}

static void matmul_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const matmul_saved *s = n->saved;
  slt_tensor *a = n->in[0], *b = n->in[1];
  /* A broadcast operand (stride 0) is written by the first entry and added to by the rest. */
  float ba = a->requires_grad ? slt_grad_beta(a) : 1.0f;
  float bb = b->requires_grad ? slt_grad_beta(b) : 1.0f;
  for (int i = 0; i < s->batch; i++) {
    slt_gemm_hold(n->out->grad + i * s->sc); /* dC feeds both products */
    matmul_backward_one(s, a->data + i * s->sa, b->data + i * s->sb, n->out->grad + i * s->sc,
                        a->requires_grad ? a->grad + i * s->sa : NULL,
                        i && !s->sa ? 1.0f : ba, b->requires_grad ? b->grad + i * s->sb : NULL,
                        i && !s->sb ? 1.0f : bb);
  }
  slt_gemm_hold(NULL);
}

/* Batch count of a tensor: the product of its dims before the last two. */
static int batch_of(const slt_tensor *t) {
  int n = 1;
  for (int i = 0; i < t->ndim - 2; i++) n *= t->shape[i];
  return n;
}

static int dim_from_end(const slt_tensor *t, int k) { return t->ndim >= k ? t->shape[t->ndim - k] : 1; }

slt_tensor *slt_matmul(slt_ctx *c, slt_tensor *a, slt_tensor *b, bool trans_a, bool trans_b) {
  if (!a || !b) return NULL;
  if (a->ndim < 2 || b->ndim < 2)
    return slt_op_shape_error("matmul", "both operands need at least 2 dims", a, b);
  matmul_saved s = {.ta = trans_a, .tb = trans_b};
  int ka = trans_a ? dim_from_end(a, 2) : dim_from_end(a, 1);
  int kb = trans_b ? dim_from_end(b, 1) : dim_from_end(b, 2);
  if (ka != kb) return slt_op_shape_error("matmul", "inner dimensions differ", a, b);
  s.K = ka;
  s.M = trans_a ? dim_from_end(a, 1) : dim_from_end(a, 2);
  s.N = trans_b ? dim_from_end(b, 2) : dim_from_end(b, 1);
  int ba = batch_of(a), bb = batch_of(b);
  const slt_tensor *lead = a->ndim >= b->ndim ? a : b; /* output takes its leading dims */
  int shape[SLT_MAX_DIMS];
  for (int i = 0; i < lead->ndim - 2; i++) shape[i] = lead->shape[i];
  shape[lead->ndim - 2] = s.M;
  shape[lead->ndim - 1] = s.N;
  if (b->ndim == 2 && !trans_a) {
    /* Fold A's leading dims into M: one large GEMM instead of many small ones. */
    s.M *= ba;
    s.batch = 1;
  } else if (ba == bb || ba == 1 || bb == 1) {
    if (ba != bb && a->ndim > 2 && b->ndim > 2)
      return slt_op_shape_error("matmul", "batch dimensions differ", a, b);
    s.batch = ba > bb ? ba : bb;
    s.sa = ba == 1 ? 0 : (int64_t)s.M * s.K;
    s.sb = bb == 1 ? 0 : (int64_t)s.K * s.N;
    s.sc = (int64_t)s.M * s.N;
  } else {
    return slt_op_shape_error("matmul", "batch dimensions differ", a, b);
  }
  slt_tensor *out = slt_new(c, lead->ndim, shape);
  if (!out) return NULL;
  for (int i = 0; i < s.batch; i++)
    slt_gemm(trans_a, trans_b, s.M, s.N, s.K, a->data + i * s.sa, b->data + i * s.sb, 0.0f,
             out->data + i * s.sc);
  slt_tensor *in[2] = {a, b};
  if (slt_needs_grad(c, 2, in)) {
    slt_node *n = slt_record(c, "matmul", matmul_backward, out, 2, in, sizeof s);
    if (!n) return NULL;
    n->assigns = true;
    *(matmul_saved *)n->saved = s;
  }
  return out;
}

/* ---- linear: y = x·Wᵀ + b in one node ---- */

static void linear_backward(slt_ctx *c, slt_node *n) {
  slt_tensor *x = n->in[0], *w = n->in[1], *bias = n->nin > 2 ? n->in[2] : NULL;
  const float *dy = n->out->grad;
  uint16_t *x_bf16 = *(uint16_t **)n->saved; /* forward's bf16 copy of x, or NULL */
  int rows = (int)slt_tensor_rows(x), in = w->shape[1], out = w->shape[0];
  slt_gemm_hold(dy); /* read by both products: bf16 rounds it once */
  if (x->requires_grad)
    slt_gemm(false, false, rows, in, out, dy, w->data, slt_grad_beta(x), x->grad);
  if (w->requires_grad) {
    slt_gemm_hold_copy(x->data, x->numel, x_bf16, false);
    slt_gemm(true, false, out, in, rows, dy, x->data, slt_grad_beta(w), w->grad);
    slt_gemm_hold_copy(NULL, 0, NULL, false);
  }
  slt_gemm_hold(NULL);
  if (bias && bias->requires_grad) {
    float *scratch = slt_arena_alloc(&c->arena, sizeof(float) * SLT_COLSUM_PIECES * out);
    slt_column_sums(slt_grad_of(c, bias), dy, NULL, rows, out, 1.0f, scratch);
  }
}

slt_tensor *slt_linear(slt_ctx *c, slt_tensor *x, slt_tensor *w, slt_tensor *bias) {
  if (!x || !w) return NULL;
  if (w->ndim != 2 || slt_tensor_cols(x) != w->shape[1])
    return slt_op_shape_error("linear", "expected x (..., in) and weight (out, in)", x, w);
  int out_f = w->shape[0], in_f = w->shape[1], rows = (int)slt_tensor_rows(x);
  if (bias && bias->numel != out_f)
    return slt_op_shape_error("linear", "bias must have one entry per output", bias, w);
  int shape[SLT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = out_f;
  slt_tensor *y = slt_new(c, x->ndim, shape);
  if (!y) return NULL;
  if (bias) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * out_f >= SLT_PAR_MIN)
    for (int r = 0; r < rows; r++) memcpy(y->data + (int64_t)r * out_f, bias->data, out_f * sizeof(float));
  }
  slt_tensor *in[3] = {x, w, bias};
  bool record = slt_needs_grad(c, 3, in);
  /* bf16: round x once, for this product and backward's dW = dYᵀ·x. */
  uint16_t *x_bf16 = record && w->requires_grad && slt_gemm_precision() == SLT_PRECISION_BF16
                         ? slt_arena_alloc(&c->arena, (size_t)x->numel * sizeof(uint16_t))
                         : NULL;
  slt_gemm_hold_copy(x->data, x->numel, x_bf16, true);
  slt_gemm(false, true, rows, out_f, in_f, x->data, w->data, bias ? 1.0f : 0.0f, y->data);
  slt_gemm_hold_copy(NULL, 0, NULL, false);
  if (record) {
    slt_node *n = slt_record(c, "linear", linear_backward, y, bias ? 3 : 2, in, sizeof x_bf16);
    if (!n) return NULL;
    *(uint16_t **)n->saved = x_bf16;
    n->assigns = true;
  }
  return y;
}
