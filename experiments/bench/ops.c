/* GFLOP/s of the engine's GEMM ops against raw cblas_sgemm, and of fused causal attention
 * against the best raw sgemm figure of the same run. Contenders run interleaved in every repeat;
 * a case repeats until each contender has had about two seconds. Two ratios: best against best,
 * and the median over repeats of the ratio within a repeat ("paired"), which resists a machine
 * whose load changes over seconds, since neighbours in time see the same load.
 * Usage: bench_ops [min_repeats]   (threads: OMP_NUM_THREADS, default all cores) */
#include "autograd/sys.h"
#include "autograd/ops.h"
#include "autograd/op_util.h"
#include "autograd/rng.h"
#include "train/metrics.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#define MAX_REPS 500

/* Repeats for a case whose one run takes `once` seconds: at least min_reps, ~2 s in all. */
static int repeats(double once, int min_reps) {
  int n = (int)(2.0 / (once + 1e-9));
  return n < min_reps ? min_reps : n > MAX_REPS ? MAX_REPS : n;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of x[0..n), sorting x. */
static double median(double *x, int n) {
  qsort(x, n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* Median over repeats of num[r] / den[r]. */
static double paired(const double *num, const double *den, int n) {
  double q[MAX_REPS];
  for (int r = 0; r < n; r++) q[r] = num[r] / den[r];
  return median(q, n);
}

static slt_tensor *randn(uint64_t seed, int ndim, const int *shape, bool grad) {
  slt_tensor *t = slt_tensor_new(ndim, shape);
  if (!t || (grad && slt_tensor_alloc_grad(t))) {
    fprintf(stderr, "bench_ops: out of memory\n");
    exit(1);
  }
  slt_rng r;
  slt_rng_seed(&r, seed);
  slt_rng_fill_normal(&r, t->data, t->numel, 0.0f, 1.0f);
  return t;
}

static void need(const void *p) {
  if (!p) {
    fprintf(stderr, "bench_ops: an op failed: %s\n", slt_err_msg());
    exit(1);
  }
}

/* ---- GEMM: raw sgemm (NN for matmul, NT for linear) vs slt_matmul and slt_linear ---- */

enum { RAW_NN, MATMUL, RAW_NT, LINEAR, NKIND };

/* Seconds for one run of contender `kind` on A (M, K), B (K, N), W (N, K). */
static double time_gemm(int kind, slt_ctx *c, slt_tensor *a, slt_tensor *b, slt_tensor *w,
                        float *out) {
  int M = a->shape[0], K = a->shape[1], N = b->shape[1];
  slt_ctx_reset(c); /* engine runs pay their arena allocation, as in a step */
  double t0 = slt_now();
  if (kind == RAW_NN) slt_gemm(false, false, M, N, K, a->data, b->data, 0.0f, out);
  if (kind == RAW_NT) slt_gemm(false, true, M, N, K, a->data, w->data, 0.0f, out);
  if (kind == MATMUL) need(slt_matmul(c, a, b, false, false));
  if (kind == LINEAR) need(slt_linear(c, a, w, NULL));
  return slt_now() - t0;
}

/* Prints one table row; returns the best raw GFLOP/s. */
static double bench_gemm(int M, int K, int N, int reps) {
  slt_tensor *a = randn(1, 2, (int[]){M, K}, false), *b = randn(2, 2, (int[]){K, N}, false);
  slt_tensor *w = randn(3, 2, (int[]){N, K}, false);
  float *out = aligned_alloc(64, (size_t)M * N * sizeof(float)); /* as the arena */
  need(out);
  slt_ctx c;
  slt_ctx_init(&c);
  static double t[NKIND][MAX_REPS];
  double best[NKIND], once = 0;
  for (int k = 0; k < NKIND; k++) once = time_gemm(k, &c, a, b, w, out); /* warm up */
  reps = repeats(once, reps);
  for (int r = 0; r < reps; r++)
    for (int k = 0; k < NKIND; k++) t[k][r] = time_gemm(k, &c, a, b, w, out);
  double flop = 2.0 * M * K * N, g[NKIND];
  for (int k = 0; k < NKIND; k++) {
    best[k] = t[k][0];
    for (int r = 1; r < reps; r++) best[k] = fmin(best[k], t[k][r]);
    g[k] = flop / best[k] * 1e-9;
  }
  /* engine/raw speed = raw time / engine time */
  printf("%5d x%5d x%5d | %6.1f %6.1f %5.1f%% %5.1f%% | %6.1f %6.1f %5.1f%% %5.1f%% | %3d\n", M, K,
         N, g[RAW_NN], g[MATMUL], 100 * g[MATMUL] / g[RAW_NN],
         100 * paired(t[RAW_NN], t[MATMUL], reps), g[RAW_NT], g[LINEAR],
         100 * g[LINEAR] / g[RAW_NT], 100 * paired(t[RAW_NT], t[LINEAR], reps), reps);
  slt_ctx_free(&c);
  free(out);
  slt_tensor_free(a);
  slt_tensor_free(b);
  slt_tensor_free(w);
  return g[RAW_NN] > g[RAW_NT] ? g[RAW_NN] : g[RAW_NT];
}

/* ---- causal attention, forward and forward+backward ---- */

/* One forward (fb = false) or forward+backward of attention in a fresh step; seconds. */
static double time_attention(slt_ctx *c, slt_tensor *const *qkv, const float *dout, bool fb) {
  slt_ctx_reset(c);
  double t0 = slt_now();
  slt_tensor *o = slt_attention(c, qkv[0], qkv[1], qkv[2]);
  need(o);
  if (fb && slt_backward_seed(c, o, dout)) need(NULL);
  return slt_now() - t0;
}

/* Seconds for a raw 1024³ sgemm, timed alongside attention as a noise check. */
static double time_raw_1024(const float *a, const float *b, float *out) {
  double t0 = slt_now();
  slt_gemm(false, false, 1024, 1024, 1024, a, b, 0.0f, out);
  return slt_now() - t0;
}

static void bench_attention(int B, int H, int T, int D, int reps, double raw_best) {
  int shape[4] = {B, H, T, D};
  slt_tensor *qkv[3] = {randn(4, 4, shape, true), randn(5, 4, shape, true),
                        randn(6, 4, shape, true)};
  slt_tensor *dout = randn(7, 4, shape, false), *a = randn(8, 2, (int[]){1024, 1024}, false);
  float *out = aligned_alloc(64, sizeof(float) << 20);
  need(out);
  slt_ctx c;
  slt_ctx_init(&c);
  double once = time_attention(&c, qkv, dout->data, false) + /* warm up */
                time_attention(&c, qkv, dout->data, true) + time_raw_1024(a->data, a->data, out);
  reps = repeats(once, reps);
  static double tf[MAX_REPS], tfb[MAX_REPS], traw[MAX_REPS];
  double best_f = 1e30, best_fb = 1e30, best_raw = 1e30;
  for (int r = 0; r < reps; r++) {
    best_f = fmin(best_f, tf[r] = time_attention(&c, qkv, dout->data, false));
    best_fb = fmin(best_fb, tfb[r] = time_attention(&c, qkv, dout->data, true));
    best_raw = fmin(best_raw, traw[r] = time_raw_1024(a->data, a->data, out));
  }
  double flop_raw = 2.0 * (1 << 30), raw = flop_raw / best_raw * 1e-9;
  if (raw > raw_best) raw_best = raw;
  double unit = (double)B * H * T * T * D; /* one causal (T×T)·(T×D) product: 2·T²·D/2 */
  double gf = 2 * unit / best_f * 1e-9, gfb = 6 * unit / best_fb * 1e-9;
  /* paired: attention GFLOP/s over raw 1024³ GFLOP/s within each repeat */
  double pf = paired(traw, tf, reps) * 2 * unit / flop_raw;
  double pfb = paired(traw, tfb, reps) * 6 * unit / flop_raw;
  printf("\ncausal attention B=%d H=%d T=%d D=%d, q k v require grad, best of %d\n", B, H, T, D,
         reps);
  printf("  FLOPs: forward 2 products x 2*T^2*D/2 per (b,h) = 2*B*H*T^2*D = %.2f GFLOP;\n"
         "         backward 4 such products (dV, dP, dQ, dK) = %.2f GFLOP;\n"
         "         recomputing S in backward and the exps are not counted\n",
         2 * unit * 1e-9, 4 * unit * 1e-9);
  printf("  best raw sgemm of the run: %.1f GFLOP/s (1024^3 timed alongside: %.1f)\n", raw_best,
         raw);
  printf("                        best     GFLOP/s  of best raw  paired with raw 1024^3\n");
  printf("  forward           %8.2f ms %8.1f     %6.1f%%       %6.1f%%\n", 1e3 * best_f, gf,
         100 * gf / raw_best, 100 * pf);
  printf("  forward+backward  %8.2f ms %8.1f     %6.1f%%       %6.1f%%\n", 1e3 * best_fb, gfb,
         100 * gfb / raw_best, 100 * pfb);
  slt_ctx_free(&c);
  free(out);
  for (int i = 0; i < 3; i++) slt_tensor_free(qkv[i]);
  slt_tensor_free(dout);
  slt_tensor_free(a);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 7;
  if (reps < 1) reps = 1;
  printf("bench_ops: %d OpenMP threads, >= %d interleaved repeats (~2 s per contender);\n"
         "GFLOP/s = 2*M*K*N / best time; engine ops include their arena allocation;\n"
         "ratio = engine/raw of the best times, paired = median over repeats of engine/raw\n\n",
         omp_get_max_threads(), reps);
  printf(
      "    M x    K x    N |  sgemm matmul  ratio paired | sgemmT linear  ratio paired | reps\n");
  int shapes[3][3] = {{1024, 1024, 1024}, {4096, 768, 3072}, {4096, 3072, 768}};
  double raw_best = 0;
  for (int s = 0; s < 3; s++) {
    double g = bench_gemm(shapes[s][0], shapes[s][1], shapes[s][2], reps);
    if (g > raw_best) raw_best = g;
  }
  printf("(sgemm: raw cblas_sgemm A·B; sgemmT: raw A·Wᵀ as slt_linear calls it; best raw %.1f)\n",
         raw_best);
  bench_attention(4, 12, 1024, 64, reps, raw_best);
  return 0;
}
