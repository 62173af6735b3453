/* Small helpers shared by the op files. */
#ifndef SLT_OP_UTIL_H
#define SLT_OP_UTIL_H

#include "error.h"
#include "tensor.h"

#include <cblas.h>

/* Record "op: <what>, got a (..) and b (..)" and return NULL. */
static inline slt_tensor *slt_op_shape_error(const char *op, const char *what, const slt_tensor *a,
                                             const slt_tensor *b) {
  char sa[64], sb[64] = "";
  slt_tensor_shape_str(a, sa, sizeof sa);
  if (b) slt_tensor_shape_str(b, sb, sizeof sb);
  slt_err_set("%s: %s, got %s%s%s", op, what, sa, b ? " and " : "", sb);
  return NULL;
}

/* C (M×N, ldc N) = op(A)·op(B) + beta·C with op(A) M×K and op(B) K×N, row-major and packed. */
static inline void slt_gemm(bool ta, bool tb, int M, int N, int K, const float *A, const float *B,
                            float beta, float *C) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, M, N,
              K, 1.0f, A, ta ? M : K, B, tb ? K : N, beta, C, N);
}

#endif
