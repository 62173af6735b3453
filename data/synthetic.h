/* Synthetic token source: an order-k Markov chain over V tokens whose next-token distributions
 * (one per context of the last k tokens, V^k contexts) are drawn from a symmetric Dirichlet(α).
 * Its entropy rate is known exactly, so it gives the loss floor a correct trainer must approach.
 *
 * Contexts are indexed x_0·V^(k-1) + … + x_(k-1), the most recent token least significant.
 * Probabilities are stored quantised to multiples of 2^-31 (as a cumulative table, sampled by
 * binary search); every figure below (entropies, stationary distribution) is computed from
 * those exact sampling probabilities, so the floor is the floor of the rows actually produced. */
#ifndef SLT_SYNTHETIC_H
#define SLT_SYNTHETIC_H

#include <stdint.h>

/* Dense tables are refused above this many entries (V^(k+1)): 256 MB of cumulative table. */
#define SLT_MARKOV_MAX_ENTRIES (INT64_C(1) << 26)

typedef struct slt_markov slt_markov;

/* A chain with Dirichlet(alpha) transitions drawn from seed; its stationary distribution is
 * computed here. NULL with the error recorded (bad sizes, tables too large, alpha not finite or
 * below 1e-300, no convergence). */
slt_markov *slt_markov_new(int vocab, int order, double alpha, uint64_t seed);
/* A chain with given transitions: probs is (V^k, V), row ctx = P(· | ctx), each row summing
 * to 1 (within 1e-6; renormalised). seed keys the rows. NULL with the error recorded. */
slt_markov *slt_markov_from_table(int vocab, int order, const double *probs, uint64_t seed);
void slt_markov_free(slt_markov *m);

int slt_markov_vocab(const slt_markov *m);
int slt_markov_order(const slt_markov *m);
/* Number of contexts, V^k. */
int64_t slt_markov_contexts(const slt_markov *m);
/* out[0..V) = P(· | ctx), the exact sampling probabilities. */
void slt_markov_probs(const slt_markov *m, int64_t ctx, double *out);
/* Stationary distribution over contexts, V^k entries summing to 1. */
const double *slt_markov_stationary(const slt_markov *m);
/* Entropy rate H = Σ_ctx π(ctx)·H(P(·|ctx)), in nats per token. */
double slt_markov_entropy_rate(const slt_markov *m);
/* Best achievable mean loss (nats) over the T next-token predictions of a row of T+1 tokens:
 * (1/T)·Σ_{j=1..T} H(X_j | X_0..X_{j-1}); predictions with fewer than k tokens of context
 * cost more than H. NAN when T < 1. */
double slt_markov_floor(const slt_markov *m, int T);
/* Row `row` of len tokens, a pure function of (seed, row): its first k tokens are a context
 * drawn from the stationary distribution, the rest follow the chain. out is len int32. */
void slt_markov_row(const slt_markov *m, uint64_t row, int len, int32_t *out);
/* Rows first..first+n-1 into out (n, len), each identical to slt_markov_row's; faster, since
 * interleaving rows overlaps their memory latency. */
void slt_markov_rows(const slt_markov *m, uint64_t first, int n, int len, int32_t *out);

#endif
