/* Structured linears of SPEC §2 behind the Linear interface (layers/linear.h): LowRank,
 * BlockDense and BlockShuffle (Monarch-style, with both permutations). Each stores its factors
 * in slt_lin.factor[] and can pre-merge to the dense (out, in) weight. N = in, M = out. */
#ifndef SLT_STRUCTURED_H
#define SLT_STRUCTURED_H

#include "layers/linear.h"

/* Same order as config/config.h's slt_ffn_kind / slt_ffn_init, so the trainer can cast. */
typedef enum {
  SLT_LIN_DENSE,
  SLT_LIN_LOWRANK,
  SLT_LIN_BLOCKDENSE,
  SLT_LIN_BLOCKSHUFFLE
} slt_lin_struct;
typedef enum {
  SLT_LIN_INIT_AUTO, /* svd for lowrank, ortho for block kinds, normal for dense */
  SLT_LIN_INIT_SVD,
  SLT_LIN_INIT_ORTHO,
  SLT_LIN_INIT_NORMAL
} slt_lin_init_kind;

extern const char *const slt_lin_struct_names[];
extern const char *const slt_lin_init_names[];

typedef struct slt_lin_spec {
  slt_lin_struct kind;
  int rank;    /* LowRank, BlockDense */
  int nblocks; /* BlockDense, BlockShuffle */
  slt_lin_init_kind init;
} slt_lin_spec;

/* A model's FFN linears (the config's model.ffn section): every fc1/fc2 gets the spec of the
 * first four fields, except layer 0's when first_layer_dense. */
typedef struct slt_ffn_config {
  slt_lin_struct kind;
  int rank, nblocks;
  slt_lin_init_kind init;
  bool first_layer_dense;
} slt_ffn_config;

/* The spec of layer's FFN linears (structured.c). */
slt_lin_spec slt_ffn_spec(const slt_ffn_config *f, int layer);

/* "<prefix>.v" (R, N), "<prefix>.u" (M, R): y = U(Vx) + b. */
int slt_lin_declare_lowrank(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                            bool bias, int rank, slt_lin_init_kind init);
/* "<prefix>.blocks" (B, R/B, N/B), "<prefix>.u" (M, R): y = U·blockdiag(V)·x + b. */
int slt_lin_declare_blockdense(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                               bool bias, int rank, int nblocks, slt_lin_init_kind init);
/* "<prefix>.w1", "<prefix>.w2" with StructuredFFN's shapes (SPEC §2). */
int slt_lin_declare_blockshuffle(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                                 bool bias, int nblocks, slt_lin_init_kind init);
/* Dispatch on spec->kind (dense included); 0 or -1 with a message naming the prefix
 * (structured.c). */
int slt_lin_declare_spec(slt_lin *l, slt_params *p, const char *prefix, int in, int out,
                         bool bias, const slt_lin_spec *spec);
/* Weight parameters (no bias) of a kind per SPEC's formulas; -1 on invalid shapes. */
int64_t slt_lin_spec_params(const slt_lin_spec *spec, int in, int out);
/* BlockShuffle's W1 (k, q, p) and W2 (l, s, r) shapes for (in, out, B); 0 or -1. */
int slt_blockshuffle_shapes(int in, int out, int nblocks, int w1[3], int w2[3]);

/* ---- init helpers (ortho_init.c) ---- */
/* w (m, n) ← nearest semi-orthogonal matrix P·Qᵀ of its thin SVD. 0 or -1. */
int slt_ortho_project(float *w, int m, int n);
/* Draw W₀ (m, n) ~ N(0, std), SVD, u (m, r) = P_r·√S_r, v (r, n) = √S_r·Q_rᵀ. 0 or -1. */
int slt_svd_lowrank_init(slt_rng *rng, float std, int m, int n, int r, float *u, float *v);
/* Each of the nb (m, n) blocks at w: N(0, std), then (ortho) projected. */
void slt_init_blocks(slt_rng *rng, float std, float *w, int nb, int m, int n, bool ortho);

#endif
