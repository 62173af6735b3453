/* Cross-entropy fused with log-softmax.
 *
 * loss = (1/n) Σ_{r valid} (lse_r − logits[r, t_r]), lse_r = log Σ_j exp(logits[r, j]), over the
 * n rows whose target is not ignore_index. Forward keeps only lse (one float per row): a
 * rows×V probability tensor would be the largest activation of the model (V up to 50257).
 * When a gradient is wanted, forward also writes (softmax − onehot)/n while each row is in cache;
 * backward hands that buffer over as the gradient when the upstream gradient g is 1 (a loss
 * seeded with 1) and scales it otherwise; without it (arena out of room) backward recomputes
 * softmax from logits and lse: dlogits = g·(softmax − onehot)/n.
 *
 * Every row ignored (n = 0): the loss is 0 and the gradients are 0, rather than PyTorch's 0/0 =
 * NaN, so a batch made only of padding cannot poison a run.
 *
 * Rows run in parallel (static schedule); within a row the exp-sum uses LANES independent
 * accumulators, a fixed order GCC vectorises (a plain float sum it may not reorder).
 * The mean sums the per-row losses in double, in row order: deterministic for any thread count. */
#include "ops.h"

#include "fastmath.h"

#include "op_util.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

#define LANES 16

typedef struct {
  int64_t rows;
  int V;
  int32_t ignore;
  float inv_n;      /* 1/n_valid, or 0 when every row is ignored */
  const float *lse; /* (rows) */
  float *pre;       /* (rows, V): (softmax − onehot)/n made by forward, or NULL */
  int32_t *targets; /* (rows), copied: the caller's buffer may change before backward */
} xent_saved;


/* max of x[0..V). A max is exact in any order, so the simd reduction is deterministic; GCC
 * vectorises it only when told the order is free. */
static float row_max(const float *x, int V) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int j = 0; j < V; j++) m = x[j] > m ? x[j] : m;
  return m;
}

/* Σ exp(x[j] − m) over x[0..V) */
static float row_sum_exp(const float *x, int V, float m) {
  float acc[LANES] = {0};
  int j = 0;
  for (; j + LANES <= V; j += LANES)
    for (int l = 0; l < LANES; l++) acc[l] += slt_expf(x[j + l] - m);
  for (; j < V; j++) acc[0] += slt_expf(x[j] - m);
  double s = 0;
  for (int l = 0; l < LANES; l++) s += acc[l];
  return (float)s;
}

/* dx[0..V) += s·exp(x − lse) (= when set), then dx[t] −= s: s·(softmax − onehot) for one row. */
static void row_backward(const float *x, float lse, int t, float s, float *dx, int V, bool set) {
  if (set)
    for (int j = 0; j < V; j++) dx[j] = s * slt_expf(x[j] - lse);
  else
    for (int j = 0; j < V; j++) dx[j] += s * slt_expf(x[j] - lse);
  dx[t] -= s;
}

static void xent_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const xent_saved *s = n->saved;
  float g = n->out->grad[0] * s->inv_n;
  slt_tensor *logits = n->in[0];
  int V = s->V;
  bool set = slt_grad_take(logits);
  if (s->pre) { /* forward made the gradient for an upstream gradient of 1 */
    float k = n->out->grad[0];
    if (set && k == 1.0f) {
      logits->grad = s->pre; /* the usual case: a loss seeded with 1 costs no pass at all */
      return;
    }
    const float *p = s->pre;
    float *dx = logits->grad;
#pragma omp parallel for simd schedule(static) if (s->rows * V >= SLT_PAR_MIN)
    for (int64_t i = 0; i < s->rows * V; i++) dx[i] = slt_grad_acc(set, dx[i], k * p[i]);
    return;
  }
  /* logits, dlogits (rows, V); ignored rows get nothing (zeros when set) */
#pragma omp parallel for schedule(static) if (s->rows * V >= SLT_PAR_MIN)
  for (int64_t r = 0; r < s->rows; r++) {
    float *dx = logits->grad + r * V;
    if (s->targets[r] != s->ignore)
      row_backward(logits->data + r * V, s->lse[r], s->targets[r], g, dx, V, set);
    else if (set)
      memset(dx, 0, (size_t)V * sizeof *dx);
  }
}

