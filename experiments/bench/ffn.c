/* FFN (fc1, gelu, fc2) forward + backward: dense vs the structured linears of SPEC §2 at the
 * paper's ≈63% / ≈32% settings, d ∈ {768, 1024, 1536}, ffn = 4d, 4096 tokens.
 * Variants run interleaved and each keeps its best of N, so load from other jobs hits all alike.
 * Usage: bench_ffn [reps=5] [tokens=4096] [d ...] */
#include "autograd/ops.h"
#include "layers/structured.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_VARIANTS 8

typedef struct {
  char name[40];
  slt_lin_spec spec;
  slt_params p;
  slt_lin fc1, fc2;
  double best_ms;
  int64_t params;
} variant;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

static int build(variant *v, int d, int f) {
  slt_params_init(&v->p);
  if (slt_lin_declare_spec(&v->fc1, &v->p, "fc1", d, f, true, &v->spec) ||
      slt_lin_declare_spec(&v->fc2, &v->p, "fc2", f, d, true, &v->spec) || slt_params_alloc(&v->p))
    return -1;
  slt_rng rng;
  slt_rng_seed(&rng, 1);
  slt_lin_init(&v->fc1, &rng, 0.02f);
  slt_lin_init(&v->fc2, &rng, 0.02f);
  v->params = slt_lin_spec_params(&v->spec, d, f) + slt_lin_spec_params(&v->spec, f, d);
  v->best_ms = 1e30;
  return 0;
}

/* One training step of the FFN: x (T, d) -> fc1 (T, 4d) -> gelu -> fc2 (T, d), backward from dy. */
static double step(variant *v, slt_ctx *c, slt_tensor *x, const float *dy) {
  double t0 = now_ms();
  slt_tensor *y = slt_lin_forward(&v->fc2, c, slt_gelu_tanh(c, slt_lin_forward(&v->fc1, c, x)));
  if (!y || slt_backward_seed(c, y, dy)) return -1;
  double ms = now_ms() - t0;
  slt_ctx_reset(c);
  slt_params_zero_grad(&v->p);
  return ms;
}

static int add(variant *vs, int *n, const char *name, slt_lin_struct kind, int rank, int nb) {
  variant *v = &vs[(*n)++];
  snprintf(v->name, sizeof v->name, "%s", name);
  v->spec = (slt_lin_spec){kind, rank, nb, SLT_LIN_INIT_NORMAL};
  return 0;
}

/* SPEC §2: BlockDense (B, R) for ≈63% / ≈32% by size; other widths scale R with d. */
static void blockdense_setting(int d, bool high, int *B, int *R) {
  *B = d == 1024 || d == 2048 ? 4 : 2;
  *R = d == 768 ? (high ? 512 : 256) : d == 1024 ? (high ? 768 : 384) : high ? 2 * d / 3 : d / 3;
}

static void run(int d, int tokens, int reps) {
  int f = 4 * d, n = 0, B, R;
  variant vs[MAX_VARIANTS] = {0};
  char name[40];
  add(vs, &n, "dense", SLT_LIN_DENSE, 0, 0);
  snprintf(name, sizeof name, "lowrank R=%d", d / 2), add(vs, &n, name, SLT_LIN_LOWRANK, d / 2, 0);
  snprintf(name, sizeof name, "lowrank R=%d", d / 4), add(vs, &n, name, SLT_LIN_LOWRANK, d / 4, 0);
  for (int high = 1; high >= 0; high--) {
    blockdense_setting(d, high, &B, &R);
    snprintf(name, sizeof name, "blockdense B=%d R=%d", B, R);
    add(vs, &n, name, SLT_LIN_BLOCKDENSE, R, B);
  }
  add(vs, &n, "blockshuffle B=2", SLT_LIN_BLOCKSHUFFLE, 0, 2);
  add(vs, &n, "blockshuffle B=4", SLT_LIN_BLOCKSHUFFLE, 0, 4);
  for (int i = 0; i < n; i++)
    if (build(&vs[i], d, f)) {
      fprintf(stderr, "build %s failed\n", vs[i].name);
      exit(1);
    }
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *x = slt_tensor_new(2, (int[]){tokens, d});
  slt_tensor_alloc_grad(x);
  x->requires_grad = true;
  float *dy = malloc(sizeof(float) * tokens * d);
  slt_rng rng;
  slt_rng_seed(&rng, 2);
  slt_rng_fill_normal(&rng, x->data, x->numel, 0.0f, 1.0f);
  slt_rng_fill_normal(&rng, dy, (int64_t)tokens * d, 0.0f, 1.0f);
  for (int i = 0; i < n; i++) step(&vs[i], &c, x, dy); /* warm-up: arena growth, BLAS buffers */
  for (int r = 0; r < reps; r++)
    for (int i = 0; i < n; i++) {
      double ms = step(&vs[i], &c, x, dy);
      if (ms < vs[i].best_ms) vs[i].best_ms = ms;
    }
  for (int i = 0; i < n; i++) {
    printf("| %4d | %-22s | %5.1f%% | %8.1f | %5.2fx |\n", d, vs[i].name,
           100.0 * vs[i].params / vs[0].params, vs[i].best_ms, vs[0].best_ms / vs[i].best_ms);
    slt_params_free(&vs[i].p);
  }
  fflush(stdout);
  free(dy);
  slt_tensor_free(x);
  slt_ctx_free(&c);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 5, tokens = argc > 2 ? atoi(argv[2]) : 4096;
  if (!getenv("OMP_NUM_THREADS")) omp_set_num_threads(2);
  printf("FFN fc1-gelu-fc2 fwd+bwd, %d tokens, %d threads, best of %d (interleaved)\n\n", tokens,
         omp_get_max_threads(), reps);
  printf("| d    | kind                   | params | ms       | speedup |\n");
  printf("|------|------------------------|--------|----------|---------|\n");
  if (argc > 3)
    for (int i = 3; i < argc; i++) run(atoi(argv[i]), tokens, reps);
  else
    for (int i = 0; i < 3; i++) run((int[]){768, 1024, 1536}[i], tokens, reps);
  return 0;
}
