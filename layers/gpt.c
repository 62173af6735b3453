#include "gpt.h"
#include "guided.h"
#include "structured.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slt_gpt_check_config(const slt_model_config *g) {
  const struct {
    const char *key;
    int value;
  } sizes[] = {{"model.vocab_size", g->vocab_size}, {"model.seq_len", g->seq_len},
               {"model.layers", g->layers},         {"model.d_model", g->d_model},
               {"model.heads", g->heads},           {"model.kv_heads", g->kv_heads},
               {"model.ffn_dim", g->ffn_dim}};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    if (sizes[i].value < 1) {
      slt_err_set("%s must be >= 1, got %d", sizes[i].key, sizes[i].value);
      return -1;
    }
  if (g->d_model % g->heads) {
    slt_err_set("model.heads (%d) must divide model.d_model (%d)", g->heads, g->d_model);
    return -1;
  }
  if (g->heads % g->kv_heads) {
    slt_err_set("model.kv_heads (%d) must divide model.heads (%d)", g->kv_heads, g->heads);
    return -1;
  }
  if (g->pos == SLT_POS_ROPE && (g->d_model / g->heads) % 2) {
    slt_err_set("head size model.d_model / model.heads = %d must be even when model.pos is rope",
                g->d_model / g->heads);
    return -1;
  }
  return 0;
}

/* Declare "<prefix>.weight" (and ".bias" for layernorm with biases) of a norm over C. */
static int declare_norm(slt_gpt *m, const char *prefix, slt_tensor **w, slt_tensor **b) {
  int C = m->cfg.d_model;
  *w = slt_lin_param(&m->params, prefix, "weight", 1, &C);
  *b = NULL;
  if (!*w) return -1;
  if (m->cfg.norm == SLT_NORM_LAYERNORM && m->cfg.bias &&
      !(*b = slt_lin_param(&m->params, prefix, "bias", 1, &C)))
    return -1;
  return 0;
}

static int declare_block(slt_gpt *m, int i) {
  const slt_model_config *g = &m->cfg;
  slt_gpt_block *b = &m->blocks[i];
  int hd = g->d_model / g->heads, fc1_out = g->act == SLT_ACT_SWIGLU ? 2 * g->ffn_dim : g->ffn_dim;
  slt_lin_spec ffn = slt_ffn_spec(&g->ffn, i);
  char p[64];
#define PREFIX(leaf) (snprintf(p, sizeof p, "blocks.%d.%s", i, leaf), p)
  bool bitlinear = g->quant.bitlinear_norm; /* BitLinear normalises inside each linear */
  if ((!bitlinear && declare_norm(m, PREFIX("ln1"), &b->ln1_w, &b->ln1_b)) ||
      slt_lin_declare_dense(&b->qkv, &m->params, PREFIX("attn.qkv"), g->d_model,
                            (g->heads + 2 * g->kv_heads) * hd, g->bias) ||
      slt_lin_declare_dense(&b->proj, &m->params, PREFIX("attn.proj"), g->d_model, g->d_model,
                            g->bias) ||
      (!bitlinear && declare_norm(m, PREFIX("ln2"), &b->ln2_w, &b->ln2_b)) ||
      slt_lin_declare_spec(&b->fc1, &m->params, PREFIX("ffn.fc1"), g->d_model, fc1_out, g->bias,
                           &ffn) ||
      slt_lin_declare_spec(&b->fc2, &m->params, PREFIX("ffn.fc2"), g->ffn_dim, g->d_model, g->bias,
                           &ffn))
    return -1;
#undef PREFIX
  return 0;
}

int slt_gpt_build(slt_gpt *m, const slt_model_config *cfg) {
  return slt_gpt_build_mode(m, cfg, SLT_MODEL_ALLOC);
}

int slt_gpt_build_mode(slt_gpt *m, const slt_model_config *cfg, slt_model_mode mode) {
  memset(m, 0, sizeof *m);
  m->cfg = slt_model_resolved(cfg);
  slt_params_init(&m->params);
  slt_gpt_bind(m);
  if (slt_gpt_check_config(&m->cfg)) return -1;
  cfg = &m->cfg;
  m->blocks = calloc(cfg->layers, sizeof *m->blocks);
  if (!m->blocks) {
    slt_err_set("out of memory building the model");
    return -1;
  }
  int V = cfg->vocab_size, C = cfg->d_model;
  if (!(m->wte = slt_params_add(&m->params, "wte.weight", 2, (int[]){V, C}))) return -1;
  if (cfg->pos == SLT_POS_LEARNED &&
      !(m->wpe = slt_params_add(&m->params, "wpe.weight", 2, (int[]){cfg->seq_len, C})))
    return -1;
  for (int i = 0; i < cfg->layers; i++)
    if (declare_block(m, i)) return -1;
  if (declare_norm(m, "ln_f", &m->lnf_w, &m->lnf_b)) return -1;
  if (!cfg->tie_embeddings &&
      !(m->lm_head = slt_params_add(&m->params, "lm_head.weight", 2, (int[]){V, C})))
    return -1;
  if (slt_gpt_quant_attach(m)) return -1;
  return mode == SLT_MODEL_DECLARE ? 0 : slt_params_alloc(&m->params);
}

