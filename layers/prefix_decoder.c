/* The decoder of a model without a KV cache: every forward runs the model's own logits over the
 * whole prefix seen so far and keeps the last n rows. Exact (the same logits as training's
 * forward) but each new token costs a forward of the full prefix, O(len²) over a generation. */
#include "model.h"

#include "autograd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  slt_decoder base;
  slt_model *m;
  int32_t *ids; /* the prefix */
  int len, cap;
} prefix_decoder;

static slt_tensor *prefix_forward(slt_decoder *d, slt_ctx *c, const int32_t *ids, int n) {
  prefix_decoder *p = (prefix_decoder *)d;
  if (n < 1 || n > p->cap - p->len) {
    slt_err_set("decoder: %d new tokens after %d; the decoder holds %d positions", n, p->len,
                p->cap);
    return NULL;
  }
  memcpy(p->ids + p->len, ids, (size_t)n * sizeof *ids);
  p->len += n;
  bool was = slt_ctx_set_no_grad(c, true);
  slt_tensor *all = slt_model_logits(p->m, c, p->ids, 1, p->len, 0); /* (1, len, V) */
  int V = p->m->cfg->vocab_size;
  slt_tensor *out = all ? slt_new(c, 3, (int[]){1, n, V}) : NULL;
  if (out) memcpy(out->data, all->data + (size_t)(p->len - n) * V, (size_t)n * V * sizeof(float));
  slt_ctx_set_no_grad(c, was);
  return out;
}

static void prefix_free(slt_decoder *d) {
  prefix_decoder *p = (prefix_decoder *)d;
  free(p->ids);
  free(p);
}

slt_decoder *slt_prefix_decoder_new(slt_model *m, const slt_decoder_opts *o) {
  if (o->cap < 1) {
    slt_err_set("decoder: %d positions requested; need at least 1", o->cap);
    return NULL;
  }
  prefix_decoder *p = calloc(1, sizeof *p);
  int32_t *ids = p ? malloc((size_t)o->cap * sizeof *ids) : NULL;
  if (!ids) {
    free(p);
    slt_err_set("out of memory for a decoder of %d positions", o->cap);
    return NULL;
  }
  *p = (prefix_decoder){
      .base = {.forward = prefix_forward, .free = prefix_free}, .m = m, .ids = ids, .cap = o->cap};
  snprintf(p->base.note, sizeof p->base.note,
           "no KV cache for model.arch %s: each token recomputes the whole prefix",
           slt_arch_names[m->cfg->arch]);
  return &p->base;
}
