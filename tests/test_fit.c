/* slt fit's library: the fits recover the coefficients of losses generated here from a known law
 * (plus small deterministic noise), Huber resists an outlier run where least squares does not,
 * the bootstrap does not depend on the thread count, and the results-table readers (CSV, JSONL)
 * parse what they should and name file:line and column when they refuse. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "sweep/fit_data.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <string.h>

/* Hoffmann et al.'s published Approach 3 fit (SPEC §9): the truth of the synthetic runs. */
static const double TE = 1.69, TA = 406.4, TB = 410.7, TALPHA = 0.34, TBETA = 0.28;

/* Small deterministic noise on log loss: amplitude amp, no pattern a law could follow. */
static double noise(int i, double amp) {
  return amp * sin(12.9898 * i + 78.233) * cos(4.1414 * i);
}

/* 25 runs on a 5 × 5 grid of N ∈ [1e7, 1e9] and D ∈ [1e8, 1e11] from the published law. */
static int chinchilla_runs(double *N, double *D, double *L, double amp) {
  int n = 0;
  for (int i = 0; i < 5; i++)
    for (int j = 0; j < 5; j++, n++) {
      N[n] = 1e7 * pow(10, 0.5 * i), D[n] = 1e8 * pow(10, 0.75 * j);
      L[n] = (TE + TA / pow(N[n], TALPHA) + TB / pow(D[n], TBETA)) * exp(noise(n, amp));
    }
  return n;
}

static bool within(double v, double truth, double rel) {
  bool ok = fabs(v / truth - 1) <= rel;
  if (!ok) printf("\n  %g is not within %g%% of %g\n", v, 100 * rel, truth);
  return ok;
}

static bool in_interval(const slt_fit_result *r, int k, double truth, double max_width) {
  bool ok = r->lo[k] <= truth && truth <= r->hi[k] && r->hi[k] - r->lo[k] < max_width;
  if (!ok)
    printf("\n  coefficient %d: %g not in [%g, %g] (width < %g wanted)\n", k, truth, r->lo[k],
           r->hi[k], max_width);
  return ok;
}

/* L(C) = 1.8 + 2000·C^−0.15 on 15 budgets from 1e15 to 1e22 FLOPs. */
static int compute_runs(double *C, double *L) {
  for (int i = 0; i < 15; i++) {
    C[i] = 1e15 * pow(10, 0.5 * i);
    L[i] = (1.8 + 2000 * pow(C[i], -0.15)) * exp(noise(i, 0.002));
  }
  return 15;
}

static void test_compute_law(void) {
  double C[15], L[15];
  slt_fit_runs r = {compute_runs(C, L), C, NULL, NULL, L};
  slt_fit_opts o = slt_fit_defaults(SLT_LAW_COMPUTE);
  slt_fit_result res;
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &res), 0);
  CU_ASSERT_EQUAL(res.ncoef, 3);
  CU_ASSERT_EQUAL(res.boot_used, 500);
  CU_ASSERT(within(res.coef[0], 1.8, 0.02));
  CU_ASSERT(within(res.coef[2], 0.15, 0.05));
  CU_ASSERT(in_interval(&res, 2, 0.15, 0.05));
  CU_ASSERT(res.lo[0] < res.coef[0] && res.coef[0] < res.hi[0]);
  printf("\n  compute law: E %.4f [%.4f, %.4f] (1.8), alpha %.4f [%.4f, %.4f] (0.15) ", res.coef[0],
         res.lo[0], res.hi[0], res.coef[2], res.lo[2], res.hi[2]);
}

/* The bootstrap's replicates are seeded by index: 1 and 2 threads give the same bits; another
 * seed gives other intervals; refits from the whole grid agree with the default warm starts. */
static void test_bootstrap_threads(void) {
  double C[15], L[15];
  slt_fit_runs r = {compute_runs(C, L), C, NULL, NULL, L};
  slt_fit_opts o = slt_fit_defaults(SLT_LAW_COMPUTE);
  o.bootstrap = 200;
  slt_fit_result one, two, other;
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &one), 0);
  omp_set_num_threads(2);
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &two), 0);
  o.seed = 2;
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &other), 0);
  omp_set_num_threads(threads);
  CU_ASSERT(!memcmp(one.lo, two.lo, sizeof one.lo) && !memcmp(one.hi, two.hi, sizeof one.hi));
  CU_ASSERT(memcmp(one.lo, other.lo, sizeof one.lo) != 0);
  /* replicates refitted from the whole grid: the same optima as from the full fit's best ones */
  o.seed = 1, o.grid_boot = 1;
  slt_fit_result grid;
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &grid), 0);
  for (int k = 0; k < 3; k++) /* equal up to where BFGS stops (about 1e-6 here) */
    CU_ASSERT(fabs(grid.lo[k] / one.lo[k] - 1) < 1e-4 && fabs(grid.hi[k] / one.hi[k] - 1) < 1e-4);
}

