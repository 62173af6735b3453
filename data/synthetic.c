#include "synthetic.h"

#include "autograd/error.h"
#include "autograd/parallel.h"
#include "autograd/rng.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Probabilities are integers out of 2^31, so a cumulative edge (at most 2^31) fits a uint32 and a
 * token can have probability exactly 0 wherever it sits in the row. */
#define SCALE 2147483648.0
#define STAT_TOL 1e-13 /* L1 change per iteration at which π counts as converged */
#define STAT_MAX_IT 20000
#define STAT_LAZY 0.1 /* π ← (1-ε)·πP + ε·π: same fixed point, but periodic chains converge */
/* Smallest Dirichlet α drawn from. A draw's log is log Gamma(α+1) + log(U)/α with log(U) down to
 * -37; below about 2e-307 that quotient overflows to -inf, a row whose every draw did so is NaN,
 * and the chain would train on garbage with a negative entropy rate. Far below any useful α. */
#define MIN_ALPHA 1e-300

struct slt_markov {
  int V, k;
  int64_t nctx;     /* V^k contexts */
  int64_t S;        /* V^(k-1): weight of the oldest token in a context index; 0 when k = 0 */
  uint64_t row_key; /* rows are keyed by this and their index */
  uint32_t *cdf;    /* (nctx, V): lower edge of each token's interval, in units of 2^-31 */
  double *ent;      /* (nctx): H(P(·|ctx)), nats */
  double *pi;       /* (nctx): stationary distribution over contexts */
  double *pi_cdf;   /* (nctx): lower edges of π, to draw a row's first context */
  double pi_total;  /* Σπ as summed into pi_cdf */
  double *joint;    /* (k): H(X_0..X_j) under π for j < k */
  double H;         /* entropy rate, nats */
};

/* splitmix64's finaliser: a bijection, so distinct (key, index) pairs give distinct seeds. */
static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* Separate key domains so the table draws and the row draws never share a stream. */
#define DOMAIN_TABLE 0x7461626c65ull /* "table" */
#define DOMAIN_ROWS 0x726f7773ull    /* "rows" */

/* P(y | ctx) in units of 2^-31, from the cumulative row c (V entries). */
static inline uint64_t qprob(const uint32_t *c, int V, int y) {
  return (y + 1 < V ? (uint64_t)c[y + 1] : (uint64_t)1 << 31) - c[y];
}

/* Largest i < n with c[i] <= u, given c[0] = 0 <= u and c non-decreasing (branch-free). */
static inline int64_t search_u32(const uint32_t *c, int64_t n, uint32_t u) {
  const uint32_t *base = c;
  while (n > 1) {
    int64_t half = n / 2;
    base = base[half] <= u ? base + half : base;
    n -= half;
  }
  return base - c;
}

static inline int64_t search_f64(const double *c, int64_t n, double u) {
  const double *base = c;
  while (n > 1) {
    int64_t half = n / 2;
    base = base[half] <= u ? base + half : base;
    n -= half;
  }
  return base - c;
}

/* ---- construction ---- */

static int check_size(int V, int k, int64_t *nctx) {
  if (V < 1 || k < 0) {
    slt_err_set("synthetic chain: vocab must be >= 1 and order >= 0, got vocab %d, order %d", V, k);
    return -1;
  }
  int64_t n = 1; /* V^k, then V^(k+1) */
  for (int i = 0; i <= k; i++) {
    if (n > SLT_MARKOV_MAX_ENTRIES / V) {
      slt_err_set("synthetic chain: vocab %d, order %d needs %d^%d = %.4g table entries, above "
                  "the limit of 2^26 = %" PRId64 "; lower the vocabulary or the order",
                  V, k, V, k + 1, pow(V, k + 1), SLT_MARKOV_MAX_ENTRIES);
      return -1;
    }
    if (i == k) break;
    n *= V;
  }
  *nctx = n;
  return 0;
}

