/* The iFairy complex transformer (SPEC §6) assembled from autograd/complex.h's ops. */
#include "ifairy.h"

#include "autograd/complex.h"
#include "autograd/error.h"
#include "autograd/ops.h"
#include "autograd/rng.h"
#include "layers/packed_cplx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

slt_ifairy_config slt_ifairy_default_config(int vocab_size, int seq_len) {
  return (slt_ifairy_config){.vocab_size = vocab_size,
                             .seq_len = seq_len,
                             .layers = 24,
                             .hidden = 1536,
                             .heads = 16,
                             .ffn_dim = 4096,
                             .norm_eps = 1e-5f,
                             .rope_base = 10000.0f,
                             .init_std = 0.02f,
                             .weight_stages = 1,
                             .act_quant = true};
}

int slt_ifairy_check_config(const slt_ifairy_config *g) {
  const struct {
    const char *key;
    int value;
  } sizes[] = {{"model.vocab_size", g->vocab_size}, {"model.seq_len", g->seq_len},
               {"model.layers", g->layers},         {"model.d_model", g->hidden},
               {"model.heads", g->heads},           {"model.ffn_dim", g->ffn_dim}};
  for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
    if (sizes[i].value < 1) {
      slt_err_set("%s must be >= 1, got %d", sizes[i].key, sizes[i].value);
      return -1;
    }
  if (g->hidden % g->heads) {
    slt_err_set("model.heads (%d) must divide model.d_model (%d)", g->heads, g->hidden);
    return -1;
  }
  if (g->weight_stages < 0 || g->weight_stages > 2) {
    slt_err_set("ifairy: weight stages must be 0 (none), 1 or 2 (PhaseQuant), got %d",
                g->weight_stages);
    return -1;
  }
  if (!(g->norm_eps >= 0.0f) || !(g->rope_base > 0.0f) || !(g->init_std >= 0.0f)) {
    slt_err_set("ifairy: need norm_eps >= 0, rope_base > 0 and init_std >= 0");
    return -1;
  }
  return 0;
}

/* "<prefix>.<leaf>" of the given shape. */
static slt_tensor *param(slt_params *p, const char *prefix, const char *leaf, int ndim,
                         const int *shape) {
  char name[SLT_PARAM_NAME_MAX];
  if (snprintf(name, sizeof name, "%s.%s", prefix, leaf) >= (int)sizeof name) {
    slt_err_set("ifairy: parameter name too long: %s.%s", prefix, leaf);
    return NULL;
  }
  return slt_params_add(p, name, ndim, shape);
}

/* A ComplexLinear (out, in): "<prefix>.weight_re" and "<prefix>.weight_im". */
static int declare_cweight(slt_params *p, const char *prefix, int out, int in, slt_cweight *w) {
  int shape[2] = {out, in};
  w->re = param(p, prefix, "weight_re", 2, shape);
  w->im = w->re ? param(p, prefix, "weight_im", 2, shape) : NULL;
  return w->im ? 0 : -1;
}

static int declare_block(slt_ifairy *m, int i) {
  const slt_ifairy_config *g = &m->cfg;
  slt_ifairy_block *b = &m->blocks[i];
  int H = g->hidden, F = g->ffn_dim, H2 = 2 * H, F2 = 2 * F;
  char p[64];
#define PREFIX(leaf) (snprintf(p, sizeof p, "blocks.%d.%s", i, leaf), p)
  if (!(b->attn_norm = param(&m->params, PREFIX("attn_norm"), "weight", 1, &H2)) ||
      declare_cweight(&m->params, PREFIX("attn.q_proj"), H, H, &b->q) ||
      declare_cweight(&m->params, PREFIX("attn.k_proj"), H, H, &b->k) ||
      declare_cweight(&m->params, PREFIX("attn.v_proj"), H, H, &b->v) ||
      !(b->attn_sub_norm = param(&m->params, PREFIX("attn.sub_norm"), "weight", 1, &H2)) ||
      declare_cweight(&m->params, PREFIX("attn.o_proj"), H, H, &b->o) ||
      !(b->mlp_norm = param(&m->params, PREFIX("mlp_norm"), "weight", 1, &H2)) ||
      declare_cweight(&m->params, PREFIX("mlp.gate_proj"), F, H, &b->gate) ||
      declare_cweight(&m->params, PREFIX("mlp.up_proj"), F, H, &b->up) ||
      !(b->mlp_sub_norm = param(&m->params, PREFIX("mlp.sub_norm"), "weight", 1, &F2)) ||
      declare_cweight(&m->params, PREFIX("mlp.down_proj"), H, F, &b->down))
    return -1;
#undef PREFIX
  return 0;
}

