#include "gemm.h"

#include "autograd/sys.h"

#include <cblas.h>
#include <stdlib.h>

void slt_gemm_ex(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, alpha, A, lda, B, ldb, beta, C, ldc);
}

const char *slt_gemm_backend(void) { return "openblas"; }

double slt_gemm_peak_gflops(void) {
  /* A square product large enough to reach the kernel's steady state; the first call pays for
   * thread start-up and page faults, so the best of several calls is the peak. */
  const int n = 1536;
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
        *c = malloc(sizeof(float) * n * n);
  double best = 0;
  if (a && b && c) {
    for (int i = 0; i < n * n; i++) a[i] = b[i] = 1e-3f * (float)(i % 97);
    for (int rep = 0; rep < 4; rep++) {
      double t0 = slt_now();
      slt_gemm(false, false, n, n, n, a, b, 0.0f, c);
      double g = 2.0 * n * n * (double)n / (slt_now() - t0) * 1e-9;
      if (g > best) best = g;
    }
  }
  free(a);
  free(b);
  free(c);
  return best;
}
