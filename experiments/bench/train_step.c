/* Whole training step (forward, backward, clip, AdamW) of slt vs PyTorch on the same model.
 * usage: bench_train_step [a] [b] [--steps N] [--warmup N] [--rounds N] [--no-torch]
 *   (a) 4 layers, d 256, 4 heads, T 256, micro-batch 8, vocab 8192 (target: 2.0x PyTorch)
 *   (b) 12 layers, d 768, 12 heads, T 1024, micro-batch 4, vocab 32000 (SPEC's "s" size; 1.5x)
 * Each configuration runs in a child process so its peak memory is its own. MFU is model FLOPs
 * (layers/gpt.c: slt_gpt_flops_per_token) over the cblas_sgemm peak measured in this run.
 * --rounds N alternates slt and PyTorch N times and reports the medians, because the machine's
 * speed drifts by tens of percent over minutes. The last line of each configuration says what
 * the target ratio asks of slt against the FMA units' own peak (fma_peak.h). */
#include "autograd/sys.h"
#include "kernels/gemm.h"
#include "autograd/error.h"
#include "layers/model.h"
#include "optim/adamw.h"
#include "optim/clip.h"
#include "train/metrics.h"
#include "fma_peak.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

typedef struct {
  const char *name;
  int layers, d, heads, T, B, V;
  double target; /* slt/PyTorch tokens/s the issue asks for */
} bench_cfg;

static const bench_cfg configs[] = {{"a", 4, 256, 4, 256, 8, 8192, 2.0},
                                    {"b", 12, 768, 12, 1024, 4, 32000, 1.5}};

typedef struct {
  double ms_per_step, tok_per_s, flops_per_token, loss;
  int ok;
} bench_result;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static bench_result run_slt(const bench_cfg *b, int steps, int warmup) {
  bench_result r = {0};
  slt_model_config g = {.vocab_size = b->V,
                      .seq_len = b->T,
                      .layers = b->layers,
                      .d_model = b->d,
                      .heads = b->heads,
                      .kv_heads = b->heads,
                      .ffn_dim = 4 * b->d,
                      .norm = SLT_NORM_LAYERNORM,
                      .norm_eps = 1e-5f,
                      .pos = SLT_POS_ROPE,
                      .rope_base = 10000.0f,
                      .act = SLT_ACT_GELU_TANH,
                      .bias = true,
                      .tie_embeddings = true,
                      .init_std = 0.02f};
  slt_model *m = NULL;
  slt_adamw opt;
  if (!(m = slt_model_build(&g, SLT_MODEL_ALLOC)) || slt_adamw_init(&opt, m->params, 0.9f, 0.999f, 1e-8f)) {
    fprintf(stderr, "bench: %s\n", slt_err_msg());
    return r;
  }
  slt_model_init_weights(m, 1);
  float *wd = malloc(m->params->count * sizeof *wd);
  int32_t *x = malloc(sizeof(int32_t) * b->B * b->T), *y = malloc(sizeof(int32_t) * b->B * b->T);
  slt_rng rng;
  slt_rng_seed(&rng, 2);
  for (int i = 0; i < b->B * b->T; i++) x[i] = (int32_t)slt_rng_below(&rng, b->V);
  for (int i = 0; i < b->B * b->T; i++) y[i] = (int32_t)slt_rng_below(&rng, b->V);
  for (int i = 0; i < m->params->count; i++) wd[i] = 0.1f;
  double *times = malloc(sizeof(double) * (steps + warmup));
  slt_ctx c;
  slt_ctx_init(&c);
  for (int s = 0; s < warmup + steps; s++) {
    double t0 = slt_now();
    slt_params_zero_grad(m->params);
    slt_tensor *loss = slt_model_loss(m, &c, x, y, b->B, b->T);
    if (!loss || slt_backward(&c, loss)) {
      fprintf(stderr, "bench: %s\n", slt_err_msg());
      return r;
    }
    r.loss = loss->data[0];
    slt_ctx_reset(&c);
    slt_clip_grad_norm(m->params, 1.0);
    slt_adamw_step(&opt, m->params, 6e-4f, 1.0f, wd, NULL);
    times[s] = slt_now() - t0;
  }
  qsort(times + warmup, steps, sizeof(double), cmp_double);
  r.ms_per_step = 1000 * times[warmup + steps / 2]; /* median */
  r.tok_per_s = b->B * b->T / (r.ms_per_step / 1000);
  r.flops_per_token = slt_model_flops_per_token(m, b->T);
  r.ok = 1;
  slt_ctx_free(&c);
  slt_adamw_free(&opt);
  slt_model_free(m);
  free(wd);
  free(x);
  free(y);
  free(times);
  return r;
}

