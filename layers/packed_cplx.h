/* Inference-only packed complex linears (SPEC §6, §8): a ComplexLinear y = W·conj(x) of the
 * complex models whose weight is {±s_re, ±i·s_im} runs from its 2-bit codes (kernels/cplx2.h)
 * instead of the fp32 block-weight GEMM. The forward quantizes its input per token to int8 with
 * separate re and im scales, exactly as training's slt_cplx_act_quant8 does (absmax, s = 127 /
 * max|x|, nearbyint): fed training's already fake-quantized activations it recovers the same
 * integers, so the packed model differs from the fake-quant one only by float rounding. No-grad
 * only. A model exposes its complex linears through slt_model_vt.cplx_slot; the model's forward
 * calls slt_packed_cplx_forward when the slot is filled. */
#ifndef SLT_PACKED_CPLX_H
#define SLT_PACKED_CPLX_H

#include "kernels/cplx2.h"
#include "layers/model.h"

/* A packed complex linear: one {±1, ±i} matrix and its int8 activation buffers. */
typedef struct slt_packed_cplx slt_packed_cplx;

/* x (..., 2·in) = [re | im] -> y (..., 2·out) = W·conj(x) under no-grad; NULL (error recorded)
 * when gradients are wanted or the shape is wrong. */
slt_tensor *slt_packed_cplx_forward(slt_packed_cplx *p, slt_ctx *c, slt_tensor *x);
/* Make m's complex linear `param` ("blocks.0.attn.q_proj.weight", the /packed group's name) run
 * from w, which is taken over (zeroed on success). A model whose activations are not int8
 * (model.act_quant none) keeps its dequantized fp32 weights: the kernels need int8 activations,
 * which that model never saw. 0, or -1 with the error recorded (no such linear, shape differs). */
int slt_packed_install_cplx(slt_model *m, const char *param, slt_cplx2 *w);

#endif