/* Number of rows not ignored, or -1 (error recorded) for a target outside [0, V). */
static int64_t count_valid(const int32_t *targets, int64_t rows, int V, int32_t ignore) {
  int64_t n = 0;
  for (int64_t r = 0; r < rows; r++) {
    if (targets[r] == ignore) continue;
    if (targets[r] < 0 || targets[r] >= V) {
      slt_err_set("cross_entropy: target %d at row %lld is outside [0, %d) and is not "
                  "ignore_index (%d)",
                  targets[r], (long long)r, V, ignore);
      return -1;
    }
    n++;
  }
  return n;
}

/* lse (rows) and per-row losses (rows, 0 for ignored rows) of logits (rows, V); with pre, also
 * the gradient for an upstream 1, inv_n·(softmax − onehot), while each row is still in cache
 * (backward would read every logit from memory again). */
static void xent_rows(const float *logits, const int32_t *targets, int32_t ignore, int64_t rows,
                      int V, float *lse, double *loss, float *pre, float inv_n) {
#pragma omp parallel for schedule(static) if (rows * V >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *x = logits + r * V;
    float m = row_max(x, V);
    lse[r] = m + logf(row_sum_exp(x, V, m));
    loss[r] = targets[r] == ignore ? 0.0 : (double)lse[r] - x[targets[r]];
    if (pre && targets[r] != ignore) row_backward(x, lse[r], targets[r], inv_n, pre + r * V, V, true);
    else if (pre) memset(pre + r * V, 0, (size_t)V * sizeof *pre);
  }
}

/* Record the node; it keeps lse and its own copy of the targets. 0, or -1 when out of memory. */
static int xent_record(slt_ctx *c, slt_tensor *logits, slt_tensor *out, const int32_t *targets,
                       int32_t ignore, int64_t n_valid, const float *lse, float *pre) {
  int64_t rows = slt_tensor_rows(logits);
  int32_t *tcopy = slt_arena_alloc(&c->arena, (size_t)rows * sizeof(int32_t));
  if (!tcopy) return -1;
  slt_node *nd = slt_record(c, "cross_entropy", xent_backward, out, 1, &logits, sizeof(xent_saved));
  if (!nd) return -1;
  nd->assigns = true;
  memcpy(tcopy, targets, (size_t)rows * sizeof(int32_t));
  float inv_n = n_valid ? (float)(1.0 / (double)n_valid) : 0.0f;
  *(xent_saved *)nd->saved =
      (xent_saved){rows, slt_tensor_cols(logits), ignore, inv_n, lse, pre, tcopy};
  return 0;
}

slt_tensor *slt_cross_entropy(slt_ctx *c, slt_tensor *logits, const int32_t *targets,
                              int32_t ignore_index) {
  if (!logits) return NULL;
  if (!targets) {
    slt_err_set("cross_entropy: targets is NULL");
    return NULL;
  }
  int64_t rows = slt_tensor_rows(logits);
  int V = slt_tensor_cols(logits);
  int64_t n_valid = count_valid(targets, rows, V, ignore_index);
  if (n_valid < 0) return NULL;
  slt_tensor *out = slt_new(c, 1, (int[]){1});
  float *lse = slt_arena_alloc(&c->arena, (size_t)rows * sizeof(float));
  double *loss = slt_arena_alloc(&c->arena, (size_t)rows * sizeof(double));
  if (!out || !lse || !loss) return NULL;
  bool record = slt_needs_grad(c, 1, &logits);
  /* NULL when the arena cannot spare it: backward then recomputes from logits and lse */
  float *pre = record ? slt_arena_alloc(&c->arena, (size_t)rows * V * sizeof(float)) : NULL;
  float inv_n = n_valid ? (float)(1.0 / (double)n_valid) : 0.0f;
  xent_rows(logits->data, targets, ignore_index, rows, V, lse, loss, pre, inv_n);
  double total = 0;
  for (int64_t r = 0; r < rows; r++) total += loss[r]; /* row order: fixed */
  out->data[0] = n_valid ? (float)(total / (double)n_valid) : 0.0f;
  if (record && xent_record(c, logits, out, targets, ignore_index, n_valid, lse, pre))
    return NULL;
  return out;
}