static slt_markov *chain_alloc(int V, int k, uint64_t seed) {
  int64_t nctx;
  if (check_size(V, k, &nctx)) return NULL;
  slt_markov *m = calloc(1, sizeof *m);
  if (!m) goto oom;
  m->V = V;
  m->k = k;
  m->nctx = nctx;
  m->S = k ? nctx / V : 0;
  m->row_key = mix64(seed ^ DOMAIN_ROWS);
  m->cdf = malloc((size_t)(nctx * V) * sizeof *m->cdf);
  m->ent = malloc((size_t)nctx * sizeof *m->ent);
  m->pi = malloc((size_t)nctx * sizeof *m->pi);
  m->pi_cdf = malloc((size_t)nctx * sizeof *m->pi_cdf);
  m->joint = calloc((size_t)k + 1, sizeof *m->joint);
  if (m->cdf && m->ent && m->pi && m->pi_cdf && m->joint) return m;
  slt_markov_free(m);
oom:
  slt_err_set("synthetic chain: out of memory for vocab %d, order %d", V, k);
  return NULL;
}

/* Quantise a normalised distribution p[0..V) into the cumulative row c, and return the entropy
 * (nats) of the quantised distribution, which is what sampling will follow. */
static double quantise_row(const double *p, int V, uint32_t *c) {
  double acc = 0;
  for (int y = 0; y < V; y++) {
    double e = acc * SCALE + 0.5;
    c[y] = e >= SCALE ? (uint32_t)1 << 31 : (uint32_t)e;
    acc += p[y];
  }
  double h = 0;
  for (int y = 0; y < V; y++) {
    double q = (double)qprob(c, V, y) / SCALE;
    if (q > 0) h -= q * log(q);
  }
  return h;
}

/* log of a Gamma(a, 1) draw (Marsaglia–Tsang). For a < 1, Gamma(a+1)·U^(1/a), kept in logs so
 * that a small α cannot underflow every component of a row to 0. */
static double log_gamma_draw(slt_rng *r, double a) {
  double boost = 0;
  if (a < 1) {
    boost = log(1.0 - slt_rng_uniform(r)) / a;
    a += 1;
  }
  double d = a - 1.0 / 3, c = 1 / sqrt(9 * d);
  for (;;) {
    double x = slt_rng_normal(r), v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    double u = 1.0 - slt_rng_uniform(r); /* (0, 1]: log is finite */
    if (u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)))
      return log(d * v) + boost;
  }
}

/* One Dirichlet(α) row into p[0..V), from its own stream so threads cannot change the table. */
static void dirichlet_row(uint64_t key, int64_t ctx, double alpha, int V, double *p) {
  slt_rng r;
  slt_rng_seed(&r, mix64(key ^ (uint64_t)ctx));
  double mx = -INFINITY, sum = 0;
  for (int y = 0; y < V; y++) {
    p[y] = log_gamma_draw(&r, alpha);
    mx = p[y] > mx ? p[y] : mx;
  }
  for (int y = 0; y < V; y++) sum += p[y] = exp(p[y] - mx);
  for (int y = 0; y < V; y++) p[y] /= sum;
}

static int draw_tables(slt_markov *m, double alpha, uint64_t seed) {
  const int V = m->V;
  const uint64_t key = mix64(seed ^ DOMAIN_TABLE);
  int fail = 0;
#pragma omp parallel if (m->nctx * V >= SLT_PAR_MIN)
  {
    double *p = malloc((size_t)V * sizeof *p);
    if (!p) {
#pragma omp atomic write
      fail = 1;
    }
#pragma omp for schedule(static)
    for (int64_t c = 0; c < m->nctx; c++) {
      if (!p) continue;
      dirichlet_row(key, c, alpha, V, p);
      m->ent[c] = quantise_row(p, V, m->cdf + c * V);
    }
    free(p);
  }
  if (fail) slt_err_set("synthetic chain: out of memory drawing the tables");
  return fail ? -1 : 0;
}

/* ---- stationary distribution and entropies ---- */

/* next = π·P over contexts: next[s·V + y] = Σ_x π[x·S + s]·P(y | x·S + s), each output summed
 * over x in a fixed order by one task, so the result does not depend on the thread count. */
static void step_pi(const slt_markov *m, const double *pi, double *next) {
  enum { YB = 256 };
  const int V = m->V, nb = (V + YB - 1) / YB;
  const int64_t S = m->S, tasks = S * nb;
#pragma omp parallel for schedule(static) if (m->nctx * V >= SLT_PAR_MIN)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t s = t / nb;
    const int y0 = (int)(t % nb) * YB, y1 = y0 + YB < V ? y0 + YB : V;
    double *out = next + s * V;
    for (int y = y0; y < y1; y++) out[y] = 0;
    for (int x = 0; x < V; x++) {
      const int64_t c = x * S + s;
      const double w = pi[c] / SCALE;
      if (w == 0) continue;
      const uint32_t *row = m->cdf + c * V;
      const int ylast = y1 < V ? y1 : V - 1;
      for (int y = y0; y < ylast; y++) out[y] += w * (double)(row[y + 1] - row[y]);
      if (y1 == V) out[V - 1] += w * (double)qprob(row, V, V - 1);
    }
  }
}

