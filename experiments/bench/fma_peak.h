/* The FMA units' own peak, measured: every thread runs twelve independent chains of fused
 * multiply-adds on the widest vectors this build targets, with no memory traffic. No real
 * program beats it, so it bounds what any training step of a given FLOP count can reach. */
#ifndef SLT_BENCH_FMA_PEAK_H
#define SLT_BENCH_FMA_PEAK_H

#include "autograd/sys.h"
#include "train/metrics.h"

#include <immintrin.h>
#include <omp.h>

#if defined(__AVX512F__)
typedef __m512 fma_vec;
#define FMA_LANES 16
#define FMA_SET1 _mm512_set1_ps
#define FMA_MADD _mm512_fmadd_ps
#define FMA_ADD _mm512_add_ps
#define FMA_SUM _mm512_reduce_add_ps
#elif defined(__FMA__)
typedef __m256 fma_vec;
#define FMA_LANES 8
#define FMA_SET1 _mm256_set1_ps
#define FMA_MADD _mm256_fmadd_ps
#define FMA_ADD _mm256_add_ps
static inline float FMA_SUM(__m256 v) {
  float f[8];
  _mm256_storeu_ps(f, v);
  return f[0] + f[1] + f[2] + f[3] + f[4] + f[5] + f[6] + f[7];
}
#endif

/* GFLOP/s of all OpenMP threads together (2 FLOPs per lane per FMA); 0 when the build has no
 * FMA instructions. The result is printed so the work cannot be optimised away. */
static double bench_fma_peak_gflops(void) {
#ifdef FMA_LANES
  const long iters = 50000000;
  double best = 0;
  for (int rep = 0; rep < 3; rep++) {
    float sink = 0;
    double t0 = slt_now();
#pragma omp parallel reduction(+ : sink)
    {
      fma_vec x = FMA_SET1(1.0000001f), y = FMA_SET1(0.9999999f);
      fma_vec a0 = FMA_SET1(0), a1 = FMA_SET1(1), a2 = FMA_SET1(2), a3 = FMA_SET1(3);
      fma_vec a4 = FMA_SET1(4), a5 = FMA_SET1(5), a6 = FMA_SET1(6), a7 = FMA_SET1(7);
      fma_vec a8 = FMA_SET1(8), a9 = FMA_SET1(9), a10 = FMA_SET1(10), a11 = FMA_SET1(11);
      for (long i = 0; i < iters; i++) {
        a0 = FMA_MADD(a0, x, y), a1 = FMA_MADD(a1, x, y), a2 = FMA_MADD(a2, x, y);
        a3 = FMA_MADD(a3, x, y), a4 = FMA_MADD(a4, x, y), a5 = FMA_MADD(a5, x, y);
        a6 = FMA_MADD(a6, x, y), a7 = FMA_MADD(a7, x, y), a8 = FMA_MADD(a8, x, y);
        a9 = FMA_MADD(a9, x, y), a10 = FMA_MADD(a10, x, y), a11 = FMA_MADD(a11, x, y);
      }
      fma_vec s = FMA_ADD(FMA_ADD(FMA_ADD(a0, a1), FMA_ADD(a2, a3)),
                          FMA_ADD(FMA_ADD(a4, a5), FMA_ADD(a6, a7)));
      sink += FMA_SUM(FMA_ADD(s, FMA_ADD(FMA_ADD(a8, a9), FMA_ADD(a10, a11))));
    }
    double t = slt_now() - t0;
    double gflops = 2.0 * FMA_LANES * 12 * iters * omp_get_max_threads() / t / 1e9;
    if (gflops > best && sink != -1) best = gflops;
  }
  return best;
#else
  return 0;
#endif
}

#endif
