/* The OpenBLAS backend (libopenblas-openmp: it shares the OpenMP pool, and inside one of our
 * parallel regions it runs on the calling thread). */
#include "gemm_internal.h"

#include <cblas.h>

void slt_blas_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}
