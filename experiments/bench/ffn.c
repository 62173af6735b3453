/* Structured FFNs vs dense, two tables (bench_ffn --help):
 * 1. FFN (fc1, gelu, fc2) forward + backward: dense vs the structured linears of SPEC §2 at the
 *    paper's ≈63% / ≈32% settings, d ∈ {768, 1024, 1536}, ffn = 4d, 4096 tokens. Variants run
 *    interleaved and each keeps its best of N, so load from other jobs hits all alike.
 * 2. Whole train step (forward, backward, clip, AdamW) of the "s" model (configs/models/s.yaml)
 *    with each FFN kind at the settings of configs/ffn/ (layer 0 dense): tokens/s and the ratio
 *    to dense, so what a structured FFN saves is seen against everything else a step does. */
#include "autograd/sys.h"
#include "autograd/error.h"
#include "autograd/ops.h"
#include "bench_models.h"
#include "layers/structured.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "train/metrics.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_VARIANTS 8

typedef struct {
  char name[40];
  slt_lin_spec spec;
  slt_params p;
  slt_lin fc1, fc2;
  double best_ms;
  int64_t params;
} variant;

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
  double t0 = 1e3 * slt_now();
  slt_tensor *y = slt_lin_forward(&v->fc2, c, slt_gelu_tanh(c, slt_lin_forward(&v->fc1, c, x)));
  if (!y || slt_backward_seed(c, y, dy)) return -1;
  double ms = 1e3 * slt_now() - t0;
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

/* ---- table 2: whole train step of the s model ---- */

typedef struct {
  const char *name; /* as configs/ffn/<name>.yaml */
  slt_lin_struct kind;
  int rank, nblocks;
} step_variant;

static const step_variant step_variants[] = {
    {"dense", SLT_LIN_DENSE, 0, 0},
    {"lowrank_63", SLT_LIN_LOWRANK, 384, 0},
    {"lowrank_32", SLT_LIN_LOWRANK, 192, 0},
    {"blockdense_63", SLT_LIN_BLOCKDENSE, 512, 2},
    {"blockdense_32", SLT_LIN_BLOCKDENSE, 256, 2},
    {"blockshuffle_63", SLT_LIN_BLOCKSHUFFLE, 0, 2},
    {"blockshuffle_32", SLT_LIN_BLOCKSHUFFLE, 0, 4},
};

/* configs/models/s.yaml with the variant's FFN; normal init (svd/ortho cost time, not speed). */
static slt_model_config s_model(const step_variant *v) {
  slt_model_config g = bench_s_model();
  g.ffn = (slt_ffn_config){.kind = v->kind, .rank = v->rank, .nblocks = v->nblocks,
                               .init = SLT_LIN_INIT_NORMAL, .first_layer_dense = true};
  return g;
}

/* One optimizer step as slt_trainer_step does it (one micro-batch): forward, backward, global
 * norm clip at 1.0, AdamW with weight decay 0.1 on every parameter. Milliseconds, or -1. */
static double train_step(slt_model *m, slt_adamw *opt, slt_ctx *c, const int32_t *x, const int32_t *y,
                         int B, const float *wd) {
  double t0 = 1e3 * slt_now();
  slt_params_zero_grad(m->params);
  slt_tensor *loss = slt_model_loss(m, c, x, y, B, m->cfg->seq_len);
  if (!loss || slt_backward(c, loss)) return -1;
  slt_ctx_reset(c);
  slt_clip_grad_norm(m->params, 1.0);
  slt_adamw_step(opt, m->params, 6e-4f, 1.0f, wd, NULL);
  return 1e3 * slt_now() - t0;
}

/* Mean ms of `steps` train steps after one warm-up; -1 on error (printed). */
static double time_variant(const step_variant *v, int B, int steps, int64_t *ffn_params,
                           int64_t *dense_ffn) {
  slt_model_config g = s_model(v);
  slt_model *m = NULL;
  slt_adamw opt;
  if (!(m = slt_model_build(&g, SLT_MODEL_ALLOC)) || slt_adamw_init(&opt, m->params, 0.9f, 0.999f, 1e-8f)) {
    fprintf(stderr, "bench_ffn: %s: %s\n", v->name, slt_err_msg());
    return -1;
  }
  slt_model_init_weights(m, 1);
  *ffn_params = slt_model_count(m).ffn;
  *dense_ffn = slt_model_count(m).ffn_dense;
  int T = g.seq_len;
  float *wd = malloc(m->params->count * sizeof *wd);
  int32_t *x = malloc(sizeof(int32_t) * B * T), *y = malloc(sizeof(int32_t) * B * T);
  slt_rng rng;
  slt_rng_seed(&rng, 2);
  for (int i = 0; i < B * T; i++) x[i] = (int32_t)slt_rng_below(&rng, g.vocab_size);
  for (int i = 0; i < B * T; i++) y[i] = (int32_t)slt_rng_below(&rng, g.vocab_size);
  for (int i = 0; i < m->params->count; i++) wd[i] = 0.1f;
  slt_ctx c;
  slt_ctx_init(&c);
  double total = 0;
  for (int s = 0; s <= steps && total >= 0; s++) { /* step 0 warms up: arena, BLAS buffers */
    double ms = train_step(m, &opt, &c, x, y, B, wd);
    if (ms < 0)
      total = -1;
    else if (s > 0)
      total += ms;
  }
  if (total < 0) fprintf(stderr, "bench_ffn: %s: %s\n", v->name, slt_err_msg());
  slt_ctx_free(&c);
  slt_adamw_free(&opt);
  slt_model_free(m);
  free(wd);
  free(x);
  free(y);
  return total < 0 ? -1 : total / steps;
}

