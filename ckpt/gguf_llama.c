#include "gguf_llama.h"

#include "autograd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* llama.cpp's LLAMA_FTYPE of a file, for general.file_type (its "model type" line). */
enum { FTYPE_F32 = 0, FTYPE_F16 = 1, FTYPE_TQ2_0 = 37 };

int slt_gguf_llama_check(const slt_model *m) {
  const slt_model_config *g = m->cfg;
  const char *why =
      g->arch != SLT_ARCH_GPT ? "model.arch is not gpt; llama is a real-valued GPT"
      : g->norm != SLT_NORM_RMSNORM ? "model.norm is layernorm; llama has RMSNorm only"
      : g->act != SLT_ACT_SWIGLU
          ? (g->act == SLT_ACT_GELU_TANH ? "model.act is gelu_tanh; llama has SwiGLU only"
                                         : "model.act is relu2; llama has SwiGLU only")
      : g->bias                   ? "model.bias is true; llama has no biases"
      : g->pos == SLT_POS_LEARNED ? "model.pos is learned; llama has RoPE only"
      : g->pos != SLT_POS_ROPE    ? "model.pos is none; llama has RoPE only"
      : slt_model_has_structured_ffn(g)
          ? "the FFNs are structured; merge them first (slt export --merge)"
          : NULL;
  if (why) {
    slt_err_set("cannot export to GGUF (llama architecture): %s", why);
    return -1;
  }
  return 0;
}

void slt_gguf_llama_permute(const float *w, float *out, int n_head, int head_dim, int in) {
  int half = head_dim / 2;
  for (int h = 0; h < n_head; h++)
    for (int i = 0; i < half; i++)
      for (int j = 0; j < 2; j++)
        memcpy(out + ((int64_t)h * head_dim + 2 * i + j) * in,
               w + ((int64_t)h * head_dim + j * half + i) * in, (size_t)in * sizeof *w);
}

/* The file type of a matrix; norm gains are always f32. */
static slt_ggml_type matrix_type(slt_gguf_out_type t, bool block_linear) {
  if (t == SLT_GGUF_OUT_F16) return SLT_GGML_F16;
  if (t == SLT_GGUF_OUT_TQ2_0 && block_linear) return SLT_GGML_TQ2_0;
  return SLT_GGML_F32;
}

/* The data of the model's parameter name (it exists: the GPT of a checked config declares it). */
static const float *param(const slt_model *m, const char *name) {
  const slt_param *p = slt_params_find(m->params, name);
  return p ? p->t.data : NULL;
}

/* The data of "blocks.<layer>.<leaf>". */
static const float *block_param(const slt_model *m, int layer, const char *leaf) {
  char name[SLT_PARAM_NAME_MAX];
  snprintf(name, sizeof name, "blocks.%d.%s", layer, leaf);
  return param(m, name);
}

static int add2(slt_gguf *g, const char *name, int64_t out, int64_t in, slt_ggml_type type,
                const float *w) {
  return slt_gguf_add_tensor(g, name, 2, (int64_t[]){out, in}, type, w);
}

static int add1(slt_gguf *g, const char *name, int64_t n, const float *w) {
  return slt_gguf_add_tensor(g, name, 1, &n, SLT_GGML_F32, w);
}

/* Wq and Wk permuted to pairs order, Wv as is, from the fused rows of qkv. 0 or -1. */
static int add_qkv(slt_gguf *g, const slt_model *m, int layer, slt_ggml_type type, char *name,
                   size_t len) {
  const slt_model_config *c = m->cfg;
  int C = c->d_model, hd = C / c->heads;
  const float *w = block_param(m, layer, "attn.qkv.weight");
  int64_t q_rows = (int64_t)c->heads * hd, kv_rows = (int64_t)c->kv_heads * hd;
  float *perm = malloc((size_t)q_rows * C * sizeof *perm);
  if (!perm) {
    slt_err_set("gguf: out of memory");
    return -1;
  }
  slt_gguf_llama_permute(w, perm, c->heads, hd, C);
  snprintf(name, len, "blk.%d.attn_q.weight", layer);
  int rc = add2(g, name, q_rows, C, type, perm);
  if (!rc) {
    slt_gguf_llama_permute(w + q_rows * C, perm, c->kv_heads, hd, C);
    snprintf(name, len, "blk.%d.attn_k.weight", layer);
    rc = add2(g, name, kv_rows, C, type, perm);
  }
  if (!rc) {
    snprintf(name, len, "blk.%d.attn_v.weight", layer);
    rc = add2(g, name, kv_rows, C, type, w + (q_rows + kv_rows) * C);
  }
  free(perm);
  return rc;
}

