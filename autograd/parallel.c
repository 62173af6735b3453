#include "parallel.h"

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

double slt_dot_fixed(const float *x, const float *y, int64_t n) {
  double part[SLT_REDUCE_PIECES];
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    int64_t b, e;
    slt_piece(n, SLT_REDUCE_PIECES, p, &b, &e);
    double s = 0;
    for (int64_t i = b; i < e; i++) s += (double)x[i] * y[i];
    part[p] = s;
  }
  double s = 0;
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) s += part[p];
  return s;
}