static int run_step_table(int B, int steps) {
  int n = (int)(sizeof step_variants / sizeof *step_variants), T = 1024;
  printf("\nWhole train step (fwd+bwd+clip+AdamW), s model (12 layers, d 768, T %d, vocab 32000),"
         " micro-batch %d, %d threads, mean of %d steps after 1 warm-up\n\n",
         T, B, omp_get_max_threads(), steps);
  printf("| ffn             | FFN params | ms/step  | tokens/s | vs dense |\n");
  printf("|-----------------|------------|----------|----------|----------|\n");
  double dense_tps = 0;
  for (int i = 0; i < n; i++) {
    int64_t ffn = 0, dense = 1;
    double ms = time_variant(&step_variants[i], B, steps, &ffn, &dense);
    if (ms < 0) return 1;
    double tps = B * T / (ms / 1e3);
    if (i == 0) dense_tps = tps;
    printf("| %-15s | %9.1f%% | %8.0f | %8.0f | %7.2fx |\n", step_variants[i].name,
           100.0 * ffn / dense, ms, tps, tps / dense_tps);
    fflush(stdout);
  }
  return 0;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: bench_ffn [--ffn-only | --step-only] [--batch B] [--steps N] [reps [tokens [d "
          "...]]]\n\n"
          "Two tables, structured FFNs against dense (OMP_NUM_THREADS sets threads, default 2):\n"
          "  1. FFN fc1-gelu-fc2 forward+backward at d 768, 1024, 1536 (or the d given), best of\n"
          "     reps (default 5) on tokens (default 4096) tokens\n"
          "  2. whole train step of the s model (configs/models/s.yaml) with each configs/ffn\n"
          "     setting: tokens/s and the ratio to dense; a few minutes on 2 threads\n\n"
          "options:\n"
          "  --ffn-only    only table 1\n"
          "  --step-only   only table 2\n"
          "  --batch B     table 2's micro-batch of 1024-token rows (default 1)\n"
          "  --steps N     table 2's timed steps per variant, after 1 warm-up (default 2)\n");
}

/* A positive integer option value, or 0 (said). */
static int positive(const char *opt, const char *v) {
  char *end;
  long n = v ? strtol(v, &end, 10) : 0;
  if (!v || *end || n < 1 || n > 1 << 20) {
    fprintf(stderr, "bench_ffn: %s needs a positive integer (see --help)\n", opt);
    return 0;
  }
  return (int)n;
}

int main(int argc, char **argv) {
  int ffn_table = 1, step_table = 1, B = 1, steps = 2, npos = 0;
  char *pos[64];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout);
      return 0;
    } else if (!strcmp(a, "--ffn-only")) {
      step_table = 0;
    } else if (!strcmp(a, "--step-only")) {
      ffn_table = 0;
    } else if (!strcmp(a, "--batch") || !strcmp(a, "--steps")) {
      int v = positive(a, i + 1 < argc ? argv[++i] : NULL);
      if (!v) return 2;
      *(!strcmp(a, "--batch") ? &B : &steps) = v;
    } else if (a[0] == '-' || npos == 64) {
      fprintf(stderr, "bench_ffn: unknown option '%s' (see --help)\n", a);
      return 2;
    } else {
      pos[npos++] = argv[i];
    }
  }
  if (!ffn_table && !step_table) {
    fprintf(stderr, "bench_ffn: --ffn-only and --step-only together leave nothing to run\n");
    return 2;
  }
  if (!getenv("OMP_NUM_THREADS")) omp_set_num_threads(2);
  if (ffn_table) {
    int reps = npos > 0 ? atoi(pos[0]) : 5, tokens = npos > 1 ? atoi(pos[1]) : 4096;
    printf("FFN fc1-gelu-fc2 fwd+bwd, %d tokens, %d threads, best of %d (interleaved)\n\n", tokens,
           omp_get_max_threads(), reps);
    printf("| d    | kind                   | params | ms       | speedup |\n");
    printf("|------|------------------------|--------|----------|---------|\n");
    if (npos > 2)
      for (int i = 2; i < npos; i++) run(atoi(pos[i]), tokens, reps);
    else
      for (int i = 0; i < 3; i++) run((int[]){768, 1024, 1536}[i], tokens, reps);
  }
  return step_table ? run_step_table(B, steps) : 0;
}
