/* Between the GEMM dispatcher (gemm.c) and its backends; not for use outside kernels/. */
#ifndef SLT_GEMM_INTERNAL_H
#define SLT_GEMM_INTERNAL_H

#include "gemm.h"

#include <stdint.h>

/* OpenBLAS sgemm, row-major. */
void slt_blas_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);

/* oneDNN has a CPU engine here. */
bool slt_onednn_available(void);
/* oneDNN runs bf16 natively on this CPU (AVX512-BF16 or AMX). */
bool slt_onednn_bf16(void);
/* The ISA oneDNN dispatches to ("avx512_core_amx", ...), "none" without an engine. */
const char *slt_onednn_isa(void);
/* C (fp32) = alpha·op(A)·op(B) + beta·C with A, B fp32 or (bf16) uint16 bf16; 0 or -1. */
int slt_onednn_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const void *A, int lda,
                    const void *B, int ldb, float beta, float *C, int ldc, bool bf16);
/* The implementation oneDNN picks for a packed product of that shape ("brg:avx512_core_amx"). */
const char *slt_onednn_impl(bool ta, bool tb, int M, int N, int K, bool bf16);
/* Frees the calling thread's cached primitives and stream. */
void slt_onednn_release(void);

/* The bf16 product (gemm_bf16.c): operands rounded to bf16, weights through their cached copies. */
void slt_bf16_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc);
/* Frees the bf16 weight copies and the calling thread's conversion scratch. */
void slt_bf16_release(void);

/* SLT_GEMM_PROFILE is set: products are timed per shape and printed at exit (gemm_profile.c). */
bool slt_gemm_profiling(void);
/* Adds one product's time to its shape's row; thread-safe. */
void slt_gemm_profile_add(bool ta, bool tb, int M, int N, int K, double seconds);

#endif
