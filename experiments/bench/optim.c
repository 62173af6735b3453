/* Optimizer step time on the s-size model's parameters (SPEC §1: 12 layers, d 768, 12 heads,
 * ffn 3072, vocab 32000, T 1024, tied, layernorm, biases; random gradients), next to the memory
 * bandwidth measured in the same run over buffers far bigger than the last-level cache.
 * A step is bandwidth-bound: AdamW must read p, g, m, v and write p, m, v (7 floats per
 * parameter), so its achieved bandwidth is 28 B × params / step time.
 * Usage: bench_optim [repeats]   (threads: OMP_NUM_THREADS; the targets assume 2) */
#include "autograd/sys.h"
#include "autograd/error.h"
#include "autograd/rng.h"
#include "bench_models.h"
#include "optim/optimizer.h"
#include "train/metrics.h"

#include <math.h>
#include <stdbool.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of x[0..n) (x is left as it is; n <= MAX_REPS). */
#define MAX_REPS 64
static double median(const double *x, int n) {
  double y[MAX_REPS];
  memcpy(y, x, n * sizeof *y);
  qsort(y, n, sizeof *y, cmp_double);
  return n % 2 ? y[n / 2] : 0.5 * (y[n / 2 - 1] + y[n / 2]);
}

static void *need(void *p) {
  if (!p) {
    fprintf(stderr, "bench_optim: %s\n", slt_err_msg()[0] ? slt_err_msg() : "out of memory");
    exit(1);
  }
  return p;
}

/* ---- memory bandwidth: STREAM's byte counts (copy 8 B, triad 12 B, update 12 B per element) ----
 */

/* "adamw-like" moves AdamW's 7 streams (4 read, 3 written back) with no arithmetic to speak of:
 * one core's bandwidth grows with the number of streams it has in flight. */
enum { BW_COPY, BW_TRIAD, BW_UPDATE, BW_ADAMW_LIKE, BW_KINDS };
static const char *const bw_names[] = {"copy   a = b", "triad  a = b + s*c", "update a = a*s + b",
                                       "adamw-like a,c,d += b"};
static const double bw_bytes[] = {8, 12, 12, 28};

typedef struct bw_bufs {
  float *a, *b, *c, *d;
  int64_t n;
} bw_bufs;

/* Seconds for one pass of kernel `kind`. */
static double bw_pass(int kind, bw_bufs *w) {
  float *restrict a = w->a, *restrict c = w->c, *restrict d = w->d;
  const float *restrict b = w->b;
  int64_t n = w->n;
  double t0 = slt_now();
#pragma omp parallel
  {
    if (kind == BW_COPY)
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; i++) a[i] = b[i];
    if (kind == BW_TRIAD)
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; i++) a[i] = b[i] + 0.5f * c[i];
    if (kind == BW_UPDATE)
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; i++) a[i] = a[i] * 0.999f + b[i];
    if (kind == BW_ADAMW_LIKE)
#pragma omp for schedule(static)
      for (int64_t i = 0; i < n; i++) a[i] += b[i], c[i] += b[i], d[i] += b[i];
  }
  return slt_now() - t0;
}

static void bw_alloc(bw_bufs *w) {
  w->n = (int64_t)64 << 20; /* 256 MB per buffer: 8× a 32 MB L3 */
  w->a = need(aligned_alloc(64, w->n * 4)), w->b = need(aligned_alloc(64, w->n * 4));
  w->c = need(aligned_alloc(64, w->n * 4)), w->d = need(aligned_alloc(64, w->n * 4));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < w->n; i++) w->a[i] = 1.0f, w->b[i] = 2.0f, w->c[i] = 3.0f, w->d[i] = 0;
}

/* ---- the model's parameter set ---- */

static void build_model(slt_model **m) {
  slt_model_config g = bench_s_model();
  if (!(*m = slt_model_build(&g, SLT_MODEL_ALLOC))) need(NULL);
  slt_model_init_weights(*m, 1);
  slt_rng r;
  slt_rng_seed(&r, 2);
  slt_rng_fill_normal(&r, (*m)->params->grad, (*m)->params->numel, 0.0f, 1e-3f);
}

