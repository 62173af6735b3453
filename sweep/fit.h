/* Scaling-law fits (SPEC §9) with bootstrap intervals.
 *
 * Both laws are fitted in log space as one log-sum-exp of terms, log L̂ = LSE(terms):
 *   compute law   L(C) = E + A·C^−α          terms a − α·log C, e
 *   Chinchilla 3  L(N, D) = E + A/N^α + B/D^β  terms a − α·log N, b − β·log D, e
 * with E = e^e, A = e^a, B = e^b (positive by construction). The objective is
 * Σ Huber_δ(log L̂ − log L): the compute law uses least squares (δ = ∞, i.e. ½r²), Approach 3
 * δ = 1e-3 as Hoffmann et al. Each fit runs GSL's BFGS (vector_bfgs2, analytic gradient) from
 * every start of a grid and keeps the lowest objective (ties: the first start). BFGS runs on
 * centred logs (log x − mean log x, with a shifted to match): the same model and grid points,
 * but a and α no longer nearly collinear, so it converges in far fewer iterations.
 *
 * The bootstrap resamples a family's runs with replacement and refits; replicate r draws from
 * its own generator seeded by (seed, r), and the replicates run in parallel (OpenMP) into their
 * own slots, so the intervals depend on the seed only, never on the thread count. By default a
 * replicate refits from the point fit's SLT_FIT_WARM_STARTS best distinct optima rather than the
 * whole grid (Approach 3: 500 × 4500 BFGS runs, ~40 minutes per family on a busy 2-core
 * machine); on 40 replicates of a noisy 20-run family both gave the same intervals to 4 digits. */
#ifndef SLT_FIT_H
#define SLT_FIT_H

#include <stdint.h>

typedef enum { SLT_LAW_COMPUTE, SLT_LAW_CHINCHILLA } slt_fit_law;

/* Coefficients: compute law E, A, alpha; Chinchilla E, A, B, alpha, beta, then the
 * compute-optimal exponents a = β/(α+β) (N_opt ∝ C^a) and b = α/(α+β) (D_opt ∝ C^b). */
enum { SLT_FIT_MAX_COEF = 7 };

/* One family's runs (n of each; flops unused by Approach 3, params and tokens by the compute
 * law, and may be NULL there). All positive. */
typedef struct {
  int n;
  const double *flops, *params, *tokens, *loss;
} slt_fit_runs;

typedef struct {
  slt_fit_law law;
  double delta;  /* Huber δ of Approach 3 (SPEC: 1e-3; a huge δ gives least squares) */
  int bootstrap; /* replicates; 0 for none */
  uint64_t seed; /* of the bootstrap */
  int grid_boot; /* 1: every replicate refits from the whole grid; 0: from the point fit's
                    SLT_FIT_WARM_STARTS best distinct optima */
} slt_fit_opts;

/* Starts a warm bootstrap replicate refits from (the point fit's best distinct optima). */
enum { SLT_FIT_WARM_STARTS = 32 };

typedef struct {
  int ncoef;
  double coef[SLT_FIT_MAX_COEF];
  double lo[SLT_FIT_MAX_COEF], hi[SLT_FIT_MAX_COEF]; /* bootstrap 5% and 95% (NaN without) */
  double objective;                                  /* the point fit's Σ Huber (or ½Σ r²) */
  int boot_used; /* replicates with a finite fit (the intervals come from these) */
} slt_fit_result;

/* The options SPEC §9 asks for: Huber δ 1e-3, 500 replicates, seed 1. */
slt_fit_opts slt_fit_defaults(slt_fit_law law);
/* Number of coefficients reported for a law (3 or 7), and the name of coefficient k. */
int slt_fit_ncoef(slt_fit_law law);
const char *slt_fit_coef_name(slt_fit_law law, int k);
/* Number of free parameters of a law (3 or 5): a fit needs at least this many runs. */
int slt_fit_nparams(slt_fit_law law);
/* Fit one family (the point fit, then the bootstrap when o->bootstrap > 0). -1 with the error
 * recorded (too few runs, a non-positive value, no finite fit). */
int slt_fit_solve(const slt_fit_runs *r, const slt_fit_opts *o, slt_fit_result *out);
/* The law's loss at (x1, x2): compute law x1 = C; Approach 3 x1 = N, x2 = D. */
double slt_fit_predict(slt_fit_law law, const double *coef, double x1, double x2);

#endif
