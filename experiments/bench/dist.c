/* Data-parallel scaling on this machine: tokens/s of 1 rank x 1 thread vs 2 ranks x 1 thread
 * (mpirun) on bench_train_step's config (a): 4 layers, d 256, 4 heads, T 256, micro-batch 8 per
 * rank, vocab 8192; whole steps (forward, backward, bucketed gradient all-reduce, clip, AdamW).
 * Prints tokens/s, the ratio, and the fraction of step time spent inside communication calls,
 * with the all-reduce overlapping backward and without.
 * usage: bench_dist [--steps N] [--warmup N] [--bucket-mb MB]
 *        (internally: bench_dist --worker STEPS WARMUP BUCKET_MB OVERLAP, one per rank) */
#include "autograd/sys.h"
#include "autograd/error.h"
#include "autograd/ops.h"
#include "autograd/parallel.h"
#include "layers/model.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "train/dist.h"
#include "train/metrics.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return v[n / 2];
}

/* One rank's training steps; rank 0 prints "tok_per_s=... comm_frac=... ms_per_step=...". */
static int worker(int steps, int warmup, double bucket_mb, int overlap) {
  if (slt_dist_init()) {
    fprintf(stderr, "bench_dist: %s\n", slt_err_msg());
    return 1;
  }
  slt_threads_set(1);
  const int B = 8, T = 256, V = 8192;
  slt_model_config g = {.vocab_size = V, .seq_len = T, .layers = 4, .d_model = 256, .heads = 4,
                      .kv_heads = 4, .ffn_dim = 1024, .norm = SLT_NORM_LAYERNORM,
                      .norm_eps = 1e-5f, .pos = SLT_POS_ROPE, .rope_base = 1e4f,
                      .act = SLT_ACT_GELU_TANH, .bias = true, .tie_embeddings = true,
                      .init_std = 0.02f};
  slt_model *m = NULL;
  slt_adamw opt;
  if (!(m = slt_model_build(&g, SLT_MODEL_ALLOC)) || slt_adamw_init(&opt, m->params, 0.9f, 0.999f, 1e-8f)) {
    fprintf(stderr, "bench_dist: %s\n", slt_err_msg());
    slt_dist_abort_job(1);
    exit(1);
  }
  slt_model_init_weights(m, 1);
  int world = slt_dist_world(), rank = slt_dist_rank();
  float *wd = malloc(m->params->count * sizeof *wd);
  int32_t *x = malloc(sizeof(int32_t) * B * T), *y = malloc(sizeof(int32_t) * B * T);
  double *step_s = malloc(sizeof(double) * steps), *comm_s = malloc(sizeof(double) * steps);
  for (int i = 0; i < m->params->count; i++) wd[i] = 0.1f;
  slt_rng rng;
  slt_rng_seed(&rng, 2 + (uint64_t)rank); /* each rank its own rows */
  for (int i = 0; i < B * T; i++) x[i] = (int32_t)slt_rng_below(&rng, V);
  for (int i = 0; i < B * T; i++) y[i] = (int32_t)slt_rng_below(&rng, V);
  slt_dist_reducer *r = slt_dist_reducer_new((int64_t)(bucket_mb * 1e6 / sizeof(float)), overlap);
  slt_dist_reducer_add(r, m->params->grad, m->params->numel);
  slt_ctx c;
  slt_ctx_init(&c);
  for (int s = 0; s < warmup + steps; s++) {
    double t0 = slt_now(), c0 = slt_dist_reducer_seconds(r);
    slt_params_zero_grad(m->params);
    slt_tensor *loss = slt_model_loss(m, &c, x, y, B, T);
    slt_tensor *scaled = slt_scale(&c, loss, 1.0f / (float)world);
    if (!loss || slt_dist_reducer_begin(r, &c) || slt_backward(&c, scaled) ||
        slt_dist_reducer_end(r, &c)) {
      fprintf(stderr, "bench_dist: rank %d: %s\n", rank, slt_err_msg());
      slt_dist_abort_job(1);
      exit(1);
    }
    slt_ctx_reset(&c);
    slt_clip_grad_norm(m->params, 1.0);
    slt_adamw_step(&opt, m->params, 6e-4f, 1.0f, wd, NULL);
    if (s >= warmup) {
      step_s[s - warmup] = slt_now() - t0;
      comm_s[s - warmup] = slt_dist_reducer_seconds(r) - c0;
    }
  }
  /* The all-reduce alone, ranks in step (a sum of one double lines them up first): the pure
   * transfer cost, without waiting for a slower rank, to check the cost model against. */
  slt_dist_reducer *alone = slt_dist_reducer_new((int64_t)(bucket_mb * 1e6 / sizeof(float)), 0);
  slt_dist_reducer_add(alone, m->params->grad, m->params->numel);
  double pure[5], sync = 0;
  for (int k = 0; k < 5; k++) {
    slt_dist_sum(&sync, 1);
    double t0 = slt_now();
    if (slt_dist_reducer_begin(alone, &c) || slt_dist_reducer_end(alone, &c)) {
      slt_dist_abort_job(1);
      exit(1);
    }
    pure[k] = slt_now() - t0;
  }
  slt_dist_reducer_free(alone);
  double comm = 0, total = 0;
  for (int s = 0; s < steps; s++) comm += comm_s[s], total += step_s[s];
  double ms = 1000 * median(step_s, steps);
  if (rank == 0)
    printf("tok_per_s=%.1f comm_frac=%.4f ms_per_step=%.2f comm_ms=%.2f grad_mb=%.2f buckets=%lld "
           "allreduce_ms=%.3f\n",
           (double)world * B * T / (ms / 1000), comm / total, ms, 1000 * comm / steps,
           m->params->numel * 4 / 1e6, (long long)slt_dist_reducer_buckets(r),
           1000 * median(pure, 5));
  fflush(stdout);
  slt_ctx_free(&c);
  slt_dist_reducer_free(r);
  slt_adamw_free(&opt);
  slt_model_free(m);
  free(wd), free(x), free(y), free(step_s), free(comm_s);
  slt_dist_finalize();
  return 0;
}

