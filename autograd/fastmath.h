/* Vectorisable elementwise math shared by the ops. */
#ifndef SLT_FASTMATH_H
#define SLT_FASTMATH_H

#include <stdint.h>
#include <string.h>

/* exp(x) with Cephes' expf polynomial (~1 ulp). Only arithmetic and bit moves, so loops that
 * call it vectorise; libm's expf does not without -ffast-math. Returns 0 below the float range
 * (masked −inf scores give exactly 0), saturates near 2^127 above it (products like x·e·σ stay
 * finite), and a NaN stays NaN (a NaN logit reaches the loss). */
static inline float slt_expf(float x) {
  float xc = x < -87.3f ? -87.3f : x > 88.3f ? 88.3f : x;
  float t = xc * 1.44269504f + 12582912.0f; /* + 1.5·2^23 rounds x·log2(e) to an integer n */
  float n = t - 12582912.0f;
  float r = xc - n * 0.693359375f - n * -2.12194440e-4f; /* x − n·ln2 in two parts */
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  uint32_t tb, sb;
  memcpy(&tb, &t, 4);
  sb = (tb - 0x4B400000u + 127u) << 23; /* n sits in t's low mantissa bits: 2^n */
  float s;
  memcpy(&s, &sb, 4);
  return x < -87.3f ? 0.0f : p * s;
}

/* Sum of 64 lane accumulators, pairwise in a fixed order (modifies acc). Level by level with
 * constant trip counts: written as one loop over levels it stays scalar. */
static inline float slt_fold64(float *acc) {
  for (int l = 0; l < 32; l++) acc[l] += acc[l + 32];
  for (int l = 0; l < 16; l++) acc[l] += acc[l + 16];
  for (int l = 0; l < 8; l++) acc[l] += acc[l + 8];
  for (int l = 0; l < 4; l++) acc[l] += acc[l + 4];
  return (acc[0] + acc[2]) + (acc[1] + acc[3]);
}

#endif
