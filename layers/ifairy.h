/* The complex-valued transformer of SPEC §6 (iFairy / Fairy±i), weights optionally in
 * {±1, ±i} by PhaseQuant (or Fairy2i's two residual stages), activations optionally 8-bit.
 * Activations are real tensors (B, T, 2H) holding [re | im] (autograd/complex.h); hidden H
 * counts complex dims. Self-contained (its own config and parameter store) so it can sit behind
 * the model seam. Parameter names and shapes follow tests/reference/ifairy_reference.py:
 *   embed.weight (V, 2H)                          [re table | im table], std init_std
 *   blocks.N.attn_norm.weight (2H)                complex RMSNorm gains [g_re | g_im]
 *   blocks.N.attn.{q,k,v,o}_proj.weight_{re,im}   (H, H) each, ComplexLinear W = re + i·im
 *   blocks.N.attn.sub_norm.weight (2H)            the norm between attention and o_proj
 *   blocks.N.mlp_norm.weight (2H)
 *   blocks.N.mlp.{gate,up}_proj.weight_{re,im}    (F, H);  blocks.N.mlp.down_proj.* (H, F)
 *   blocks.N.mlp.sub_norm.weight (2F)             the norm between conj(a)⊙u and down_proj
 *   norm.weight (2H);  lm_head.weight (V, 2H)     real head on [x_re ‖ x_im], not tied */
#ifndef SLT_IFAIRY_H
#define SLT_IFAIRY_H

#include "autograd/params.h"
#include "autograd/tape.h"
#include "layers/model.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct slt_ifairy_config {
  int vocab_size, seq_len, layers, hidden, heads, ffn_dim; /* hidden, ffn_dim: complex dims */
  float norm_eps, rope_base, init_std;
  int weight_stages; /* 0 full precision, 1 PhaseQuant, 2 Fairy2i's residual PhaseQuant */
  bool act_quant;    /* 8-bit absmax per token (re, im scales) into every ComplexLinear */
} slt_ifairy_config;

/* A ComplexLinear's two weight parts, views into the parameter store; packed (inference from
 * slt export --packed, layers/packed_cplx.h) replaces them in the forward when set. */
typedef struct slt_cweight {
  slt_tensor *re, *im;
  struct slt_packed_cplx *packed;
} slt_cweight;

typedef struct slt_ifairy_block {
  slt_tensor *attn_norm, *attn_sub_norm, *mlp_norm, *mlp_sub_norm;
  slt_cweight q, k, v, o, gate, up, down;
} slt_ifairy_block;

typedef struct slt_ifairy {
  slt_ifairy_config cfg;
  slt_params params;
  slt_tensor *embed, *norm, *lm_head;
  slt_ifairy_block *blocks;
} slt_ifairy;

/* Parameter counts (the model seam's describe). */
typedef struct slt_ifairy_counts {
  int64_t total, embedding, ffn; /* embedding: embed.weight; ffn: the MLP linears and norms */
} slt_ifairy_counts;

/* SPEC §6's defaults (hidden 1536, intermediate 4096, 24 layers, 16 heads, RoPE θ 10000,
 * eps 1e-5, std 0.02, PhaseQuant and 8-bit activations on) with the given vocabulary and
 * sequence length. */
slt_ifairy_config slt_ifairy_default_config(int vocab_size, int seq_len);
/* Check the config; 0 or -1 with one message naming the offending key. */
int slt_ifairy_check_config(const slt_ifairy_config *cfg);
/* Declare and allocate every parameter (zero); alloc = false declares names and shapes only
 * (checking a checkpoint's layout). 0 or -1. */
int slt_ifairy_build(slt_ifairy *m, const slt_ifairy_config *cfg, bool alloc);
void slt_ifairy_free(slt_ifairy *m);
/* SPEC §6 init: ComplexLinear parts N(0, (init_std/√2)²), embeddings and head N(0, init_std²),
 * norm gains 1. */
void slt_ifairy_init_weights(slt_ifairy *m, uint64_t seed);
/* ids (B, T) at positions pos0.. -> logits (B, T, V). */
slt_tensor *slt_ifairy_logits(slt_ifairy *m, slt_ctx *c, const int32_t *ids, int B, int T,
                              int pos0);
/* Mean next-token cross-entropy of targets y (B, T) given inputs x (B, T). */
slt_tensor *slt_ifairy_loss(slt_ifairy *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B,
                            int T);
/* Training FLOPs per token (forward + backward) at sequence length T: every ComplexLinear is a
 * real GEMM of its (2·out, 2·in) block weight, the head a (V, 2H) one, attention over 2·head_dim
 * real columns. */
double slt_ifairy_flops_per_token(const slt_ifairy *m, int T);
/* Parameter counts of a built (or declared) model. */
slt_ifairy_counts slt_ifairy_counts_of(const slt_ifairy *m);

/* ---- the pieces of the forward, for the KV-cache decoder (ifairy_infer.c) ---- */
/* Block b's attention input x (B, T, 2H), normalised -> q, k, v (B, heads, T, 2·head_dim), q and
 * k rotated for positions pos0... 0 or -1. */
int slt_ifairy_qkv(const slt_ifairy *m, const slt_ifairy_block *b, slt_ctx *c, slt_tensor *x,
                   int pos0, slt_tensor **q, slt_tensor **k, slt_tensor **v);
/* Attention heads a (B, heads, T, 2·head_dim) -> block b's attention output (B, T, 2H). */
slt_tensor *slt_ifairy_attn_out(const slt_ifairy *m, const slt_ifairy_block *b, slt_ctx *c,
                                slt_tensor *a);
/* Block b's MLP input x (B, T, 2H), normalised -> its output before the residual add. */
slt_tensor *slt_ifairy_mlp(const slt_ifairy *m, const slt_ifairy_block *b, slt_ctx *c,
                           slt_tensor *x);
/* The final norm and the real head: x (B, T, 2H) -> logits (B, T, V). */
slt_tensor *slt_ifairy_head(const slt_ifairy *m, slt_ctx *c, slt_tensor *x);
/* The ComplexLinear whose weight is "<prefix>.weight" (the packed group's name, e.g.
 * "blocks.0.attn.q_proj.weight"), or NULL. */
slt_cweight *slt_ifairy_cweight(slt_ifairy *m, const char *param, int shape[2]);
/* A KV-cache decoder for m (ifairy_infer.c): fp32, or packed where the linears are. NULL (error
 * recorded) when o->cap positions do not fit. */
slt_decoder *slt_ifairy_decoder_new(slt_ifairy *m, const slt_decoder_opts *o);

/* ---- behind the model seam (ifairy_model.c) ---- */
/* The config's model section as the complex model's (d_model, ffn_dim: complex dims). */
slt_ifairy_config slt_ifairy_config_of(const slt_model_config *m);
/* Check a model section for a complex arch named arch whose MLP activation is act (slt_act_kind):
 * norm, act, pos, bias, tie_embeddings, kv_heads and ffn.kind must say what the model does, then
 * the sizes. 0 or -1 with one message naming the key. */
int slt_ifairy_check_model(const slt_model_config *m, const char *arch, int act);
/* model.arch: ifairy behind the seam; NULL (error recorded) on a bad config. */
slt_model *slt_ifairy_model_build(const slt_model_config *cfg, slt_model_mode mode);

#endif
