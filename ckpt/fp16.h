/* IEEE half precision <-> float32, round to nearest even (what F16C's vcvtps2ph with imm 0 and
 * ggml's GGML_FP32_TO_FP16 do), so a weight exported as f16 equals llama.cpp's own conversion. */
#ifndef SLT_FP16_H
#define SLT_FP16_H

#include <stdint.h>
#include <string.h>

static inline uint32_t slt_fp16_bits_of(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return u;
}

static inline float slt_fp16_float_of(uint32_t u) {
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* float -> half bits, round to nearest even; overflow -> inf, NaN stays NaN. The scaling by
 * 2^112 then 2^-110 lets the FPU do the rounding (M. Maratyszcza's FP16 library). */
static inline uint16_t slt_fp16_from_f32(float f) {
  const float to_inf = 0x1.0p+112f, to_zero = 0x1.0p-110f;
  float base = (__builtin_fabsf(f) * to_inf) * to_zero;
  uint32_t w = slt_fp16_bits_of(f), shl1 = w + w, sign = w & 0x80000000u;
  uint32_t bias = shl1 & 0xFF000000u;
  if (bias < 0x71000000u) bias = 0x71000000u;
  base = slt_fp16_float_of((bias >> 1) + 0x07800000u) + base;
  uint32_t bits = slt_fp16_bits_of(base);
  uint32_t nonsign = ((bits >> 13) & 0x00007C00u) + (bits & 0x00000FFFu);
  return (uint16_t)((sign >> 16) | (shl1 > 0xFF000000u ? 0x7E00u : nonsign));
}

/* half bits -> float (exact). */
static inline float slt_fp16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1Fu, man = h & 0x3FFu;
  if (exp == 0) { /* zero or subnormal: man · 2^-24 */
    float v = (float)man * 0x1.0p-24f;
    return sign ? -v : v;
  }
  if (exp == 31) return slt_fp16_float_of(sign | 0x7F800000u | man << 13);
  return slt_fp16_float_of(sign | (exp + 112) << 23 | man << 13);
}

#endif
