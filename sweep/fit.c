/* Scaling-law fits: the log-sum-exp objective and its gradient, BFGS from a grid of starts, the
 * bootstrap. See fit.h for the model and the determinism argument. */
#include "sweep/fit.h"

#include "autograd/error.h"
#include "autograd/rng.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <math.h>
#include <omp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAXP = 5, MAX_ITER = 1000 };

/* One weighted problem: logs of the inputs, and the weight of each run (bootstrap counts). */
typedef struct {
  int n, np; /* runs; parameters (3: e, a, α; 5: e, a, b, α, β) */
  const double *lx1, *lx2, *ll, *w;
  double delta;
  double shift[2]; /* lx1, lx2 are centred: log x − shift, the mean log. An exact change of
                      variables (a' = a − α·shift) that unties a from α (log N ≈ 20, log C ≈ 40
                      make them nearly collinear), so BFGS converges in far fewer iterations */
} problem;

/* Σ w·Huber_δ(LSE(terms) − log L) at th, and its gradient into g when g is not NULL. */
static double objective(const problem *p, const double *th, double *g) {
  int nt = p->np == 3 ? 2 : 3;        /* terms: the power terms, then e */
  int ia[2] = {1, 2}, is[2] = {2, 0}; /* intercept and slope index of each power term */
  if (nt == 3) is[0] = 3, is[1] = 4;
  double f = 0;
  if (g) memset(g, 0, (size_t)p->np * sizeof *g);
  for (int i = 0; i < p->n; i++) {
    if (p->w && p->w[i] == 0) continue;
    double lx[2] = {p->lx1[i], p->lx2 ? p->lx2[i] : 0}, t[3], m = th[0];
    for (int k = 0; k < nt - 1; k++) {
      t[k] = th[ia[k]] - th[is[k]] * lx[k];
      if (t[k] > m) m = t[k];
    }
    t[nt - 1] = th[0];
    double s = 0;
    for (int k = 0; k < nt; k++) s += t[k] = exp(t[k] - m); /* t becomes unnormalised softmax */
    double r = m + log(s) - p->ll[i], w = p->w ? p->w[i] : 1, ar = fabs(r);
    f += w * (ar <= p->delta ? 0.5 * r * r : p->delta * (ar - 0.5 * p->delta));
    if (!g) continue;
    double d = w * (ar <= p->delta ? r : copysign(p->delta, r)) / s;
    for (int k = 0; k < nt - 1; k++) {
      g[ia[k]] += d * t[k];
      g[is[k]] -= d * t[k] * lx[k];
    }
    g[0] += d * t[nt - 1];
  }
  return f;
}

static double gsl_f(const gsl_vector *x, void *p) {
  return objective(p, x->data, NULL);
}
static void gsl_df(const gsl_vector *x, void *p, gsl_vector *g) {
  objective(p, x->data, g->data);
}
static void gsl_fdf(const gsl_vector *x, void *p, double *f, gsl_vector *g) {
  *f = objective(p, x->data, g->data);
}

/* BFGS from start into th; the objective reached (NaN/inf when it diverged). */
static double minimise(gsl_multimin_fdfminimizer *m, const problem *p, const double *start,
                       double *th) {
  gsl_multimin_function_fdf fn = {gsl_f, gsl_df, gsl_fdf, (size_t)p->np, (void *)p};
  gsl_vector_const_view x0 = gsl_vector_const_view_array(start, (size_t)p->np);
  if (gsl_multimin_fdfminimizer_set(m, &fn, &x0.vector, 0.1, 0.1) != GSL_SUCCESS)
    return NAN; /* the start itself is not finite */
  /* Stop at a zero gradient, when GSL makes no progress, or when ten iterations gained less
   * than 1e-8 of the objective: Huber's kinks keep BFGS creeping long after the fit is found. */
  double f_ten = m->f;
  for (int it = 0; it < MAX_ITER; it++) {
    if (gsl_multimin_fdfminimizer_iterate(m) != GSL_SUCCESS) break;
    if (gsl_multimin_test_gradient(m->gradient, 1e-12) == GSL_SUCCESS) break;
    if (it % 10 == 9) {
      if (f_ten - m->f <= 1e-8 * fabs(m->f)) break;
      f_ten = m->f;
    }
  }
  memcpy(th, m->x->data, (size_t)p->np * sizeof *th);
  return m->f;
}

