/* BlockDense(R, B): y = U·blockdiag(V₁…V_B)·x + b; blocks (B, R/B, N/B), U (M, R).
 * Params R·(M + N/B); needs N % B == 0 and R % B == 0. */
#include "structured.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include "kernels/gemm.h"

#include <string.h>

enum { BD_BLOCKS, BD_U };

/* x (..., N) -> blockdiag (..., R) -> U·h + b (..., M) */
static slt_tensor *blockdense_forward(slt_lin *l, slt_ctx *c, slt_tensor *x) {
  return slt_linear(c, slt_blockdiag(c, x, l->factor[BD_BLOCKS]), l->factor[BD_U], l->bias);
}

static void blockdense_init(slt_lin *l, slt_rng *rng, float std, bool ortho) {
  const slt_tensor *v = l->factor[BD_BLOCKS], *u = l->factor[BD_U];
  slt_init_blocks(rng, std, v->data, v->shape[0], v->shape[1], v->shape[2], ortho);
  slt_init_blocks(rng, std, u->data, 1, u->shape[0], u->shape[1], ortho);
  if (l->bias) memset(l->bias->data, 0, l->bias->numel * sizeof(float));
}
static void blockdense_init_ortho(slt_lin *l, slt_rng *rng, float std) {
  blockdense_init(l, rng, std, true);
}
static void blockdense_init_normal(slt_lin *l, slt_rng *rng, float std) {
  blockdense_init(l, rng, std, false);
}

/* W[:, b·n:(b+1)n] (M, n) = U[:, b·r:(b+1)r] (M, r) · V_b (r, n), r = R/B, n = N/B */
static int blockdense_merge(const slt_lin *l, float *w) {
  const slt_tensor *v = l->factor[BD_BLOCKS], *u = l->factor[BD_U];
  int B = v->shape[0], r = v->shape[1], n = v->shape[2], R = B * r;
  for (int b = 0; b < B; b++)
    slt_gemm_ex(false, false, l->out, n, r, 1.0f, u->data + b * r, R, v->data + (size_t)b * r * n,
                n, 0.0f, w + (size_t)b * n, l->in);
  return 0;
}

static const slt_lin_kind blockdense_kinds[] = {
    {"blockdense", blockdense_forward, blockdense_init_ortho, blockdense_merge},
    {"blockdense", blockdense_forward, blockdense_init_normal, blockdense_merge},
};

int slt_lin_declare_blockdense(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                               bool bias, int rank, int nblocks, slt_lin_init_kind init) {
  memset(l, 0, sizeof *l);
  if (nblocks < 1 || rank < 1 || in % nblocks || rank % nblocks) {
    slt_err_set("%s: blockdense needs blocks >= 1 dividing in (%d) and rank (%d), got blocks %d "
                "rank %d", prefix, in, rank, nblocks, rank);
    return -1;
  }
  if (init == SLT_LIN_INIT_SVD) {
    slt_err_set("%s: init 'svd' applies to lowrank only; blockdense takes 'ortho' or 'normal'",
                prefix);
    return -1;
  }
  l->kind = &blockdense_kinds[init == SLT_LIN_INIT_NORMAL];
  l->in = in;
  l->out = out;
  if (!(l->factor[BD_BLOCKS] =
            slt_lin_param(p, prefix, "blocks", 3, (int[]){nblocks, rank / nblocks, in / nblocks})) ||
      !(l->factor[BD_U] = slt_lin_param(p, prefix, "u", 2, (int[]){out, rank})))
    return -1;
  if (bias && !(l->bias = slt_lin_param(p, prefix, "bias", 1, (int[]){out}))) return -1;
  return 0;
}
