/* The Fairy2i widely-linear complex model (fairy2i.h) and its place behind the model seam. */
#include "fairy2i.h"
#include "ifairy.h"

#include "autograd/complex.h"
#include "autograd/error.h"
#include "autograd/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A widely-linear weight y = U·x + W·conj(x): four real (out, in) parts. */
typedef struct {
  slt_tensor *u_re, *u_im, *w_re, *w_im;
} wl_weight;

typedef struct {
  slt_tensor *attn_norm, *mlp_norm;
  wl_weight q, k, v, o, gate, up, down;
} f2_block;

typedef struct {
  slt_model model;      /* first member: the seam's view */
  slt_model_config cfg; /* resolved */
  slt_params params;
  slt_tensor *embed, *norm, *lm_head;
  f2_block *blocks;
} f2_model;

static f2_model *of(const slt_model *m) {
  return (f2_model *)m;
}

static slt_tensor *param(slt_params *p, const char *name, int ndim, const int *shape) {
  return slt_params_add(p, name, ndim, shape);
}

static int declare_wl(slt_params *p, int layer, const char *lin, int out, int in, wl_weight *w) {
  static const char *const leaf[4] = {"u_re", "u_im", "w_re", "w_im"};
  slt_tensor **t[4] = {&w->u_re, &w->u_im, &w->w_re, &w->w_im};
  for (int k = 0; k < 4; k++) {
    char name[SLT_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "blocks.%d.%s.%s", layer, lin, leaf[k]);
    if (!(*t[k] = param(p, name, 2, (int[]){out, in}))) return -1;
  }
  return 0;
}

static int declare_block(f2_model *m, int i) {
  f2_block *b = &m->blocks[i];
  int H = m->cfg.d_model, F = m->cfg.ffn_dim, H2 = 2 * H;
  char a[64], n[64];
  snprintf(a, sizeof a, "blocks.%d.attn_norm.weight", i);
  snprintf(n, sizeof n, "blocks.%d.mlp_norm.weight", i);
  return !(b->attn_norm = param(&m->params, a, 1, &H2)) ||
                 declare_wl(&m->params, i, "attn.q_proj", H, H, &b->q) ||
                 declare_wl(&m->params, i, "attn.k_proj", H, H, &b->k) ||
                 declare_wl(&m->params, i, "attn.v_proj", H, H, &b->v) ||
                 declare_wl(&m->params, i, "attn.o_proj", H, H, &b->o) ||
                 !(b->mlp_norm = param(&m->params, n, 1, &H2)) ||
                 declare_wl(&m->params, i, "mlp.gate_proj", F, H, &b->gate) ||
                 declare_wl(&m->params, i, "mlp.up_proj", F, H, &b->up) ||
                 declare_wl(&m->params, i, "mlp.down_proj", H, F, &b->down)
             ? -1
             : 0;
}

static int declare(f2_model *m) {
  int V = m->cfg.vocab_size, H2 = 2 * m->cfg.d_model;
  if (!(m->blocks = calloc(m->cfg.layers, sizeof *m->blocks))) {
    slt_err_set("out of memory building the model");
    return -1;
  }
  if (!(m->embed = param(&m->params, "embed.weight", 2, (int[]){V, H2}))) return -1;
  for (int i = 0; i < m->cfg.layers; i++)
    if (declare_block(m, i)) return -1;
  return !(m->norm = param(&m->params, "norm.weight", 1, &H2)) ||
                 !(m->lm_head = param(&m->params, "lm_head.weight", 2, (int[]){V, H2}))
             ? -1
             : 0;
}

/* ---- forward ---- */

static slt_tensor *act_in(const f2_model *m, slt_ctx *c, slt_tensor *x) {
  return m->cfg.act_quant == SLT_ACT_QUANT_INT8 ? slt_cplx_act_quant8(c, x) : x;
}

/* y = U·x + W·conj(x), U and W each PhaseQuant'ed (residually for 2 stages) when configured. */
static slt_tensor *wl(const f2_model *m, slt_ctx *c, slt_tensor *x, const wl_weight *w) {
  slt_tensor *ur = w->u_re, *ui = w->u_im, *wr = w->w_re, *wi = w->w_im;
  int s = m->cfg.phasequant.stages;
  if (s && (slt_phasequant(c, w->u_re, w->u_im, s, &ur, &ui) ||
            slt_phasequant(c, w->w_re, w->w_im, s, &wr, &wi)))
    return NULL;
  return slt_cplx_wl_linear(c, x, ur, ui, wr, wi);
}

static slt_tensor *attention(const f2_model *m, const f2_block *b, slt_ctx *c, slt_tensor *x,
                             int pos0) {
  int heads = m->cfg.heads, D = m->cfg.d_model / heads;
  float base = (float)m->cfg.rope_base;
  x = act_in(m, c, x);
  slt_tensor *q = slt_cplx_split_heads(c, wl(m, c, x, &b->q), 0, heads, D);
  slt_tensor *k = slt_cplx_split_heads(c, wl(m, c, x, &b->k), 0, heads, D);
  slt_tensor *v = slt_cplx_split_heads(c, wl(m, c, x, &b->v), 0, heads, D);
  q = slt_cplx_rope(c, q, pos0, base);
  k = slt_cplx_rope(c, k, pos0, base);
  slt_tensor *a = slt_cplx_merge_heads(c, slt_cplx_attention(c, q, k, v));
  return wl(m, c, act_in(m, c, a), &b->o);
}

