/* Private to the quant files: how a blocked fake-quant loop is cut into tasks, and per-block
 * ranges (the scales' statistics).
 * Block b covers elements [b·B, (b+1)·B) of the flat tensor and has one scale. A long block
 * (per tensor, long rows) is cut into chunks of QUANT_CHUNK so that one scale still spreads
 * over the threads; short blocks (groups) are one task each. Task boundaries depend only on
 * (n, B), so per-task partial sums combined in task order are thread-count independent. */
#ifndef SLT_QUANT_KERNEL_H
#define SLT_QUANT_KERNEL_H

#include "parallel.h"

#include <math.h>
#include <stdint.h>

#define QUANT_CHUNK 4096

typedef struct {
  int64_t n, block, per_block, tasks; /* per_block: chunks per block */
} quant_split;

static inline quant_split quant_split_make(int64_t n, int64_t block) {
  quant_split s = {n, block, (block + QUANT_CHUNK - 1) / QUANT_CHUNK, 0};
  s.tasks = n / block * s.per_block;
  return s;
}

/* Task t's block and element range [*lo, *hi). */
static inline int64_t quant_task(const quant_split *s, int64_t t, int64_t *lo, int64_t *hi) {
  int64_t b = t / s->per_block, k = t % s->per_block;
  *lo = b * s->block + k * QUANT_CHUNK;
  int64_t end = *lo + QUANT_CHUNK, bend = (b + 1) * s->block;
  *hi = end < bend ? end : bend;
  return b;
}

/* Fewer blocks than this: reduce each block with all threads instead of one block per thread. */
#define QUANT_MANY_BLOCKS 64

/* ---- block statistics ---- */

/* min and max of x[0..n) ignoring NaNs; lo NULL: max |x| into *hi. */
static inline void range_serial(const float *x, int64_t n, float *lo, float *hi) {
  float a = INFINITY, b = -INFINITY;
  if (lo) {
#pragma omp simd reduction(min : a) reduction(max : b)
    for (int64_t i = 0; i < n; i++) {
      a = x[i] < a ? x[i] : a;
      b = x[i] > b ? x[i] : b;
    }
    *lo = a;
  } else {
    b = 0;
#pragma omp simd reduction(max : b)
    for (int64_t i = 0; i < n; i++) b = fabsf(x[i]) > b ? fabsf(x[i]) : b;
  }
  *hi = b;
}

/* The same with every thread: fixed pieces reduced serially, then combined (exact in any order). */
static inline void range_parallel(const float *x, int64_t n, float *lo, float *hi) {
  float plo[SLT_REDUCE_PIECES], phi[SLT_REDUCE_PIECES];
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    int64_t b, e;
    slt_piece(n, SLT_REDUCE_PIECES, p, &b, &e);
    range_serial(x + b, e - b, lo ? &plo[p] : NULL, &phi[p]);
  }
  float a = INFINITY, m = lo ? -INFINITY : 0;
  for (int p = 0; p < SLT_REDUCE_PIECES; p++) {
    if (lo) a = plo[p] < a ? plo[p] : a;
    m = phi[p] > m ? phi[p] : m;
  }
  if (lo) *lo = a;
  *hi = m;
}

/* Per-block range of x (n elements, blocks of `block`): min and max are exact in any order,
 * so either split gives the same result. lo NULL: absmax. */
static inline void block_ranges(const float *x, int64_t n, int64_t block, float *lo, float *hi) {
  int64_t nb = n / block;
  if (nb < QUANT_MANY_BLOCKS) {
    for (int64_t b = 0; b < nb; b++)
      range_parallel(x + b * block, block, lo ? lo + b : NULL, hi + b);
    return;
  }
#pragma omp parallel for schedule(static) if (n >= SLT_PAR_MIN)
  for (int64_t b = 0; b < nb; b++) range_serial(x + b * block, block, lo ? lo + b : NULL, hi + b);
}

#endif
