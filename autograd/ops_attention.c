/* Fused causal self-attention, flash-style: the forward keeps only the per-row log-sum-exp and
 * the backward recomputes the probabilities from it, one block of query rows at a time, so no
 * T×T tensor outlives a block. A block's whole score row (up to its last key) fits in per-thread
 * scratch, so the softmax is exact rather than online. Every product goes to slt_gemm (kernels/gemm.h); inside
 * our OpenMP regions OpenBLAS runs single-threaded, so the parallelism is ours. */
#include "ops.h"

#include "fastmath.h"

#include "error.h"
#include "op_util.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <string.h>

/* Query rows per block: a block's scores and their gradient (2 × QBLK × T floats) stay in L2. */
#define QBLK 64
/* Below this many forward FLOPs (2·B·H·T²·D, ~40 µs) one thread does it all: forking and
 * waking the team cost more. */
#define PAR_MIN_FLOP (1 << 22)

typedef struct {
  int B, H, Hkv, T, D;
  float scale; /* 1/√D */
  bool par;    /* large enough to fork */
  float *lse;  /* (B, H, T): log Σ exp of each row's scaled, masked scores */
} attn_saved;


/* Σ x[0..n) in 16 fixed lanes: vectorisable, and the order depends on n alone (not on the
 * alignment or the thread), which keeps results bitwise reproducible. */
static float sum16(const float *x, int n) {
  float acc[16] = {0};
  int j = 0;
  for (; j + 16 <= n; j += 16)
    for (int l = 0; l < 16; l++) acc[l] += x[j + l];
  for (int l = 0; j < n; j++, l++) acc[l] += x[j];
  float s = 0;
  for (int l = 0; l < 16; l++) s += acc[l];
  return s;
}

/* One score row s[0..n) (already scaled): p = exp(s − max) over the `valid` causal keys, 0 on the
 * masked rest. Writes p in place and the row's log-sum-exp; returns 1/Σp. */
static float softmax_row(float *s, int valid, int n, float *lse) {
  float m = -INFINITY;
#pragma omp simd reduction(max : m)
  for (int j = 0; j < valid; j++) m = s[j] > m ? s[j] : m; /* max is exact in any order */
  for (int j = 0; j < valid; j++) s[j] = slt_expf(s[j] - m);
  for (int j = valid; j < n; j++) s[j] = 0.0f;
  float sum = sum16(s, valid);
  *lse = m + logf(sum);
  return 1.0f / sum;
}

/* Backward of one row: p = exp(s − lse) (s scaled), and when dp is given
 * dS = p ⊙ (dp − delta) in place of dp, delta = Σ dO ⊙ O; both 0 on the masked keys. */
static void softmax_grad_row(float *s, float *dp, float lse, float delta, int valid, int n) {
  for (int j = 0; j < valid; j++) s[j] = slt_expf(s[j] - lse);
  for (int j = valid; j < n; j++) s[j] = 0.0f;
  if (!dp) return;
  for (int j = 0; j < valid; j++) dp[j] = s[j] * (dp[j] - delta);
  for (int j = valid; j < n; j++) dp[j] = 0.0f;
}