static void test_chinchilla(void) {
  double N[25], D[25], L[25];
  slt_fit_runs r = {chinchilla_runs(N, D, L, 0.002), NULL, N, D, L};
  slt_fit_opts o = slt_fit_defaults(SLT_LAW_CHINCHILLA);
  o.bootstrap = 200;
  slt_fit_result res;
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &res), 0);
  CU_ASSERT_EQUAL(res.ncoef, 7);
  CU_ASSERT(within(res.coef[0], TE, 0.02));
  CU_ASSERT(in_interval(&res, 3, TALPHA, 0.1));
  CU_ASSERT(in_interval(&res, 4, TBETA, 0.1));
  CU_ASSERT(in_interval(&res, 5, TBETA / (TALPHA + TBETA), 0.1));
  CU_ASSERT(in_interval(&res, 6, TALPHA / (TALPHA + TBETA), 0.1));
  CU_ASSERT_DOUBLE_EQUAL(res.coef[5] + res.coef[6], 1, 1e-12);
  printf("\n  Approach 3: E %.4f (1.69), alpha %.4f [%.4f, %.4f] (0.34), beta %.4f [%.4f, %.4f] "
         "(0.28) ",
         res.coef[0], res.coef[3], res.lo[3], res.hi[3], res.coef[4], res.lo[4], res.hi[4]);
}

/* One run's loss 25% high: Huber (δ 1e-3) stays near the truth, least squares (δ 1e3, the same
 * code with every residual in Huber's quadratic part) is pulled off. */
static void test_huber_outlier(void) {
  double N[25], D[25], L[25];
  slt_fit_runs r = {chinchilla_runs(N, D, L, 0.001), NULL, N, D, L};
  L[12] *= 1.25; /* the middle run */
  slt_fit_opts o = slt_fit_defaults(SLT_LAW_CHINCHILLA);
  o.bootstrap = 0;
  slt_fit_result huber, ls;
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &huber), 0);
  o.delta = 1e3;
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &ls), 0);
  const double truth[5] = {TE, TA, TB, TALPHA, TBETA};
  double eh = 0, el = 0;
  for (int k = 0; k < 5; k += k == 0 ? 3 : 1) { /* E, alpha, beta */
    eh = fmax(eh, fabs(huber.coef[k] / truth[k] - 1));
    el = fmax(el, fabs(ls.coef[k] / truth[k] - 1));
  }
  printf("\n  outlier: worst relative error of E, alpha, beta: Huber %.4f, least squares %.4f ", eh,
         el);
  CU_ASSERT(eh < 0.02);
  CU_ASSERT(el > 0.05);
}

/* The committed fixtures' runs, fitted here and by scipy (tests/reference/fit_reference.py):
 * an objective as low as scipy's and the same coefficients. Read through the table reader. */
static void check_reference(const char *csv, slt_fit_law law, const char *name) {
  char path[1024], word[32];
  snprintf(path, sizeof path, "%s/%s", SLT_FIXTURES, csv);
  slt_table *t = slt_table_read(path);
  slt_fit_set s;
  CU_ASSERT_FATAL(t && !slt_fit_load(t, law, NULL, &s));
  slt_table_free(t);
  slt_fit_runs r = slt_fit_family_runs(&s.fam[0]);
  slt_fit_opts o = slt_fit_defaults(law);
  o.bootstrap = 0;
  slt_fit_result res;
  CU_ASSERT_EQUAL_FATAL(slt_fit_solve(&r, &o, &res), 0);
  slt_fit_set_free(&s);
  snprintf(path, sizeof path, "%s/fit_reference.txt", SLT_FIXTURES);
  FILE *f = fopen(path, "r");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  double ref[6];
  int nref = law == SLT_LAW_COMPUTE ? 4 : 6, got = 0;
  fscanf(f, "%*[^\n]\n"); /* the comment line */
  while (fscanf(f, "%31s", word) == 1 && strcmp(word, name)) fscanf(f, "%*[^\n]\n");
  for (int k = 0; k < nref; k++) got += fscanf(f, "%lf", &ref[k]) == 1;
  fclose(f);
  CU_ASSERT_EQUAL_FATAL(got, nref);
  printf("\n  %s: objective %.9g (scipy %.9g), alpha %.6f (scipy %.6f) ", name, res.objective,
         ref[0], res.coef[law == SLT_LAW_COMPUTE ? 2 : 3], ref[law == SLT_LAW_COMPUTE ? 3 : 4]);
  CU_ASSERT(res.objective <= ref[0] * (1 + 1e-7));
  for (int k = 0; k < nref - 1; k++) CU_ASSERT(within(res.coef[k], ref[k + 1], 1e-4));
}

