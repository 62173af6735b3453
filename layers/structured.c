/* The Linear spec as data: one structured kind chosen by name from a config, declared through
 * slt_lin_declare_spec; its parameter count by SPEC §2's formulas; and the FFN section of a model
 * config (which spec each FFN linear gets). */
#include "structured.h"

#include "autograd/error.h"

const char *const slt_lin_struct_names[] = {"dense", "lowrank", "blockdense", "blockshuffle", NULL};
const char *const slt_lin_init_names[] = {"auto", "svd", "ortho", "normal", NULL};

int slt_lin_declare_spec(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                         bool bias, const slt_lin_spec *s) {
  switch (s->kind) {
  case SLT_LIN_DENSE: return slt_lin_declare_dense(l, p, prefix, in, out, bias);
  case SLT_LIN_LOWRANK: return slt_lin_declare_lowrank(l, p, prefix, in, out, bias, s->rank, s->init);
  case SLT_LIN_BLOCKDENSE:
    return slt_lin_declare_blockdense(l, p, prefix, in, out, bias, s->rank, s->nblocks, s->init);
  case SLT_LIN_BLOCKSHUFFLE:
    return slt_lin_declare_blockshuffle(l, p, prefix, in, out, bias, s->nblocks, s->init);
  }
  slt_err_set("%s: unknown linear kind %d", prefix, (int)s->kind);
  return -1;
}

int64_t slt_lin_spec_params(const slt_lin_spec *s, int in, int out) {
  int64_t N = in, M = out, R = s->rank, B = s->nblocks;
  switch (s->kind) {
  case SLT_LIN_DENSE: return N * M;
  case SLT_LIN_LOWRANK: return R >= 1 ? (N + M) * R : -1;
  case SLT_LIN_BLOCKDENSE: return B >= 1 && R >= 1 && N % B == 0 && R % B == 0 ? R * (M + N / B) : -1;
  case SLT_LIN_BLOCKSHUFFLE:
    return B >= 1 && N % B == 0 && M % B == 0 ? (N < M ? N : M) * (N + M) / B : -1;
  }
  return -1;
}

slt_lin_spec slt_ffn_spec(const slt_ffn_config *f, int layer) {
  slt_lin_spec s = {f->kind, f->rank, f->nblocks, f->init};
  if (layer == 0 && f->first_layer_dense) s.kind = SLT_LIN_DENSE;
  return s;
}