/* ---------------- starts ---------------- */

/* Approach 3's grid (SPEC §9): α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …,
 * 25}; 4500 starts of (e, a, b, α, β), the same points in the centred variables. */
static int chinchilla_grid(const problem *p, double *out) {
  int n = 0;
  for (int ia = 0; ia <= 4; ia++)
    for (int ib = 0; ib <= 4; ib++)
      for (int ie = 0; ie <= 4; ie++)
        for (int ja = 0; ja <= 5; ja++)
          for (int jb = 0; jb <= 5; jb++, n++) {
            double *s = out + (size_t)n * 5;
            s[0] = -1 + 0.5 * ie, s[3] = 0.5 * ia, s[4] = 0.5 * ib;
            s[1] = 5.0 * ja - s[3] * p->shift[0], s[2] = 5.0 * jb - s[4] * p->shift[1];
          }
  return n;
}

/* The compute law's starts, adapted to the data so FLOP units do not matter: E a fraction of the
 * smallest loss, α from 0.025 to 0.8, and a placing A·C^−α at the mean excess loss at the mean
 * (centred) log C. 30 starts of (e, a, α). */
static int compute_grid(const problem *p, double *out) {
  static const double frac[] = {0.1, 0.3, 0.5, 0.7, 0.9};
  static const double alpha[] = {0.025, 0.05, 0.1, 0.2, 0.4, 0.8};
  double minl = INFINITY, mean_l = 0, mean_x = 0;
  for (int i = 0; i < p->n; i++) {
    minl = fmin(minl, exp(p->ll[i]));
    mean_l += exp(p->ll[i]) / p->n, mean_x += p->lx1[i] / p->n;
  }
  int n = 0;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 6; j++, n++) {
      double E = frac[i] * minl, *s = out + (size_t)n * 3;
      s[0] = log(E), s[2] = alpha[j], s[1] = alpha[j] * mean_x + log(mean_l - E);
    }
  return n;
}

/* ---------------- fits ---------------- */

/* BFGS from each of ns starts; the best θ into best (lowest objective, first on ties), every
 * start's result into all[ns × (np + 1)] (θ then objective) when all is not NULL. Parallel over
 * the starts unless already inside a parallel region. */
static double fit_starts(const problem *p, const double *starts, int ns, double *best,
                         double *all) {
  int np = p->np, stride = np + 1;
  double *res = all ? all : malloc((size_t)ns * stride * sizeof *res);
  if (!res) return NAN;
#pragma omp parallel if (ns > 64 && !omp_in_parallel())
  {
    gsl_multimin_fdfminimizer *m =
        gsl_multimin_fdfminimizer_alloc(gsl_multimin_fdfminimizer_vector_bfgs2, (size_t)np);
#pragma omp for schedule(dynamic, 16)
    for (int s = 0; s < ns; s++) {
      double *r = res + (size_t)s * stride;
      r[np] = m ? minimise(m, p, starts + (size_t)s * np, r) : NAN;
    }
    if (m) gsl_multimin_fdfminimizer_free(m);
  }
  double fbest = INFINITY;
  for (int s = 0; s < ns; s++) {
    const double *r = res + (size_t)s * stride;
    if (isfinite(r[np]) && r[np] < fbest) fbest = r[np], memcpy(best, r, (size_t)np * sizeof *best);
  }
  if (res != all) free(res);
  return fbest < INFINITY ? fbest : NAN;
}

/* The reported coefficients from θ. */
static void coefs(const problem *p, const double *th, double *c) {
  int np = p->np;
  c[0] = exp(th[0]), c[1] = exp(th[1] + th[np == 3 ? 2 : 3] * p->shift[0]);
  if (np == 3) {
    c[2] = th[2];
    return;
  }
  c[2] = exp(th[2] + th[4] * p->shift[1]), c[3] = th[3], c[4] = th[4];
  c[5] = th[4] / (th[3] + th[4]), c[6] = th[3] / (th[3] + th[4]);
}

