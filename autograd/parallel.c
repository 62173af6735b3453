#include "parallel.h"

#include <cblas.h>
#include <omp.h>
#include <stddef.h>

void slt_threads_set(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

double slt_sum_fixed(const float *x, int64_t n) {
  double part[SLT_REDUCE_PIECES];
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    int64_t b, e;
    slt_piece(n, SLT_REDUCE_PIECES, p, &b, &e);
    double s = 0;
    for (int64_t i = b; i < e; i++) s += x[i];
    part[p] = s;
  }
  double s = 0;
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) s += part[p];
  return s;
}

/* Lanes of independent double accumulators within a piece: a fixed order the compiler
 * vectorises, where one running sum is a chain of dependent adds (4 cycles per element). */
#define DOT_LANES 8

double slt_dot_fixed(const float *x, const float *y, int64_t n) {
  double part[SLT_REDUCE_PIECES];
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    int64_t b, e;
    slt_piece(n, SLT_REDUCE_PIECES, p, &b, &e);
    double acc[DOT_LANES] = {0};
    int64_t i = b;
    for (; i + DOT_LANES <= e; i += DOT_LANES)
      for (int l = 0; l < DOT_LANES; l++) acc[l] += (double)x[i + l] * y[i + l];
    double s = 0;
    for (int l = 0; l < DOT_LANES; l++) s += acc[l];
    for (; i < e; i++) s += (double)x[i] * y[i];
    part[p] = s;
  }
  double s = 0;
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) s += part[p];
  return s;
}

static void column_sums_strided(float *out, const float *g, const float *w, int64_t rows,
                                int cols, float sign) {
#pragma omp parallel for schedule(static) if (rows * cols >= SLT_PAR_MIN)
  for (int j = 0; j < cols; j++) {
    float s = 0;
    for (int64_t r = 0; r < rows; r++) s += g[r * cols + j] * (w ? w[r * cols + j] : 1.0f);
    out[j] += sign * s;
  }
}

void slt_column_sums(float *out, const float *g, const float *w, int64_t rows, int cols,
                     float sign, float *scratch) {
  if (!scratch || rows < 2 * SLT_COLSUM_PIECES) {
    column_sums_strided(out, g, w, rows, cols, sign);
    return;
  }
  /* scratch (pieces, cols): piece p sums rows [b, e) in row order. */
#pragma omp parallel for schedule(static) if (rows * cols >= SLT_PAR_MIN)
  for (int p = 0; p < SLT_COLSUM_PIECES; p++) {
    int64_t b, e;
    slt_piece(rows, SLT_COLSUM_PIECES, p, &b, &e);
    float *acc = scratch + (int64_t)p * cols;
    for (int j = 0; j < cols; j++) acc[j] = 0;
    for (int64_t r = b; r < e; r++) {
      const float *gr = g + r * cols, *wr = w ? w + r * cols : NULL;
      if (wr)
        for (int j = 0; j < cols; j++) acc[j] += gr[j] * wr[j];
      else
        for (int j = 0; j < cols; j++) acc[j] += gr[j];
    }
  }
#pragma omp parallel for schedule(static) if (rows * cols >= SLT_PAR_MIN)
  for (int j = 0; j < cols; j++) {
    float s = 0;
    for (int p = 0; p < SLT_COLSUM_PIECES; p++) s += scratch[(int64_t)p * cols + j];
    out[j] += sign * s;
  }
}