static slt_tensor *mlp(const f2_model *m, const f2_block *b, slt_ctx *c, slt_tensor *x) {
  x = act_in(m, c, x);
  slt_tensor *h = slt_mul(c, slt_silu(c, wl(m, c, x, &b->gate)), wl(m, c, x, &b->up));
  return wl(m, c, act_in(m, c, h), &b->down);
}

static slt_tensor *f2_logits(slt_model *mm, slt_ctx *c, const int32_t *ids, int B, int T,
                             int pos0) {
  const f2_model *m = of(mm);
  float eps = (float)m->cfg.norm_eps;
  if (pos0 < 0 || B < 1 || T < 1) {
    slt_err_set("fairy2i: need B, T >= 1 and pos0 >= 0, got B %d, T %d, pos0 %d", B, T, pos0);
    return NULL;
  }
  slt_tensor *x = slt_embedding(c, m->embed, ids, B, T); /* (B, T, 2H) = [re | im] */
  for (int i = 0; i < m->cfg.layers; i++) {
    const f2_block *b = &m->blocks[i];
    x = slt_add(c, x, attention(m, b, c, slt_rmsnorm(c, x, b->attn_norm, eps), pos0));
    x = slt_add(c, x, mlp(m, b, c, slt_rmsnorm(c, x, b->mlp_norm, eps)));
  }
  return slt_linear(c, slt_rmsnorm(c, x, m->norm, eps), m->lm_head, NULL);
}

static slt_tensor *f2_loss(slt_model *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B,
                           int T) {
  return slt_cross_entropy(c, f2_logits(m, c, x, B, T, 0), y, -1);
}

/* Each widely-linear map is one real GEMM of its (2out, 2in) matrix, as a ComplexLinear. */
static double f2_flops(const slt_model *m, int T) {
  const slt_model_config *g = m->cfg;
  double H = g->d_model, F = g->ffn_dim;
  double linear = 4.0 * (4.0 * H * H + 3.0 * H * F), head = (double)g->vocab_size * 2.0 * H;
  double attn = 2.0 * (T / 2.0) * 2.0 * H;
  return 3.0 * 2.0 * (g->layers * (linear + attn) + head);
}

static void f2_counts(const slt_model *m, slt_model_counts *n) {
  const f2_model *f = of(m);
  *n = (slt_model_counts){.embedding = f->embed->numel};
  for (int i = 0; i < f->params.count; i++) { /* not params.numel: that counts alignment padding */
    const slt_param *p = f->params.items[i];
    n->total += p->t.numel;
    if (strstr(p->name, ".mlp.")) n->ffn += p->t.numel;
  }
  n->ffn_dense = n->ffn;
}

static void fill(slt_tensor *t, float v) {
  for (int64_t i = 0; i < t->numel; i++) t->data[i] = v;
}

static void f2_init(slt_model *mm, uint64_t seed) {
  f2_model *m = of(mm);
  slt_rng rng;
  slt_rng_seed(&rng, seed);
  float std = (float)m->cfg.init_std;
  slt_rng_fill_normal(&rng, m->embed->data, m->embed->numel, 0.0f, std);
  for (int i = 0; i < m->cfg.layers; i++) {
    f2_block *b = &m->blocks[i];
    wl_weight *w[7] = {&b->q, &b->k, &b->v, &b->o, &b->gate, &b->up, &b->down};
    for (int j = 0; j < 7; j++) {
      slt_tensor *t[4] = {w[j]->u_re, w[j]->u_im, w[j]->w_re, w[j]->w_im};
      for (int k = 0; k < 4; k++) slt_rng_fill_normal(&rng, t[k]->data, t[k]->numel, 0.0f, std / 2);
    }
    fill(b->attn_norm, 1.0f), fill(b->mlp_norm, 1.0f);
  }
  fill(m->norm, 1.0f);
  slt_rng_fill_normal(&rng, m->lm_head->data, m->lm_head->numel, 0.0f, std);
}

static void f2_free(slt_model *mm) {
  f2_model *m = of(mm);
  slt_params_free(&m->params);
  free(m->blocks);
  free(m);
}

static slt_model *f2_merged(const slt_model *m) {
  (void)m;
  slt_err_set("model.arch fairy2i has no structured FFNs to merge");
  return NULL;
}

static double f2_kv_bytes(const slt_model *m) {
  (void)m;
  return sizeof(int32_t); /* the prefix decoder keeps token ids */
}

static const slt_model_vt f2_vt = {
    .logits = f2_logits,
    .loss = f2_loss,
    .flops_per_token = f2_flops,
    .counts = f2_counts,
    .init_weights = f2_init,
    .merged = f2_merged,
    .decoder = slt_prefix_decoder_new,
    .kv_bytes_per_position = f2_kv_bytes,
    .free = f2_free,
};

slt_model *slt_fairy2i_model_build(const slt_model_config *cfg, slt_model_mode mode) {
  if (slt_ifairy_check_model(cfg, "fairy2i", SLT_ACT_SWIGLU)) return NULL;
  f2_model *m = calloc(1, sizeof *m);
  if (!m) {
    slt_err_set("out of memory building the model");
    return NULL;
  }
  m->cfg = slt_model_resolved(cfg);
  slt_params_init(&m->params);
  m->model = (slt_model){.vt = &f2_vt, .params = &m->params, .cfg = &m->cfg};
  if (declare(m) || (mode == SLT_MODEL_ALLOC && slt_params_alloc(&m->params))) {
    f2_free(&m->model);
    return NULL;
  }
  return &m->model;
}