/* Run one configuration in a fresh process (this program re-executed with --child), so its
 * peak RSS is its own; fork alone is not enough: libgomp's thread pool does not survive it. */
static bench_result run_slt_isolated(const char *self, const bench_cfg *b, int steps, int warmup,
                                     double *peak_mb) {
  int fd[2];
  bench_result r = {0};
  if (pipe(fd)) return r;
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    close(fd[0]);
    dup2(fd[1], STDOUT_FILENO);
    char s[16], w[16];
    snprintf(s, sizeof s, "%d", steps);
    snprintf(w, sizeof w, "%d", warmup);
    execl(self, self, "--child", b->name, s, w, (char *)NULL);
    _exit(127);
  }
  close(fd[1]);
  if (read(fd[0], &r, sizeof r) != (ssize_t)sizeof r) r.ok = 0;
  close(fd[0]);
  struct rusage ru;
  int status;
  wait4(pid, &status, 0, &ru);
  *peak_mb = ru.ru_maxrss / 1024.0;
  return r;
}

/* --child NAME STEPS WARMUP: run one configuration, write the result struct to stdout. */
static int child_main(char **argv) {
  for (int k = 0; k < 2; k++)
    if (!strcmp(argv[0], configs[k].name)) {
      bench_result r = run_slt(&configs[k], atoi(argv[1]), atoi(argv[2]));
      return write(STDOUT_FILENO, &r, sizeof r) == (ssize_t)sizeof r && r.ok ? 0 : 1;
    }
  return 2;
}

/* The PyTorch baseline's figures, or ok = 0 when PyTorch is not installed. */
static bench_result run_torch(const bench_cfg *b, int threads, int steps, int warmup,
                              double *peak_mb, char *version, size_t vlen) {
  bench_result r = {0};
  char cmd[1024], line[512] = "";
  snprintf(cmd, sizeof cmd,
           "/usr/bin/python3 %s/experiments/bench/torch_baseline.py %s %d %d %d 2>&1",
           SLT_SOURCE_DIR, b->name, threads, steps, warmup);
  FILE *p = popen(cmd, "r");
  if (!p) return r;
  while (fgets(line, sizeof line, p))
    if (sscanf(line, "torch ms_per_step=%lf tok_per_s=%lf peak_mb=%lf loss=%lf version=%31s",
               &r.ms_per_step, &r.tok_per_s, peak_mb, &r.loss, version) == 5)
      r.ok = 1;
  pclose(p);
  if (!r.ok) fprintf(stderr, "bench: PyTorch baseline unavailable (%s)", line);
  (void)vlen;
  return r;
}

