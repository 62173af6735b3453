/* int8 activations for the packed low-bit kernels (SPEC §5, §8): absmax per token,
 * s = 127 / max(max|x|, 1e-5), q = clamp(nearbyint(x·s), qmin, 127).
 *
 * Kernel order. Each token's q is padded with zeros to a multiple of 256 (SLT_LB_BLOCK) and
 * permuted within every 256-block to match the packed weights' bytes: natural element
 * e = 128j + 32l + m (j < 2, l < 4, m < 32) sits at position 64l + 32j + m. Byte b of a packed
 * 64-byte weight block holds the 2-bit codes of the elements at positions b, 64 + b, 128 + b,
 * 192 + b (bits 2l..2l+1 for position 64l + b), so every kernel reads activations contiguously:
 * 64 at a time for AVX-512, 32 for AVX2. The weights themselves then keep TQ2_0's byte order. */
#ifndef SLT_KERNELS_ACT8_H
#define SLT_KERNELS_ACT8_H

#include <stdint.h>

#define SLT_LB_BLOCK 256 /* weights per packed block (64 bytes at 2 bits) */

typedef struct {
  int n;          /* tokens */
  int64_t in;     /* elements per token */
  int64_t stride; /* in rounded up to SLT_LB_BLOCK: the per-token stride of q */
  int8_t *q;      /* (n, stride), kernel order, zero padding; 64-byte aligned */
  float *scale;   /* (n): s, so x ≈ q / s */
  int32_t *sum;   /* (n): Σ q, for the kernels that use unsigned weight codes */
} slt_act8;

/* Position in kernel order of natural element e (any e, blocks of 256). */
static inline int64_t slt_act8_pos(int64_t e) {
  int64_t r = e % SLT_LB_BLOCK;
  return e - r + 64 * ((r % 128) / 32) + 32 * (r / 128) + r % 32;
}

/* Zeroed buffers for n tokens of in elements (scales 1); 0 or -1 with a message. */
int slt_act8_alloc(slt_act8 *a, int n, int64_t in);
/* Free the buffers (a zeroed struct is fine). */
void slt_act8_free(slt_act8 *a);
/* Quantize x (n rows of in floats, row stride ldx) into a (allocated for n, in). qmin is -128
 * (BitNet) or -127: the sign-select kernels negate q, and -(-128) does not fit in int8. The two
 * agree on finite inputs, where |x·s| <= 127 already. */
void slt_act8_quantize(slt_act8 *a, const float *x, int64_t ldx, int qmin);
/* Set token t's q from natural order (in values) and recompute its sum; the scale is kept. */
void slt_act8_set(slt_act8 *a, int t, const int8_t *q);
/* Token t's q in natural order (in values). */
void slt_act8_get(const slt_act8 *a, int t, int8_t *q);

#endif
