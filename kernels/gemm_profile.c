/* SLT_GEMM_PROFILE=1: every product's shape, count and time, printed to stderr at exit, so
 * a step's GEMM share and the backends' per-shape speed can be read without a profiler. */
#include "gemm_internal.h"

#include "autograd/sys.h"

#include <stdio.h>
#include <stdlib.h>

#define PROFILE_SHAPES 128

typedef struct {
  bool ta, tb;
  int M, N, K;
  long calls;
  double seconds;
} shape_row;

static shape_row rows[PROFILE_SHAPES];
static int nrows, enabled = -1;
static double first_call;

static void print_profile(void) {
  double total = 0, flops = 0;
  fprintf(stderr, "# gemm profile (%s): ta tb M N K calls ms GFLOP/s\n", slt_gemm_describe());
  for (int i = 0; i < nrows; i++) {
    shape_row *r = &rows[i];
    double f = 2.0 * r->M * r->N * (double)r->K * r->calls;
    fprintf(stderr, "gemm %d %d %6d %6d %6d %6ld %10.2f %8.1f\n", r->ta, r->tb, r->M, r->N, r->K,
            r->calls, 1e3 * r->seconds, f / r->seconds * 1e-9);
    total += r->seconds, flops += f;
  }
  fprintf(stderr, "# gemm total %.1f ms of %.1f ms since the first product, %.1f GFLOP/s\n",
          1e3 * total, 1e3 * (slt_now() - first_call), flops / total * 1e-9);
}

bool slt_gemm_profiling(void) {
  if (enabled < 0) {
    const char *e = getenv("SLT_GEMM_PROFILE");
    enabled = e && *e && *e != '0';
    if (enabled) first_call = slt_now(), atexit(print_profile);
  }
  return enabled;
}

void slt_gemm_profile_add(bool ta, bool tb, int M, int N, int K, double seconds) {
#pragma omp critical(slt_gemm_profile)
  {
    int i = 0;
    while (i < nrows && !(rows[i].ta == ta && rows[i].tb == tb && rows[i].M == M &&
                          rows[i].N == N && rows[i].K == K))
      i++;
    if (i < PROFILE_SHAPES) {
      if (i == nrows) rows[nrows++] = (shape_row){ta, tb, M, N, K, 0, 0};
      rows[i].calls++, rows[i].seconds += seconds;
    }
  }
}
