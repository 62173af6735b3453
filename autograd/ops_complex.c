/* Complex building blocks on the [re | im] layout (SPEC §6): ComplexLinear through the real
 * block weight (one GEMM), complex RMSNorm, the gated relu² and conj(a)⊙u of the MLP, and the
 * complex per-token 8-bit activation quant. */
#include "complex.h"

#include "fastmath.h"

#include "op_util.h"
#include "ops.h"
#include "parallel.h"
#include "ternary.h"

#include <math.h>
#include <string.h>

/* ---- block weight: (W_re, W_im) (out, in) -> [[W_re, W_im], [W_im, −W_re]] (2out, 2in) ---- */

static void block_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *wr = n->in[0], *wi = n->in[1];
  int NO = wr->shape[0], NI = wr->shape[1];
  const float *g = n->out->grad;
#pragma omp parallel for schedule(static) if (wr->numel >= SLT_PAR_MIN)
  for (int i = 0; i < NO; i++) {
    const float *top = g + (int64_t)i * 2 * NI, *bot = g + (int64_t)(NO + i) * 2 * NI;
    float *dr = wr->requires_grad ? wr->grad + (int64_t)i * NI : NULL;
    float *di = wi->requires_grad ? wi->grad + (int64_t)i * NI : NULL;
    for (int j = 0; dr && j < NI; j++) dr[j] += top[j] - bot[NI + j];
    for (int j = 0; di && j < NI; j++) di[j] += top[NI + j] + bot[j];
  }
}

slt_tensor *slt_cplx_block_weight(slt_ctx *c, slt_tensor *w_re, slt_tensor *w_im) {
  if (!w_re || !w_im) return NULL;
  if (w_re->ndim != 2 || !slt_tensor_same_shape(w_re, w_im))
    return slt_op_shape_error("cplx_block_weight", "w_re and w_im must be (out, in) alike", w_re,
                              w_im);
  int NO = w_re->shape[0], NI = w_re->shape[1];
  slt_tensor *b = slt_new(c, 2, (int[]){2 * NO, 2 * NI});
  if (!b) return NULL;
#pragma omp parallel for schedule(static) if (w_re->numel >= SLT_PAR_MIN)
  for (int i = 0; i < NO; i++) {
    const float *r = w_re->data + (int64_t)i * NI, *m = w_im->data + (int64_t)i * NI;
    float *top = b->data + (int64_t)i * 2 * NI, *bot = b->data + (int64_t)(NO + i) * 2 * NI;
    for (int j = 0; j < NI; j++) {
      top[j] = r[j], top[NI + j] = m[j];
      bot[j] = m[j], bot[NI + j] = -r[j];
    }
  }
  slt_tensor *in[2] = {w_re, w_im};
  if (slt_needs_grad(c, 2, in) && !slt_record(c, "cplx_block_weight", block_backward, b, 2, in, 0))
    return NULL;
  return b;
}

slt_tensor *slt_cplx_linear(slt_ctx *c, slt_tensor *x, slt_tensor *w_re, slt_tensor *w_im) {
  if (!x || !w_re || !w_im) return NULL;
  if (w_re->ndim == 2 && slt_tensor_cols(x) != 2 * w_re->shape[1])
    return slt_op_shape_error("cplx_linear", "x's last dim must be 2·in ([re | im])", x, w_re);
  return slt_linear(c, x, slt_cplx_block_weight(c, w_re, w_im), NULL);
}

/* ---- complex RMSNorm ---- */

#define LANES 64

typedef struct {
  float *rstd; /* (rows) */
  float eps;
} cnorm_saved;