void slt_gpt_free(slt_gpt *m) {
  slt_params_free(&m->params);
  slt_quant_set_free(m->quant);
  m->quant = NULL;
  free(m->blocks);
  m->blocks = NULL;
}

static void fill(slt_tensor *t, float v) {
  if (t)
    for (int64_t i = 0; i < t->numel; i++) t->data[i] = v;
}

void slt_gpt_init_weights(slt_gpt *m, uint64_t seed) {
  slt_rng rng;
  slt_rng_seed(&rng, seed);
  float std = (float)m->cfg.init_std;
  slt_rng_fill_normal(&rng, m->wte->data, m->wte->numel, 0.0f, std);
  if (m->wpe) slt_rng_fill_normal(&rng, m->wpe->data, m->wpe->numel, 0.0f, std);
  for (int i = 0; i < m->cfg.layers; i++) {
    slt_gpt_block *b = &m->blocks[i];
    fill(b->ln1_w, 1.0f);
    fill(b->ln1_b, 0.0f);
    fill(b->ln2_w, 1.0f);
    fill(b->ln2_b, 0.0f);
    slt_lin_init(&b->qkv, &rng, std);
    slt_lin_init(&b->proj, &rng, std);
    slt_lin_init(&b->fc1, &rng, std);
    slt_lin_init(&b->fc2, &rng, std);
  }
  fill(m->lnf_w, 1.0f);
  fill(m->lnf_b, 0.0f);
  if (m->lm_head) slt_rng_fill_normal(&rng, m->lm_head->data, m->lm_head->numel, 0.0f, std);
  slt_quant_set_init(m->quant); /* LSQ scales from the drawn weights (specs checked at build) */
}

slt_tensor *slt_gpt_norm(const slt_gpt *m, slt_ctx *c, slt_tensor *x, slt_tensor *w,
                         slt_tensor *b) {
  float eps = (float)m->cfg.norm_eps;
  if (!w) return x; /* BitLinear blocks have no pre-norms */
  if (m->cfg.norm == SLT_NORM_RMSNORM) return slt_rmsnorm(c, x, w, eps);
  return slt_layernorm(c, x, w, b, eps);
}

/* x (B, T, C) -> attention output (B, T, C), before the residual add. */
void slt_gpt_qkv(const slt_gpt *m, slt_gpt_block *b, slt_ctx *c, slt_tensor *x, int pos0,
                 slt_tensor **q, slt_tensor **k, slt_tensor **v) {
  const slt_model_config *g = &m->cfg;
  int hd = g->d_model / g->heads;
  slt_tensor *qkv = slt_lin_forward(&b->qkv, c, x); /* (B, T, (H + 2·Hkv)·hd) */
  *q = slt_split_heads_at(c, qkv, 0, g->heads, hd);
  *k = slt_split_heads_at(c, qkv, g->heads * hd, g->kv_heads, hd);
  *v = slt_split_heads_at(c, qkv, (g->heads + g->kv_heads) * hd, g->kv_heads, hd);
  if (g->pos == SLT_POS_ROPE) {
    *q = slt_rope(c, *q, pos0, (float)g->rope_base);
    *k = slt_rope(c, *k, pos0, (float)g->rope_base);
  }
}

static slt_tensor *attention(const slt_gpt *m, slt_gpt_block *b, slt_ctx *c, slt_tensor *x,
                             int pos0) {
  slt_tensor *q, *k, *v;
  slt_gpt_qkv(m, b, c, x, pos0, &q, &k, &v);
  slt_tensor *a = slt_merge_heads(c, slt_attention(c, q, k, v));
  return slt_lin_forward(&b->proj, c, a);
}

/* An FFN linear, through its guide while self-guided training has one. */
static slt_tensor *ffn_linear(const slt_gpt *m, int layer, bool fc2, slt_lin *l, slt_ctx *c,
                              slt_tensor *x) {
  if (!m->guide) return slt_lin_forward(l, c, x);
  return slt_guided_forward(m->guide, slt_guide_index(layer, fc2), l, c, x);
}

