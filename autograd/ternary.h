/* Ternary weights (BitNet b1.58, TriLM) and BitNet's per-token 8-bit activations (SPEC §5).
 * Fake quantization in fp32 with a straight-through estimator: the backward of every op here is
 * the identity (dx += dy), the rounding is invisible to the gradient. Statistics (mean|W|) are
 * summed in double over pieces fixed by the size alone, so results do not depend on threads. */
#ifndef SLT_TERNARY_H
#define SLT_TERNARY_H

#include "tape.h"

#include <stdint.h>

/* Floor on every scale statistic (mean|W|, max|x|): an all-zero tensor quantizes to zeros. */
#define SLT_QUANT_FLOOR 1e-5f

/* W_q = clamp(nearbyint(W/γ), −1, 1)·γ, γ = max(mean|W|, 1e-5) over each of `shards` equal
 * blocks of W's rows (dim 0): shards = 1 is BitNet's per-tensor scale, more is TriLM's one scale
 * per matrix shard. STE: dW += dW_q. Errors: shards < 1 or not dividing dim 0. */
slt_tensor *slt_ternary_weight(slt_ctx *c, slt_tensor *w, int shards);

/* BitNet per-token 8-bit absmax: per row of x (..., C), s = 127/max(max|x|, 1e-5),
 * x_q = clamp(nearbyint(x·s), −128, 127)/s. STE: dx += dy. */
slt_tensor *slt_act_quant_absmax8(slt_ctx *c, slt_tensor *x);
/* The same with each row cut into `segments` equal parts, each with its own scale (2: the
 * separate re and im scales of a complex [re | im] row, SPEC §6). */
slt_tensor *slt_act_quant_absmax8_seg(slt_ctx *c, slt_tensor *x, int segments);

/* How many weights took each code. */
typedef struct {
  int64_t neg, zero, pos;
} slt_ternary_counts;

/* The packing/export view of slt_ternary_weight: codes[numel] in {−1, 0, 1} (NULL: not wanted)
 * with W_q = code·γ of its shard, gammas[shards], and the code counts (NULL: not wanted; for
 * `slt info`). Returns 0, or −1 with the error recorded for a bad shard count. */
int slt_ternary_codes(const slt_tensor *w, int shards, int8_t *codes, float *gammas,
                      slt_ternary_counts *counts);

#endif