/* Σ x[j]² over 2H columns in 64 fixed lanes: vectorises, order fixed by the length alone. */
static float row_sumsq(const float *x, int n) {
  float acc[LANES] = {0};
  int j = 0;
  for (; j + LANES <= n; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += x[j + l] * x[j + l];
  for (int l = 0; j + l < n; l++) acc[l] += x[j + l] * x[j + l];
  return slt_fold64(acc);
}

static void cnorm_backward(slt_ctx *c, slt_node *n) {
  const cnorm_saved *s = n->saved;
  slt_tensor *x = n->in[0], *g = n->nin > 1 ? n->in[1] : NULL;
  int C = slt_tensor_cols(x), H = C / 2;
  int64_t rows = slt_tensor_rows(x);
  const float *dy = n->out->grad;
  /* x̂ = x·r for the gain's gradient Σ_rows dy ⊙ x̂ (scratch: the op saves only r per row) */
  float *xh = g && g->requires_grad ? slt_arena_alloc(&c->arena, x->numel * sizeof(float)) : NULL;
  // x, dy (rows, 2H); gain (2H); rstd (rows)
#pragma omp parallel for schedule(static) if (x->numel >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x->data + r * C, *d = dy + r * C;
    float rs = s->rstd[r];
    if (xh)
      for (int j = 0; j < C; j++) xh[r * C + j] = xr[j] * rs;
    if (!x->requires_grad) continue;
    float dot = 0; /* Σ (dy ⊙ g) ⊙ x, to the order of a plain loop: it is one row */
    for (int j = 0; j < C; j++) dot += d[j] * (g ? g->data[j] : 1.0f) * xr[j];
    float k = rs * rs * rs * dot / (float)H;
    float *dx = x->grad + r * C;
    for (int j = 0; j < C; j++) dx[j] += rs * d[j] * (g ? g->data[j] : 1.0f) - xr[j] * k;
  }
  if (xh) {
    float *scratch = slt_arena_alloc(&c->arena, (size_t)SLT_COLSUM_PIECES * C * sizeof(float));
    slt_column_sums(g->grad, dy, xh, rows, C, 1.0f, scratch);
  }
  if (g && g->requires_grad && !xh)
    slt_err_set("cplx_rmsnorm: out of memory for the gain's backward scratch");
}

slt_tensor *slt_cplx_rmsnorm(slt_ctx *c, slt_tensor *x, slt_tensor *gain, float eps) {
  if (!x) return NULL;
  int C = slt_tensor_cols(x);
  if (C % 2)
    return slt_op_shape_error("cplx_rmsnorm", "last dim must be even ([re | im])", x, NULL);
  if (gain && (gain->ndim != 1 || gain->shape[0] != C))
    return slt_op_shape_error("cplx_rmsnorm", "gain must be (2H) = [g_re | g_im]", x, gain);
  if (!(eps >= 0.0f)) {
    slt_err_set("cplx_rmsnorm: eps must be >= 0, got %g", eps);
    return NULL;
  }
  int64_t rows = slt_tensor_rows(x);
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  float *rstd = y ? slt_arena_alloc(&c->arena, rows * sizeof(float)) : NULL;
  if (!rstd) return NULL;
  float H = (float)(C / 2);
#pragma omp parallel for schedule(static) if (x->numel >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x->data + r * C;
    float rs = 1.0f / sqrtf(row_sumsq(xr, C) / H + eps); /* mean over H complex dims */
    float *yr = y->data + r * C;
    for (int j = 0; j < C; j++) yr[j] = xr[j] * rs * (gain ? gain->data[j] : 1.0f);
    rstd[r] = rs;
  }
  slt_tensor *in[2] = {x, gain};
  int nin = gain ? 2 : 1;
  if (slt_needs_grad(c, nin, in)) {
    slt_node *n = slt_record(c, "cplx_rmsnorm", cnorm_backward, y, nin, in, sizeof(cnorm_saved));
    if (!n) return NULL;
    *(cnorm_saved *)n->saved = (cnorm_saved){rstd, eps};
  }
  return y;
}

slt_tensor *slt_cplx_act_quant8(slt_ctx *c, slt_tensor *x) {
  if (x && slt_tensor_cols(x) % 2)
    return slt_op_shape_error("cplx_act_quant8", "last dim must be even ([re | im])", x, NULL);
  return slt_act_quant_absmax8_seg(c, x, 2);
}