/* The point fit's best SLT_FIT_WARM_STARTS distinct optima (all: ns × (np + 1)) into warm. */
static int warm_starts(const double *all, int ns, int np, double *warm) {
  int nw = 0, stride = np + 1;
  bool *used = calloc((size_t)ns, sizeof *used);
  while (used && nw < SLT_FIT_WARM_STARTS) {
    int b = -1;
    for (int s = 0; s < ns; s++)
      if (!used[s] && isfinite(all[(size_t)s * stride + np]) &&
          (b < 0 || all[(size_t)s * stride + np] < all[(size_t)b * stride + np]))
        b = s;
    if (b < 0) break;
    used[b] = true;
    const double *th = all + (size_t)b * stride;
    bool dup = false;
    for (int k = 0; k < nw && !dup; k++) {
      double d = 0;
      for (int j = 0; j < np; j++) d = fmax(d, fabs(warm[k * np + j] - th[j]));
      dup = d < 1e-3;
    }
    if (!dup) memcpy(warm + (size_t)nw++ * np, th, (size_t)np * sizeof *th);
  }
  free(used);
  return nw;
}

/* ---------------- the bootstrap ---------------- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* The q-quantile of sorted v[0..n), interpolated linearly (numpy's default). */
static double quantile(const double *v, int n, double q) {
  double h = (n - 1) * q;
  int lo = (int)floor(h);
  return lo + 1 < n ? v[lo] + (h - lo) * (v[lo + 1] - v[lo]) : v[lo];
}

/* Replicate r's fit: the runs drawn with replacement (as counts in w), refitted from the starts;
 * its coefficients into c (NaN when no start gave a finite fit). */
static void replicate(const problem *p0, const double *starts, int ns, const slt_fit_opts *o, int r,
                      double *w, int nc, double *c) {
  slt_rng rng;
  slt_rng_seed(&rng, o->seed + 0x9E3779B97F4A7C15ull * (uint64_t)(r + 1));
  memset(w, 0, (size_t)p0->n * sizeof *w);
  for (int i = 0; i < p0->n; i++) w[slt_rng_below(&rng, (uint64_t)p0->n)] += 1;
  problem q = *p0;
  q.w = w;
  double th[MAXP];
  if (isfinite(fit_starts(&q, starts, ns, th, NULL)))
    coefs(p0, th, c);
  else
    for (int k = 0; k < nc; k++) c[k] = NAN;
}

static bool all_finite(const double *c, int nc) {
  for (int k = 0; k < nc; k++)
    if (!isfinite(c[k])) return false;
  return true;
}

/* The 5% and 95% points of every coefficient over o->bootstrap replicates into out (from the
 * replicates whose coefficients are all finite). */
static int bootstrap(const problem *p, const double *starts, int ns, const slt_fit_opts *o,
                     slt_fit_result *out) {
  int R = o->bootstrap, nc = out->ncoef;
  double *vals = malloc((size_t)R * nc * sizeof *vals), *col = malloc((size_t)R * sizeof *col);
  int oom = !vals || !col;
  if (!oom) {
#pragma omp parallel reduction(| : oom)
    {
      double *w = malloc((size_t)p->n * sizeof *w);
      oom |= !w;
#pragma omp for schedule(dynamic, 1)
      for (int r = 0; r < R; r++)
        if (w) replicate(p, starts, ns, o, r, w, nc, vals + (size_t)r * nc);
      free(w);
    }
  }
  out->boot_used = 0;
  for (int k = 0; !oom && k < nc; k++) {
    int m = 0;
    for (int r = 0; r < R; r++)
      if (all_finite(vals + (size_t)r * nc, nc)) col[m++] = vals[(size_t)r * nc + k];
    out->boot_used = m;
    if (!m) break;
    qsort(col, (size_t)m, sizeof *col, cmp_double);
    out->lo[k] = quantile(col, m, 0.05), out->hi[k] = quantile(col, m, 0.95);
  }
  free(vals), free(col);
  if (oom)
    slt_err_set("fit: out of memory");
  else if (!out->boot_used)
    slt_err_set("fit: no bootstrap replicate reached a finite fit");
  return oom || !out->boot_used ? -1 : 0;
}

/* ---------------- the public calls ---------------- */

slt_fit_opts slt_fit_defaults(slt_fit_law law) {
  return (slt_fit_opts){.law = law, .delta = 1e-3, .bootstrap = 500, .seed = 1, .grid_boot = 0};
}

int slt_fit_ncoef(slt_fit_law law) {
  return law == SLT_LAW_COMPUTE ? 3 : 7;
}

int slt_fit_nparams(slt_fit_law law) {
  return law == SLT_LAW_COMPUTE ? 3 : 5;
}

