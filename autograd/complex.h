/* Complex ops of the iFairy / Fairy±i model (SPEC §6) on real tensors.
 *
 * Layouts:
 * - activations: a real tensor (..., 2H) whose first H columns are the real parts and last H the
 *   imaginary parts ("[re | im]"); attention heads (B, heads, T, 2·head_dim) hold [re | im] of
 *   their own head in each row.
 * - a complex weight W = W_re + i·W_im of shape (out, in) is two real (out, in) tensors, so each
 *   part is an ordinary parameter (PyTorch-style names, (out, in) shapes, per-row optimizers).
 * - codes of {±1, ±i} weights: k in 0..3 with w = s·i^k, i.e. 0 → +1, 1 → +i, 2 → −1, 3 → −i. */
#ifndef SLT_COMPLEX_H
#define SLT_COMPLEX_H

#include "tape.h"

#include <stdint.h>

/* ---- PhaseQuant (ops_phasequant.c) ---- */
/* Quantize W to {±s_re, ±i·s_im} by phase (SPEC §6): +1 for φ ∈ [−π/4, π/4), +i for
 * [π/4, 3π/4), −1 for φ ≥ 3π/4 or φ < −3π/4, −i for [−3π/4, −π/4), w = 0 → +1 (sectors decided
 * by exact comparisons of re and im, not a rounded atan2); s_re = max(mean|w_re| over the ±1
 * weights, 1e-5), s_im = max(mean|w_im| over the ±i weights, 1e-5), an empty set giving 1e-5.
 * stages = 2 is Fairy2i's residual form q₁ + PQ(w − q₁). Writes the two parts of the result to
 * *q_re, *q_im (each an op output, STE: dw_re += dq_re, dw_im += dq_im). Two outputs, so it
 * returns 0, or −1 (error recorded; NULL inputs, shapes differ, stages not 1 or 2). */
int slt_phasequant(slt_ctx *c, slt_tensor *w_re, slt_tensor *w_im, int stages, slt_tensor **q_re,
                   slt_tensor **q_im);
/* One PhaseQuant stage of n weights (no autograd): codes[n] (NULL: not wanted), scales =
 * {s_re, s_im}, and the dequantized q_re, q_im (NULL: not wanted). */
void slt_phasequant_stage(const float *w_re, const float *w_im, int64_t n, uint8_t *codes,
                          float *scales, float *q_re, float *q_im);
/* The packing/export view of slt_phasequant: codes[stages·numel] (stage-major) and
 * scales[2·stages] ({s_re, s_im} per stage); the weight is Σ_stages s·i^code. Returns 0 or −1. */
int slt_phasequant_codes(const slt_tensor *w_re, const slt_tensor *w_im, int stages, uint8_t *codes,
                         float *scales);

/* ---- linear, norm, activations (ops_complex.c) ---- */
/* The real block weight [[W_re, W_im], [W_im, −W_re]] (2·out, 2·in) of W (out, in): for
 * x = [x_re | x_im], x·Bᵀ = [x_re·W_reᵀ + x_im·W_imᵀ | x_re·W_imᵀ − x_im·W_reᵀ] = W·conj(x). */
slt_tensor *slt_cplx_block_weight(slt_ctx *c, slt_tensor *w_re, slt_tensor *w_im);
/* ComplexLinear y = W·conj(x): x (..., 2·in) -> (..., 2·out), one real GEMM with the block
 * weight. Pass PhaseQuant's outputs as w_re, w_im for the quantized layer. */
slt_tensor *slt_cplx_linear(slt_ctx *c, slt_tensor *x, slt_tensor *w_re, slt_tensor *w_im);
/* Complex RMSNorm over x (..., 2H): r = 1/√(mean_d(re² + im²) + eps) (mean over H complex
 * dims), out = x·r ⊙ gain with gain (2H) = [g_re | g_im], or NULL for none. */
slt_tensor *slt_cplx_rmsnorm(slt_ctx *c, slt_tensor *x, slt_tensor *gain, float eps);
/* 8-bit absmax per token with separate scales for re and im (SPEC §6 "Activations"), STE. */
slt_tensor *slt_cplx_act_quant8(slt_ctx *c, slt_tensor *x);
/* The gated relu² of the MLP, a (..., 2F): both parts set to 0 where a_re < 0 and a_im < 0,
 * then each part squared. */
slt_tensor *slt_cplx_relu2(slt_ctx *c, slt_tensor *a);
/* h = conj(a) ⊙ u elementwise: h_re = a_re·u_re + a_im·u_im, h_im = a_re·u_im − a_im·u_re;
 * a and u (..., 2F) of one shape. */
slt_tensor *slt_cplx_conj_mul(slt_ctx *c, slt_tensor *a, slt_tensor *u);

/* ---- widely-linear maps (ops_complex_wl.c), Fairy2i ---- */
/* The real (2·out, 2·in) matrix A of y = U·x + W·conj(x) on [re | im]: A11 = U_re + W_re,
 * A12 = W_im − U_im, A21 = U_im + W_im, A22 = U_re − W_re (the inverse of SPEC §6's
 * U = ½(A11 + A22) + i·½(A21 − A12), W = ½(A11 − A22) + i·½(A12 + A21)). All four (out, in). */
slt_tensor *slt_cplx_wl_weight(slt_ctx *c, slt_tensor *u_re, slt_tensor *u_im, slt_tensor *w_re,
                               slt_tensor *w_im);
/* y = U·x + W·conj(x): x (..., 2·in) -> (..., 2·out), one real GEMM with that matrix. */
slt_tensor *slt_cplx_wl_linear(slt_ctx *c, slt_tensor *x, slt_tensor *u_re, slt_tensor *u_im,
                               slt_tensor *w_re, slt_tensor *w_im);

/* ---- attention (ops_complex_attn.c) ---- */
/* x (B, T, 2C) = [re | im] -> (B, heads, T, 2·head_dim): the columns [col0, col0 + heads·head_dim)
 * of both halves, each head's row holding [re | im] of that head (q, k or v out of a fused
 * projection). */
slt_tensor *slt_cplx_split_heads(slt_ctx *c, slt_tensor *x, int col0, int heads, int head_dim);
/* (B, H, T, 2D) -> (B, T, 2·H·D) = [re of every head | im of every head]. */
slt_tensor *slt_cplx_merge_heads(slt_ctx *c, slt_tensor *x);
/* Multiply by e^{iθ}, θ_d = pos·base^(−d/D) for complex dim d < D, x (B, H, T, 2D), positions
 * pos0 + t. Exactly slt_rope on this layout: rotating halves of a 2D row is that product. */
slt_tensor *slt_cplx_rope(slt_ctx *c, slt_tensor *x, int pos0, float base);
/* Causal attention with scores Re(q·conj(k))/√(2D) = (q_re·k_re + q_im·k_im)/√(2D) and a real
 * softmax applied to v_re and v_im; q (B, H, T, 2D), k, v (B, Hkv, T, 2D). Exactly slt_attention
 * on this layout: its dot over 2D columns is that score and its scale is 1/√(2D). */
slt_tensor *slt_cplx_attention(slt_ctx *c, slt_tensor *q, slt_tensor *k, slt_tensor *v);

#endif
