/* LayerNorm and RMSNorm over the last dim, one implementation: RMSNorm is LayerNorm without
 * the mean (centre = false). The variance is the biased one, as in PyTorch. Forward saves mean
 * and rstd per row so backward never recomputes the statistics. Gain/bias gradients are sums
 * over rows: each fixed piece of rows sums into its own partial, then the partials are added in
 * piece order, so the result does not depend on the thread count, and dx and the partials come
 * out of one pass over x and dy. */
#include "ops.h"

#include "fastmath.h"

#include "op_util.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

/* Independent partial sums: lets the compiler vectorise a row sum without -ffast-math, in an
 * order fixed by C alone. */
#define LANES 64
_Static_assert(LANES == 64, "fold_lanes is written out for 64 lanes");
/* Row pieces for the gain/bias partials: a function of the row count only (determinism), and
 * enough of them to keep up to a few hundred threads busy. */
#define NORM_PIECES 256
/* Columns per task when adding the partials. */
#define FOLD_BLOCK 64

typedef struct {
  float *mean; /* (rows); NULL for RMSNorm */
  float *rstd; /* (rows) */
  float *part; /* (pieces, 2, C): gain | bias partials; NULL when neither needs grad */
  int pieces;
  int gain_at, bias_at; /* position in node->in, or -1 */
} norm_saved;

/* Σ x[j] and Σ (x[j] − m)², x (C) */
static float row_sum(const float *x, int C) {
  float acc[LANES] = {0};
  int j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += x[j + l];
  for (int l = 0; j + l < C; l++) acc[l] += x[j + l];
  return slt_fold64(acc);
}
static float row_sq_dev(const float *x, float m, int C) {
  float acc[LANES] = {0};
  int j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += (x[j + l] - m) * (x[j + l] - m);
  for (int l = 0; j + l < C; l++) acc[l] += (x[j + l] - m) * (x[j + l] - m);
  return slt_fold64(acc);
}

/* One row: y = (x − m)·rstd ⊙ gain + bias, m = mean(x) or 0. x, y (C); g, b (C) or NULL. */
static void norm_row(const float *x, const float *g, const float *b, float eps, bool centre, int C,
                     float *y, float *m_out, float *rs_out) {
  float m = centre ? row_sum(x, C) / (float)C : 0.0f;
  float rs = 1.0f / sqrtf(row_sq_dev(x, m, C) / (float)C + eps);
  for (int j = 0; j < C; j++) y[j] = (x[j] - m) * rs * (g ? g[j] : 1.0f) + (b ? b[j] : 0.0f);
  if (m_out) *m_out = m;
  if (rs_out) *rs_out = rs;
}

/* One row of backward. With xh = (x − m)·rs and d = dy ⊙ gain:
 *   dx = rs·(d − mean(d) − xh·mean(d ⊙ xh))   (mean(d) term only when centred)
 * x, dy, dx (C); g (C) or NULL; pg, pb: this piece's gain/bias partials or NULL. */
static void norm_row_backward(const float *x, const float *dy, const float *g, float m, float rs,
                              bool centre, int C, float *dx, bool dx_set, float *pg, float *pb) {
  if (pg)
    for (int j = 0; j < C; j++) pg[j] += dy[j] * ((x[j] - m) * rs);
  if (pb)
    for (int j = 0; j < C; j++) pb[j] += dy[j];
  if (!dx) return;
  float s1[LANES] = {0}, s2[LANES] = {0};
  int j = 0;
  for (; j + LANES <= C; j += LANES)
    for (int l = 0; l < LANES; l++) {
      float d = dy[j + l] * (g ? g[j + l] : 1.0f);
      s1[l] += d;
      s2[l] += d * ((x[j + l] - m) * rs);
    }
  for (int l = 0; j + l < C; l++) {
    float d = dy[j + l] * (g ? g[j + l] : 1.0f);
    s1[l] += d;
    s2[l] += d * ((x[j + l] - m) * rs);
  }
  float a = centre ? slt_fold64(s1) / (float)C : 0.0f, k = slt_fold64(s2) / (float)C;
  for (j = 0; j < C; j++)
    dx[j] = slt_grad_acc(dx_set, dx[j], rs * (dy[j] * (g ? g[j] : 1.0f) - a - ((x[j] - m) * rs) * k));
}

/* grad[j] += Σ_p part[p·stride + j] with p in order; threads split the columns. */
static void fold_pieces(float *part, int pieces, int64_t stride, int C, float *grad) {
#pragma omp parallel for schedule(static) if ((int64_t)pieces * C >= SLT_PAR_MIN)
  for (int j0 = 0; j0 < C; j0 += FOLD_BLOCK) {
    int j1 = j0 + FOLD_BLOCK < C ? j0 + FOLD_BLOCK : C;
    for (int p = 1; p < pieces; p++)
      for (int j = j0; j < j1; j++) part[j] += part[p * stride + j];
    for (int j = j0; j < j1; j++) grad[j] += part[j];
  }
}