static double median(double *v, int n) {
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* What the target ratio asks of slt: the step time, and the FLOP rate it implies over the whole
 * step, against both peaks. */
static void print_target(const bench_cfg *b, double torch_ms, double flops_per_token,
                         double sgemm_peak, double fma_peak) {
  double need_ms = torch_ms / b->target;
  double need_gflops = flops_per_token * b->B * b->T / (need_ms / 1000) / 1e9;
  printf("%-3s %.1fx needs slt at %.1f ms/step = %.1f GFLOP/s sustained = %.0f%% of the sgemm "
         "peak, %.0f%% of the FMA peak\n",
         b->name, b->target, need_ms, need_gflops, 100 * need_gflops / sgemm_peak,
         100 * need_gflops / fma_peak);
}

/* Runs configuration b `rounds` times, alternating slt and PyTorch, and prints the medians. */
static int bench_config(const bench_cfg *b, int steps, int warmup, int rounds, int use_torch,
                        double peak, double fma_peak) {
  double slt_ms[64], torch_ms[64], slt_mb = 0, torch_mb = 0, mb, fpt = 0, slt_loss = 0,
                                   torch_loss = 0;
  int torch_rounds = 0;
  char version[32] = "?";
  for (int r = 0; r < rounds; r++) {
    bench_result s = run_slt_isolated("/proc/self/exe", b, steps, warmup, &mb);
    if (!s.ok) return 1;
    slt_ms[r] = s.ms_per_step, fpt = s.flops_per_token, slt_loss = s.loss;
    slt_mb = mb > slt_mb ? mb : slt_mb;
    if (!use_torch) continue;
    bench_result t =
        run_torch(b, omp_get_max_threads(), steps, warmup, &mb, version, sizeof version);
    if (!t.ok) continue;
    torch_ms[torch_rounds++] = t.ms_per_step, torch_loss = t.loss;
    torch_mb = mb > torch_mb ? mb : torch_mb;
    if (rounds > 1)
      printf("%-3s round %d: slt %.2f ms, pytorch %.2f ms, ratio %.2fx\n", b->name, r + 1,
             s.ms_per_step, t.ms_per_step, t.ms_per_step / s.ms_per_step);
  }
  int tokens = b->B * b->T;
  double sm = median(slt_ms, rounds);
  printf("%-3s %-8s %10.2f %10.1f %7.1f%% %10.0f %8.4f\n", b->name, "slt", sm, tokens / (sm / 1000),
         100 * tokens / (sm / 1000) * fpt / (peak * 1e9), slt_mb, slt_loss);
  if (!torch_rounds) return 0;
  double tm = median(torch_ms, torch_rounds);
  printf("%-3s %-8s %10.2f %10.1f %7.1f%% %10.0f %8.4f   (torch %s)\n", b->name, "pytorch", tm,
         tokens / (tm / 1000), 100 * tokens / (tm / 1000) * fpt / (peak * 1e9), torch_mb,
         torch_loss, version);
  printf("%-3s ratio slt/PyTorch tokens/s: %.2fx (target %.1fx)\n", b->name, tm / sm, b->target);
  print_target(b, tm, fpt, peak, fma_peak);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 5 && !strcmp(argv[1], "--child")) return child_main(argv + 2);
  int steps = 10, warmup = 2, rounds = 1, use_torch = 1, want[2] = {0, 0}, any = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--steps") && i + 1 < argc)
      steps = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
      warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
      rounds = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-torch"))
      use_torch = 0;
    else if (!strcmp(argv[i], "a"))
      want[0] = any = 1;
    else if (!strcmp(argv[i], "b"))
      want[1] = any = 1;
    else {
      fprintf(stderr, "usage: bench_train_step [a] [b] [--steps N] [--warmup N] [--rounds N] "
                      "[--no-torch]\n");
      return 2;
    }
  }
  if (steps < 1 || warmup < 0 || rounds < 1 || rounds > 64) {
    fprintf(stderr, "bench_train_step: need --steps >= 1, --warmup >= 0, 1 <= --rounds <= 64\n");
    return 2;
  }
  int threads = omp_get_max_threads();
  double peak = slt_gemm_peak_gflops(), fma_peak = bench_fma_peak_gflops();
  printf("threads %d; cblas_sgemm peak (1536^3) %.1f GFLOP/s; FMA peak %.1f GFLOP/s; median of "
         "%d steps after %d warmup, %d round(s)\n\n",
         threads, peak, fma_peak, steps, warmup, rounds);
  printf("%-3s %-8s %10s %10s %8s %10s %8s\n", "cfg", "impl", "ms/step", "tok/s", "MFU", "peak MB",
         "loss");
  for (int k = 0; k < 2; k++)
    if ((!any || want[k]) &&
        bench_config(&configs[k], steps, warmup, rounds, use_torch, peak, fma_peak))
      return 1;
  return 0;
}
