/* Packed low-bit GEMV against memory bandwidth (SPEC §8, "Figure of merit"): GB/s of packed
 * weights read per product, and that as a percentage of the bandwidth measured on the same cores
 * (STREAM-like triad a = b + α·c, three arrays counted; and a plain read, for reference).
 * Contenders: ternary (2 bits/weight), {±1, ±i} (2 bits/complex weight), both on every path the
 * CPU runs, and fp32 cblas_sgemv of the same (out, in) where its 4 bytes/weight fit in memory.
 * Every repeat runs each contender once (interleaved, so load changes hit all alike); figures are
 * medians over repeats. Then a small-batch table: tokens × weights per second for n tokens.
 * Usage: bench_lowbit [repeats] [max_MiB]   (1 and 2 threads; SLT_ISA picks the default path) */
#include "autograd/error.h"
#include "kernels/cplx2.h"
#include "kernels/cpu.h"
#include "kernels/ternary.h"

#include <cblas.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAXREP 64

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(const double *v, int n) {
  double s[MAXREP];
  memcpy(s, v, sizeof(double) * n);
  qsort(s, n, sizeof *s, cmp_double);
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

static double maxof(const double *v, int n) {
  double m = v[0];
  for (int i = 1; i < n; i++) m = v[i] > m ? v[i] : m;
  return m;
}

static void *need(void *p) {
  if (!p) {
    fprintf(stderr, "bench_lowbit: out of memory\n");
    exit(1);
  }
  return p;
}

/* Cheap random 64-bit words (xorshift), so 512 MiB fill in well under a second. */
static uint64_t next(uint64_t *s) {
  *s ^= *s << 13, *s ^= *s >> 7, *s ^= *s << 17;
  return *s;
}

/* Random packed bytes; ternary codes are kept in {0, 1, 2} (a 3 would be weight 2). */
static void fill_codes(uint8_t *p, int64_t bytes, bool ternary, uint64_t seed) {
  const uint64_t lo_bits = 0x5555555555555555ull;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < bytes / 8; i++) {
    uint64_t s = seed + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1), r = next(&s);
    if (ternary) {
      uint64_t lo = r & lo_bits, hi = (r >> 1) & lo_bits;
      r = lo | ((hi & ~lo) << 1);
    }
    memcpy(p + 8 * i, &r, 8);
  }
}

/* ---- bandwidth ---- */

typedef struct {
  double *a, *b, *c;
  int64_t n;
} stream;

/* GB/s of one triad pass, counting three arrays (STREAM's convention). */
static double triad(stream *s) {
  double t = omp_get_wtime();
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < s->n; i++) s->a[i] = s->b[i] + 1.5 * s->c[i];
  t = omp_get_wtime() - t;
  return 3.0 * 8 * (double)s->n / t / 1e9;
}

/* GB/s of reading b and c once (8 independent integer sums per thread vectorise). */
static double readbw(stream *s, uint64_t *sink) {
  double t = omp_get_wtime();
  uint64_t total = 0;
  const uint64_t *b = (const uint64_t *)s->b, *c = (const uint64_t *)s->c;
#pragma omp parallel for schedule(static) reduction(+ : total)
  for (int64_t i = 0; i < s->n; i += 8) {
    uint64_t acc = 0;
    for (int k = 0; k < 8; k++) acc += b[i + k] ^ c[i + k];
    total += acc;
  }
  t = omp_get_wtime() - t;
  *sink += total;
  return 2.0 * 8 * (double)s->n / t / 1e9;
}

/* ---- GEMV contenders ---- */

typedef struct {
  int64_t out, in;
  slt_tern tern;
  slt_cplx2 cplx;
  slt_act8 act;
  slt_cplx_act cact;
  float *W, *x, *y; /* fp32 sgemv (W NULL when too large) */
} gemv_case;

static void case_init(gemv_case *c, int64_t out, int64_t in, bool with_fp32) {
  memset(c, 0, sizeof *c);
  c->out = out, c->in = in;
  if (slt_tern_alloc(&c->tern, out, in, 1) || slt_cplx2_alloc(&c->cplx, out, in) ||
      slt_act8_alloc(&c->act, 16, in) || slt_cplx_act_alloc(&c->cact, 16, in)) {
    fprintf(stderr, "bench_lowbit: %s\n", slt_err_msg());
    exit(1);
  }
  fill_codes(c->tern.qs, out * c->tern.row_bytes, true, 1);
  fill_codes(c->cplx.qs, out * c->cplx.row_bytes, false, 2);
  c->x = need(malloc(sizeof(float) * 32 * in));
  c->y = need(malloc(sizeof(float) * 32 * out));
  uint64_t s = 3;
  for (int64_t i = 0; i < 32 * in; i++) c->x[i] = (float)((int64_t)(next(&s) % 2001) - 1000) / 1000;
  slt_act8_quantize(&c->act, c->x, in, -128);
  slt_cplx2_quantize(&c->cact, c->x, 2 * in);
  if (with_fp32) {
    c->W = need(aligned_alloc(64, sizeof(float) * (size_t)(out * in)));
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < out * in; i++) c->W[i] = (float)((i * 7919) % 2001 - 1000) * 1e-3f;
  }
}

