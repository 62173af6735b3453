/* GFLOP/s of the engine's GEMM ops against raw cblas_sgemm, and of fused causal attention
 * against the best raw sgemm figure of the same run. Each contender runs interleaved with the
 * others in every repeat and the best repeat counts, so machine noise hits all alike.
 * Usage: bench_ops [repeats]   (threads: OMP_NUM_THREADS, default all cores) */
#include "autograd/ops.h"
#include "autograd/op_util.h"
#include "autograd/rng.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
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
  double t0 = now();
  if (kind == RAW_NN) slt_gemm(false, false, M, N, K, a->data, b->data, 0.0f, out);
  if (kind == RAW_NT) slt_gemm(false, true, M, N, K, a->data, w->data, 0.0f, out);
  if (kind == MATMUL) need(slt_matmul(c, a, b, false, false));
  if (kind == LINEAR) need(slt_linear(c, a, w, NULL));
  return now() - t0;
}

/* Prints one table row; returns the best raw GFLOP/s. */
static double bench_gemm(int M, int K, int N, int reps) {
  slt_tensor *a = randn(1, 2, (int[]){M, K}, false), *b = randn(2, 2, (int[]){K, N}, false);
  slt_tensor *w = randn(3, 2, (int[]){N, K}, false);
  float *out = aligned_alloc(64, (size_t)M * N * sizeof(float)); /* as the arena */
  need(out);
  slt_ctx c;
  slt_ctx_init(&c);
  double best[NKIND];
  for (int k = 0; k < NKIND; k++) best[k] = 1e30;
  for (int r = -1; r < reps; r++) /* r = -1 warms up caches, thread pool and arena */
    for (int k = 0; k < NKIND; k++) {
      double t = time_gemm(k, &c, a, b, w, out);
      if (r >= 0 && t < best[k]) best[k] = t;
    }
  double flop = 2.0 * M * K * N, g[NKIND];
  for (int k = 0; k < NKIND; k++) g[k] = flop / best[k] * 1e-9;
  printf("%5d x%5d x%5d | %8.1f %8.1f %6.1f%% | %8.1f %8.1f %6.1f%%\n", M, K, N, g[RAW_NN],
         g[MATMUL], 100 * g[MATMUL] / g[RAW_NN], g[RAW_NT], g[LINEAR], 100 * g[LINEAR] / g[RAW_NT]);
  slt_ctx_free(&c);
  free(out);
  slt_tensor_free(a);
  slt_tensor_free(b);
  slt_tensor_free(w);
  return g[RAW_NN] > g[RAW_NT] ? g[RAW_NN] : g[RAW_NT];
}

/* ---- causal attention, forward and forward+backward ---- */

static void bench_attention(int B, int H, int T, int D, int reps, double raw_best) {
  int shape[4] = {B, H, T, D};
  slt_tensor *q = randn(4, 4, shape, true), *k = randn(5, 4, shape, true);
  slt_tensor *v = randn(6, 4, shape, true), *dout = randn(7, 4, shape, false);
  slt_ctx c;
  slt_ctx_init(&c);
  double best_f = 1e30, best_fb = 1e30;
  for (int r = -1; r < reps; r++) {
    slt_ctx_reset(&c);
    double t0 = now();
    need(slt_attention(&c, q, k, v));
    double t1 = now();
    slt_ctx_reset(&c);
    double t2 = now();
    slt_tensor *o = slt_attention(&c, q, k, v);
    need(o);
    if (slt_backward_seed(&c, o, dout->data)) need(NULL);
    double t3 = now();
    if (r >= 0 && t1 - t0 < best_f) best_f = t1 - t0;
    if (r >= 0 && t3 - t2 < best_fb) best_fb = t3 - t2;
  }
  double unit = (double)B * H * T * T * D; /* one causal (T×T)·(T×D) product: 2·T²·D/2 */
  double gf = 2 * unit / best_f * 1e-9, gfb = 6 * unit / best_fb * 1e-9;
  printf("\ncausal attention B=%d H=%d T=%d D=%d (q, k, v require grad)\n", B, H, T, D);
  printf("  FLOPs: forward 2 products x 2*T^2*D/2 per (b,h) = 2*B*H*T^2*D = %.2f GFLOP;\n"
         "         backward 4 such products (dV, dP, dQ, dK) = %.2f GFLOP;\n"
         "         recomputing S in backward and the exps are not counted\n",
         2 * unit * 1e-9, 4 * unit * 1e-9);
  printf("  forward           %8.2f ms %8.1f GFLOP/s  %6.1f%% of best raw sgemm\n", 1e3 * best_f,
         gf, 100 * gf / raw_best);
  printf("  forward+backward  %8.2f ms %8.1f GFLOP/s  %6.1f%% of best raw sgemm\n", 1e3 * best_fb,
         gfb, 100 * gfb / raw_best);
  slt_ctx_free(&c);
  slt_tensor_free(q);
  slt_tensor_free(k);
  slt_tensor_free(v);
  slt_tensor_free(dout);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 7;
  if (reps < 1) reps = 1;
  printf("bench_ops: %d OpenMP threads, best of %d repeats, GFLOP/s = 2*M*K*N / time\n\n",
         omp_get_max_threads(), reps);
  printf("    M x    K x    N |   sgemm   matmul  ratio |  sgemmT   linear  ratio\n");
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
