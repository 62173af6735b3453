/* BlockShuffle(B), Monarch-style (SPEC §2): W1 (k, q, p), W2 (l, s, r), n = k·p, l·r = k·q,
 * m = l·s. Both permutations are applied (the StructuredFFN reference omits them):
 *   h = blockdiag(W1)·x (k·q); g = h read as (r, l), transposed; z = blockdiag(W2)·g (l·s);
 *   y[t·l + j] = z[j·s + t], then + b. Params min(N,M)·(N+M)/B. */
#include "structured.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include <string.h>

enum { BS_W1, BS_W2 };

int slt_blockshuffle_shapes(int in, int out, int B, int w1[3], int w2[3]) {
  if (B < 1 || in % B || out % B) {
    slt_err_set("blockshuffle needs blocks >= 1 dividing in (%d) and out (%d), got %d", in, out, B);
    return -1;
  }
  /* StructuredFFN: the smaller side sets the inner width, so both factors stay square-ish. */
  int inner = in < out ? in : out;
  w1[0] = B, w1[1] = inner / B, w1[2] = in / B;
  w2[0] = B, w2[1] = out / B, w2[2] = inner / B;
  return 0;
}

/* x (..., N) -> h (..., k·q) -> g (..., l·r) -> z (..., l·s) -> y (..., s·l) */
static slt_tensor *blockshuffle_forward(slt_lin *lin, slt_ctx *c, slt_tensor *x) {
  const slt_tensor *w2 = lin->factor[BS_W2];
  int l = w2->shape[0], s = w2->shape[1], r = w2->shape[2];
  slt_tensor *h = slt_blockdiag(c, x, lin->factor[BS_W1]);
  slt_tensor *g = slt_interleave(c, h, r, l, NULL); /* step 2: g[i, j] = f[i·l + j], block j reads column j */
  slt_tensor *z = slt_blockdiag(c, g, lin->factor[BS_W2]);
  return slt_interleave(c, z, l, s, lin->bias); /* step 4: y[t·l + j] = z[j, t], + b */
}

static void blockshuffle_init(slt_lin *l, slt_rng *rng, float std, bool ortho) {
  for (int f = BS_W1; f <= BS_W2; f++) {
    const slt_tensor *w = l->factor[f];
    slt_init_blocks(rng, std, w->data, w->shape[0], w->shape[1], w->shape[2], ortho);
  }
  if (l->bias) memset(l->bias->data, 0, l->bias->numel * sizeof(float));
}
static void blockshuffle_init_ortho(slt_lin *l, slt_rng *rng, float std) {
  blockshuffle_init(l, rng, std, true);
}
static void blockshuffle_init_normal(slt_lin *l, slt_rng *rng, float std) {
  blockshuffle_init(l, rng, std, false);
}

/* W[t·l + j, a·p + e] = Σ_i W2[j, t, i] · W1[a, c, e] over i with a·q + c = i·l + j: the product
 * written out from the definition (not via forward), so the merge test checks the forward. */
static int blockshuffle_merge(const slt_lin *lin, float *w) {
  const slt_tensor *w1 = lin->factor[BS_W1], *w2 = lin->factor[BS_W2];
  int q = w1->shape[1], p = w1->shape[2], l = w2->shape[0], s = w2->shape[1], r = w2->shape[2];
  int N = lin->in;
  memset(w, 0, sizeof(float) * lin->out * N);
#pragma omp parallel for collapse(2) schedule(static)
  for (int j = 0; j < l; j++)
    for (int t = 0; t < s; t++) {
      float *row = w + (size_t)(t * l + j) * N;
      for (int i = 0; i < r; i++) {
        int idx = i * l + j, a = idx / q, c = idx % q;
        float coef = w2->data[((size_t)j * s + t) * r + i];
        const float *src = w1->data + ((size_t)a * q + c) * p;
        for (int e = 0; e < p; e++) row[a * p + e] += coef * src[e];
      }
    }
  return 0;
}

static const slt_lin_kind blockshuffle_kinds[] = {
    {"blockshuffle", blockshuffle_forward, blockshuffle_init_ortho, blockshuffle_merge},
    {"blockshuffle", blockshuffle_forward, blockshuffle_init_normal, blockshuffle_merge},
};

int slt_lin_declare_blockshuffle(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                                 bool bias, int nblocks, slt_lin_init_kind init) {
  memset(l, 0, sizeof *l);
  int s1[3], s2[3];
  if (slt_blockshuffle_shapes(in, out, nblocks, s1, s2)) {
    slt_err_set("%s: blockshuffle needs blocks >= 1 dividing in (%d) and out (%d), got %d", prefix,
                in, out, nblocks);
    return -1;
  }
  if (init == SLT_LIN_INIT_SVD) {
    slt_err_set("%s: init 'svd' applies to lowrank only; blockshuffle takes 'ortho' or 'normal'",
                prefix);
    return -1;
  }
  l->kind = &blockshuffle_kinds[init == SLT_LIN_INIT_NORMAL];
  l->in = in;
  l->out = out;
  if (!(l->factor[BS_W1] = slt_lin_param(p, prefix, "w1", 3, s1)) ||
      !(l->factor[BS_W2] = slt_lin_param(p, prefix, "w2", 3, s2)))
    return -1;
  if (bias && !(l->bias = slt_lin_param(p, prefix, "bias", 1, (int[]){out}))) return -1;
  return 0;
}
