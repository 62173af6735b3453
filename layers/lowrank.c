/* LowRank(R): y = U(Vx) + b, V (R, N), U (M, R); params (N+M)·R. Also the spec dispatch shared
 * by the structured kinds. */
#include "structured.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include "kernels/gemm.h"

#include <string.h>

enum { LR_V, LR_U };

/* x (..., N) -> Vx (..., R) -> U(Vx) + b (..., M): two GEMMs, never the (M, N) product. */
static slt_tensor *lowrank_forward(slt_lin *l, slt_ctx *c, slt_tensor *x) {
  return slt_linear(c, slt_linear(c, x, l->factor[LR_V], NULL), l->factor[LR_U], l->bias);
}

static void zero_bias(slt_lin *l) {
  if (l->bias) memset(l->bias->data, 0, l->bias->numel * sizeof(float));
}

static void lowrank_init_svd(slt_lin *l, slt_rng *rng, float std) {
  slt_svd_lowrank_init(rng, std, l->out, l->in, l->factor[LR_V]->shape[0], l->factor[LR_U]->data,
                       l->factor[LR_V]->data);
  zero_bias(l);
}

static void lowrank_init_blocks(slt_lin *l, slt_rng *rng, float std, bool ortho) {
  slt_tensor *v = l->factor[LR_V], *u = l->factor[LR_U];
  slt_init_blocks(rng, std, v->data, 1, v->shape[0], v->shape[1], ortho);
  slt_init_blocks(rng, std, u->data, 1, u->shape[0], u->shape[1], ortho);
  zero_bias(l);
}
static void lowrank_init_ortho(slt_lin *l, slt_rng *rng, float std) {
  lowrank_init_blocks(l, rng, std, true);
}
static void lowrank_init_normal(slt_lin *l, slt_rng *rng, float std) {
  lowrank_init_blocks(l, rng, std, false);
}

/* W (M, N) = U (M, R) · V (R, N) */
static int lowrank_merge(const slt_lin *l, float *w) {
  const slt_tensor *v = l->factor[LR_V], *u = l->factor[LR_U];
  slt_gemm(false, false, l->out, l->in, v->shape[0], u->data, v->data, 0.0f, w);
  return 0;
}

static const slt_lin_kind lowrank_kinds[] = {
    {"lowrank", lowrank_forward, lowrank_init_svd, lowrank_merge},
    {"lowrank", lowrank_forward, lowrank_init_ortho, lowrank_merge},
    {"lowrank", lowrank_forward, lowrank_init_normal, lowrank_merge},
};

int slt_lin_declare_lowrank(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                            bool bias, int rank, slt_lin_init_kind init) {
  memset(l, 0, sizeof *l);
  if (rank < 1 || rank > (in < out ? in : out)) {
    slt_err_set("%s: lowrank rank %d must be in [1, min(in %d, out %d)]", prefix, rank, in, out);
    return -1;
  }
  int vi = init == SLT_LIN_INIT_ORTHO ? 1 : init == SLT_LIN_INIT_NORMAL ? 2 : 0;
  l->kind = &lowrank_kinds[vi];
  l->in = in;
  l->out = out;
  if (!(l->factor[LR_V] = slt_lin_param(p, prefix, "v", 2, (int[]){rank, in})) ||
      !(l->factor[LR_U] = slt_lin_param(p, prefix, "u", 2, (int[]){out, rank})))
    return -1;
  if (bias && !(l->bias = slt_lin_param(p, prefix, "bias", 1, (int[]){out}))) return -1;
  return 0;
}
