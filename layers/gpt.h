/* The GPT of SPEC §1: pre-norm blocks of fused-QKV causal attention and an FFN, with the
 * options of DESIGN.md's config (norm, positions, activation, biases, GQA, tied embeddings).
 * Parameter names and shapes follow the PyTorch reference in tests/reference/gpt_reference.py. */
#ifndef SLT_GPT_H
#define SLT_GPT_H

#include "layers/linear.h"
#include "layers/model.h"

typedef struct slt_gpt_block {
  slt_tensor *ln1_w, *ln1_b, *ln2_w, *ln2_b; /* biases NULL for rmsnorm */
  slt_lin qkv, proj, fc1, fc2;
} slt_gpt_block;

typedef struct slt_gpt {
  slt_model model;      /* the seam's view (layers/model.h): points at params and cfg below */
  slt_model_config cfg; /* resolved: kv_heads and ffn_dim set */
  slt_params params;
  slt_tensor *wte, *wpe, *lnf_w, *lnf_b,
      *lm_head; /* wpe NULL unless learned; lm_head NULL if tied */
  slt_gpt_block *blocks;
  struct slt_guide *guide; /* self-guided training's dense guides (layers/guided.h), or NULL */
  slt_quant_set *quant;    /* model.quant's transforms (layers/quant_config.h), or NULL */
  slt_lin head;            /* the head's transforms only (wt, at); weight is lm_head or wte */
} slt_gpt;

/* Check the config; 0 or -1 with one message naming the offending key. */
int slt_gpt_check_config(const slt_model_config *cfg);
/* Declare and allocate every parameter (zero); 0 or -1. */
int slt_gpt_build(slt_gpt *m, const slt_model_config *cfg);
/* Point m->model at m's parameters, config and the GPT vtable (gpt_model.c). */
void slt_gpt_bind(slt_gpt *m);
/* slt_gpt_build, or only declare names and shapes (SLT_MODEL_DECLARE); 0 or -1. */
int slt_gpt_build_mode(slt_gpt *m, const slt_model_config *cfg, slt_model_mode mode);
void slt_gpt_free(slt_gpt *m);
/* SPEC §1 init: linear and embedding weights N(0, init_std), biases 0, norm gains 1. */
void slt_gpt_init_weights(slt_gpt *m, uint64_t seed);
/* Pieces of the forward shared by the full forward (gpt.c) and the KV-cache forward
 * (gpt_infer.c). The configured norm of x with weight w (and bias b for layernorm). */
slt_tensor *slt_gpt_norm(const slt_gpt *m, slt_ctx *c, slt_tensor *x, slt_tensor *w, slt_tensor *b);
/* The head: x (..., C) -> logits (..., V), through its transforms when a rule names lm_head. */
slt_tensor *slt_gpt_head(const slt_gpt *m, slt_ctx *c, slt_tensor *x);
/* Attach model.quant's transforms to every block linear and the head (gpt_quant.c); 0 or -1. */
int slt_gpt_quant_attach(slt_gpt *m);
/* Block b's queries, keys and values of x (B, T, C) as heads, RoPE applied from position pos0. */
void slt_gpt_qkv(const slt_gpt *m, slt_gpt_block *b, slt_ctx *c, slt_tensor *x, int pos0,
                 slt_tensor **q, slt_tensor **k, slt_tensor **v);
/* Layer's FFN of x (through its SGT guide while the model has one). */
slt_tensor *slt_gpt_ffn(const slt_gpt *m, int layer, slt_ctx *c, slt_tensor *x);

/* ids (B, T) at positions pos0.. -> logits (B, T, V). */
slt_tensor *slt_gpt_logits(slt_gpt *m, slt_ctx *c, const int32_t *ids, int B, int T, int pos0);
/* Mean next-token cross-entropy of targets (B, T) given inputs (B, T). */
slt_tensor *slt_gpt_loss(slt_gpt *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B, int T);
/* Training FLOPs per token (forward + backward) of the matmuls and attention, for MFU: every
 * block weight is applied once per token (dense or factored alike), plus the head. */
double slt_gpt_flops_per_token(const slt_gpt *m, int T);
/* FFN weights of the model, and of the same model with dense FFNs (parameter accounting). */
int64_t slt_gpt_ffn_params(const slt_gpt *m);
int64_t slt_gpt_dense_ffn_params(const slt_model_config *cfg);

/* ---- generation with a KV cache (gpt_infer.c) ---- */

/* Every layer's rotated keys and values of the positions seen so far, for one sequence. */
typedef struct slt_gpt_kv {
  int layers, kv_heads, head_dim, cap;
  int len;      /* positions cached */
  float *k, *v; /* (layers, kv_heads, cap, head_dim) each */
} slt_gpt_kv;

/* A cache for up to cap positions (learned positions: at most model.seq_len). 0 or -1. */
int slt_gpt_kv_init(slt_gpt_kv *kv, const slt_gpt *m, int cap);
void slt_gpt_kv_free(slt_gpt_kv *kv);
/* Run ids[0..n) at positions kv->len .. kv->len+n-1 under no-grad, attending to the cached
 * positions and appending their keys and values -> logits (1, n, V) in c's arena. Prefill a
 * prompt with one call, then one token per call. NULL (error recorded) past the cache. */
slt_tensor *slt_gpt_forward_cached(slt_gpt *m, slt_ctx *c, slt_gpt_kv *kv, const int32_t *ids,
                                   int n);

/* ---- the faster FFN form by tokens in flight (gpt_infer.c) ---- */

/* A model with structured FFNs and its merged dense twin (layers/gpt_merge.h) compute the same
 * logits; which is faster depends on the tokens per forward (a prompt's prefill or one decoded
 * token), so generation measures both and picks per forward. */
typedef enum { SLT_GPT_FACTORED, SLT_GPT_MERGED } slt_gpt_form;

/* Seconds one structured FFN (fc1, activation, fc2) takes on n tokens, by form. */
typedef struct slt_gpt_form_time {
  int n;
  double s[2];
} slt_gpt_form_time;

#define SLT_GPT_FORM_TIMES 4

typedef struct slt_gpt_forms {
  slt_gpt *model[2]; /* by slt_gpt_form, not owned; model[SLT_GPT_MERGED] may be NULL */
  int ntimes;
  slt_gpt_form_time times[SLT_GPT_FORM_TIMES]; /* ascending n */
  int forced; /* -1: pick by the times; else the slt_gpt_form of every forward */
} slt_gpt_forms;

/* Time one structured FFN of each form at each of the count (<= SLT_GPT_FORM_TIMES) token counts
 * ns, best of a few runs, into f->times. 0, or -1 with the error recorded. */
int slt_gpt_forms_time(slt_gpt_forms *f, const int *ns, int count);
/* The faster form for n tokens: each form's time interpolated linearly in n between the measured
 * points (extrapolated past the ends); a tie keeps the factored form. */
slt_gpt_form slt_gpt_form_pick(const slt_gpt_form_time *t, int count, int n);
/* The form a forward of n tokens runs: forced, else picked, and factored without a twin. */
slt_gpt_form slt_gpt_forms_choice(const slt_gpt_forms *f, int n);
/* slt_gpt_forward_cached with that form; both forms share the cache (their attention weights are
 * the same numbers), so the form may change from one forward to the next. */
slt_tensor *slt_gpt_forms_forward(slt_gpt_forms *f, slt_ctx *c, slt_gpt_kv *kv, const int32_t *ids,
                                  int n);

#endif