/* Make every matrix's gradient orthogonal to each of its rows (as for a weight followed by a
 * normalisation), so AdamP takes its projected channel-view path on every matrix. */
static void orthogonal_grads(slt_params *p) {
  for (int i = 0; i < p->count; i++) {
    slt_param *q = p->items[i];
    if (q->t.ndim < 2) continue;
    int64_t rows = q->t.shape[0], cols = q->t.numel / rows;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      float *x = q->t.data + r * cols, *g = q->t.grad + r * cols;
      double gp = 0, pp = 0;
      for (int64_t j = 0; j < cols; j++) gp += (double)g[j] * x[j], pp += (double)x[j] * x[j];
      for (int64_t j = 0; j < cols; j++) g[j] -= (float)(gp / pp) * x[j];
    }
  }
}

/* ---- contenders, interleaved in every repeat so a changing machine load hits them alike ---- */

typedef struct run {
  const char *label;
  slt_optim_kind kind;
  int floats;   /* floats the update must move per element */
  bool channel; /* gradients orthogonal to every row: the projected path */
  slt_optim *o;
  double t[MAX_REPS];
  int64_t views[3];
  int64_t redone;  /* elements of the parameters whose view fired (their second pass) */
  char fired[160]; /* their names */
} run;

static double step_time(run *r, slt_params *p, const float *wd) {
  double t0 = slt_now();
  slt_optim_step(r->o, p, 1e-6f, 1.0f, wd, NULL); /* a tiny lr: the projection decisions stay */
  return slt_now() - t0;
}

