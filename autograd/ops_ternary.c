/* Ternary weight fake-quant and per-token 8-bit activation fake-quant (SPEC §5), STE backward. */
#include "ternary.h"

#include "op_util.h"
#include "parallel.h"

#include <math.h>
#include <string.h>

/* Σ|x[0..n)| in double: fixed pieces, 4 double lanes each (vectorises), pieces added in order. */
static double abs_sum(const float *x, int64_t n) {
  double part[SLT_REDUCE_PIECES];
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    int64_t b, e;
    slt_piece(n, SLT_REDUCE_PIECES, p, &b, &e);
    double acc[4] = {0};
    int64_t i = b;
    for (; i + 4 <= e; i += 4)
      for (int l = 0; l < 4; l++) acc[l] += fabsf(x[i + l]);
    for (int l = 0; i < e; i++, l++) acc[l] += fabsf(x[i]);
    part[p] = (acc[0] + acc[1]) + (acc[2] + acc[3]);
  }
  double s = 0;
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) s += part[p];
  return s;
}

/* γ of each shard: the mean rounded once to float, then floored. */
static void shard_gammas(const float *w, int64_t numel, int shards, float *gammas) {
  int64_t len = numel / shards;
  for (int s = 0; s < shards; s++) {
    float m = (float)(abs_sum(w + s * len, len) / (double)len);
    gammas[s] = m > SLT_QUANT_FLOOR ? m : SLT_QUANT_FLOOR;
  }
}

/* nearbyint(w/γ) clamped to [−1, 1]: division (not a reciprocal product) as the SPEC writes it. */
static inline float ternary_code(float w, float g) {
  float v = nearbyintf(w / g);
  v = v < -1.0f ? -1.0f : v; /* not fminf/fmaxf: those stay scalar calls without -ffast-math */
  return v > 1.0f ? 1.0f : v;
}

static int check_shards(const char *op, const slt_tensor *w, int shards) {
  if (shards >= 1 && w->shape[0] % shards == 0) return 0;
  slt_err_set("%s: shards must be >= 1 and divide dim 0 (%d), got %d", op, w->shape[0], shards);
  return -1;
}

/* Straight-through estimator: dx += dy. */
static void ste_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *x = n->in[0];
  const float *dy = n->out->grad;
  if (slt_grad_take(x)) { /* an activation's gradient: written, not added to */
    memcpy(x->grad, dy, (size_t)x->numel * sizeof *dy);
    return;
  }
#pragma omp parallel for simd schedule(static) if (x->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < x->numel; i++) x->grad[i] += dy[i];
}

/* The straight-through node of y = round(x); NULL when out of memory. */
static slt_node *record_ste(slt_ctx *c, const char *op, slt_tensor *y, slt_tensor *x) {
  slt_node *n = slt_record(c, op, ste_backward, y, 1, &x, 0);
  if (n) n->assigns = true;
  return n;
}

slt_tensor *slt_ternary_weight(slt_ctx *c, slt_tensor *w, int shards) {
  if (!w) return NULL;
  if (check_shards("ternary_weight", w, shards)) return NULL;
  slt_tensor *y = slt_new(c, w->ndim, w->shape);
  float *g = y ? slt_arena_alloc(&c->arena, (size_t)shards * sizeof(float)) : NULL;
  if (!g) return NULL;
  shard_gammas(w->data, w->numel, shards, g);
  int64_t len = w->numel / shards;
  // w, y (out, ...): shard s is the contiguous block [s·len, (s+1)·len)
  for (int s = 0; s < shards; s++) {
    const float *ws = w->data + s * len, gs = g[s];
    float *ys = y->data + s * len;
#pragma omp parallel for simd schedule(static) if (len >= SLT_PAR_MIN)
    for (int64_t i = 0; i < len; i++) ys[i] = ternary_code(ws[i], gs) * gs;
  }
  if (slt_needs_grad(c, 1, &w) && !record_ste(c, "ternary_weight", y, w))
    return NULL;
  return y;
}

int slt_ternary_codes(const slt_tensor *w, int shards, int8_t *codes, float *gammas,
                      slt_ternary_counts *counts) {
  if (check_shards("ternary_codes", w, shards)) return -1;
  shard_gammas(w->data, w->numel, shards, gammas);
  int64_t len = w->numel / shards, neg = 0, pos = 0;
#pragma omp parallel for schedule(static) reduction(+ : neg, pos) if (w->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < w->numel; i++) {
    int8_t k = (int8_t)ternary_code(w->data[i], gammas[i / len]);
    if (codes) codes[i] = k;
    neg += k < 0;
    pos += k > 0;
  }
  if (counts) *counts = (slt_ternary_counts){neg, w->numel - neg - pos, pos};
  return 0;
}

/* One segment: y = clamp(nearbyint(x·s), −128, 127)/s, s = 127/max(max|x|, 1e-5). */
static void absmax8_segment(const float *x, float *y, int n) {
  float m = 0.0f;
#pragma omp simd reduction(max : m)
  for (int j = 0; j < n; j++) m = fmaxf(m, fabsf(x[j])); /* max is exact in any order */
  float s = 127.0f / fmaxf(m, SLT_QUANT_FLOOR);
  for (int j = 0; j < n; j++) {
    float v = nearbyintf(x[j] * s);
    v = v < -128.0f ? -128.0f : v;
    y[j] = (v > 127.0f ? 127.0f : v) / s;
  }
}

slt_tensor *slt_act_quant_absmax8_seg(slt_ctx *c, slt_tensor *x, int segments) {
  if (!x) return NULL;
  int C = slt_tensor_cols(x);
  if (segments < 1 || C % segments)
    return slt_op_shape_error("act_quant_absmax8", "segments must divide the last dim", x, NULL);
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  int64_t pieces = slt_tensor_rows(x) * segments;
  int n = C / segments;
  // x, y (rows, segments·n): one scale per (row, segment)
#pragma omp parallel for schedule(static) if (x->numel >= SLT_PAR_MIN)
  for (int64_t p = 0; p < pieces; p++) absmax8_segment(x->data + p * n, y->data + p * n, n);
  if (slt_needs_grad(c, 1, &x) && !record_ste(c, "act_quant_absmax8", y, x))
    return NULL;
  return y;
}

slt_tensor *slt_act_quant_absmax8(slt_ctx *c, slt_tensor *x) {
  return slt_act_quant_absmax8_seg(c, x, 1);
}
