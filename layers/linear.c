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
