/* slt_model_build (the one place an architecture is chosen by name) and the model-independent
 * parts of the seam. */
#include "model.h"

#include "fairy2i.h"
#include "gpt.h"
#include "guided.h"
#include "ifairy.h"
#include "packed_linear.h"

#include "autograd/error.h"

#include <stdio.h>
#include <stdlib.h>

const char *const slt_arch_names[] = {"gpt", "ifairy", "fairy2i", NULL};
const char *const slt_norm_names[] = {"layernorm", "rmsnorm", NULL};
const char *const slt_pos_names[] = {"rope", "learned", "none", NULL};
const char *const slt_act_names[] = {"gelu_tanh", "swiglu", "relu2", NULL};
const char *const slt_act_quant_names[] = {"none", "int8", NULL};

static slt_model *build_gpt(const slt_model_config *cfg, slt_model_mode mode) {
  slt_gpt *g = malloc(sizeof *g);
  if (!g) {
    slt_err_set("out of memory building the model");
    return NULL;
  }
  if (slt_gpt_build_mode(g, cfg, mode)) {
    slt_gpt_free(g);
    free(g);
    return NULL;
  }
  return &g->model;
}

int slt_model_check(const slt_model_config *cfg) {
  if (slt_quant_config_check(&cfg->quant, cfg->norm == SLT_NORM_RMSNORM)) return -1;
  slt_model_config r = slt_model_resolved(cfg);
  switch (cfg->arch) {
  case SLT_ARCH_GPT:
    if (cfg->phasequant.stages || cfg->act_quant) {
      slt_err_set("model.%s: only for the complex archs (ifairy, fairy2i); model.arch is gpt",
                  cfg->phasequant.stages ? "phasequant.stages" : "act_quant");
      return -1;
    }
    return slt_gpt_check_config(&r);
  case SLT_ARCH_IFAIRY: return slt_ifairy_check_model(&r, "ifairy", SLT_ACT_RELU2);
  case SLT_ARCH_FAIRY2I: return slt_ifairy_check_model(&r, "fairy2i", SLT_ACT_SWIGLU);
  }
  slt_err_set("model.arch: unknown architecture %d", (int)cfg->arch);
  return -1;
}

slt_model *slt_model_build(const slt_model_config *cfg, slt_model_mode mode) {
  switch (cfg->arch) {
  case SLT_ARCH_GPT: return slt_model_check(cfg) ? NULL : build_gpt(cfg, mode);
  case SLT_ARCH_IFAIRY: return slt_ifairy_model_build(cfg, mode);
  case SLT_ARCH_FAIRY2I: return slt_fairy2i_model_build(cfg, mode);
  }
  slt_err_set("model.arch: unknown architecture %d", (int)cfg->arch);
  return NULL;
}

void slt_model_free(slt_model *m) {
  if (!m) return;
  slt_packed_set_free(m->packed);
  m->vt->free(m);
}

bool slt_model_has_structured_ffn(const slt_model_config *cfg) {
  for (int i = 0; i < cfg->layers; i++)
    if (slt_ffn_spec(&cfg->ffn, i).kind != SLT_LIN_DENSE) return true;
  return false;
}

slt_model_config slt_model_dense_config(const slt_model_config *cfg) {
  slt_model_config d = *cfg;
  d.ffn = (slt_ffn_config){.kind = SLT_LIN_DENSE,
                           .init = SLT_LIN_INIT_AUTO,
                           .first_layer_dense = cfg->ffn.first_layer_dense};
  return d;
}

slt_model_counts slt_model_count(const slt_model *m) {
  slt_model_counts n = {0};
  m->vt->counts(m, &n);
  return n;
}

void slt_model_describe(const slt_model *m, char *buf, size_t len) {
  const slt_model_config *g = m->cfg;
  snprintf(buf, len, "%s, %d layers, d_model %d, %d heads (%d kv), ffn %d (%s), vocab %d, T %d",
           slt_arch_names[g->arch], g->layers, g->d_model, g->heads, g->kv_heads, g->ffn_dim,
           slt_lin_struct_names[g->ffn.kind], g->vocab_size, g->seq_len);
}

size_t slt_model_describe_quant(const slt_model *m, bool shares, char *buf, size_t len) {
  if (len) buf[0] = 0;
  return m->quant ? slt_quant_set_describe(m->quant, shares, buf, len) : 0;
}

int slt_model_guide_attach(slt_model *m, struct slt_guide *g, bool reduce_flop, slt_rng *coin) {
  if (!m->vt->guide_attach) {
    slt_err_set("sgt: model.arch %s has no structured linears to guide", slt_arch_names[m->cfg->arch]);
    return -1;
  }
  return m->vt->guide_attach(m, g, reduce_flop, coin);
}

void slt_model_guide_detach(slt_model *m, struct slt_guide *g) {
  if (m && m->vt->guide_detach)
    m->vt->guide_detach(m, g);
  else
    slt_guide_detach(g, NULL); /* free what a failed attach left */
}

slt_model *slt_model_merged(const slt_model *m) {
  if (!slt_model_has_structured_ffn(m->cfg)) {
    slt_err_set("the model's FFNs are already dense (model.ffn.kind: dense): nothing to merge");
    return NULL;
  }
  return m->vt->merged(m);
}

slt_decoder *slt_model_decoder(slt_model *m, const slt_decoder_opts *o) {
  if (!m->vt->decoder) {
    slt_err_set("model.arch %s cannot generate", slt_arch_names[m->cfg->arch]);
    return NULL;
  }
  return m->vt->decoder(m, o);
}
