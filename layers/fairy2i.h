/* Fairy2i (SPEC §6): a real LLaMA-style GPT (RMSNorm, SwiGLU, RoPE, no biases, dense FFNs) as an
 * exactly equivalent complex widely-linear model, which then trains with residual PhaseQuant.
 *
 * Layout: a real vector x of width 2n is the complex vector z = x[:n] + i·x[n:] ("[re | im]",
 * autograd/complex.h), so the residual stream, the embedding table and the head are the real
 * model's numbers unchanged. Every block linear A (2n·2m real) becomes y = U·x + W·conj(x) with
 * U = ½(A11 + A22) + i·½(A21 − A12), W = ½(A11 − A22) + i·½(A12 + A21). What the real model does
 * outside its linears is kept as it is, written in the complex layout:
 * - RMSNorm: over the 2n real numbers of each token, i.e. complex RMSNorm with mean_d|z_d|²/2 and
 *   separate gains for re and im (the real model's gain, split in halves);
 * - RoPE: the real model rotates the two halves of each head, which is z·e^{iθ} for the head's
 *   z = half₁ + i·half₂; q, k, v's output rows (and o_proj's input columns) are permuted at
 *   conversion so that the complex layout's head h holds exactly those halves (complex head dim
 *   = real head dim / 2), then attention is slt_cplx_attention (scale 1/√(real head dim));
 * - SwiGLU: silu(a)⊙u on each real number of the layout (a split-complex activation), with gate
 *   and up as two widely-linear maps (the real fc1's two halves) and down from fc2.
 * Embeddings and the head stay real and full precision; the head is untied (a tied source's
 * table is copied). Parameter names:
 *   embed.weight (V, 2H); lm_head.weight (V, 2H); norm.weight (2H)
 *   blocks.N.{attn_norm,mlp_norm}.weight (2H)
 *   blocks.N.attn.{q,k,v,o}_proj.{u_re,u_im,w_re,w_im} (H, H)
 *   blocks.N.mlp.{gate,up}_proj.* (F, H); blocks.N.mlp.down_proj.* (H, F)
 * with H = model.d_model and F = model.ffn_dim in complex dims (half the real model's). */
#ifndef SLT_FAIRY2I_H
#define SLT_FAIRY2I_H

#include "layers/model.h"

/* model.arch: fairy2i behind the seam (model.act: swiglu, model.norm: rmsnorm); NULL (error
 * recorded) on a bad config. Init (for training from scratch): U, W parts N(0, (std/2)²) so
 * that A's entries are N(0, std²); embeddings and head N(0, std²); gains 1. */
slt_model *slt_fairy2i_model_build(const slt_model_config *cfg, slt_model_mode mode);

/* The fairy2i model section of a real GPT's: d_model and ffn_dim halved (complex dims), untied,
 * stages PhaseQuant stages and act_quant as given. 0, or -1 (error recorded) when the GPT is not
 * LLaMA-style (layernorm, biases, an activation other than swiglu, learned positions, GQA,
 * structured FFNs, an odd d_model or ffn_dim). */
int slt_fairy2i_config_from_gpt(const slt_model_config *gpt, int stages,
                                slt_act_quant_kind act_quant, slt_model_config *out);
/* Fill the built (allocated) fairy2i model f from the real GPT g (built from a config that
 * slt_fairy2i_config_from_gpt accepted): the two compute the same logits before quantization.
 * 0 or -1 (error recorded). */
int slt_fairy2i_convert(const slt_model *g, slt_model *f);

#endif
