#include "rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void slt_rng_seed(slt_rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t slt_rng_u64(slt_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double slt_rng_uniform(slt_rng *r) { return (double)(slt_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t slt_rng_below(slt_rng *r, uint64_t n) {
  /* Rejection keeps the result unbiased for any n. */
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = slt_rng_u64(r);
  while (x >= limit);
  return x % n;
}

double slt_rng_normal(slt_rng *r) {
  double u1 = 1.0 - slt_rng_uniform(r); /* (0, 1]: log is finite */
  double u2 = slt_rng_uniform(r);
  return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void slt_rng_fill_normal(slt_rng *r, float *x, int64_t n, float mean, float std) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)(mean + std * slt_rng_normal(r));
}

void slt_rng_fill_uniform(slt_rng *r, float *x, int64_t n, float lo, float hi) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * slt_rng_uniform(r));
}