const char *slt_fit_coef_name(slt_fit_law law, int k) {
  static const char *const compute[] = {"E", "A", "alpha"};
  static const char *const chin[] = {"E", "A", "B", "alpha", "beta", "a", "b"};
  if (k < 0 || k >= slt_fit_ncoef(law)) return "?";
  return law == SLT_LAW_COMPUTE ? compute[k] : chin[k];
}

double slt_fit_predict(slt_fit_law law, const double *c, double x1, double x2) {
  if (law == SLT_LAW_COMPUTE) return c[0] + c[1] * pow(x1, -c[2]);
  return c[0] + c[1] * pow(x1, -c[3]) + c[2] * pow(x2, -c[4]);
}

/* Logs of the inputs into lx1, lx2, ll; -1 with the error recorded on a non-positive value. */
static int take_logs(const slt_fit_runs *r, slt_fit_law law, double *lx1, double *lx2, double *ll) {
  const double *x1 = law == SLT_LAW_COMPUTE ? r->flops : r->params;
  const char *n1 = law == SLT_LAW_COMPUTE ? "flops" : "params";
  for (int i = 0; i < r->n; i++) {
    const char *bad = !(x1[i] > 0)                                       ? n1
                      : law == SLT_LAW_CHINCHILLA && !(r->tokens[i] > 0) ? "tokens"
                      : !(r->loss[i] > 0)                                ? "loss"
                                                                         : NULL;
    if (bad) {
      slt_err_set("fit: run %d: %s is not a positive number (the fit takes its log)", i + 1, bad);
      return -1;
    }
    lx1[i] = log(x1[i]), ll[i] = log(r->loss[i]);
    if (lx2) lx2[i] = log(r->tokens[i]);
  }
  return 0;
}

int slt_fit_solve(const slt_fit_runs *r, const slt_fit_opts *o, slt_fit_result *out) {
  gsl_set_error_handler_off(); /* GSL's default handler aborts; its status codes suffice */
  int np = slt_fit_nparams(o->law), nc = slt_fit_ncoef(o->law), n = r->n;
  memset(out, 0, sizeof *out);
  out->ncoef = nc;
  for (int k = 0; k < nc; k++) out->lo[k] = out->hi[k] = NAN;
  if (n < np) {
    slt_err_set("fit: %d run%s, fewer than the law's %d parameters", n, n == 1 ? "" : "s", np);
    return -1;
  }
  bool chin = o->law == SLT_LAW_CHINCHILLA;
  if (chin && !(o->delta > 0)) {
    slt_err_set("fit: the Huber delta must be positive, got %g", o->delta);
    return -1;
  }
  int ns_max = chin ? 4500 : 30;
  double *lx1 = malloc((size_t)n * sizeof *lx1), *lx2 = calloc((size_t)n, sizeof *lx2),
         *ll = malloc((size_t)n * sizeof *ll),
         *starts = malloc((size_t)ns_max * np * sizeof *starts),
         *all = malloc((size_t)ns_max * (np + 1) * sizeof *all), th[MAXP];
  int rc = -1;
  if (!lx1 || !lx2 || !ll || !starts || !all) {
    slt_err_set("fit: out of memory");
    goto done;
  }
  if (take_logs(r, o->law, lx1, chin ? lx2 : NULL, ll)) goto done;
  problem p = {n, np, lx1, chin ? lx2 : NULL, ll, NULL, chin ? o->delta : INFINITY, {0, 0}};
  for (int i = 0; i < n; i++) p.shift[0] += lx1[i] / n, p.shift[1] += chin ? lx2[i] / n : 0;
  for (int i = 0; i < n; i++) lx1[i] -= p.shift[0], lx2[i] -= p.shift[1];
  int ns = chin ? chinchilla_grid(&p, starts) : compute_grid(&p, starts);
  out->objective = fit_starts(&p, starts, ns, th, all);
  if (!isfinite(out->objective)) {
    slt_err_set("fit: no start reached a finite fit");
    goto done;
  }
  coefs(&p, th, out->coef);
  rc = 0;
  if (o->bootstrap > 0) {
    if (!o->grid_boot) ns = warm_starts(all, ns, np, starts);
    rc = bootstrap(&p, starts, ns, o, out);
  }
done:
  free(lx1), free(lx2), free(ll), free(starts), free(all);
  return rc;
}
