/* The GEMM choke point: every matrix product of the engine goes through slt_gemm_ex, so the
 * backend (OpenBLAS or oneDNN) and the precision (fp32, or bf16 operands with fp32 accumulation,
 * SPEC §10) are chosen in one place, once per process (slt_gemm_configure). Row-major throughout. */
#ifndef SLT_GEMM_H
#define SLT_GEMM_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

typedef enum { SLT_GEMM_AUTO, SLT_GEMM_OPENBLAS, SLT_GEMM_ONEDNN } slt_gemm_kind;
typedef enum { SLT_PRECISION_FP32, SLT_PRECISION_BF16, SLT_PRECISION_AUTO } slt_precision;
extern const char *const slt_gemm_kind_names[];  /* "auto", "openblas", "onednn" */
extern const char *const slt_precision_names[];  /* "fp32", "bf16", "auto" */

/* C (M×N, ldc) = alpha·op(A)·op(B) + beta·C with op(A) M×K (lda) and op(B) K×N (ldb). */
void slt_gemm_ex(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);

/* C (M×N) = op(A)·op(B) + beta·C, every operand packed (leading dimension = row length). */
static inline void slt_gemm(bool ta, bool tb, int M, int N, int K, const float *A, const float *B,
                            float beta, float *C) {
  slt_gemm_ex(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

/* Picks the backend and precision for every later product. AUTO backend: the faster on
 * products of the model's shapes (rows = tokens per micro-batch, d_model, ffn_dim; zeros: a
 * representative set). bf16 products always run on oneDNN; bf16 without native support fails
 * (error recorded); AUTO precision is bf16 where supported, else fp32. 0 or -1. */
int slt_gemm_configure(slt_gemm_kind kind, slt_precision precision, int rows, int d_model,
                       int ffn_dim);
/* The name of the backend products run on ("openblas" or "onednn"). */
const char *slt_gemm_backend(void);
/* The precision products run in (never AUTO once configured). */
slt_precision slt_gemm_precision(void);
/* The ISA oneDNN dispatches to ("avx512_core_amx", ...), or "none" without oneDNN. */
const char *slt_gemm_isa(void);
/* This CPU multiplies bf16 natively through oneDNN (AVX512-BF16 or AMX). */
bool slt_gemm_bf16_supported(void);
/* One line for the run's log: backend, precision, ISA and, after AUTO, what was measured. */
const char *slt_gemm_describe(void);
/* GFLOP/s of a large square product in the configured backend and precision, current threads. */
double slt_gemm_peak_gflops(void);
/* Frees the calling thread's cached primitives, bf16 weight copies and scratch. */
void slt_gemm_release(void);

/* Weight ranges whose bf16 copies are cached (bf16 only; 2 slots: a model and its SGT guides). */
#define SLT_GEMM_WEIGHT_SLOTS 2
/* Declares [base, base+n) as weights unchanged until the next call for the slot (NULL: none).
 * Call it again after every change of their values (each optimizer step, a checkpoint load):
 * a product reading them then rounds each weight once and reuses that copy until then. */
void slt_gemm_weights(int slot, const float *base, int64_t n);

/* Promises that the floats at p stay unchanged until the next call on this thread (NULL: no
 * promise): a bf16 product may then round an operand starting at p once and reuse that copy in
 * the following products (a linear's dY feeds both dX and dW). No effect in fp32. */
void slt_gemm_hold(const float *p);

/* Ranges (base[i], len[i] floats) that stay unchanged until the next call (n 0: none), at most
 * SLT_GEMM_HELD_RANGES. bf16 rounds each once, now; any later product, also from inside a
 * parallel region, reads an operand lying inside one from that copy (attention holds q, k, v
 * and dO, read by many small products). Call outside parallel regions. No effect in fp32. */
#define SLT_GEMM_HELD_RANGES 4
void slt_gemm_hold_ranges(int n, const float *const *base, const int64_t *len);

/* Names copy (n bf16) as the rounding of [p, p + n), rounding it now when fill: products on
 * this thread read operands inside that range from copy until the next call (p NULL: none).
 * A linear keeps its input's copy from forward for the dW product of backward. bf16 only. */
void slt_gemm_hold_copy(const float *p, int64_t n, uint16_t *copy, bool fill);

/* fp32 -> bf16 rounded to nearest even; NaN stays NaN (quiet). */
static inline uint16_t slt_bf16_from_f32(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40);
  return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
/* bf16 -> fp32 (exact). */
static inline float slt_bf16_to_f32(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}
/* y[i] = bf16(x[i]) for i < n. */
void slt_bf16_round(const float *x, uint16_t *y, int64_t n);

#endif
