#include "guided.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Structured kinds keep their operator in factors; only the dense kind has a weight. */
static bool is_structured(const slt_lin *l) { return l->weight == NULL; }

static slt_lin *ffn_lin(slt_gpt *m, int i) {
  slt_gpt_block *b = &m->blocks[i / 2];
  return i % 2 ? &b->fc2 : &b->fc1;
}

static int declare_guides(slt_guide *g, slt_gpt *m) {
  for (int i = 0; i < g->n; i++) {
    slt_lin *l = ffn_lin(m, i);
    if (!is_structured(l)) continue;
    char name[SLT_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "blocks.%d.ffn.fc%d.guide", i / 2, i % 2 + 1);
    if (!(g->w[i] = slt_params_add(&g->params, name, 2, (int[]){l->out, l->in}))) return -1;
  }
  if (g->params.count == 0) {
    slt_err_set("sgt: the model has no structured FFN linear to guide");
    return -1;
  }
  return slt_params_alloc(&g->params);
}

int slt_guide_attach(slt_guide *g, slt_gpt *m, bool reduce_flop, slt_rng *coin) {
  memset(g, 0, sizeof *g);
  slt_params_init(&g->params);
  g->n = 2 * m->cfg.layers;
  g->alpha = 1.0f;
  g->reduce_flop = reduce_flop;
  g->coin = coin;
  g->w = calloc((size_t)g->n, sizeof *g->w);
  int rc = g->w ? declare_guides(g, m) : (slt_err_set("out of memory for the SGT guides"), -1);
  for (int i = 0; !rc && i < g->n; i++)
    if (g->w[i]) rc = slt_lin_merge(ffn_lin(m, i), g->w[i]->data);
  if (rc) {
    slt_guide_detach(g, m);
    return -1;
  }
  m->guide = g;
  return 0;
}

void slt_guide_detach(slt_guide *g, slt_gpt *m) {
  if (m && m->guide == g) m->guide = NULL;
  slt_params_free(&g->params);
  free(g->w);
  g->w = NULL;
  g->n = 0;
  g->alpha = 0.0f;
}

slt_tensor *slt_guided_forward(slt_guide *g, int i, slt_lin *l, slt_ctx *c, slt_tensor *x) {
  slt_tensor *w = i < g->n ? g->w[i] : NULL;
  float alpha = g->alpha;
  if (!w || alpha <= 0.0f) return slt_lin_forward(l, c, x);
  /* reduce_flop flips only while training, so evaluation is deterministic and never moves the
   * checkpointed stream. The structured path is always computed. */
  if (g->reduce_flop && !c->no_grad && slt_rng_uniform(g->coin) >= alpha)
    return slt_lin_forward(l, c, x);
  /* The guide goes through the linear's transforms too (quantized guides for quantized S). */
  slt_tensor *dense = slt_linear(c, slt_lin_transform_input(l, c, x),
                                 slt_lin_transform_weight(l, c, w), l->bias);
  dense = slt_scale(c, dense, alpha);
  return slt_add(c, dense, slt_scale(c, slt_lin_forward(l, c, x), 1.0f - alpha));
}
