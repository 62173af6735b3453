#include "gpt_merge.h"
#include "structured.h"

#include "autograd/error.h"

#include <string.h>

static bool is_dense(const slt_lin *l) {
  return !strcmp(l->kind->name, "dense");
}

/* Packed linears (layers/packed_linear.h) are dense weights already: nothing to merge. */
static bool is_flat(const slt_lin *l) {
  return is_dense(l) || !strncmp(l->kind->name, "packed", 6);
}

bool slt_gpt_has_structured_ffn(const slt_gpt *m) {
  for (int i = 0; i < m->cfg.layers; i++)
    if (!is_flat(&m->blocks[i].fc1) || !is_flat(&m->blocks[i].fc2)) return true;
  return false;
}

/* dst's dense weight (out, in) = src's merged operator; the bias copied. */
static int merge_linear(const slt_lin *src, slt_lin *dst) {
  if (src->in != dst->in || src->out != dst->out || !dst->weight || !src->bias != !dst->bias) {
    slt_err_set("merge: a %s linear (%d -> %d) does not match its dense twin (%d -> %d)",
                src->kind->name, src->in, src->out, dst->in, dst->out);
    return -1;
  }
  if (slt_lin_merge(src, dst->weight->data)) return -1;
  if (src->bias) memcpy(dst->bias->data, src->bias->data, src->bias->numel * sizeof(float));
  return 0;
}

/* True when t is one of dst's FFN weights or biases (filled by merge_linear). */
static bool is_ffn_tensor(const slt_gpt *dst, const slt_tensor *t) {
  for (int i = 0; i < dst->cfg.layers; i++) {
    const slt_gpt_block *b = &dst->blocks[i];
    if (t == b->fc1.weight || t == b->fc1.bias || t == b->fc2.weight || t == b->fc2.bias)
      return true;
  }
  return false;
}

/* Every non-FFN parameter of dst from src's parameter of the same name and shape. */
static int copy_by_name(const slt_gpt *src, slt_gpt *dst) {
  for (int i = 0; i < dst->params.count; i++) {
    slt_param *q = dst->params.items[i];
    if (is_ffn_tensor(dst, &q->t)) continue;
    const slt_param *s = slt_params_find(&src->params, q->name);
    if (!s && slt_quant_set_is_lsq_param(dst->quant, q->name)) continue; /* FFN scales: unused */
    if (!s || s->t.numel != q->t.numel) {
      slt_err_set("merge: the source model has no parameter '%s' of %lld elements", q->name,
                  (long long)q->t.numel);
      return -1;
    }
    memcpy(q->t.data, s->t.data, q->t.numel * sizeof(float));
  }
  return 0;
}

int slt_gpt_merge(const slt_gpt *src, slt_gpt *dst) {
  slt_model_config g = slt_model_dense_config(&src->cfg);
  if (slt_gpt_build(dst, &g)) {
    slt_gpt_free(dst);
    return -1;
  }
  int rc = copy_by_name(src, dst);
  for (int i = 0; !rc && i < g.layers; i++)
    rc = merge_linear(&src->blocks[i].fc1, &dst->blocks[i].fc1) ||
                 merge_linear(&src->blocks[i].fc2, &dst->blocks[i].fc2)
             ? -1
             : 0;
  /* The merged weights are products of transformed factors: transforming them again would
   * quantize twice. The activation transforms stay. */
  for (int i = 0; !rc && i < g.layers; i++) dst->blocks[i].fc1.wt = dst->blocks[i].fc2.wt = NULL;
  if (rc) slt_gpt_free(dst);
  return rc;
}