/* Block layer's seven matrices and two norm gains. 0 or -1. */
static int add_block(slt_gguf *g, const slt_model *m, int i, slt_gguf_out_type t) {
  int C = m->cfg->d_model, F = m->cfg->ffn_dim;
  const float *fc1 = block_param(m, i, "ffn.fc1.weight");
  slt_ggml_type type = matrix_type(t, true);
  char name[64];
#define NAME(leaf) (snprintf(name, sizeof name, "blk.%d.%s", i, leaf), name)
  if (add1(g, NAME("attn_norm.weight"), C, block_param(m, i, "ln1.weight")) ||
      add_qkv(g, m, i, type, name, sizeof name) ||
      add2(g, NAME("attn_output.weight"), C, C, type, block_param(m, i, "attn.proj.weight")) ||
      add1(g, NAME("ffn_norm.weight"), C, block_param(m, i, "ln2.weight")) ||
      add2(g, NAME("ffn_gate.weight"), F, C, type, fc1) ||
      add2(g, NAME("ffn_up.weight"), F, C, type, fc1 + (int64_t)F * C) ||
      add2(g, NAME("ffn_down.weight"), C, F, type, block_param(m, i, "ffn.fc2.weight")))
    return -1;
#undef NAME
  return 0;
}

static int add_tensors(slt_gguf *g, const slt_model *m, slt_gguf_out_type t) {
  const slt_model_config *c = m->cfg;
  slt_ggml_type outer = matrix_type(t, false);
  const float *head = param(m, "lm_head.weight"); /* NULL when tied */
  if (add2(g, "token_embd.weight", c->vocab_size, c->d_model, outer, param(m, "wte.weight")))
    return -1;
  for (int i = 0; i < c->layers; i++)
    if (add_block(g, m, i, t)) return -1;
  if (add1(g, "output_norm.weight", c->d_model, param(m, "ln_f.weight"))) return -1;
  if (head && add2(g, "output.weight", c->vocab_size, c->d_model, outer, head))
    return -1;
  return 0;
}

static int add_hparams(slt_gguf *g, const slt_model *m, slt_gguf_out_type t, const char *name) {
  const slt_model_config *c = m->cfg;
  static const uint32_t ftype[] = {FTYPE_F32, FTYPE_F16, FTYPE_TQ2_0};
  return slt_gguf_set_str(g, "general.architecture", "llama") ||
                 slt_gguf_set_str(g, "general.name", name) ||
                 slt_gguf_set_u32(g, "general.alignment", SLT_GGUF_ALIGN) ||
                 slt_gguf_set_u32(g, "general.file_type", ftype[t]) ||
                 slt_gguf_set_u32(g, "llama.context_length", (uint32_t)c->seq_len) ||
                 slt_gguf_set_u32(g, "llama.embedding_length", (uint32_t)c->d_model) ||
                 slt_gguf_set_u32(g, "llama.block_count", (uint32_t)c->layers) ||
                 slt_gguf_set_u32(g, "llama.feed_forward_length", (uint32_t)c->ffn_dim) ||
                 slt_gguf_set_u32(g, "llama.rope.dimension_count",
                                  (uint32_t)(c->d_model / c->heads)) ||
                 slt_gguf_set_u32(g, "llama.attention.head_count", (uint32_t)c->heads) ||
                 slt_gguf_set_u32(g, "llama.attention.head_count_kv", (uint32_t)c->kv_heads) ||
                 slt_gguf_set_f32(g, "llama.rope.freq_base", (float)c->rope_base) ||
                 slt_gguf_set_f32(g, "llama.attention.layer_norm_rms_epsilon", (float)c->norm_eps) ||
                 (t == SLT_GGUF_OUT_TQ2_0 && slt_gguf_set_u32(g, "general.quantization_version", 2))
             ? -1
             : 0;
}

static int add_vocab(slt_gguf *g, const slt_gguf_vocab *v) {
  if (slt_gguf_set_str(g, "tokenizer.ggml.model", "gpt2") ||
      slt_gguf_set_str(g, "tokenizer.ggml.pre", "gpt-2") ||
      slt_gguf_set_arr_str(g, "tokenizer.ggml.tokens", (const char *const *)v->tokens, v->n) ||
      slt_gguf_set_arr_i32(g, "tokenizer.ggml.token_type", v->types, v->n) ||
      slt_gguf_set_arr_str(g, "tokenizer.ggml.merges", (const char *const *)v->merges, v->n_merges))
    return -1;
  if (v->bos >= 0 && slt_gguf_set_u32(g, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos))
    return -1;
  if (v->eos >= 0 && slt_gguf_set_u32(g, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos))
    return -1;
  return 0;
}

int slt_gguf_llama_write(const slt_model *m, const slt_gguf_vocab *v, slt_gguf_out_type type,
                         const char *name, const char *path) {
  if (slt_gguf_llama_check(m)) return -1;
  if (v->n != m->cfg->vocab_size) {
    slt_err_set("gguf: the tokenizer metadata has %d tokens, the model's vocabulary %d", v->n,
                m->cfg->vocab_size);
    return -1;
  }
  slt_gguf *g = slt_gguf_new();
  if (!g) return -1;
  int rc = add_hparams(g, m, type, name) || add_vocab(g, v) || add_tensors(g, m, type) ||
                   slt_gguf_write(g, path)
               ? -1
               : 0;
  slt_gguf_free(g);
  return rc;
}