static void norm_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const norm_saved *s = n->saved;
  slt_tensor *x = n->in[0];
  slt_tensor *g = s->gain_at >= 0 ? n->in[s->gain_at] : NULL;
  slt_tensor *b = s->bias_at >= 0 ? n->in[s->bias_at] : NULL;
  bool want_g = s->part && g && g->requires_grad, want_b = s->part && b && b->requires_grad;
  const float *gd = g ? g->data : NULL, *dy = n->out->grad;
  float *dx = x->requires_grad ? x->grad : NULL;
  bool dx_set = dx && slt_grad_take(x);
  int C = slt_tensor_cols(x);
  int64_t rows = slt_tensor_rows(x);
  // x, dy, dx (rows, C); part (pieces, 2, C)
#pragma omp parallel for schedule(static) if (rows * C >= SLT_PAR_MIN)
  for (int p = 0; p < s->pieces; p++) {
    float *pg = want_g ? s->part + (int64_t)p * 2 * C : NULL,
          *pb = want_b ? s->part + (int64_t)(2 * p + 1) * C : NULL;
    if (pg) memset(pg, 0, C * sizeof(float));
    if (pb) memset(pb, 0, C * sizeof(float));
    int64_t r0, r1;
    slt_piece(rows, s->pieces, p, &r0, &r1);
    for (int64_t r = r0; r < r1; r++)
      norm_row_backward(x->data + r * C, dy + r * C, gd, s->mean ? s->mean[r] : 0.0f, s->rstd[r],
                        s->mean != NULL, C, dx ? dx + r * C : NULL, dx_set, pg, pb);
  }
  if (want_g) fold_pieces(s->part, s->pieces, 2 * (int64_t)C, C, slt_grad_of(c, g));
  if (want_b) fold_pieces(s->part + C, s->pieces, 2 * (int64_t)C, C, slt_grad_of(c, b));
}

static slt_tensor *norm(slt_ctx *c, const char *op, slt_tensor *x, slt_tensor *g, slt_tensor *b,
                        float eps, bool centre) {
  if (!x) return NULL;
  int C = slt_tensor_cols(x);
  if (g && g->numel != C)
    return slt_op_shape_error(op, "gain must have one entry per feature of x's last dim", g, x);
  if (b && b->numel != C)
    return slt_op_shape_error(op, "bias must have one entry per feature of x's last dim", b, x);
  if (!(eps >= 0.0f)) {
    slt_err_set("%s: eps must be >= 0, got %g", op, eps);
    return NULL;
  }
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  int64_t rows = slt_tensor_rows(x);
  norm_saved s = {.gain_at = -1, .bias_at = -1};
  slt_tensor *in[3] = {x};
  int nin = 1;
  if (g) s.gain_at = nin, in[nin++] = g;
  if (b) s.bias_at = nin, in[nin++] = b;
  bool record = slt_needs_grad(c, nin, in);
  if (record) {
    /* Scratch for backward is taken now, where running out of memory can still be reported. */
    s.pieces = rows < NORM_PIECES ? (int)rows : NORM_PIECES;
    s.rstd = slt_arena_alloc(&c->arena, rows * sizeof(float));
    s.mean = centre ? slt_arena_alloc(&c->arena, rows * sizeof(float)) : NULL;
    bool partials = (g && g->requires_grad) || (b && b->requires_grad);
    s.part = partials ? slt_arena_alloc(&c->arena, (size_t)s.pieces * 2 * C * sizeof(float)) : NULL;
    if (!s.rstd || (centre && !s.mean) || (partials && !s.part)) return NULL;
  }
  const float *gd = g ? g->data : NULL, *bd = b ? b->data : NULL;
  // x, y (rows, C); gain, bias (C)
#pragma omp parallel for schedule(static) if (rows * C >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++)
    norm_row(x->data + r * C, gd, bd, eps, centre, C, y->data + r * C, s.mean ? s.mean + r : NULL,
             s.rstd ? s.rstd + r : NULL);
  if (record) {
    slt_node *n = slt_record(c, op, norm_backward, y, nin, in, sizeof s);
    if (!n) return NULL;
    *(norm_saved *)n->saved = s;
    n->assigns = true;
  }
  return y;
}

slt_tensor *slt_layernorm(slt_ctx *c, slt_tensor *x, slt_tensor *gain, slt_tensor *bias,
                          float eps) {
  return norm(c, "layernorm", x, gain, bias, eps, true);
}

slt_tensor *slt_rmsnorm(slt_ctx *c, slt_tensor *x, slt_tensor *gain, float eps) {
  return norm(c, "rmsnorm", x, gain, NULL, eps, false);
}