/* Power iteration from uniform; the lazy mix makes periodic chains converge too. */
static int stationary(slt_markov *m) {
  const int64_t n = m->nctx;
  for (int64_t c = 0; c < n; c++) m->pi[c] = 1.0 / (double)n;
  if (m->k == 0) return 0;
  double *next = malloc((size_t)n * sizeof *next);
  if (!next) {
    slt_err_set("synthetic chain: out of memory for the stationary distribution");
    return -1;
  }
  double diff = INFINITY;
  for (int it = 0; it < STAT_MAX_IT && diff > STAT_TOL; it++) {
    step_pi(m, m->pi, next);
    double sum = 0;
    for (int64_t c = 0; c < n; c++)
      sum += next[c] = (1 - STAT_LAZY) * next[c] + STAT_LAZY * m->pi[c];
    diff = 0;
    for (int64_t c = 0; c < n; c++) {
      double v = next[c] / sum;
      diff += fabs(v - m->pi[c]);
      m->pi[c] = v;
    }
  }
  free(next);
  if (diff > STAT_TOL) {
    slt_err_set("synthetic chain: the stationary distribution did not converge in %d iterations "
                "(L1 change %.3g); the chain mixes too slowly (alpha too small?)",
                STAT_MAX_IT, diff);
    return -1;
  }
  return 0;
}

static double entropy_of(const double *p, int64_t n) {
  double h = 0;
  for (int64_t i = 0; i < n; i++)
    if (p[i] > 0) h -= p[i] * log(p[i]);
  return h;
}

/* joint[j] = H(X_0..X_j) for j < k: the marginal of π over a context's first j+1 tokens sums
 * blocks of V^(k-1-j) consecutive contexts (later tokens are the low digits). */
static int joint_entropies(slt_markov *m) {
  double *marg = malloc((size_t)m->nctx * sizeof *marg);
  if (!marg) {
    slt_err_set("synthetic chain: out of memory for the marginals");
    return -1;
  }
  int64_t block = m->nctx;
  for (int j = 0; j < m->k; j++) {
    block /= m->V;
    int64_t nm = m->nctx / block;
    for (int64_t i = 0; i < nm; i++) {
      double s = 0;
      for (int64_t t = 0; t < block; t++) s += m->pi[i * block + t];
      marg[i] = s;
    }
    m->joint[j] = entropy_of(marg, nm);
  }
  free(marg);
  return 0;
}

static int finish(slt_markov *m) {
  if (stationary(m) || joint_entropies(m)) return -1;
  double h = 0, acc = 0;
  for (int64_t c = 0; c < m->nctx; c++) {
    h += m->pi[c] * m->ent[c];
    m->pi_cdf[c] = acc;
    acc += m->pi[c];
  }
  m->H = h;
  m->pi_total = acc;
  return 0;
}

slt_markov *slt_markov_new(int vocab, int order, double alpha, uint64_t seed) {
  if (!(alpha >= MIN_ALPHA) || !isfinite(alpha)) {
    slt_err_set("synthetic chain: Dirichlet alpha must be a finite number >= %g, got %g", MIN_ALPHA,
                alpha);
    return NULL;
  }
  slt_markov *m = chain_alloc(vocab, order, seed);
  if (!m) return NULL;
  if (draw_tables(m, alpha, seed) || finish(m)) {
    slt_markov_free(m);
    return NULL;
  }
  return m;
}

static int table_row(slt_markov *m, int64_t c, const double *p, double *norm) {
  double sum = 0;
  for (int y = 0; y < m->V; y++) {
    if (!(p[y] >= 0) || !isfinite(p[y])) {
      slt_err_set("synthetic chain: P(%d | context %" PRId64 ") = %g is not a probability", y, c,
                  p[y]);
      return -1;
    }
    sum += p[y];
  }
  if (fabs(sum - 1) > 1e-6) {
    slt_err_set("synthetic chain: P(· | context %" PRId64 ") sums to %.9g, expected 1", c, sum);
    return -1;
  }
  for (int y = 0; y < m->V; y++) norm[y] = p[y] / sum;
  m->ent[c] = quantise_row(norm, m->V, m->cdf + c * m->V);
  return 0;
}

