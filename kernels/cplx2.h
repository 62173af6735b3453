/* Packed {±1, ±i} weights (iFairy / Fairy±i, SPEC §6, §8) and their int8 GEMV/GEMM.
 *
 * Layout: as kernels/ternary.h (rows padded to 256, 64-byte blocks in TQ2_0 byte order), with
 * code k = the power of i: 0 → +1, 1 → +i, 2 → −1, 3 → −i. So bit 0 set means an imaginary
 * weight and bit 1 set means a negative one. Padding codes are 0; padded activations are 0.
 * Two scales per tensor: ±1 stands for ±s_re, ±i for ±i·s_im.
 *
 * Product: y = W·conj(x). Each term is a sign and a swap of (x_re, x_im), never a product:
 * +1 → (x_re, −x_im), −1 → (−x_re, x_im), +i → (x_im, x_re), −i → (−x_im, −x_re). With int8
 * activations q_re, q_im (scales a_re, a_im per token) and the sign σ = ±1 of each weight, the
 * kernels form four exact int32 sums per row and token:
 *   A = Σ_{±1} σ q_re,  B = Σ_{±i} σ q_im,  C = −Σ_{±1} σ q_im,  D = Σ_{±i} σ q_re,
 * and y_re = A·(s_re/a_re) + B·(s_im/a_im), y_im = C·(s_re/a_im) + D·(s_im/a_re).
 * The SIMD paths treat a weight as two ternary weights f_R = (1, 0, −1, 0)[k], f_I = (0, 1, 0,
 * −1)[k]: a vpshufb table maps each nibble of packed codes to u = 1 + f ∈ {0, 1, 2}, vpdpbusd
 * (AVX-512, exact int32) or maddubs (AVX2, int16 flushed every 8 blocks) sums u·q, and the
 * token's Σ q (slt_act8.sum) removes the offset, as the ternary kernels do.
 * Activations must lie in [−127, 127] (slt_cplx2_quantize clamps so). */
#ifndef SLT_KERNELS_CPLX2_H
#define SLT_KERNELS_CPLX2_H

#include "kernels/act8.h"
#include "kernels/cpu.h"

#include <stdint.h>

#define SLT_CPLX2_MAX_IN ((int64_t)1 << 22)

typedef struct {
  int64_t out, in;   /* complex shape: (out, in) */
  int64_t row_bytes; /* in rounded up to 256, / 4 */
  uint8_t *qs;       /* (out, row_bytes), 64-byte aligned */
  float s_re, s_im;  /* scales of the ±1 and ±i weights */
} slt_cplx2;

/* Complex activations: real and imaginary parts, each int8 with its own per-token scale. */
typedef struct {
  slt_act8 re, im;
} slt_cplx_act;

/* An all-(+1) matrix with scales 1; 0 or -1 with a message. */
int slt_cplx2_alloc(slt_cplx2 *m, int64_t out, int64_t in);
/* Free the buffers (a zeroed struct is fine). */
void slt_cplx2_free(slt_cplx2 *m);
/* Pack codes k (out, in) ∈ {0, 1, 2, 3} (w = i^k) with scales s_re, s_im. */
int slt_cplx2_pack(slt_cplx2 *m, const uint8_t *k, int64_t out, int64_t in, float s_re, float s_im);
/* Pack dequantized PhaseQuant weights (each (±s_re, 0) or (0, ±s_im)) losslessly: s_re = max
 * |W_re|, s_im = max |W_im| (1e-5 when a set is empty); -1 naming the first other value. */
int slt_cplx2_pack_float(slt_cplx2 *m, const float *W_re, const float *W_im, int64_t out,
                         int64_t in);
/* The codes back (out, in). */
void slt_cplx2_unpack(const slt_cplx2 *m, uint8_t *k);

/* Buffers for n tokens of in complex elements; 0 or -1 with a message. */
int slt_cplx_act_alloc(slt_cplx_act *a, int n, int64_t in);
/* Free both parts. */
void slt_cplx_act_free(slt_cplx_act *a);
/* Quantize x (n rows of [re (in) | im (in)], row stride ldx) per token and part, into [−127, 127].
 */
void slt_cplx2_quantize(slt_cplx_act *a, const float *x, int64_t ldx);

/* Integer sums (a->n, out, 4) = (A, B, C, D) on path isa; 0 or -1 with a message. */
int slt_cplx2_sums(const slt_cplx2 *m, const slt_cplx_act *a, int32_t *sums, slt_isa isa);
/* The shared float epilogue: y rows [re (out) | im (out)] with row stride ldy, from the sums. */
void slt_cplx2_epilogue(const slt_cplx2 *m, const slt_cplx_act *a, const int32_t *sums, float *y,
                        int64_t ldy);
/* y (a->n rows of [re | im], stride ldy) = W·conj(x) on path isa. */
int slt_cplx2_gemm_isa(const slt_cplx2 *m, const slt_cplx_act *a, float *y, int64_t ldy,
                       slt_isa isa);
/* The same on the selected path (slt_cpu_isa). */
int slt_cplx2_gemm(const slt_cplx2 *m, const slt_cplx_act *a, float *y, int64_t ldy);

#endif