/* C (M×N) = alpha·op(A)·op(B) + beta·C, row-major and packed; slt_gemm with an alpha. */
static void gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, const float *B,
                 float beta, float *C) {
  slt_gemm_ex(ta, tb, M, N, K, alpha, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

/* Query rows [i0, i0+m) of one head attend to keys [0, i0+m): S (m, end) is scratch.
 * qh, oh (T, D) of the query head; kh, vh (T, D) of its kv head; lse_h (T). */
static void forward_block(const attn_saved *s, const float *qh, const float *kh, const float *vh,
                          float *oh, float *lse_h, int i0, float *S) {
  int D = s->D, m = s->T - i0 < QBLK ? s->T - i0 : QBLK, end = i0 + m;
  float inv[QBLK];
  gemm(false, true, m, end, D, s->scale, qh + (int64_t)i0 * D, kh, 0.0f, S); /* S = Q·Kᵀ/√D */
  for (int r = 0; r < m; r++)
    inv[r] = softmax_row(S + (int64_t)r * end, i0 + r + 1, end, lse_h + i0 + r);
  float *o = oh + (int64_t)i0 * D;
  gemm(false, false, m, D, end, 1.0f, S, vh, 0.0f, o); /* O (m, D) = exp(S − max)·V[:end] */
  for (int r = 0; r < m; r++)
    for (int d = 0; d < D; d++) o[r * D + d] *= inv[r]; /* normalise after: m·D, not m·end */
}

/* Per-head views of the inputs, outputs and gradients of one backward task. */
typedef struct {
  const float *q, *k, *v, *o, *dout, *lse; /* (T, D) each, lse (T) */
  float *dq, *dk, *dv; /* dQ rows of the head, dK and dV accumulators; NULL: not needed */
  bool dq_set;         /* dQ holds nothing yet: write it rather than add (slt_grad_take) */
} head_ptrs;

/* Which input gradients hold nothing yet (written, not added to, by this backward). */
typedef struct {
  bool q, k, v;
} grads_set;

/* Per-thread backward scratch, in floats. */
static int64_t backward_scratch(int T, int D) {
  int64_t n = 2 * (int64_t)QBLK * T + 2 * (int64_t)T * D + (int64_t)QBLK * D + QBLK;
  return (n + 15) / 16 * 16; /* 64-byte multiple: every thread's slice is equally aligned */
}

/* Query rows [i0, i0+m) of one query head: recompute P, then dQ for the rows and their
 * contributions to the kv head's dK, dV accumulators. */
static void backward_block(const attn_saved *s, const head_ptrs *p, int i0, float *work) {
  int D = s->D, m = s->T - i0 < QBLK ? s->T - i0 : QBLK, end = i0 + m;
  bool need_ds = p->dq || p->dk;
  float *S = work, *dP = S + (int64_t)QBLK * s->T, *dq_blk = dP + (int64_t)QBLK * s->T;
  float *delta = dq_blk + QBLK * D;
  const float *q = p->q + (int64_t)i0 * D, *dout = p->dout + (int64_t)i0 * D;
  const float *o = p->o + (int64_t)i0 * D;
  gemm(false, true, m, end, D, s->scale, q, p->k, 0.0f, S); /* S (m, end) = Q·Kᵀ/√D */
  if (need_ds) {
    gemm(false, true, m, end, D, 1.0f, dout, p->v, 0.0f, dP); /* dP (m, end) = dO·V[:end]ᵀ */
    for (int r = 0; r < m; r++) {
      float acc = 0;
      for (int d = 0; d < D; d++) acc += dout[r * D + d] * o[r * D + d];
      delta[r] = acc;
    }
  }
  for (int r = 0; r < m; r++)
    softmax_grad_row(S + (int64_t)r * end, need_ds ? dP + (int64_t)r * end : NULL, p->lse[i0 + r],
                     need_ds ? delta[r] : 0.0f, i0 + r + 1, end);
  if (p->dv) gemm(true, false, end, D, m, 1.0f, S, dout, 1.0f, p->dv); /* dV (end, D) += Pᵀ·dO */
  slt_gemm_hold(dP); /* dS feeds dK and dQ: bf16 rounds it once */
  if (p->dk) gemm(true, false, end, D, m, s->scale, dP, q, 1.0f, p->dk); /* dK += dSᵀ·Q/√D */
  if (p->dq) {
    gemm(false, false, m, D, end, s->scale, dP, p->k, 0.0f, dq_blk); /* dQ (m, D) = dS·K/√D */
    float *dq = p->dq + (int64_t)i0 * D;
    for (int i = 0; i < m * D; i++) dq[i] = slt_grad_acc(p->dq_set, dq[i], dq_blk[i]);
  }
  slt_gemm_hold(NULL);
}

/* One (b, kv head): every query head of its group, every block. The task owns its kv head's
 * dK, dV and its query heads' dQ, so tasks never share an output: no races, and the summation
 * order is fixed whatever the schedule. */
static void backward_group(const attn_saved *s, slt_node *n, grads_set set, int b, int g,
                           float *work) {
  int T = s->T, D = s->D, G = s->H / s->Hkv;
  slt_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
  int64_t hd = (int64_t)T * D, kv_off = ((int64_t)b * s->Hkv + g) * hd;
  float *dk_acc = work + 2 * (int64_t)QBLK * T + QBLK * D + QBLK, *dv_acc = dk_acc + hd;
  /* Accumulate into scratch, then add once: x.grad += dX exactly as every op does. */
  memset(dk_acc, 0, 2 * hd * sizeof(float));
  for (int j = 0; j < G; j++) {
    int64_t q_off = ((int64_t)b * s->H + g * G + j) * hd;
    head_ptrs p = {q->data + q_off,
                   k->data + kv_off,
                   v->data + kv_off,
                   n->out->data + q_off,
                   n->out->grad + q_off,
                   s->lse + ((int64_t)b * s->H + g * G + j) * T,
                   q->requires_grad ? q->grad + q_off : NULL,
                   k->requires_grad ? dk_acc : NULL,
                   v->requires_grad ? dv_acc : NULL,
                   set.q};
    for (int i0 = 0; i0 < T; i0 += QBLK) backward_block(s, &p, i0, work);
  }
  if (k->requires_grad)
    for (int64_t i = 0; i < hd; i++)
      k->grad[kv_off + i] = slt_grad_acc(set.k, k->grad[kv_off + i], dk_acc[i]);
  if (v->requires_grad)
    for (int64_t i = 0; i < hd; i++)
      v->grad[kv_off + i] = slt_grad_acc(set.v, v->grad[kv_off + i], dv_acc[i]);
}

static void attention_backward(slt_ctx *c, slt_node *n) {
  const attn_saved *s = n->saved;
  int nt = omp_get_max_threads(), tasks = s->B * s->Hkv;
  int64_t per = backward_scratch(s->T, s->D);
  float *work = slt_arena_alloc(&c->arena, (size_t)(nt * per) * sizeof(float));
  if (!work) {
    /* A backward cannot return a status; the message says which op lost its gradient. */
    slt_err_set("attention: out of memory for backward scratch (%lld floats)",
                (long long)(nt * per));
    return;
  }
  slt_tensor *q = n->in[0], *k = n->in[1], *v = n->in[2];
  grads_set set = {false, false, false};
  if (q != k && k != v && q != v) /* else one buffer gets several writers: accumulate */
    set = (grads_set){slt_grad_take(q), slt_grad_take(k), slt_grad_take(v)};
  for (int i = 0; i < 3; i++)
    if (n->in[i]->requires_grad && n->in[i]->grad_unset) slt_grad_of(c, n->in[i]);
  const float *held[4] = {q->data, k->data, v->data, n->out->grad};
  slt_gemm_hold_ranges(4, held, (int64_t[]){q->numel, k->numel, v->numel, n->out->numel});
#pragma omp parallel for schedule(static) num_threads(nt) if (s->par)
  for (int t = 0; t < tasks; t++)
    backward_group(s, n, set, t / s->Hkv, t % s->Hkv, work + omp_get_thread_num() * per);
  slt_gemm_hold_ranges(0, NULL, NULL);
}

/* q when q (B, H, T, D) and k, v (B, Hkv, T, D) with H % Hkv == 0; else NULL, error recorded. */
static slt_tensor *check_shapes(slt_tensor *q, slt_tensor *k, slt_tensor *v) {
  const char *rank = "q, k, v must be 4-D (B, heads, T, D)";
  if (q->ndim != 4) return slt_op_shape_error("attention", rank, q, NULL);
  if (k->ndim != 4 || v->ndim != 4)
    return slt_op_shape_error("attention", rank, q, k->ndim != 4 ? k : v);
  if (!slt_tensor_same_shape(k, v))
    return slt_op_shape_error("attention", "k and v must have the same shape", k, v);
  if (q->shape[0] != k->shape[0] || q->shape[2] != k->shape[2] || q->shape[3] != k->shape[3])
    return slt_op_shape_error("attention", "q and k must agree in B, T and D", q, k);
  if (q->shape[1] % k->shape[1])
    return slt_op_shape_error("attention", "query heads must be a multiple of kv heads", q, k);
  return q;
}

slt_tensor *slt_attention(slt_ctx *c, slt_tensor *q, slt_tensor *k, slt_tensor *v) {
  if (!q || !k || !v) return NULL;
  if (!check_shapes(q, k, v)) return NULL;
  attn_saved s = {.B = q->shape[0],
                  .H = q->shape[1],
                  .Hkv = k->shape[1],
                  .T = q->shape[2],
                  .D = q->shape[3],
                  .scale = 1.0f / sqrtf((float)q->shape[3])};
  s.par = 2.0 * s.B * s.H * s.T * s.T * s.D >= PAR_MIN_FLOP;
  slt_tensor *out = slt_new(c, 4, q->shape);
  int nt = omp_get_max_threads();
  int64_t per = ((int64_t)QBLK * s.T + 15) / 16 * 16; /* equally aligned slices, as above */
  float *work = out ? slt_arena_alloc(&c->arena, (size_t)(nt * per) * sizeof(float)) : NULL;
  s.lse = work ? slt_arena_alloc(&c->arena, (size_t)s.B * s.H * s.T * sizeof(float)) : NULL;
  if (!s.lse) return NULL;
  int nblk = (s.T + QBLK - 1) / QBLK, G = s.H / s.Hkv;
  int64_t hd = (int64_t)s.T * s.D;
  /* q, out (B, H, T, D); k, v (B, Hkv, T, D); lse (B, H, T). Tasks (b, h, block) are
   * independent, so any schedule gives the same bits; dynamic balances the causal blocks, whose
   * cost grows with their index (the latest go first). */
  const float *held[3] = {q->data, k->data, v->data};
  slt_gemm_hold_ranges(3, held, (int64_t[]){q->numel, k->numel, v->numel});
#pragma omp parallel for schedule(dynamic, 1) num_threads(nt) if (s.par)
  for (int t = 0; t < s.B * s.H * nblk; t++) {
    int bh = t / nblk, blk = nblk - 1 - t % nblk, b = bh / s.H, h = bh % s.H;
    int64_t kv_off = ((int64_t)b * s.Hkv + h / G) * hd;
    forward_block(&s, q->data + bh * hd, k->data + kv_off, v->data + kv_off, out->data + bh * hd,
                  s.lse + (int64_t)bh * s.T, blk * QBLK, work + omp_get_thread_num() * per);
  }
  slt_gemm_hold_ranges(0, NULL, NULL);
  slt_tensor *in[3] = {q, k, v};
  if (slt_needs_grad(c, 3, in)) {
    slt_node *n = slt_record(c, "attention", attention_backward, out, 3, in, sizeof s);
    if (!n) return NULL;
    n->assigns = true;
    *(attn_saved *)n->saved = s;
  }
  return out;
}