static void test_reference(void) {
  check_reference("fit_compute.csv", SLT_LAW_COMPUTE, "compute");
  check_reference("fit_chinchilla.csv", SLT_LAW_CHINCHILLA, "chinchilla");
}

/* ---------------- results tables ---------------- */

/* Write text to name in the suite's scratch directory; its path. */
static const char *put(const char *name, const char *text) {
  const char *path = test_tpath(name);
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static void test_csv(void) {
  const char *p = put("q.csv", "name,ffn,flops,val_loss,status\r\n"
                               "\"a,1\",dense,1.2e16,3.5,done\r\n"
                               "\r\n"
                               "\"say \"\"hi\"\"\",lowrank,2.4e16,nan,done\r\n"
                               "c,dense,3.6e16,3.1,running\n");
  slt_table *t = slt_table_read(p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT(t->ncols == 5 && t->nrows == 3);
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 0, 0), "a,1");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 1, 0), "say \"hi\"");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 2, 4), "running");
  CU_ASSERT(t->line[0] == 2 && t->line[1] == 4 && t->line[2] == 5);
  double v = 0;
  CU_ASSERT(slt_table_num(t, 0, 2, &v) == 0 && v == 1.2e16);
  CU_ASSERT(slt_table_num(t, 1, 3, &v) == 0 && isnan(v));
  CU_ASSERT_EQUAL(slt_table_find(t, "status"), 4);
  /* one usable run (b: NaN loss, c: running), fewer than the compute law's 3 parameters */
  slt_fit_set s;
  CU_ASSERT_EQUAL(slt_fit_load(t, SLT_LAW_COMPUTE, "ffn", &s), -1);
  CU_ASSERT(test_err_has("q.csv: family 'dense' (column 'ffn') has 1 usable run", "3 parameters"));
  CU_ASSERT_EQUAL(slt_fit_load(t, SLT_LAW_COMPUTE, "arch", &s), -1);
  CU_ASSERT(test_err_has("q.csv: no column 'arch'", "--by"));
  slt_table_free(t);
}

static void test_jsonl(void) {
  const char *p = put("r.jsonl", "{\"name\": \"a\", \"ffn\": \"dense\", \"flops\": 1e16, "
                                 "\"val_loss\": 3.5, \"status\": \"done\", "
                                 "\"overrides\": {\"x\": [1, \"]\"]}}\n"
                                 "\n"
                                 "{\"name\": \"b\\u00e9\\\"\", \"flops\": 2e16, \"val_loss\": NaN, "
                                 "\"status\": null}\n"
                                 "  {\"flops\": 3e16, \"val_loss\": -Infinity, \"extra\": true}\n");
  slt_table *t = slt_table_read(p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT(t->ncols == 7 && t->nrows == 3);
  int ffn = slt_table_find(t, "ffn"), st = slt_table_find(t, "status");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 0, slt_table_find(t, "overrides")),
                         "{\"x\": [1, \"]\"]}");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 1, 0), "b\xc3\xa9\"");
  CU_ASSERT(slt_table_str(t, 1, ffn) == NULL && slt_table_str(t, 1, st) == NULL);
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 2, slt_table_find(t, "extra")), "true");
  CU_ASSERT(t->line[2] == 4);
  double v = 0;
  CU_ASSERT(slt_table_num(t, 2, slt_table_find(t, "val_loss"), &v) == 0 && isinf(v) && v < 0);
  CU_ASSERT_EQUAL(slt_table_num(t, 1, ffn, &v), -1);
  CU_ASSERT(test_err_has("r.jsonl:3: column 'ffn': no value", NULL));
  slt_table_free(t);
}