static void case_free(gemv_case *c) {
  slt_tern_free(&c->tern);
  slt_cplx2_free(&c->cplx);
  slt_act8_free(&c->act);
  slt_cplx_act_free(&c->cact);
  free(c->W), free(c->x), free(c->y);
}

/* CPU seconds of the calling thread: with one thread, the time the kernel really ran, which a
 * loaded machine does not inflate (the compute ceiling, not the bandwidth). */
static double thread_cpu(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One batch-1 product of kind k (0 ternary, 1 complex, 2 sgemv); wall seconds, and the calling
 * thread's CPU seconds in *cpu. */
static double run_once(gemv_case *c, int k, slt_isa isa, double *cpu) {
  slt_act8 a1 = c->act;
  slt_cplx_act c1 = c->cact;
  a1.n = c1.re.n = c1.im.n = 1;
  double c0 = thread_cpu(), t = omp_get_wtime();
  int rc = 0;
  if (k == 0)
    rc = slt_tern_gemm_isa(&c->tern, &a1, c->y, c->out, isa);
  else if (k == 1)
    rc = slt_cplx2_gemm_isa(&c->cplx, &c1, c->y, 2 * c->out, isa);
  else
    cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)c->out, (int)c->in, 1.0f, c->W, (int)c->in, c->x,
                1, 0.0f, c->y, 1);
  t = omp_get_wtime() - t;
  *cpu = thread_cpu() - c0;
  if (rc) {
    fprintf(stderr, "bench_lowbit: %s\n", slt_err_msg());
    exit(1);
  }
  return t;
}

static double weight_bytes(const gemv_case *c, int k) {
  return k == 0   ? (double)c->out * c->tern.row_bytes
         : k == 1 ? (double)c->out * c->cplx.row_bytes
                  : 4.0 * c->out * c->in;
}

/* ---- tables ---- */

typedef struct {
  int kind; /* 0 ternary, 1 complex, 2 sgemv */
  slt_isa isa;
} contender;

static const char *kind_name[3] = {"ternary", "cplx2", "sgemv fp32"};

static int contenders(const gemv_case *c, contender *out) {
  int n = 0;
  for (int k = 0; k < 2; k++)
    for (int i = SLT_ISA_COUNT - 1; i >= 0; i--) {
      /* The plain-C paths take seconds on the largest matrices; they are correctness baselines. */
      if (!slt_cpu_supports((slt_isa)i) ||
          (i == SLT_ISA_PORTABLE && weight_bytes(c, k) > (64 << 20)))
        continue;
      out[n++] = (contender){k, (slt_isa)i};
    }
  if (c->W) out[n++] = (contender){2, SLT_ISA_PORTABLE};
  return n;
}

/* One shape at the current thread count: interleaved repeats, one triad and one read pass in
 * each, so every kernel figure has bandwidth figures taken under the same load beside it. Each
 * contender runs twice in a row and the second run is timed: the bandwidth passes evict
 * everything, and a matrix that fits in the caches should be measured from them. */
static void bench_shape(int64_t out, int64_t in, int reps, stream *st, int threads) {
  gemv_case c;
  case_init(&c, out, in, 4.0 * out * in <= (double)(1 << 30));
  contender ct[8];
  int nc = contenders(&c, ct);
  double gbs[8][MAXREP], cpu[8][MAXREP], rtri[8][MAXREP], rread[8][MAXREP], sec;
  uint64_t sink = 0;
  for (int r = 0; r < reps; r++) {
    double tri = triad(st), rd = readbw(st, &sink);
    for (int k = 0; k < nc; k++) {
      double bytes = weight_bytes(&c, ct[k].kind);
      run_once(&c, ct[k].kind, ct[k].isa, &sec);
      gbs[k][r] = bytes / run_once(&c, ct[k].kind, ct[k].isa, &sec) / 1e9;
      cpu[k][r] = bytes / sec / 1e9;
      rtri[k][r] = gbs[k][r] / tri, rread[k][r] = gbs[k][r] / rd;
    }
  }
  for (int k = 0; k < nc; k++) {
    double bytes = weight_bytes(&c, ct[k].kind), g = median(gbs[k], reps);
    printf("%d  %6lld x %-6lld %7.1f  %-10s %-8s %6.1f %6.0f%% %6.0f%%  %6.1f  %9.0f", threads,
           (long long)out, (long long)in, bytes / (1 << 20), kind_name[ct[k].kind],
           ct[k].kind == 2 ? "openblas" : slt_cpu_isa_name(ct[k].isa), g,
           100 * median(rtri[k], reps), 100 * median(rread[k], reps), maxof(gbs[k], reps),
           bytes / g / 1e3);
    if (threads == 1) printf("  %7.1f", median(cpu[k], reps));
    printf("\n");
  }
  if (sink == 42) printf(" \n"); /* keeps the read passes */
  case_free(&c);
}

