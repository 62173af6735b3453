/* Differentiable ops. Every op takes the context first, returns a new arena tensor (or NULL
 * with the error recorded: a NULL input propagates, a shape mismatch is reported), and records
 * its backward node when an input requires grad. Shapes are given as in PyTorch. */
#ifndef SLT_OPS_H
#define SLT_OPS_H

#include "tape.h"

#include <stdint.h>

/* ---- linear algebra (ops_matmul.c) ---- */
/* C = op(A)·op(B), op = transpose when the flag is set, on the last two dims.
 * A (..., M, K), B (K, N) 2-D: the leading dims of A fold into M (one GEMM).
 * A (..., M, K), B (..., K, N) with equal leading dims: one GEMM per batch entry. */
slt_tensor *slt_matmul(slt_ctx *c, slt_tensor *a, slt_tensor *b, bool trans_a, bool trans_b);
/* y = x·Wᵀ + bias, W (out, in), bias (out) or NULL: nn.Linear. x (..., in) -> (..., out). */
slt_tensor *slt_linear(slt_ctx *c, slt_tensor *x, slt_tensor *w, slt_tensor *bias);

/* ---- pointwise (ops_pointwise.c) ----
 * b has a's shape, or is a row vector (numel == a's last dim) broadcast over a's rows. */
slt_tensor *slt_add(slt_ctx *c, slt_tensor *a, slt_tensor *b);
slt_tensor *slt_sub(slt_ctx *c, slt_tensor *a, slt_tensor *b);
slt_tensor *slt_mul(slt_ctx *c, slt_tensor *a, slt_tensor *b);
slt_tensor *slt_scale(slt_ctx *c, slt_tensor *a, float s);

/* ---- reductions (ops_reduce.c): to a scalar of shape (1) ---- */
slt_tensor *slt_sum(slt_ctx *c, slt_tensor *a);
slt_tensor *slt_mean(slt_ctx *c, slt_tensor *a);

/* ---- shapes (ops_shape.c) ---- */
/* Same data, new shape with the same numel. */
slt_tensor *slt_reshape(slt_ctx *c, slt_tensor *a, int ndim, const int *shape);
/* (B, T, H·D) -> (B, H, T, D) */
slt_tensor *slt_split_heads(slt_ctx *c, slt_tensor *a, int heads);
/* Columns [col0, col0 + heads·head_dim) of a (B, T, C) -> (B, heads, T, head_dim): takes q, k
 * or v straight out of a fused QKV projection. */
slt_tensor *slt_split_heads_at(slt_ctx *c, slt_tensor *a, int col0, int heads, int head_dim);
/* (B, H, T, D) -> (B, T, H·D) */
slt_tensor *slt_merge_heads(slt_ctx *c, slt_tensor *a);

/* ---- embedding (ops_embedding.c) ---- */
/* table (V, C), ids[B·T] in [0, V) -> (B, T, C); an id out of range is an error naming it. */
slt_tensor *slt_embedding(slt_ctx *c, slt_tensor *table, const int32_t *ids, int B, int T);

/* ---- normalisation over the last dim (ops_norm.c) ---- */
/* gain, bias (C) may be NULL. */
slt_tensor *slt_layernorm(slt_ctx *c, slt_tensor *x, slt_tensor *gain, slt_tensor *bias,
                          float eps);
/* x / sqrt(mean(x²) + eps) ⊙ gain; gain (C) may be NULL (parameterless). */
slt_tensor *slt_rmsnorm(slt_ctx *c, slt_tensor *x, slt_tensor *gain, float eps);

/* ---- activations (ops_act.c) ---- */
slt_tensor *slt_gelu_tanh(slt_ctx *c, slt_tensor *x);
slt_tensor *slt_silu(slt_ctx *c, slt_tensor *x);
/* x (..., 2F) = [a | u] -> silu(a) ⊙ u (..., F) */
slt_tensor *slt_swiglu(slt_ctx *c, slt_tensor *x);
/* relu(x)² */
slt_tensor *slt_relu2(slt_ctx *c, slt_tensor *x);

/* ---- softmax over the last dim (ops_softmax.c) ---- */
slt_tensor *slt_softmax(slt_ctx *c, slt_tensor *x);

/* ---- rotary positions (ops_rope.c) ---- */
/* x (B, H, T, D), D even; position of row t is pos0 + t; rotate halves (SPEC §1). */
slt_tensor *slt_rope(slt_ctx *c, slt_tensor *x, int pos0, float base);

/* ---- causal self-attention (ops_attention.c) ---- */
/* q (B, H, T, D), k and v (B, Hkv, T, D) with H % Hkv == 0 (GQA: query head h reads kv head
 * h / (H/Hkv)); softmax(q·kᵀ/√D + causal mask)·v -> (B, H, T, D). Fused: keeps only the
 * per-row log-sum-exp for backward, never a T×T tensor. */
slt_tensor *slt_attention(slt_ctx *c, slt_tensor *q, slt_tensor *k, slt_tensor *v);

/* ---- loss (ops_xent.c) ---- */
/* Mean over rows of -log softmax(logits)[target]; logits (..., V), targets[rows]; rows whose
 * target equals ignore_index are skipped (the mean is over the rest). -> scalar (1). */
slt_tensor *slt_cross_entropy(slt_ctx *c, slt_tensor *logits, const int32_t *targets,
                              int32_t ignore_index);

/* ---- structured linears (ops_blockdiag.c) ---- */
/* Block-diagonal product: x (..., B·n), w (B, m, n) -> (..., B·m), block b maps x's b-th
 * n-slice through W_bᵀ into y's b-th m-slice. */
slt_tensor *slt_blockdiag(slt_ctx *c, slt_tensor *x, slt_tensor *w);
/* x (..., r·l) read per row as (r, l) -> its transpose (l, r), flattened: y[j·r + i] = x[i·l + j],
 * plus bias (r·l) when not NULL (fused: saves a pass over y). */
slt_tensor *slt_interleave(slt_ctx *c, slt_tensor *x, int r, int l, slt_tensor *bias);

#endif
