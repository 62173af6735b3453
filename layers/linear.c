#include "linear.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include <stdio.h>
#include <string.h>

slt_tensor *slt_lin_param(slt_params *p, const char *prefix, const char *leaf, int ndim,
                          const int *shape) {
  char name[SLT_PARAM_NAME_MAX];
  if (snprintf(name, sizeof name, "%s.%s", prefix, leaf) >= (int)sizeof name) {
    slt_err_set("parameter name '%s.%s' is too long", prefix, leaf);
    return NULL;
  }
  return slt_params_add(p, name, ndim, shape);
}

static slt_tensor *dense_forward(slt_lin *l, slt_ctx *c, slt_tensor *x) {
  return slt_linear(c, x, l->weight, l->bias);
}

static void dense_init(slt_lin *l, slt_rng *rng, float std) {
  slt_rng_fill_normal(rng, l->weight->data, l->weight->numel, 0.0f, std);
  if (l->bias) memset(l->bias->data, 0, l->bias->numel * sizeof(float));
}

static int dense_merge(const slt_lin *l, float *w) {
  memcpy(w, l->weight->data, l->weight->numel * sizeof(float));
  return 0;
}

static const slt_lin_kind dense_kind = {"dense", dense_forward, dense_init, dense_merge};

int slt_lin_declare_dense(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                          bool bias) {
  memset(l, 0, sizeof *l);
  l->kind = &dense_kind;
  l->in = in;
  l->out = out;
  l->weight = slt_lin_param(p, prefix, "weight", 2, (int[]){out, in});
  if (!l->weight) return -1;
  if (bias && !(l->bias = slt_lin_param(p, prefix, "bias", 1, (int[]){out}))) return -1;
  return 0;
}

slt_tensor *slt_lin_transform_input(const slt_lin *l, slt_ctx *c, slt_tensor *x) {
  return l->at && x ? l->at->apply(l->at, c, x) : x;
}

slt_tensor *slt_lin_transform_weight(const slt_lin *l, slt_ctx *c, slt_tensor *w) {
  return l->wt && w ? l->wt->apply(l->wt, c, w) : w;
}

/* *t = l with every weight factor replaced by its transform (arena tensors). 0 or -1. */
static int transformed(const slt_lin *l, slt_ctx *c, slt_lin *t) {
  *t = *l;
  if (l->weight && !(t->weight = slt_lin_transform_weight(l, c, l->weight))) return -1;
  for (int i = 0; i < SLT_LIN_MAX_FACTORS; i++)
    if (l->factor[i] && !(t->factor[i] = slt_lin_transform_weight(l, c, l->factor[i]))) return -1;
  return 0;
}

slt_tensor *slt_lin_forward(slt_lin *l, slt_ctx *c, slt_tensor *x) {
  if (!l->wt && !l->at) return l->kind->forward(l, c, x);
  slt_lin t;
  if (transformed(l, c, &t)) return NULL;
  x = slt_lin_transform_input(l, c, x);
  return x ? l->kind->forward(&t, c, x) : NULL;
}

int slt_lin_merge(const slt_lin *l, float *w) {
  if (!l->wt) return l->kind->merge(l, w);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  slt_lin t;
  int rc = transformed(l, &c, &t) ? -1 : l->kind->merge(&t, w);
  slt_ctx_free(&c);
  return rc;
}
