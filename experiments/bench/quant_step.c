/* QAT's cost per training step (issue 15 item 5; bench_quant has the quantizers alone in GB/s):
 * the whole step (forward, backward, clip, AdamW) unquantized against W8A8 (int8 per-channel
 * weights, int8 per-token activations), W4 per-group-64 weights and MXFP4 weights, on
 * (a) 4 layers, d 256, T 256, micro-batch 8, vocab 8192 and (s) the paper's s size (12 layers,
 * d 768, T 1024, vocab 32000; micro-batch 1 so a step fits in seconds on this machine).
 * The machine is shared and its speed drifts, so variants run side by side in interleaved
 * rounds (the order rotates each round); each round's medians are divided by the same round's
 * unquantized median ("paired" ratio), and the report is the median over rounds.
 * The profile line times the quantizers alone (slt_quant_apply forward + STE backward) on the
 * model's own shapes: every block linear's weight and its input activation, summed per step,
 * so the measured overhead can be compared with what the quant ops themselves cost.
 * usage: bench_quant_step [a] [s] [--rounds N] [--steps N] [--s-steps N] [--only V] */
#include "kernels/cpu.h"
#include "autograd/error.h"
#include "autograd/parallel.h"
#include "autograd/quant.h"
#include "autograd/rng.h"
#include "autograd/sys.h"
#include "bench_models.h"
#include "kernels/gemm.h"
#include "layers/model.h"
#include "optim/adamw.h"
#include "optim/clip.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NVAR 4
#define MAX_ROUNDS 16
#define MAX_STEPS 32

typedef struct {
  const char *name;
  slt_quant_side w, a;
} variant;

static const variant variants[NVAR] = {
    {"fp32 (no QAT)", {0}, {0}},
    {"W8A8 int8 ch/tok",
     {.kind = SLT_QC_INT, .bits = 8, .granularity = SLT_QGRAN_CHANNEL, .group_size = 128},
     {.kind = SLT_QC_INT, .bits = 8, .granularity = SLT_QGRAN_TOKEN, .group_size = 128}},
    {"W4 int4 group64",
     {.kind = SLT_QC_INT, .bits = 4, .granularity = SLT_QGRAN_GROUP, .group_size = 64},
     {0}},
    {"MXFP4 weights",
     {.kind = SLT_QC_MX, .format = SLT_QFMT_E2M1, .granularity = SLT_QGRAN_GROUP, .group_size = 32},
     {0}},
};

