/* Per-shape fp32 GEMM speed of OpenBLAS against oneDNN on the products a real step makes.
 * usage: SLT_GEMM_PROFILE=1 bench_train_step a --no-torch 2> prof.txt
 *        bench_gemm_shapes [--rounds N] [--steps S] < prof.txt
 * reads the profile's "gemm ta tb M N K calls ..." rows (S: steps the profile covers, to print
 * per-step figures), times each shape on both backends in interleaved rounds and prints medians.
 * Small products (under 2^22 multiply-adds) are timed as attention makes them: every thread
 * runs its own product at once inside one parallel region; large ones use all threads. */
#include "autograd/sys.h"
#include "kernels/cpu.h"
#include "kernels/gemm.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHAPES 128
#define MAX_ROUNDS 15

typedef struct {
  int ta, tb, M, N, K;
  long calls;
  double t[2][MAX_ROUNDS]; /* [backend][round] seconds per call */
} shape;

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(const double *v, int n) {
  double s[MAX_ROUNDS];
  memcpy(s, v, n * sizeof *s);
  qsort(s, n, sizeof *s, cmp_double);
  return s[n / 2];
}

static bool is_small(const shape *s) { return (double)s->M * s->N * s->K < (double)(1 << 22); }

/* Seconds per product of one shape on the configured backend: best of a few repeats. */
static double time_shape(const shape *s, float *a, float *b, float *c, size_t per_thread) {
  int reps = is_small(s) ? 20 : 3;
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    double t0 = slt_now();
    if (is_small(s)) {
#pragma omp parallel
      {
        size_t o = per_thread * omp_get_thread_num();
        slt_gemm(s->ta, s->tb, s->M, s->N, s->K, a + o, b + o, 0.0f, c + o);
      }
    } else {
      slt_gemm(s->ta, s->tb, s->M, s->N, s->K, a, b, 0.0f, c);
    }
    double dt = slt_now() - t0;
    if (dt < best) best = dt;
  }
  return best;
}

static int read_shapes(shape *v) {
  char line[512];
  int n = 0;
  while (n < MAX_SHAPES && fgets(line, sizeof line, stdin)) {
    shape s = {0};
    if (sscanf(line, "gemm %d %d %d %d %d %ld", &s.ta, &s.tb, &s.M, &s.N, &s.K, &s.calls) == 6)
      v[n++] = s;
  }
  return n;
}

int main(int argc, char **argv) {
  int rounds = 5, steps = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--rounds")) rounds = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--steps")) steps = atoi(argv[i + 1]);
  }
  if (rounds < 1 || rounds > MAX_ROUNDS || steps < 1) {
    fprintf(stderr, "usage: bench_gemm_shapes [--rounds 1..%d] [--steps S] < profile\n", MAX_ROUNDS);
    return 2;
  }
  static shape v[MAX_SHAPES];
  int n = read_shapes(v);
  if (!n) {
    fprintf(stderr, "bench_gemm_shapes: no 'gemm ta tb M N K calls' rows on stdin\n");
    return 2;
  }
  size_t big = 0;
  for (int i = 0; i < n; i++) {
    size_t m = (size_t)v[i].M * v[i].K, k = (size_t)v[i].K * v[i].N, o = (size_t)v[i].M * v[i].N;
    size_t mx = m > k ? (m > o ? m : o) : (k > o ? k : o);
    if (mx > big) big = mx;
  }
  int nt = omp_get_max_threads();
  float *a = malloc(big * nt * sizeof *a), *b = malloc(big * nt * sizeof *b),
        *c = malloc(big * nt * sizeof *c);
  if (!a || !b || !c) return 1;
  for (size_t i = 0; i < big * nt; i++) a[i] = b[i] = c[i] = 1e-3f * (float)(i % 101) - 0.05f;
  char flags[256];
  slt_cpu_flags(flags, sizeof flags);
  printf("# cpu %s; flags %s; threads %d; oneDNN ISA %s; %d rounds, medians\n", slt_cpu_model(),
         flags, nt, slt_gemm_isa(), rounds);
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < n; i++)
      for (int k = 0; k < 2; k++) {
        int kind = (r + i + k) % 2 ? SLT_GEMM_ONEDNN : SLT_GEMM_OPENBLAS;
        if (slt_gemm_configure(kind, SLT_PRECISION_FP32, 0, 0, 0)) return 1;
        v[i].t[kind == SLT_GEMM_ONEDNN][r] = time_shape(&v[i], a, b, c, big);
      }
  double tot[2] = {0, 0}, best = 0;
  printf("ta tb      M      N      K  calls/step  openblas_ms  onednn_ms  onednn/openblas\n");
  for (int i = 0; i < n; i++) {
    double m0 = median(v[i].t[0], rounds), m1 = median(v[i].t[1], rounds);
    double per = (double)v[i].calls / steps / (is_small(&v[i]) ? nt : 1);
    printf("%2d %2d %6d %6d %6d %10.1f %12.3f %10.3f %10.2f\n", v[i].ta, v[i].tb, v[i].M, v[i].N,
           v[i].K, per, 1e3 * m0, 1e3 * m1, m1 / m0);
    tot[0] += per * m0, tot[1] += per * m1, best += per * (m0 < m1 ? m0 : m1);
  }
  printf("per step (wall): openblas %.1f ms, onednn %.1f ms, best of each shape %.1f ms\n",
         1e3 * tot[0], 1e3 * tot[1], 1e3 * best);
  free(a), free(b), free(c);
  return 0;
}
