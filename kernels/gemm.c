/* The dispatcher: one backend and one precision for the whole process, chosen by
 * slt_gemm_configure (by measurement for AUTO); OpenBLAS fp32 until then. */
#include "gemm_internal.h"

#include "autograd/error.h"
#include "autograd/sys.h"

#include <stdio.h>
#include <stdlib.h>

const char *const slt_gemm_kind_names[] = {"auto", "openblas", "onednn", NULL};
const char *const slt_precision_names[] = {"fp32", "bf16", "auto", NULL};

static slt_gemm_kind backend = SLT_GEMM_OPENBLAS; /* never AUTO */
static slt_precision precision = SLT_PRECISION_FP32; /* never AUTO */
static char description[256] = "openblas fp32";

static void gemm_dispatch(bool ta, bool tb, int M, int N, int K, float alpha, const float *A,
                          int lda, const float *B, int ldb, float beta, float *C, int ldc) {
  if (K > 0 && precision == SLT_PRECISION_BF16) {
    slt_bf16_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  /* K = 0 (C = beta·C) and anything oneDNN refuses go to OpenBLAS. */
  if (K > 0 && backend == SLT_GEMM_ONEDNN &&
      !slt_onednn_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, false))
    return;
  slt_blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void slt_gemm_ex(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *C, int ldc) {
  if (M <= 0 || N <= 0) return;
  if (!slt_gemm_profiling()) {
    gemm_dispatch(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  double t0 = slt_now();
  gemm_dispatch(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  slt_gemm_profile_add(ta, tb, M, N, K, slt_now() - t0);
}

const char *slt_gemm_backend(void) { return slt_gemm_kind_names[backend]; }
slt_precision slt_gemm_precision(void) { return precision; }
const char *slt_gemm_isa(void) { return slt_onednn_isa(); }
bool slt_gemm_bf16_supported(void) { return slt_onednn_bf16(); }
const char *slt_gemm_describe(void) { return description; }

/* Seconds of the best of `reps` runs of one fp32 product on the given backend. */
static double time_product(slt_gemm_kind kind, bool ta, bool tb, int M, int N, int K,
                           const float *a, const float *b, float *c, int reps) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = slt_now();
    if (kind == SLT_GEMM_ONEDNN &&
        slt_onednn_gemm(ta, tb, M, N, K, 1.0f, a, ta ? M : K, b, tb ? K : N, 0.0f, c, N, false))
      return 1e30;
    if (kind == SLT_GEMM_OPENBLAS)
      slt_blas_gemm(ta, tb, M, N, K, 1.0f, a, ta ? M : K, b, tb ? K : N, 0.0f, c, N);
    double dt = slt_now() - t0;
    if (dt < best) best = dt;
  }
  return best;
}

/* The three products of a linear (forward x·Wᵀ, dX = dY·W, dW = dYᵀ·X) for the model's three
 * linear shapes (d→d, d→ffn, ffn→d), both backends interleaved so drift hits both alike;
 * the seconds of each backend's sum go to t[OPENBLAS], t[ONEDNN]. 0, or -1 out of memory. */
static int measure(int rows, int d, int ffn, double t[3]) {
  int dims[3][2] = {{d, d}, {ffn, d}, {d, ffn}}, big = d > ffn ? d : ffn;
  size_t n = (size_t)(rows > big ? rows : big) * big;
  float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b), *c = malloc(n * sizeof *c);
  if (!a || !b || !c) {
    free(a), free(b), free(c);
    slt_err_set("gemm: out of memory measuring the backends");
    return -1;
  }
  for (size_t i = 0; i < n; i++) a[i] = b[i] = c[i] = 1e-3f * (float)(i % 101) - 0.05f;
  t[SLT_GEMM_OPENBLAS] = t[SLT_GEMM_ONEDNN] = 0;
  for (int s = 0; s < 3; s++) {
    int out = dims[s][0], in = dims[s][1];
    int shape[3][5] = {{0, 1, rows, out, in}, {0, 0, rows, in, out}, {1, 0, out, in, rows}};
    for (int p = 0; p < 3; p++)
      for (int kind = SLT_GEMM_OPENBLAS; kind <= SLT_GEMM_ONEDNN; kind++) {
        int *q = shape[p];
        t[kind] += time_product(kind, q[0], q[1], q[2], q[3], q[4], a, b, c, 3);
      }
  }
  free(a), free(b), free(c);
  return 0;
}

int slt_gemm_configure(slt_gemm_kind kind, slt_precision prec, int rows, int d_model,
                       int ffn_dim) {
  bool have_dnn = slt_onednn_available(), have_bf16 = slt_onednn_bf16();
  if (kind == SLT_GEMM_ONEDNN && !have_dnn) {
    slt_err_set("train.gemm: onednn has no CPU engine on this machine");
    return -1;
  }
  if (prec == SLT_PRECISION_BF16 && !have_bf16) {
    slt_err_set("train.precision: bf16 needs AVX512-BF16 or AMX, and this CPU (oneDNN ISA %s) "
                "has neither; use fp32 (or auto to fall back)", slt_onednn_isa());
    return -1;
  }
  bool bf16 = prec == SLT_PRECISION_BF16 || (prec == SLT_PRECISION_AUTO && have_bf16);
  const char *why = prec == SLT_PRECISION_AUTO
                        ? (bf16 ? " (auto: native bf16)" : " (auto: no native bf16, fp32)")
                        : "";
  char how[128] = "";
  if (bf16) {
    if (kind == SLT_GEMM_OPENBLAS) snprintf(how, sizeof how, " (bf16 products run on oneDNN)");
    kind = SLT_GEMM_ONEDNN;
  } else if (kind == SLT_GEMM_AUTO && !have_dnn) {
    kind = SLT_GEMM_OPENBLAS;
    snprintf(how, sizeof how, " (auto: oneDNN unavailable)");
  } else if (kind == SLT_GEMM_AUTO) {
    double t[3];
    if (measure(rows > 0 ? (rows < 2048 ? rows : 2048) : 2048, d_model > 0 ? d_model : 768,
                ffn_dim > 0 ? ffn_dim : 3072, t))
      return -1;
    kind = t[SLT_GEMM_ONEDNN] < t[SLT_GEMM_OPENBLAS] ? SLT_GEMM_ONEDNN : SLT_GEMM_OPENBLAS;
    snprintf(how, sizeof how, " (auto: 9 products of the model's shapes in %.1f ms openblas, "
             "%.1f ms onednn)", 1e3 * t[SLT_GEMM_OPENBLAS], 1e3 * t[SLT_GEMM_ONEDNN]);
  }
  backend = kind;
  precision = bf16 ? SLT_PRECISION_BF16 : SLT_PRECISION_FP32;
  snprintf(description, sizeof description, "%s%s, %s%s; oneDNN ISA %s",
           slt_gemm_kind_names[backend], how, slt_precision_names[precision], why,
           slt_onednn_isa());
  return 0;
}

double slt_gemm_peak_gflops(void) {
  /* A square product large enough to reach the kernel's steady state; the first call pays for
   * thread start-up, page faults and (oneDNN) code generation, so the best of several calls is
   * the peak. bf16 operands are rounded beforehand: the peak is the kernel's. */
  const int n = 1536;
  float *a = malloc(sizeof(float) * n * n), *b = malloc(sizeof(float) * n * n),
        *c = malloc(sizeof(float) * n * n);
  uint16_t *ha = malloc(2 * (size_t)n * n), *hb = malloc(2 * (size_t)n * n);
  double best = 0;
  if (a && b && c && ha && hb) {
    for (int i = 0; i < n * n; i++) a[i] = b[i] = 1e-3f * (float)(i % 97);
    slt_bf16_round(a, ha, (int64_t)n * n);
    slt_bf16_round(b, hb, (int64_t)n * n);
    for (int rep = 0; rep < 4; rep++) {
      double t0 = slt_now();
      if (precision == SLT_PRECISION_BF16)
        slt_onednn_gemm(false, false, n, n, n, 1.0f, ha, n, hb, n, 0.0f, c, n, true);
      else
        slt_gemm(false, false, n, n, n, a, b, 0.0f, c);
      double g = 2.0 * n * n * (double)n / (slt_now() - t0) * 1e-9;
      if (g > best) best = g;
    }
  }
  free(a), free(b), free(c), free(ha), free(hb);
  return best;
}

void slt_gemm_release(void) {
  slt_bf16_release();
  slt_onednn_release();
}