/* Tokens × weights per second for n tokens at once (selected path). */
static void bench_batch(int64_t out, int64_t in, int reps) {
  gemv_case c;
  case_init(&c, out, in, false);
  static const int ns[] = {1, 2, 4, 8, 16};
  for (int k = 0; k < 2; k++)
    for (int j = 0; j < 5; j++) {
      slt_act8 a = c.act;
      slt_cplx_act ca = c.cact;
      a.n = ca.re.n = ca.im.n = ns[j];
      double ts[MAXREP];
      for (int r = 0; r < reps; r++) {
        double t = omp_get_wtime();
        int rc = k == 0 ? slt_tern_gemm(&c.tern, &a, c.y, out)
                        : slt_cplx2_gemm(&c.cplx, &ca, c.y, 2 * out);
        ts[r] = omp_get_wtime() - t;
        if (rc) exit(1);
      }
      double t = median(ts, reps), bytes = weight_bytes(&c, k);
      printf("%6lld x %-6lld %-8s n=%-3d %8.1f GB/s of weights  %8.1f G weight-token/s\n",
             (long long)out, (long long)in, kind_name[k], ns[j], bytes / t / 1e9,
             (double)out * in * ns[j] / t / 1e9);
    }
  case_free(&c);
}

int main(int argc, char **argv) {
  int reps = argc > 1 ? atoi(argv[1]) : 7;
  double max_mib = argc > 2 ? atof(argv[2]) : 512;
  if (reps < 1 || reps > MAXREP) reps = 7;
  char flags[256];
  slt_cpu_flags(flags, sizeof flags);
  slt_isa isa;
  if (slt_cpu_isa_env(&isa)) fprintf(stderr, "bench_lowbit: %s\n", slt_err_msg());
  printf("CPU: %s\nflags: %s\npaths: best %s, selected %s; %d repeats (medians)\n", slt_cpu_model(),
         flags, slt_cpu_isa_name(slt_cpu_best()), slt_cpu_isa_name(slt_cpu_isa()), reps);
  stream st = {.n = (int64_t)32 << 20}; /* 3 × 256 MiB */
  st.a = need(aligned_alloc(64, 8 * st.n)), st.b = need(aligned_alloc(64, 8 * st.n));
  st.c = need(aligned_alloc(64, 8 * st.n));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < st.n; i++) st.a[i] = 0, st.b[i] = 1, st.c[i] = 2;
  static const int64_t shapes[][2] = {{1024, 4096},   {4096, 4096},   {8192, 8192},  {16384, 16384},
                                      {32768, 16384}, {32768, 32768}, {65536, 32768}};
  uint64_t sink = 0;
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(threads);
    double tr[MAXREP], rd[MAXREP];
    for (int r = 0; r < reps; r++) tr[r] = triad(&st), rd[r] = readbw(&st, &sink);
    printf("\n%d thread(s): triad %.1f GB/s (best %.1f), read %.1f GB/s (best %.1f); 3 x 256 MiB\n",
           threads, median(tr, reps), maxof(tr, reps), median(rd, reps), maxof(rd, reps));
    printf("thr shape         MiB(w)  kind       path       GB/s  %%triad   %%read    best    "
           "us/call  cpuGB/s\n");
    for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++)
      if ((double)shapes[s][0] * shapes[s][1] / 4 / (1 << 20) <= max_mib)
        bench_shape(shapes[s][0], shapes[s][1], reps, &st, threads);
  }
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    printf("\nsmall batches, %d thread(s), path %s:\n", threads, slt_cpu_isa_name(slt_cpu_isa()));
    bench_batch(8192, 8192, reps);
    if (max_mib >= 256) bench_batch(32768, 32768, reps);
  }
  printf("(GB/s: packed (or fp32) weight bytes per call, median over repeats; %%triad, %%read: "
         "median over repeats of the ratio to the triad / read bandwidth of the same repeat; best: "
         "fastest repeat; cpuGB/s: bytes over the thread's CPU time at 1 thread, the compute "
         "ceiling when the matrix is in cache; checksum %llu)\n",
         (unsigned long long)(sink & 0xff));
  free(st.a), free(st.b), free(st.c);
  return 0;
}