int slt_ifairy_build(slt_ifairy *m, const slt_ifairy_config *cfg, bool alloc) {
  memset(m, 0, sizeof *m);
  slt_params_init(&m->params);
  if (slt_ifairy_check_config(cfg)) return -1;
  m->cfg = *cfg;
  m->blocks = calloc(cfg->layers, sizeof *m->blocks);
  if (!m->blocks) {
    slt_err_set("out of memory building the model");
    return -1;
  }
  int V = cfg->vocab_size, H2 = 2 * cfg->hidden;
  if (!(m->embed = slt_params_add(&m->params, "embed.weight", 2, (int[]){V, H2}))) return -1;
  for (int i = 0; i < cfg->layers; i++)
    if (declare_block(m, i)) return -1;
  if (!(m->norm = slt_params_add(&m->params, "norm.weight", 1, &H2)) ||
      !(m->lm_head = slt_params_add(&m->params, "lm_head.weight", 2, (int[]){V, H2})))
    return -1;
  return alloc ? slt_params_alloc(&m->params) : 0;
}

void slt_ifairy_free(slt_ifairy *m) {
  slt_params_free(&m->params);
  free(m->blocks);
  m->blocks = NULL;
}

static void fill_ones(slt_tensor *t) {
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = 1.0f;
}

void slt_ifairy_init_weights(slt_ifairy *m, uint64_t seed) {
  slt_rng rng;
  slt_rng_seed(&rng, seed);
  float std = m->cfg.init_std, cstd = std / sqrtf(2.0f);
  slt_rng_fill_normal(&rng, m->embed->data, m->embed->numel, 0.0f, std);
  for (int i = 0; i < m->cfg.layers; i++) {
    slt_ifairy_block *b = &m->blocks[i];
    slt_cweight *w[7] = {&b->q, &b->k, &b->v, &b->o, &b->gate, &b->up, &b->down};
    for (int j = 0; j < 7; j++) {
      slt_rng_fill_normal(&rng, w[j]->re->data, w[j]->re->numel, 0.0f, cstd);
      slt_rng_fill_normal(&rng, w[j]->im->data, w[j]->im->numel, 0.0f, cstd);
    }
    fill_ones(b->attn_norm), fill_ones(b->attn_sub_norm);
    fill_ones(b->mlp_norm), fill_ones(b->mlp_sub_norm);
  }
  fill_ones(m->norm);
  slt_rng_fill_normal(&rng, m->lm_head->data, m->lm_head->numel, 0.0f, std);
}

/* The input of ComplexLinears: 8-bit per token when configured (once for all that share it). */
static slt_tensor *act_in(const slt_ifairy *m, slt_ctx *c, slt_tensor *x) {
  return m->cfg.act_quant ? slt_cplx_act_quant8(c, x) : x;
}

/* A ComplexLinear of an input from act_in, its weight PhaseQuant'ed when configured. */
static slt_tensor *clinear(const slt_ifairy *m, slt_ctx *c, slt_tensor *x, const slt_cweight *w) {
  if (w->packed) return slt_packed_cplx_forward(w->packed, c, x);
  slt_tensor *re = w->re, *im = w->im;
  if (m->cfg.weight_stages && slt_phasequant(c, w->re, w->im, m->cfg.weight_stages, &re, &im))
    return NULL;
  return slt_cplx_linear(c, x, re, im);
}

int slt_ifairy_qkv(const slt_ifairy *m, const slt_ifairy_block *b, slt_ctx *c, slt_tensor *x,
                   int pos0, slt_tensor **q, slt_tensor **k, slt_tensor **v) {
  const slt_ifairy_config *g = &m->cfg;
  int D = g->hidden / g->heads;
  x = act_in(m, c, x);
  *q = slt_cplx_split_heads(c, clinear(m, c, x, &b->q), 0, g->heads, D);
  *k = slt_cplx_split_heads(c, clinear(m, c, x, &b->k), 0, g->heads, D);
  *v = slt_cplx_split_heads(c, clinear(m, c, x, &b->v), 0, g->heads, D);
  *q = slt_cplx_rope(c, *q, pos0, g->rope_base);
  *k = slt_cplx_rope(c, *k, pos0, g->rope_base);
  return *q && *k && *v ? 0 : -1;
}