/* Families in order of first appearance, skipped rows counted, values in row order. */
static void test_load(void) {
  char text[2048] = "ffn,flops,val_loss,status\n";
  for (int i = 0; i < 8; i++)
    snprintf(text + strlen(text), sizeof text - strlen(text), "%s,%de15,%g,done\n",
             i % 2 ? "dense" : "lowrank", i + 1, 4.0 - 0.1 * i);
  strcat(text, "dense,9e15,inf,done\nlowrank,1e16,,failed\ndense,2e16,,done\n");
  slt_table *t = slt_table_read(put("fam.csv", text));
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  slt_fit_set s;
  CU_ASSERT_EQUAL_FATAL(slt_fit_load(t, SLT_LAW_COMPUTE, "ffn", &s), 0);
  CU_ASSERT(s.nfam == 2 && s.skipped_status == 1 && s.skipped_loss == 2);
  CU_ASSERT(!strcmp(s.fam[0].name, "lowrank") && !strcmp(s.fam[1].name, "dense"));
  CU_ASSERT(s.fam[0].n == 4 && s.fam[1].n == 4);
  CU_ASSERT(s.fam[1].flops[0] == 2e15 && s.fam[1].loss[3] == 4.0 - 0.7 && s.fam[1].line[3] == 9);
  slt_fit_set_free(&s);
  CU_ASSERT_EQUAL(slt_fit_load(t, SLT_LAW_CHINCHILLA, NULL, &s), -1);
  CU_ASSERT(test_err_has("fam.csv: no column 'params'", "Approach 3 needs params, tokens"));
  slt_table_free(t);
}

/* Each refusal is one line naming the file, and the line and column where there is one. */
static void test_table_errors(void) {
  static const struct {
    const char *name, *text, *want_a, *want_b;
  } cases[] = {
      {"ragged.csv", "flops,val_loss\n1e16,3\n2e16\n", "ragged.csv:3: 1 field", "ragged"},
      {"long.csv", "flops,val_loss\n1e16,3,4\n", "long.csv:2: 3 fields", "2 columns"},
      {"bad.csv", "flops,val_loss\n1e16,3\n2e16,abc\n", "bad.csv:3: column 'val_loss'", "'abc'"},
      {"nocol.csv", "flops,loss\n1e16,3\n", "nocol.csv: no column 'val_loss'", "flops, loss"},
      {"zero.csv", "flops,val_loss\n1e16,3\n0,3\n", "zero.csv:3: column 'flops'", "not positive"},
      {"negloss.csv", "flops,val_loss\n1e16,-3\n", "negloss.csv:2: column 'val_loss'", "positive"},
      {"noflops.csv", "flops,val_loss\n,3\n", "noflops.csv:2: column 'flops'", "no value"},
      {"open.csv", "flops,val_loss\n\"1e16,3\n", "open.csv:2:", "never closed"},
      {"dup.csv", "flops,flops\n1,2\n", "dup.csv:1:", "repeats the name 'flops'"},
      {"empty.csv", "\n\n", "empty.csv: empty file", NULL},
      {"header.csv", "flops,val_loss\n", "header.csv: no rows", NULL},
      {"bad.jsonl", "{\"flops\": 1e16, \"val_loss\": 3}\n{\"flops\": 2e16, \"val_loss\": }\n",
       "bad.jsonl:2: bad JSON at byte 29", "expected a value"},
      {"trail.jsonl", "{\"flops\": 1e16} x\n", "trail.jsonl:1:", "text after the object"},
      {"str.jsonl", "{\"flops\": \"big\", \"val_loss\": 3}\n", "str.jsonl:1: column 'flops'",
       "'big' is not a number"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    slt_err_clear();
    slt_table *t = slt_table_read(put(cases[i].name, cases[i].text));
    slt_fit_set s;
    int rc = t ? slt_fit_load(t, SLT_LAW_COMPUTE, NULL, &s) : -1;
    if (!rc) slt_fit_set_free(&s);
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT(test_err_has(cases[i].want_a, cases[i].want_b));
    slt_table_free(t);
  }
  CU_ASSERT_PTR_NULL(slt_table_read(test_tpath("missing.csv")));
  CU_ASSERT(test_err_has("missing.csv: cannot open", NULL));
}

static int suite_init(void) {
  return test_tmpdir_init("fit");
}

int register_fit_suite(void) {
  CU_pSuite s = CU_add_suite("fit", suite_init, test_tmpdir_cleanup);
  return !s || !CU_add_test(s, "compute law recovers E, alpha", test_compute_law) ||
         !CU_add_test(s, "bootstrap independent of threads", test_bootstrap_threads) ||
         !CU_add_test(s, "Approach 3 recovers E, alpha, beta", test_chinchilla) ||
         !CU_add_test(s, "the same fits as scipy's", test_reference) ||
         !CU_add_test(s, "Huber resists an outlier, least squares not", test_huber_outlier) ||
         !CU_add_test(s, "CSV reader", test_csv) || !CU_add_test(s, "JSONL reader", test_jsonl) ||
         !CU_add_test(s, "families and skipped rows", test_load) ||
         !CU_add_test(s, "table errors name file:line and column", test_table_errors);
}
