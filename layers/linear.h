/* The Linear interface: y = x·Wᵀ + b for a (out, in) operator W that a kind may store dense
 * or factored (later: low-rank, block-diagonal, quantised). A model's FFN picks its kind from
 * config and calls slt_lin_forward without knowing which it got. */
#ifndef SLT_LINEAR_H
#define SLT_LINEAR_H

#include "autograd/params.h"
#include "autograd/rng.h"
#include "autograd/tape.h"

#define SLT_LIN_MAX_FACTORS 4

typedef struct slt_lin slt_lin;

typedef struct slt_lin_kind {
  const char *name;
  /* x (..., in) -> (..., out) */
  slt_tensor *(*forward)(slt_lin *l, slt_ctx *c, slt_tensor *x);
  /* Draw the initial weights (biases start at 0). */
  void (*init)(slt_lin *l, slt_rng *rng, float std);
  /* The equivalent dense weight (out, in) into w; 0 or -1. */
  int (*merge)(const slt_lin *l, float *w);
} slt_lin_kind;

struct slt_lin {
  const slt_lin_kind *kind;
  int in, out;
  slt_tensor *weight;                       /* dense kinds: (out, in) */
  slt_tensor *bias;                         /* (out) or NULL */
  slt_tensor *factor[SLT_LIN_MAX_FACTORS];  /* structured kinds' parameters */
};

/* Declare a dense linear's parameters "<prefix>.weight" (out, in) and "<prefix>.bias". */
int slt_lin_declare_dense(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                          bool bias);

static inline slt_tensor *slt_lin_forward(slt_lin *l, slt_ctx *c, slt_tensor *x) {
  return l->kind->forward(l, c, x);
}
static inline void slt_lin_init(slt_lin *l, slt_rng *rng, float std) { l->kind->init(l, rng, std); }

/* Declare "<prefix>.<leaf>" with the given shape; a helper for every kind. */
slt_tensor *slt_lin_param(slt_params *p, const char *prefix, const char *leaf, int ndim,
                          const int *shape);

#endif