slt_tensor *slt_gpt_ffn(const slt_gpt *m, int layer, slt_ctx *c, slt_tensor *x) {
  slt_gpt_block *b = &m->blocks[layer];
  slt_tensor *h = ffn_linear(m, layer, false, &b->fc1, c, x);
  switch (m->cfg.act) {
  case SLT_ACT_SWIGLU:
    h = slt_swiglu(c, h);
    break;
  case SLT_ACT_RELU2:
    h = slt_relu2(c, h);
    break;
  default:
    h = slt_gelu_tanh(c, h);
    break;
  }
  return ffn_linear(m, layer, true, &b->fc2, c, h);
}

slt_tensor *slt_gpt_logits(slt_gpt *m, slt_ctx *c, const int32_t *ids, int B, int T, int pos0) {
  const slt_model_config *g = &m->cfg;
  if (pos0 + T > g->seq_len && g->pos == SLT_POS_LEARNED) {
    slt_err_set("gpt: positions %d..%d exceed model.seq_len %d", pos0, pos0 + T - 1, g->seq_len);
    return NULL;
  }
  slt_tensor *x = slt_embedding(c, m->wte, ids, B, T); /* (B, T, C) */
  if (m->wpe) {
    int32_t *pos = slt_arena_alloc(&c->arena, (size_t)T * sizeof *pos);
    if (!pos) return NULL;
    for (int t = 0; t < T; t++) pos[t] = pos0 + t;
    /* (B, T·C) + row (T·C): the same position embeddings added to every sequence. */
    int TC = T * g->d_model;
    slt_tensor *pe = slt_reshape(c, slt_embedding(c, m->wpe, pos, 1, T), 1, &TC);
    x = slt_add(c, slt_reshape(c, x, 2, (int[]){B, TC}), pe);
    x = slt_reshape(c, x, 3, (int[]){B, T, g->d_model});
  }
  for (int i = 0; i < g->layers; i++) {
    slt_gpt_block *b = &m->blocks[i];
    x = slt_add(c, x, attention(m, b, c, slt_gpt_norm(m, c, x, b->ln1_w, b->ln1_b), pos0));
    x = slt_add(c, x, slt_gpt_ffn(m, i, c, slt_gpt_norm(m, c, x, b->ln2_w, b->ln2_b)));
  }
  return slt_gpt_head(m, c, slt_gpt_norm(m, c, x, m->lnf_w, m->lnf_b));
}

slt_tensor *slt_gpt_head(const slt_gpt *m, slt_ctx *c, slt_tensor *x) {
  slt_tensor *w = slt_lin_transform_weight(&m->head, c, m->lm_head ? m->lm_head : m->wte);
  return slt_linear(c, slt_lin_transform_input(&m->head, c, x), w, NULL);
}

slt_tensor *slt_gpt_loss(slt_gpt *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B, int T) {
  slt_tensor *logits = slt_gpt_logits(m, c, x, B, T, 0);
  return slt_cross_entropy(c, logits, y, -1);
}

double slt_gpt_flops_per_token(const slt_gpt *m, int T) {
  const slt_model_config *g = &m->cfg;
  double matmul = (double)g->vocab_size * g->d_model; /* the head, tied or not */
  for (int i = 0; i < m->params.count; i++) {
    const slt_param *q = m->params.items[i];
    if (q->t.ndim >= 2 && !strncmp(q->name, "blocks.", 7)) matmul += (double)q->t.numel;
  }
  /* Causal attention: q·kᵀ and p·v over T/2 keys on average, 2 FLOPs per MAC each. */
  double attn = g->layers * 2.0 * 2.0 * (T / 2.0) * g->d_model;
  return 3.0 * (2.0 * matmul + attn); /* backward costs twice the forward */
}

int64_t slt_gpt_ffn_params(const slt_gpt *m) {
  int64_t n = 0;
  for (int i = 0; i < m->params.count; i++)
    if (strstr(m->params.items[i]->name, ".ffn.")) n += m->params.items[i]->t.numel;
  return n;
}

int64_t slt_gpt_dense_ffn_params(const slt_model_config *g) {
  int64_t fc1_out = g->act == SLT_ACT_SWIGLU ? 2 * (int64_t)g->ffn_dim : g->ffn_dim;
  int64_t per_layer = (int64_t)g->d_model * fc1_out + (int64_t)g->ffn_dim * g->d_model;
  if (g->bias) per_layer += fc1_out + g->d_model;
  return g->layers * per_layer;
}