slt_tensor *slt_ifairy_attn_out(const slt_ifairy *m, const slt_ifairy_block *b, slt_ctx *c,
                                slt_tensor *a) {
  a = slt_cplx_rmsnorm(c, slt_cplx_merge_heads(c, a), b->attn_sub_norm, m->cfg.norm_eps);
  return clinear(m, c, act_in(m, c, a), &b->o);
}

/* x (B, T, 2H) normalised -> attention output (B, T, 2H) before the residual add. */
static slt_tensor *attention(const slt_ifairy *m, const slt_ifairy_block *b, slt_ctx *c,
                             slt_tensor *x, int pos0) {
  slt_tensor *q, *k, *v;
  if (slt_ifairy_qkv(m, b, c, x, pos0, &q, &k, &v)) return NULL;
  return slt_ifairy_attn_out(m, b, c, slt_cplx_attention(c, q, k, v));
}

slt_tensor *slt_ifairy_mlp(const slt_ifairy *m, const slt_ifairy_block *b, slt_ctx *c,
                           slt_tensor *x) {
  x = act_in(m, c, x);
  slt_tensor *a = slt_cplx_relu2(c, clinear(m, c, x, &b->gate));
  slt_tensor *h = slt_cplx_conj_mul(c, a, clinear(m, c, x, &b->up));
  h = slt_cplx_rmsnorm(c, h, b->mlp_sub_norm, m->cfg.norm_eps);
  return clinear(m, c, act_in(m, c, h), &b->down);
}

slt_tensor *slt_ifairy_logits(slt_ifairy *m, slt_ctx *c, const int32_t *ids, int B, int T,
                              int pos0) {
  const slt_ifairy_config *g = &m->cfg;
  if (pos0 < 0 || B < 1 || T < 1) {
    slt_err_set("ifairy: need B, T >= 1 and pos0 >= 0, got B %d, T %d, pos0 %d", B, T, pos0);
    return NULL;
  }
  slt_tensor *x = slt_embedding(c, m->embed, ids, B, T); /* (B, T, 2H) = [re | im] */
  for (int i = 0; i < g->layers; i++) {
    const slt_ifairy_block *b = &m->blocks[i];
    x = slt_add(c, x, attention(m, b, c, slt_cplx_rmsnorm(c, x, b->attn_norm, g->norm_eps), pos0));
    x = slt_add(c, x, slt_ifairy_mlp(m, b, c, slt_cplx_rmsnorm(c, x, b->mlp_norm, g->norm_eps)));
  }
  return slt_ifairy_head(m, c, x);
}

slt_tensor *slt_ifairy_head(const slt_ifairy *m, slt_ctx *c, slt_tensor *x) {
  x = slt_cplx_rmsnorm(c, x, m->norm, m->cfg.norm_eps);
  return slt_linear(c, x, m->lm_head, NULL); /* real head on [x_re ‖ x_im] */
}

slt_tensor *slt_ifairy_loss(slt_ifairy *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B,
                            int T) {
  return slt_cross_entropy(c, slt_ifairy_logits(m, c, x, B, T, 0), y, -1);
}

double slt_ifairy_flops_per_token(const slt_ifairy *m, int T) {
  const slt_ifairy_config *g = &m->cfg;
  double H = g->hidden, F = g->ffn_dim;
  /* MACs per token: a ComplexLinear (out, in) is a GEMM with the (2out, 2in) block weight */
  double linear = 4.0 * (4.0 * H * H + 3.0 * H * F);
  double head = (double)g->vocab_size * 2.0 * H;
  /* causal attention: q·kᵀ and p·v over T/2 keys on average, over 2H real columns */
  double attn = 2.0 * (T / 2.0) * 2.0 * H;
  return 3.0 * 2.0 * (g->layers * (linear + attn) + head); /* 2 FLOPs per MAC; backward 2× */
}

slt_ifairy_counts slt_ifairy_counts_of(const slt_ifairy *m) {
  slt_ifairy_counts n = {0};
  for (int i = 0; i < m->params.count; i++) {
    const slt_param *q = m->params.items[i];
    n.total += q->t.numel;
    if (!strcmp(q->name, "embed.weight")) n.embedding += q->t.numel;
    if (strstr(q->name, ".mlp.")) n.ffn += q->t.numel;
  }
  return n;
}
