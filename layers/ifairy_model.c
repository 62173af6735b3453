/* The iFairy complex model (ifairy.h) behind the model seam (model.h): the config's `model`
 * section mapped to slt_ifairy_config, the vtable's calls, and a decoder for generation. */
#include "ifairy.h"
#include "model.h"

#include "autograd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  slt_model model;      /* first member: the seam's view */
  slt_model_config cfg; /* resolved: kv_heads and ffn_dim set */
  slt_ifairy f;
} ifairy_model;

static ifairy_model *of(const slt_model *m) {
  return (ifairy_model *)m;
}

slt_ifairy_config slt_ifairy_config_of(const slt_model_config *m) {
  return (slt_ifairy_config){.vocab_size = m->vocab_size,
                             .seq_len = m->seq_len,
                             .layers = m->layers,
                             .hidden = m->d_model,
                             .heads = m->heads,
                             .ffn_dim = slt_model_ffn_dim(m),
                             .norm_eps = (float)m->norm_eps,
                             .rope_base = (float)m->rope_base,
                             .init_std = (float)m->init_std,
                             .weight_stages = m->phasequant.stages,
                             .act_quant = m->act_quant == SLT_ACT_QUANT_INT8};
}

/* The GPT keys whose value the complex model fixes: each must say what the model does, so a
 * config reads true. NULL when all agree, else the one line to report. */
static const char *fixed_key_error(const slt_model_config *m, const char *arch, slt_norm_kind norm,
                                   slt_act_kind act, char *buf, size_t len) {
  if (m->norm != norm)
    snprintf(buf, len, "model.norm: %s uses %s; set model.norm: %s", arch,
             norm == SLT_NORM_RMSNORM ? "RMSNorm" : "LayerNorm", slt_norm_names[norm]);
  else if (m->act != act)
    snprintf(buf, len, "model.act: %s's MLP is %s; set model.act: %s", arch, slt_act_names[act],
             slt_act_names[act]);
  else if (m->pos != SLT_POS_ROPE)
    snprintf(buf, len, "model.pos: %s uses complex RoPE; set model.pos: rope", arch);
  else if (m->bias)
    snprintf(buf, len, "model.bias: %s has no biases; set model.bias: false", arch);
  else if (m->tie_embeddings)
    snprintf(buf, len,
             "model.tie_embeddings: %s's head is a real linear over [re ‖ im], not tied "
             "to the (re, im) embedding; set model.tie_embeddings: false",
             arch);
  else if (slt_model_kv_heads(m) != m->heads)
    snprintf(buf, len,
             "model.kv_heads (%d): %s has no grouped-query attention; set it to "
             "model.heads (%d) or 0",
             m->kv_heads, arch, m->heads);
  else if (slt_model_has_structured_ffn(m))
    snprintf(buf, len,
             "model.ffn.kind: %s's MLP linears are complex and dense; set "
             "model.ffn.kind: dense",
             arch);
  else
    return NULL;
  return buf;
}

int slt_ifairy_check_model(const slt_model_config *m, const char *arch, int act) {
  char why[320];
  if (fixed_key_error(m, arch, SLT_NORM_RMSNORM, (slt_act_kind)act, why, sizeof why)) {
    slt_err_set("%s", why);
    return -1;
  }
  slt_ifairy_config f = slt_ifairy_config_of(m);
  return slt_ifairy_check_config(&f);
}

static slt_tensor *ifairy_logits(slt_model *m, slt_ctx *c, const int32_t *ids, int B, int T,
                                 int pos0) {
  return slt_ifairy_logits(&of(m)->f, c, ids, B, T, pos0);
}

static slt_tensor *ifairy_loss(slt_model *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B,
                               int T) {
  return slt_ifairy_loss(&of(m)->f, c, x, y, B, T);
}

static double ifairy_flops(const slt_model *m, int T) {
  return slt_ifairy_flops_per_token(&of(m)->f, T);
}

static void ifairy_counts(const slt_model *m, slt_model_counts *n) {
  slt_ifairy_counts k = slt_ifairy_counts_of(&of(m)->f);
  /* real numbers: a complex weight counts its two parts */
  *n = (slt_model_counts){
      .total = k.total, .embedding = k.embedding, .ffn = k.ffn, .ffn_dense = k.ffn};
}

static void ifairy_init(slt_model *m, uint64_t seed) {
  slt_ifairy_init_weights(&of(m)->f, seed);
}

static void ifairy_free(slt_model *m) {
  slt_ifairy_free(&of(m)->f);
  free(of(m));
}

static slt_model *ifairy_merged(const slt_model *m) {
  (void)m;
  slt_err_set("model.arch ifairy has no structured FFNs to merge");
  return NULL;
}

static slt_decoder *ifairy_decoder(slt_model *m, const slt_decoder_opts *o) {
  return slt_ifairy_decoder_new(&of(m)->f, o);
}

static double ifairy_kv_bytes(const slt_model *m) {
  /* keys and values of every layer: 2H floats each ([re | im] of every head) */
  return 2.0 * m->cfg->layers * 2.0 * m->cfg->d_model * sizeof(float);
}

static struct slt_packed_cplx **ifairy_cplx_slot(slt_model *m, const char *param, int shape[2]) {
  slt_cweight *w = slt_ifairy_cweight(&of(m)->f, param, shape);
  return w ? &w->packed : NULL;
}

static const slt_model_vt ifairy_vt = {
    .logits = ifairy_logits,
    .loss = ifairy_loss,
    .flops_per_token = ifairy_flops,
    .counts = ifairy_counts,
    .init_weights = ifairy_init,
    .guide_attach = NULL, /* no structured linears: no self-guided training */
    .guide_detach = NULL,
    .merged = ifairy_merged,
    .decoder = ifairy_decoder,
    .kv_bytes_per_position = ifairy_kv_bytes,
    .cplx_slot = ifairy_cplx_slot,
    .free = ifairy_free,
};

slt_model *slt_ifairy_model_build(const slt_model_config *cfg, slt_model_mode mode) {
  if (slt_ifairy_check_model(cfg, "ifairy", SLT_ACT_RELU2)) return NULL;
  ifairy_model *m = calloc(1, sizeof *m);
  if (!m) {
    slt_err_set("out of memory building the model");
    return NULL;
  }
  m->cfg = slt_model_resolved(cfg);
  slt_ifairy_config f = slt_ifairy_config_of(&m->cfg);
  if (slt_ifairy_build(&m->f, &f, mode == SLT_MODEL_ALLOC)) {
    slt_ifairy_free(&m->f);
    free(m);
    return NULL;
  }
  m->model = (slt_model){.vt = &ifairy_vt, .params = &m->f.params, .cfg = &m->cfg};
  return &m->model;
}
