/* model.quant on a GPT: every block linear gets the configured transforms (rules may change
 * them), the head only when a rule names "lm_head"; embeddings are never quantized. */
#include "gpt.h"

#include <stdio.h>

/* BitLinear's parameterless RMSNorm epsilon (SPEC §5: a project choice, not model.norm_eps). */
#define BITLINEAR_EPS 1e-5f

int slt_gpt_quant_attach(slt_gpt *m) {
  const slt_model_config *g = &m->cfg;
  m->head = (slt_lin){.in = g->d_model, .out = g->vocab_size};
  if (!slt_quant_config_active(&g->quant)) return 0;
  if (slt_quant_config_check(&g->quant, g->norm == SLT_NORM_RMSNORM)) return -1;
  if (!(m->quant = slt_quant_set_new(&g->quant, BITLINEAR_EPS))) return -1;
  static const char *const leaf[4] = {"attn.qkv", "attn.proj", "ffn.fc1", "ffn.fc2"};
  for (int i = 0; i < g->layers; i++) {
    slt_gpt_block *b = &m->blocks[i];
    slt_lin *lins[4] = {&b->qkv, &b->proj, &b->fc1, &b->fc2};
    for (int k = 0; k < 4; k++) {
      char name[64];
      snprintf(name, sizeof name, "blocks.%d.%s", i, leaf[k]);
      if (slt_quant_set_attach(m->quant, lins[k], name, true, &m->params)) return -1;
    }
  }
  m->head.weight = m->lm_head ? m->lm_head : m->wte; /* for its shape and its LSQ name */
  if (slt_quant_set_attach(m->quant, &m->head, "lm_head", false, &m->params) ||
      slt_quant_set_finish(m->quant))
    return -1;
  m->model.quant = m->quant;
  return 0;
}
