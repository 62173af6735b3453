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

/* A transform of a linear's input (activation transform) or of each of its weight factors
 * (weight transform): fake-quantization, ternary or {±1, ±i} weights. apply returns a tensor of
 * x's shape (NULL with the error recorded); state carries the transform's own settings. */
typedef struct slt_lin_transform {
  const char *name;
  slt_tensor *(*apply)(const struct slt_lin_transform *t, slt_ctx *c, slt_tensor *x);
  const void *state;
} slt_lin_transform;

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
  const slt_lin_transform *wt, *at;         /* weight and activation transforms; NULL: none */
};

/* Declare a dense linear's parameters "<prefix>.weight" (out, in) and "<prefix>.bias". */
int slt_lin_declare_dense(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                          bool bias);

/* x (..., in) -> (..., out): the activation transform on x and the weight transform on every
 * weight factor, then the kind's forward. Without transforms, the kind's forward alone. */
slt_tensor *slt_lin_forward(slt_lin *l, slt_ctx *c, slt_tensor *x);
/* The equivalent dense weight (out, in) of the transformed factors into w; 0 or -1. */
int slt_lin_merge(const slt_lin *l, float *w);
/* l's activation transform of x (x itself without one). */
slt_tensor *slt_lin_transform_input(const slt_lin *l, slt_ctx *c, slt_tensor *x);
/* l's weight transform of w (w itself without one): SGT guides go through it too. */
slt_tensor *slt_lin_transform_weight(const slt_lin *l, slt_ctx *c, slt_tensor *w);
static inline void slt_lin_init(slt_lin *l, slt_rng *rng, float std) { l->kind->init(l, rng, std); }

/* Declare "<prefix>.<leaf>" with the given shape; a helper for every kind. */
slt_tensor *slt_lin_param(slt_params *p, const char *prefix, const char *leaf, int ndim,
                          const int *shape);

#endif
