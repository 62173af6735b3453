/* Helpers for OpenMP code that must be deterministic: work is cut into pieces whose
 * boundaries depend only on the problem size, never on the thread count or scheduling. */
#ifndef SLT_PARALLEL_H
#define SLT_PARALLEL_H

#include <stdint.h>

/* Below this many elements a pointwise loop runs on one thread: forking costs more. */
#define SLT_PAR_MIN 16384

/* Number of fixed-size pieces for a reduction over n elements. */
#define SLT_REDUCE_PIECES 64

/* [begin, end) of piece i of n elements split into `pieces` near-equal parts. */
static inline void slt_piece(int64_t n, int pieces, int i, int64_t *begin, int64_t *end) {
  *begin = n * i / pieces;
  *end = n * (i + 1) / pieces;
}

/* Use n threads (n <= 0: every core) for our OpenMP loops and OpenBLAS alike. */
void slt_threads_set(int n);

/* Sum of x[0..n) in double, in an order fixed by n alone. */
double slt_sum_fixed(const float *x, int64_t n);
/* Dot product of x and y in double, in an order fixed by n alone. */
double slt_dot_fixed(const float *x, const float *y, int64_t n);

/* Row pieces of a column reduction: partial sums over contiguous rows vectorise and stream. */
#define SLT_COLSUM_PIECES 16

/* out[j] += sign · Σ_r g[r, j] (· w[r, j] when w is given) for g (rows, cols). Summed per fixed
 * row piece into scratch (SLT_COLSUM_PIECES · cols floats), then the pieces in order, so the
 * result does not depend on the thread count. scratch NULL: a slower column-by-column loop. */
void slt_column_sums(float *out, const float *g, const float *w, int64_t rows, int cols,
                     float sign, float *scratch);

#endif