typedef struct {
  const char *name;
  slt_model_config m;
  int B;
} shape_cfg;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *x, int n) {
  qsort(x, n, sizeof *x, cmp_double);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* This process's CPU seconds (all threads): on a machine shared with ~10 runnable processes a
 * 1-thread run's wall time is mostly waiting for a core; its CPU time is the work it did. */
static double cpu_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static void die(const char *what) {
  fprintf(stderr, "bench_quant_step: %s: %s\n", what, slt_err_msg());
  exit(1);
}

/* Median wall and CPU seconds of `steps` training steps (after one warm-up) of s with v. */
static void time_steps(const shape_cfg *s, const variant *v, int steps, double *wall, double *cpu) {
  slt_model_config g = s->m;
  g.quant.weight = v->w, g.quant.act = v->a;
  slt_model *m = slt_model_check(&g) ? NULL : slt_model_build(&g, SLT_MODEL_ALLOC);
  if (!m) die(v->name);
  slt_model_init_weights(m, 1);
  slt_adamw opt;
  if (slt_adamw_init(&opt, m->params, 0.9f, 0.95f, 1e-8f)) die("adamw");
  int n = s->B * g.seq_len;
  int32_t *x = malloc(sizeof(int32_t) * n), *y = malloc(sizeof(int32_t) * n);
  float *wd = malloc(sizeof(float) * m->params->count);
  slt_rng rng;
  slt_rng_seed(&rng, 2);
  for (int i = 0; i < n; i++) x[i] = (int32_t)slt_rng_below(&rng, g.vocab_size);
  for (int i = 0; i < n; i++) y[i] = (int32_t)slt_rng_below(&rng, g.vocab_size);
  for (int i = 0; i < m->params->count; i++) wd[i] = 0.1f;
  double t[MAX_STEPS + 1], u[MAX_STEPS + 1];
  slt_ctx c;
  slt_ctx_init(&c);
  for (int k = 0; k <= steps; k++) { /* k = 0: warm-up (arena growth, page faults) */
    double t0 = slt_now(), u0 = cpu_now();
    slt_params_zero_grad(m->params);
    slt_tensor *loss = slt_model_loss(m, &c, x, y, s->B, g.seq_len);
    if (!loss || slt_backward(&c, loss)) die("step");
    slt_ctx_reset(&c);
    slt_clip_grad_norm(m->params, 1.0);
    slt_adamw_step(&opt, m->params, 6e-4f, 1.0f, wd, NULL);
    t[k] = slt_now() - t0, u[k] = cpu_now() - u0;
  }
  slt_ctx_free(&c);
  slt_adamw_free(&opt);
  slt_model_free(m);
  free(x), free(y), free(wd);
  *wall = median(t + 1, steps), *cpu = median(u + 1, steps);
}

/* CPU seconds of one quantizer's forward + STE backward on a (rows, cols) tensor (median of 3). */
static double time_quant(const slt_quant_side *side, int64_t rows, int cols) {
  if (side->kind == SLT_QC_NONE) return 0;
  slt_quant_spec spec = slt_quant_side_spec(side);
  int shape[2] = {(int)rows, cols};
  slt_tensor *x = slt_tensor_new(2, shape);
  if (!x || slt_tensor_alloc_grad(x)) die("tensor");
  float *dy = malloc(sizeof(float) * rows * cols);
  slt_rng rng;
  slt_rng_seed(&rng, 3);
  slt_rng_fill_normal(&rng, x->data, rows * cols, 0.0f, 0.02f);
  slt_rng_fill_normal(&rng, dy, rows * cols, 0.0f, 1.0f);
  double t[4];
  slt_ctx c;
  slt_ctx_init(&c);
  for (int k = 0; k < 4; k++) {
    slt_ctx_reset(&c);
    double t0 = cpu_now();
    slt_tensor *y = slt_quant_apply(&c, x, &spec, NULL, NULL);
    if (!y) die("quant");
    y->grad = dy;
    y->node->backward(&c, y->node);
    t[k] = cpu_now() - t0;
  }
  slt_ctx_free(&c);
  slt_tensor_free(x);
  free(dy);
  return median(t + 1, 3);
}

/* The quant ops' CPU seconds per step: each layer's qkv, proj, fc1, fc2 weight and input. */
static double quant_ops_per_step(const shape_cfg *s, const variant *v) {
  int d = s->m.d_model, f = s->m.ffn_dim ? s->m.ffn_dim : 4 * d;
  int64_t tok = (int64_t)s->B * s->m.seq_len;
  int lin[4][2] = {{3 * d, d}, {d, d}, {f, d}, {d, f}}; /* (out, in) */
  double w = 0, a = 0;
  for (int i = 0; i < 4; i++) {
    w += time_quant(&v->w, lin[i][0], lin[i][1]);
    a += time_quant(&v->a, tok, lin[i][1]);
  }
  return (w + a) * s->m.layers;
}

/* --only V: run variant V alone (for a profiler: `perf record` one variant at a time). */
static int only = -1;

static void bench(const shape_cfg *s, int rounds, int steps) {
  double ms[NVAR][MAX_ROUNDS], cms[NVAR][MAX_ROUNDS], ratio[NVAR][MAX_ROUNDS],
      cratio[NVAR][MAX_ROUNDS];
  printf("\n(%s) %d layers, d %d, T %d, micro-batch %d, vocab %d: %d round(s) of %d steps "
         "(+1 warm-up) per variant\n",
         s->name, s->m.layers, s->m.d_model, s->m.seq_len, s->B, s->m.vocab_size, rounds, steps);
  for (int r = 0; r < rounds; r++) {
    printf("  round %d (wall / CPU ms):", r + 1);
    for (int k = 0; k < NVAR; k++) {
      int v = (k + r) % NVAR; /* rotate so no variant always follows the same neighbour */
      if (only >= 0 && v != only) continue;
      time_steps(s, &variants[v], steps, &ms[v][r], &cms[v][r]);
      ms[v][r] *= 1e3, cms[v][r] *= 1e3;
      printf(" %s %.0f / %.0f%s", variants[v].name, ms[v][r], cms[v][r], k + 1 < NVAR ? "," : "\n");
      fflush(stdout);
    }
    if (only >= 0) continue;
    for (int v = 0; v < NVAR; v++)
      ratio[v][r] = ms[v][r] / ms[0][r], cratio[v][r] = cms[v][r] / cms[0][r];
  }
  if (only >= 0) return;
  double base = median(cms[0], rounds);
  printf("  %-18s %9s %9s %11s %11s %16s\n", "variant", "wall ms", "CPU ms", "wall ratio",
         "CPU ratio", "quant ops CPU ms");
  for (int v = 0; v < NVAR; v++) {
    double q = 1e3 * quant_ops_per_step(s, &variants[v]);
    printf("  %-18s %9.0f %9.0f %11.3f %11.3f %9.1f (%4.1f%%)\n", variants[v].name,
           median(ms[v], rounds), median(cms[v], rounds), median(ratio[v], rounds),
           median(cratio[v], rounds), q, 100 * q / base);
  }
  fflush(stdout);
}

static void cpu_model(void) {
  char flags[256];
  slt_cpu_flags(flags, sizeof flags);
  printf("cpu: %s, %d logical cores, %d threads; flags %s\n", slt_cpu_model(), omp_get_num_procs(),
         omp_get_max_threads(), flags);
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
  printf(" (-O3 Release flags of CMakeLists.txt)\n");
}

int main(int argc, char **argv) {
  int rounds = 3, steps = 5, s_steps = 2, want_a = 0, want_s = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--s-steps") && i + 1 < argc)
      s_steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc)
      only = atoi(argv[++i]);
    else if (!strcmp(argv[i], "a"))
      want_a = 1;
    else if (!strcmp(argv[i], "s"))
      want_s = 1;
    else {
      fprintf(stderr, "usage: bench_quant_step [a] [s] [--rounds N] [--steps N] [--s-steps N] [--only V]\n");
      return 2;
    }
  }
  if (only >= NVAR) {
    fprintf(stderr, "bench_quant_step: --only takes a variant 0..%d\n", NVAR - 1);
    return 2;
  }
  if (rounds < 1 || rounds > MAX_ROUNDS || steps < 1 || steps > MAX_STEPS || s_steps < 1 ||
      s_steps > MAX_STEPS) {
    fprintf(stderr, "bench_quant_step: need 1 <= rounds <= %d, 1 <= steps <= %d\n", MAX_ROUNDS,
            MAX_STEPS);
    return 2;
  }
  if (!want_a && !want_s) want_a = want_s = 1;
  cpu_model();
  shape_cfg a = {"a", bench_s_model(), 8}, s = {"s", bench_s_model(), 1};
  a.m.vocab_size = 8192, a.m.seq_len = 256, a.m.layers = 4, a.m.d_model = 256, a.m.heads = 4;
  a.m.kv_heads = 4, a.m.ffn_dim = 1024;
  if (slt_gemm_configure(SLT_GEMM_AUTO, SLT_PRECISION_FP32, a.B * a.m.seq_len, 256, 1024))
    die("gemm");
  printf("fp32 products: %s\n", slt_gemm_describe());
  if (want_a) bench(&a, rounds, steps);
  if (want_s) bench(&s, rounds, s_steps);
  return 0;
}
