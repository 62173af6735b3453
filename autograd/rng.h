/* Deterministic random numbers (xoshiro256**, seeded by splitmix64): the same seed gives the
 * same stream on every machine, which initialisation, data order and dropout-free training
 * rely on for bitwise reproducibility. The state is plain data so checkpoints can save it. */
#ifndef SLT_RNG_H
#define SLT_RNG_H

#include <stdint.h>

typedef struct slt_rng {
  uint64_t s[4];
} slt_rng;

void slt_rng_seed(slt_rng *r, uint64_t seed);
uint64_t slt_rng_u64(slt_rng *r);
/* Uniform in [0, 1) with 53 random bits. */
double slt_rng_uniform(slt_rng *r);
/* Uniform integer in [0, n). */
uint64_t slt_rng_below(slt_rng *r, uint64_t n);
/* Standard normal (Box-Muller; no cached second value, so the state alone defines the stream). */
double slt_rng_normal(slt_rng *r);
/* Fill x[0..n) with N(mean, std^2). */
void slt_rng_fill_normal(slt_rng *r, float *x, int64_t n, float mean, float std);
/* Fill x[0..n) with U(lo, hi). */
void slt_rng_fill_uniform(slt_rng *r, float *x, int64_t n, float lo, float hi);

#endif
