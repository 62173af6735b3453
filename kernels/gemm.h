/* The GEMM choke point: every matrix product of the engine goes through slt_gemm_ex, so a
 * backend (OpenBLAS today) is chosen in one place. Row-major throughout. */
#ifndef SLT_GEMM_H
#define SLT_GEMM_H

#include <stdbool.h>

/* C (M×N, ldc) = alpha·op(A)·op(B) + beta·C with op(A) M×K (lda) and op(B) K×N (ldb). */
void slt_gemm_ex(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc);

/* C (M×N) = op(A)·op(B) + beta·C, every operand packed (leading dimension = row length). */
static inline void slt_gemm(bool ta, bool tb, int M, int N, int K, const float *A, const float *B,
                            float beta, float *C) {
  slt_gemm_ex(ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

/* The name of the backend products run on ("openblas"). */
const char *slt_gemm_backend(void);
/* GFLOP/s of a large square product on this machine with the current thread count. */
double slt_gemm_peak_gflops(void);

#endif
