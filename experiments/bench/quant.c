/* Fake-quant throughput (SPEC §5) on a 4096×4096 tensor, forward and backward, next to the
 * memory bandwidth measured in the same run (STREAM's triad a = b + s·c, 12 B per element).
 * Fake-quant is elementwise and bandwidth-bound, so the figure of merit is its effective
 * bandwidth: the bytes any out-of-place elementwise op must move — forward reads x and writes
 * y (8 B per element), backward reads x and dy and reads and writes dx (16 B) — over its time.
 * (The scale pass's second read of x, when there is one, is part of the cost, not the bytes.)
 * The backward function is called directly, so the tape's seeding pass is not in the figure.
 * "vs triad" divides by the triad of the thread count's header line; "paired" is the median
 * over repeats of the ratio to a triad run just before each repeat.
 * Usage: bench_quant [repeats]   (runs on 1 and 2 threads; medians over repeats)
 * The quantizers' share of a whole QAT training step is bench_quant_step (quant_step.c). */
#include "kernels/cpu.h"
#include "autograd/error.h"
#include "autograd/parallel.h"
#include "autograd/quant.h"
#include "autograd/sys.h"
#include "autograd/rng.h"
#include "train/metrics.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 4096
#define MAX_REPS 64

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

static void *need(void *p) {
  if (!p) {
    fprintf(stderr, "bench_quant: %s\n", slt_err_msg()[0] ? slt_err_msg() : "out of memory");
    exit(1);
  }
  return p;
}

static void print_machine(void) {
  char flags[256];
  slt_cpu_flags(flags, sizeof flags);
  printf("cpu: %s, %d logical cores; flags %s\n", slt_cpu_model(), omp_get_num_procs(), flags);
  printf("compiled for:");
#ifdef __AVX512F__
  printf(" avx512f");
#endif
#ifdef __AVX2__
  printf(" avx2");
#endif
#ifdef __FMA__
  printf(" fma");
#endif
#ifdef __SSE4_1__
  printf(" sse4.1");
#endif
  printf(" (gcc vectorises these loops with 256-bit vectors by default)\n");
}

/* GB/s of the triad over 3 buffers of n floats; median of reps (after one warm-up). */
static double triad_gbs(float *a, const float *b, const float *c, int64_t n, int reps) {
  double t[MAX_REPS];
  for (int r = reps > 1 ? -1 : 0; r < reps; r++) {
    double t0 = slt_now();
#pragma omp parallel for simd schedule(static)
    for (int64_t i = 0; i < n; i++) a[i] = b[i] + 1.5f * c[i];
    if (r >= 0) t[r] = slt_now() - t0;
  }
  return 12.0 * n / median(t, reps) / 1e9;
}

typedef struct {
  const char *name;
  slt_quant_spec spec;
} qcase;

/* Median forward and backward seconds of one quantizer, and the median over repeats of its
 * all-in GB/s over the triad's GB/s measured right before it ("paired": on a shared machine
 * neighbours in time see the same load). */
static void time_case(const qcase *q, slt_tensor *x, float *dy, float *tmp, int reps, double *fwd,
                      double *bwd, double *paired) {
  double tf[MAX_REPS], tb[MAX_REPS], ratio[MAX_REPS];
  int64_t n = x->numel;
  slt_ctx c;
  slt_ctx_init(&c);
  for (int r = -1; r < reps; r++) { /* r = -1: warm-up (the arena grows, pages fault in) */
    slt_ctx_reset(&c);
    double bw = triad_gbs(tmp, x->data, dy, n, 1);
    double t0 = slt_now();
    slt_tensor *y = need(slt_quant_apply(&c, x, &q->spec, NULL, NULL));
    double t1 = slt_now();
    y->grad = dy;
    y->node->backward(&c, y->node);
    double t2 = slt_now();
    if (r >= 0) tf[r] = t1 - t0, tb[r] = t2 - t1, ratio[r] = 24.0 * n / (t2 - t0) / 1e9 / bw;
  }
  slt_ctx_free(&c);
  *fwd = median(tf, reps);
  *bwd = median(tb, reps);
  *paired = median(ratio, reps);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5;
  if (reps < 1 || reps > MAX_REPS) reps = 5;
  print_machine();
  int shape[2] = {N, N};
  int64_t n = (int64_t)N * N;
  slt_tensor *x = need(slt_tensor_new(2, shape));
  if (slt_tensor_alloc_grad(x)) need(NULL);
  float *dy = need(malloc(n * sizeof(float))), *tmp = need(malloc(n * sizeof(float)));
  slt_rng rng;
  slt_rng_seed(&rng, 7);
  slt_rng_fill_normal(&rng, x->data, n, 0.0f, 1.0f);
  slt_rng_fill_normal(&rng, dy, n, 0.0f, 1.0f);
  const qcase cases[] = {
      {"int8 per-channel (W8)",
       {.kind = SLT_QUANT_INT, .bits = 8, .granularity = SLT_QGRAN_CHANNEL}},
      {"int4 per-group-64 (W4)",
       {.kind = SLT_QUANT_INT, .bits = 4, .granularity = SLT_QGRAN_GROUP, .group_size = 64}},
      {"int8 per-token (A8)", {.kind = SLT_QUANT_INT, .bits = 8, .granularity = SLT_QGRAN_TOKEN}},
      {"fp e4m3 per-tensor",
       {.kind = SLT_QUANT_FP, .format = SLT_QFMT_E4M3, .granularity = SLT_QGRAN_TENSOR}},
      {"mxfp4 (e2m1, 32-blocks)",
       {.kind = SLT_QUANT_MX,
        .format = SLT_QFMT_E2M1,
        .granularity = SLT_QGRAN_GROUP,
        .group_size = 32}},
  };
  int ncases = sizeof cases / sizeof *cases;
  printf("tensor %dx%d fp32 (%.0f MB), medians of %d repeats\n", N, N, n * 4 / 1e6, reps);
  printf(
      "bytes counted: forward 8 B/elem (x in, y out), backward 16 B/elem (x, dy in; dx in+out)\n");
  for (int threads = 1; threads <= 2; threads++) {
    slt_threads_set(threads);
    double bw = triad_gbs(tmp, x->data, dy, n, reps);
    printf("\n%d thread%s: triad %.1f GB/s\n", threads, threads > 1 ? "s" : "", bw);
    printf("  %-26s %9s %9s %9s %9s %9s %8s %8s\n", "quantizer", "fwd ms", "bwd ms", "fwd GB/s",
           "bwd GB/s", "all GB/s", "vs triad", "paired");
    for (int k = 0; k < ncases; k++) {
      double f, b, paired;
      memset(x->grad, 0, n * sizeof(float));
      time_case(&cases[k], x, dy, tmp, reps, &f, &b, &paired);
      double all = 24.0 * n / (f + b) / 1e9;
      printf("  %-26s %9.2f %9.2f %9.1f %9.1f %9.1f %7.0f%% %7.0f%%\n", cases[k].name, f * 1e3,
             b * 1e3, 8.0 * n / f / 1e9, 16.0 * n / b / 1e9, all, 100 * all / bw, 100 * paired);
    }
  }
  free(dy), free(tmp);
  slt_tensor_free(x);
  return 0;
}