/* ---- MLP: gated relu² and conj(a) ⊙ u, rows of (..., 2F) ---- */

/* 1 unless both parts are negative */
static inline float gate_of(float re, float im) {
  return re < 0.0f && im < 0.0f ? 0.0f : 1.0f;
}

static void relu2_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *a = n->in[0];
  int F = slt_tensor_cols(a) / 2;
  int64_t rows = slt_tensor_rows(a);
  const float *dy = n->out->grad;
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *re = a->data + r * 2 * F, *im = re + F, *gr = dy + r * 2 * F, *gi = gr + F;
    float *dr = a->grad + r * 2 * F, *di = dr + F;
    for (int j = 0; j < F; j++) {
      float m = 2.0f * gate_of(re[j], im[j]);
      dr[j] += gr[j] * m * re[j];
      di[j] += gi[j] * m * im[j];
    }
  }
}

slt_tensor *slt_cplx_relu2(slt_ctx *c, slt_tensor *a) {
  if (!a) return NULL;
  if (slt_tensor_cols(a) % 2)
    return slt_op_shape_error("cplx_relu2", "last dim must be even ([re | im])", a, NULL);
  int F = slt_tensor_cols(a) / 2;
  int64_t rows = slt_tensor_rows(a);
  slt_tensor *y = slt_new(c, a->ndim, a->shape);
  if (!y) return NULL;
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *re = a->data + r * 2 * F, *im = re + F;
    float *yr = y->data + r * 2 * F, *yi = yr + F;
    for (int j = 0; j < F; j++) {
      float m = gate_of(re[j], im[j]);
      yr[j] = m * re[j] * re[j];
      yi[j] = m * im[j] * im[j];
    }
  }
  if (slt_needs_grad(c, 1, &a) && !slt_record(c, "cplx_relu2", relu2_backward, y, 1, &a, 0))
    return NULL;
  return y;
}

static void conj_mul_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *a = n->in[0], *u = n->in[1];
  int F = slt_tensor_cols(a) / 2;
  int64_t rows = slt_tensor_rows(a);
  const float *dy = n->out->grad;
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o = r * 2 * F;
    const float *ar = a->data + o, *ai = ar + F, *ur = u->data + o, *ui = ur + F;
    const float *gr = dy + o, *gi = gr + F;
    if (a->requires_grad)
      for (int j = 0; j < F; j++) {
        a->grad[o + j] += gr[j] * ur[j] + gi[j] * ui[j];
        a->grad[o + F + j] += gr[j] * ui[j] - gi[j] * ur[j];
      }
    if (u->requires_grad)
      for (int j = 0; j < F; j++) {
        u->grad[o + j] += gr[j] * ar[j] - gi[j] * ai[j];
        u->grad[o + F + j] += gr[j] * ai[j] + gi[j] * ar[j];
      }
  }
}

slt_tensor *slt_cplx_conj_mul(slt_ctx *c, slt_tensor *a, slt_tensor *u) {
  if (!a || !u) return NULL;
  if (!slt_tensor_same_shape(a, u) || slt_tensor_cols(a) % 2)
    return slt_op_shape_error("cplx_conj_mul", "a and u must have one shape (..., 2F)", a, u);
  int F = slt_tensor_cols(a) / 2;
  int64_t rows = slt_tensor_rows(a);
  slt_tensor *h = slt_new(c, a->ndim, a->shape);
  if (!h) return NULL;
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    int64_t o = r * 2 * F;
    const float *ar = a->data + o, *ai = ar + F, *ur = u->data + o, *ui = ur + F;
    float *hr = h->data + o, *hi = hr + F;
    for (int j = 0; j < F; j++) {
      hr[j] = ar[j] * ur[j] + ai[j] * ui[j];
      hi[j] = ar[j] * ui[j] - ai[j] * ur[j];
    }
  }
  slt_tensor *in[2] = {a, u};
  if (slt_needs_grad(c, 2, in) && !slt_record(c, "cplx_conj_mul", conj_mul_backward, h, 2, in, 0))
    return NULL;
  return h;
}
