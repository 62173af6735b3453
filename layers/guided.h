/* Self-guided training (SPEC §3): each structured FFN linear S gets a dense guide W (out, in),
 * initialised to S's merged operator, and computes o = α·(x·Wᵀ + b) + (1 − α)·S(x), where S(x)
 * includes the bias b, so b's gradient is whole. The guides live in their own parameter store,
 * so the trainer can step them with their own optimizer and free both when α reaches 0. */
#ifndef SLT_GUIDED_H
#define SLT_GUIDED_H

#include "layers/gpt.h"

typedef struct slt_guide {
  slt_params params;  /* "<linear prefix>.guide" (out, in) for every structured fc1/fc2 */
  slt_tensor **w;     /* per FFN linear, index 2·layer + (0 fc1, 1 fc2); NULL where dense */
  int n;              /* 2·layers */
  float alpha;        /* weight of the dense path; set by the trainer once per optimizer step */
  bool reduce_flop;   /* in training, compute the dense path only with probability α */
  slt_rng *coin;      /* the coin flips of reduce_flop (the trainer's checkpointed stream) */
} slt_guide;

/* Declare a guide for every structured FFN linear of m, set each to its merged operator and
 * attach the guide to m (m->guide). α starts at 1. 0 or -1 (error recorded; nothing attached). */
int slt_guide_attach(slt_guide *g, slt_gpt *m, bool reduce_flop, slt_rng *coin);
/* Detach from m and free the guide weights and gradients. */
void slt_guide_detach(slt_guide *g, slt_gpt *m);
/* Index of an FFN linear in slt_guide.w. */
static inline int slt_guide_index(int layer, bool fc2) { return 2 * layer + (fc2 ? 1 : 0); }
/* The FFN linear l of index i with its guide (or plain l when it has none or α is 0). */
slt_tensor *slt_guided_forward(slt_guide *g, int i, slt_lin *l, slt_ctx *c, slt_tensor *x);

#endif