typedef struct {
  double tok_per_s, comm_frac, ms, comm_ms, grad_mb, allreduce_ms;
  long long buckets;
  int ok;
} result;

/* Run a worker command line (a fresh process: no OpenMP pool crosses a fork) and parse rank 0. */
static result run(const char *cmd) {
  result r = {0};
  char line[512];
  FILE *p = popen(cmd, "r");
  if (!p) return r;
  while (fgets(line, sizeof line, p))
    if (sscanf(line,
               "tok_per_s=%lf comm_frac=%lf ms_per_step=%lf comm_ms=%lf grad_mb=%lf buckets=%lld "
               "allreduce_ms=%lf",
               &r.tok_per_s, &r.comm_frac, &r.ms, &r.comm_ms, &r.grad_mb, &r.buckets,
               &r.allreduce_ms) == 7)
      r.ok = 1;
  if (pclose(p) != 0) r.ok = 0;
  if (!r.ok) fprintf(stderr, "bench_dist: '%s' failed\n", cmd);
  return r;
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "--worker"))
    return worker(atoi(argv[2]), atoi(argv[3]), atof(argv[4]), atoi(argv[5]));
  int steps = 8, warmup = 2;
  double bucket_mb = 4;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc) steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc) warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--bucket-mb") && i + 1 < argc) bucket_mb = atof(argv[++i]);
    else {
      fprintf(stderr, "usage: bench_dist [--steps N] [--warmup N] [--bucket-mb MB]\n");
      return 2;
    }
  }
  if (steps < 1 || warmup < 0 || bucket_mb <= 0) return 2;
  char self[1024], cmd[3][2048];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return 1;
  self[n] = '\0';
  const char *root = geteuid() == 0 ? "--allow-run-as-root" : "";
  /* One thread per rank, each rank bound to its own core (Open MPI's default for 2 ranks). */
  snprintf(cmd[0], sizeof cmd[0], "OMP_NUM_THREADS=1 %s --worker %d %d %g 1", self, steps, warmup,
           bucket_mb);
  for (int k = 1; k <= 2; k++)
    snprintf(cmd[k], sizeof cmd[k],
             "OMP_NUM_THREADS=1 mpirun %s -np 2 --bind-to core -x OMP_NUM_THREADS %s --worker %d "
             "%d %g %d",
             root, self, steps, warmup, bucket_mb, k == 1);
  printf("config (a): 4 layers, d 256, 4 heads, T 256, micro-batch 8 per rank, vocab 8192; "
         "1 thread per rank;\nmedian of %d steps after %d warmup; buckets of %g MB\n\n",
         steps, warmup, bucket_mb);
  result one = run(cmd[0]), on = run(cmd[1]), off = run(cmd[2]);
  if (!one.ok || !on.ok || !off.ok) return 1;
  printf("%-28s %10s %10s %10s %10s\n", "run", "ms/step", "tok/s", "comm ms", "comm frac");
  printf("%-28s %10.1f %10.1f %10s %10s\n", "1 rank x 1 thread", one.ms, one.tok_per_s, "-", "-");
  printf("%-28s %10.1f %10.1f %10.2f %9.2f%%\n", "2 ranks x 1 thread, overlap", on.ms,
         on.tok_per_s, on.comm_ms, 100 * on.comm_frac);
  printf("%-28s %10.1f %10.1f %10.2f %9.2f%%\n", "2 ranks x 1 thread, blocking", off.ms,
         off.tok_per_s, off.comm_ms, 100 * off.comm_frac);
  printf("\nspeed-up 2 ranks / 1 rank: %.2fx with overlap, %.2fx blocking (target >= 1.8x)\n",
         on.tok_per_s / one.tok_per_s, off.tok_per_s / one.tok_per_s);
  /* Ring all-reduce: each rank sends and receives 2(N-1)/N of the gradient bytes. */
  double bytes = 2.0 * (2 - 1) / 2 * off.grad_mb * 1e6;
  printf("gradients %.1f MB in %lld buckets; all-reduce moves %.1f MB per rank per step;\n"
         "the all-reduce alone (ranks in step) takes %.2f ms: %.2f GB/s per rank\n",
         off.grad_mb, off.buckets, bytes / 1e6, off.allreduce_ms,
         off.allreduce_ms > 0 ? bytes / (off.allreduce_ms / 1e3) / 1e9 : 0);
  return 0;
}