slt_markov *slt_markov_from_table(int vocab, int order, const double *probs, uint64_t seed) {
  slt_markov *m = chain_alloc(vocab, order, seed);
  if (!m) return NULL;
  double *norm = malloc((size_t)vocab * sizeof *norm);
  int rc = norm ? 0 : -1;
  if (!norm) slt_err_set("synthetic chain: out of memory");
  for (int64_t c = 0; c < m->nctx && rc == 0; c++) rc = table_row(m, c, probs + c * vocab, norm);
  free(norm);
  if (rc || finish(m)) {
    slt_markov_free(m);
    return NULL;
  }
  return m;
}

void slt_markov_free(slt_markov *m) {
  if (!m) return;
  free(m->cdf);
  free(m->ent);
  free(m->pi);
  free(m->pi_cdf);
  free(m->joint);
  free(m);
}

/* ---- queries ---- */

int slt_markov_vocab(const slt_markov *m) {
  return m->V;
}
int slt_markov_order(const slt_markov *m) {
  return m->k;
}
int64_t slt_markov_contexts(const slt_markov *m) {
  return m->nctx;
}
const double *slt_markov_stationary(const slt_markov *m) {
  return m->pi;
}
double slt_markov_entropy_rate(const slt_markov *m) {
  return m->H;
}

void slt_markov_probs(const slt_markov *m, int64_t ctx, double *out) {
  const uint32_t *row = m->cdf + ctx * m->V;
  for (int y = 0; y < m->V; y++) out[y] = (double)qprob(row, m->V, y) / SCALE;
}

double slt_markov_floor(const slt_markov *m, int T) {
  if (T < 1) return NAN;
  /* Prediction j (1-based) sees j tokens; with j < k it is H(X_0..X_j) - H(X_0..X_{j-1}). */
  double s = 0;
  int short_ctx = T < m->k - 1 ? T : m->k - 1;
  for (int j = 1; j <= short_ctx; j++) s += m->joint[j] - m->joint[j - 1];
  s += (double)(T - (short_ctx > 0 ? short_ctx : 0)) * m->H;
  return s / T;
}

/* Rows sampled in lockstep: each token costs a few dependent cache misses in a table of up to
 * 256 MB, and interleaving independent rows lets those misses overlap. */
enum { LOCKSTEP = 8 };

/* Start row `row` in out[0..min(k, len)): seed its stream, draw its first context. */
static int64_t row_start(const slt_markov *m, uint64_t row, int len, slt_rng *r, int32_t *out) {
  slt_rng_seed(r, mix64(m->row_key ^ row));
  int64_t c = search_f64(m->pi_cdf, m->nctx, slt_rng_uniform(r) * m->pi_total);
  int64_t div = m->S; /* the context's tokens, oldest (most significant) first */
  for (int i = 0; i < m->k && i < len; i++, div /= m->V) out[i] = (int32_t)(c / div % m->V);
  return c;
}

static void rows_lockstep(const slt_markov *m, uint64_t first, int n, int len, int32_t *out) {
  const int V = m->V, k = m->k;
  slt_rng r[LOCKSTEP];
  int64_t c[LOCKSTEP];
  for (int j = 0; j < n; j++)
    c[j] = row_start(m, first + (uint64_t)j, len, &r[j], out + (int64_t)j * len);
  for (int i = k; i < len; i++)
    for (int j = 0; j < n; j++) {
      int32_t *o = out + (int64_t)j * len;
      const uint32_t u = (uint32_t)(slt_rng_u64(&r[j]) >> 33); /* [0, 2^31) */
      const int32_t y = (int32_t)search_u32(m->cdf + c[j] * V, V, u);
      o[i] = y;
      if (k) c[j] = (c[j] - o[i - k] * m->S) * V + y; /* drop the oldest token, append y */
    }
}

void slt_markov_rows(const slt_markov *m, uint64_t first, int n, int len, int32_t *out) {
  if (len <= 0) return;
#pragma omp parallel for schedule(static) if (n > LOCKSTEP)
  for (int j = 0; j < n; j += LOCKSTEP)
    rows_lockstep(m, first + (uint64_t)j, n - j < LOCKSTEP ? n - j : LOCKSTEP, len,
                  out + (int64_t)j * len);
}

void slt_markov_row(const slt_markov *m, uint64_t row, int len, int32_t *out) {
  slt_markov_rows(m, row, 1, len, out);
}