/* Median over repeats of a[r] / b[r]. */
static double paired(const double *a, const double *b, int n) {
  double q[MAX_REPS];
  for (int r = 0; r < n; r++) q[r] = a[r] / b[r];
  return median(q, n);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 15;
  if (reps < 1 || reps > MAX_REPS) reps = 15;
  int threads = omp_get_max_threads();
  bw_bufs w;
  bw_alloc(&w);
  slt_model *m = NULL;
  build_model(&m);
  int64_t n = 0;
  for (int i = 0; i < m->params->count; i++) n += m->params->items[i]->t.numel;
  float *wd = need(malloc(m->params->count * sizeof *wd));
  for (int i = 0; i < m->params->count; i++) wd[i] = 0.1f;
  run runs[] = {
      {.label = "AdamW", .kind = SLT_OPT_ADAMW, .floats = 7},
      {.label = "AdamP", .kind = SLT_OPT_ADAMP, .floats = 7},
      {.label = "SGDP", .kind = SLT_OPT_SGDP, .floats = 5},
      {.label = "SGD (momentum)", .kind = SLT_OPT_SGD, .floats = 5},
      {.label = "AdamW", .kind = SLT_OPT_ADAMW, .floats = 7, .channel = true},
      {.label = "AdamP, all channel", .kind = SLT_OPT_ADAMP, .floats = 7, .channel = true}};
  enum { NRUNS = sizeof runs / sizeof *runs };
  slt_optim_hparams h = slt_optim_defaults();
  double bw_t[BW_KINDS][MAX_REPS], bw_best[MAX_REPS];
  for (int phase = 0; phase < 2; phase++) { /* random gradients, then row-orthogonal ones */
    if (phase) orthogonal_grads(m->params);
    for (int k = 0; k < NRUNS; k++)
      if (runs[k].channel == phase) runs[k].o = need(slt_optim_new(runs[k].kind, m->params, &h));
    for (int r = -2; r < reps; r++) { /* two warm-up repeats */
      for (int b = 0; b < BW_KINDS && !phase; b++) {
        double s = bw_pass(b, &w);
        if (r >= 0) bw_t[b][r] = s;
      }
      for (int k = 0; k < NRUNS; k++) {
        if (runs[k].channel != phase) continue;
        double s = step_time(&runs[k], m->params, wd);
        if (r >= 0) runs[k].t[r] = s;
      }
    }
    for (int k = 0; k < NRUNS; k++) {
      if (runs[k].channel != phase) continue;
      const uint8_t *v = slt_optim_views(runs[k].o);
      for (int i = 0; v && i < m->params->count; i++) {
        runs[k].views[v[i]]++;
        if (!v[i] || runs[k].channel) continue;
        runs[k].redone += m->params->items[i]->t.numel;
        size_t len = strlen(runs[k].fired);
        snprintf(runs[k].fired + len, sizeof runs[k].fired - len, " %s", m->params->items[i]->name);
      }
      slt_optim_free(runs[k].o);
    }
  }
  free(w.a), free(w.b), free(w.c), free(w.d);

  printf("memory bandwidth, %d threads, 256 MB buffers (median of %d):\n", threads, reps);
  double bw_gbs[BW_KINDS][MAX_REPS];
  for (int r = 0; r < reps; r++) bw_best[r] = 0;
  for (int b = 0; b < BW_KINDS; b++) {
    for (int r = 0; r < reps; r++) {
      bw_gbs[b][r] = bw_bytes[b] * (double)w.n / bw_t[b][r] / 1e9;
      bw_best[r] = fmax(bw_best[r], bw_gbs[b][r]);
    }
    printf("  %-22s %6.1f GB/s\n", bw_names[b], median(bw_gbs[b], reps));
  }
  double bw = median(bw_best, reps);
  printf("  reference: the best kernel of each repeat, median %.1f GB/s\n\n", bw);
  printf("s model: %d parameters, %.2fM elements; median of %d interleaved repeats\n\n",
         m->params->count, n / 1e6, reps);
  printf("%-20s %8s %12s %8s %8s %8s  %s\n", "optimizer", "ms/step", "ms/M params", "GB/s*",
         "% bw**", "/AdamW", "last step's views none/channel/layer");
  for (int k = 0; k < NRUNS; k++) {
    run *r = &runs[k];
    double bytes = r->floats * 4.0 * (double)n, gbs[MAX_REPS];
    for (int i = 0; i < reps; i++) gbs[i] = bytes / r->t[i] / 1e9 / bw_best[i];
    double adamw_ratio = paired(r->t, runs[r->channel ? 4 : 0].t, reps);
    double ms = 1e3 * median(r->t, reps);
    printf("%-20s %8.1f %12.3f %8.1f %7.0f%% %8.2f", r->label, ms, ms / (n / 1e6),
           bytes / (ms * 1e-3) / 1e9, 100 * median(gbs, reps), adamw_ratio);
    if (r->kind == SLT_OPT_ADAMP || r->kind == SLT_OPT_SGDP)
      printf("  %lld/%lld/%lld", (long long)r->views[0], (long long)r->views[1],
             (long long)r->views[2]);
    printf("%s\n", r->channel ? "  (row-orthogonal grads)" : "");
  }
  for (int k = 0; k < NRUNS; k++)
    if (runs[k].redone)
      printf("%s: the layer view fired by chance on%s: a second pass over %.1f%% of the "
             "elements\n",
             runs[k].label, runs[k].fired, 100.0 * runs[k].redone / n);
  printf("*  bytes the update must move: AdamW, AdamP 7 floats per element (read p g m v, write "
         "p m v); SGD, SGDP 5\n** paired: that repeat's GB/s over that repeat's reference\n\n");
  double pct[MAX_REPS];
  for (int i = 0; i < reps; i++) pct[i] = 100 * 28.0 * n / runs[0].t[i] / 1e9 / bw_best[i];
  double adamw_pct = median(pct, reps), ratio = paired(runs[1].t, runs[0].t, reps);
  printf("AdamW at %.0f%% of measured bandwidth (target >= 60%%): %s\n", adamw_pct,
         adamw_pct >= 60 ? "ok" : "BELOW");
  printf("AdamP / AdamW = %.2f (target <= 1.5): %s\n", ratio, ratio <= 1.5 ? "ok" : "ABOVE");
  free(wd);
  slt_model_free(m);
  return 0;
}
