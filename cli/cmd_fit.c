/* slt fit RESULTS: SPEC §9's scaling laws per family, with bootstrap intervals, compared across
 * families, optionally drawn (gnuplot PNG). */
#include "cli.h"

#include "autograd/error.h"
#include "sweep/fit_data.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *results, *by, *plot;
  slt_fit_opts o;
} fit_args;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: slt fit RESULTS [--law compute|chinchilla] [--by KEY] [--bootstrap N]\n"
      "               [--seed S] [--bootstrap-grid] [--plot OUT.png]\n\n"
      "Fit scaling laws (SPEC §9) to a results table (CSV with a header row, or JSONL),\n"
      "per family of runs (rows with the same --by value), and print each coefficient with\n"
      "its bootstrap 5-95%% interval.\n\n"
      "  --law compute     L(C) = E + A*C^-alpha, least squares on log loss (default);\n"
      "                    columns flops, val_loss\n"
      "  --law chinchilla  Hoffmann et al. Approach 3: L(N, D) = E + A/N^alpha + B/D^beta,\n"
      "                    Huber (delta 1e-3) on log loss from the 4500-start grid;\n"
      "                    columns params, tokens, val_loss; also the compute-optimal\n"
      "                    exponents a = beta/(alpha+beta) (N_opt ~ C^a), b = alpha/(alpha+beta)\n"
      "  --by KEY          the column naming each run's family (default: one family)\n"
      "  --bootstrap N     replicates, runs resampled with replacement (default 500; 0: none)\n"
      "  --seed S          bootstrap seed (default 1); the result does not depend on threads\n"
      "  --bootstrap-grid  refit every replicate from the whole start grid (Approach 3: 4500\n"
      "                    starts each, slow); by default a replicate refits from the full\n"
      "                    fit's 32 best distinct optima\n"
      "  --plot OUT.png    loss vs FLOPs per family with the fits (needs gnuplot; OUT must\n"
      "                    not exist)\n\n"
      "Rows whose status column is not \"done\" and rows without a finite val_loss are skipped\n"
      "(and counted). Then it says, per exponent, whether two families' intervals overlap.\n");
}

/* One option at argv[*i] (advancing past its value); 0, or 2 after a message. */
static int option(int argc, char **argv, int *i, slt_cli_seen *seen, fit_args *a) {
  const char *opt = argv[*i], *v;
  if (!strcmp(opt, "--bootstrap-grid")) {
    a->o.grid_boot = 1;
    return slt_cli_once("fit", seen, opt);
  }
  if (strcmp(opt, "--law") && strcmp(opt, "--by") && strcmp(opt, "--bootstrap") &&
      strcmp(opt, "--seed") && strcmp(opt, "--plot"))
    return slt_cli_usage_error("fit", "unknown option '%s'", opt);
  if (slt_cli_once("fit", seen, opt) || !(v = slt_cli_value("fit", argc, argv, i))) return 2;
  if (!strcmp(opt, "--law")) {
    if (strcmp(v, "compute") && strcmp(v, "chinchilla"))
      return slt_cli_usage_error("fit", "--law needs compute or chinchilla, got '%s'", v);
    a->o.law = strcmp(v, "compute") ? SLT_LAW_CHINCHILLA : SLT_LAW_COMPUTE;
  } else if (!strcmp(opt, "--bootstrap")) {
    long n;
    if (slt_cli_long("fit", opt, v, 0, 1000000, &n)) return 2;
    a->o.bootstrap = (int)n;
  } else if (!strcmp(opt, "--seed")) {
    unsigned long long s;
    if (slt_cli_u64("fit", opt, v, &s)) return 2;
    a->o.seed = s;
  } else {
    *(!strcmp(opt, "--by") ? &a->by : &a->plot) = v;
  }
  return 0;
}

static int parse(int argc, char **argv, fit_args *a) {
  slt_cli_seen seen = {0};
  for (int i = 1; i < argc; i++) {
    if (slt_cli_is_option(argv[i])) {
      int bad = option(argc, argv, &i, &seen, a);
      if (bad) return bad;
    } else if (a->results) {
      return slt_cli_usage_error("fit", "one RESULTS only, got '%s' and '%s'", a->results, argv[i]);
    } else if (!*argv[i]) {
      return slt_cli_usage_error("fit", "RESULTS is an empty string");
    } else {
      a->results = argv[i];
    }
  }
  if (!a->results) return slt_cli_usage_error("fit", "missing RESULTS (a results.csv or .jsonl)");
  return 0;
}

/* "v [lo, hi]" (or just v without a bootstrap). */
static void cell(char *buf, size_t len, const slt_fit_result *r, int k) {
  if (isnan(r->lo[k]))
    snprintf(buf, len, "%.4g", r->coef[k]);
  else
    snprintf(buf, len, "%.4g [%.4g, %.4g]", r->coef[k], r->lo[k], r->hi[k]);
}

static void print_table(const slt_fit_set *s, const slt_fit_result *res, slt_fit_law law) {
  int nc = slt_fit_ncoef(law), wname = 6, w[SLT_FIT_MAX_COEF];
  char buf[96];
  for (int f = 0; f < s->nfam; f++)
    if ((int)strlen(s->fam[f].name) > wname) wname = (int)strlen(s->fam[f].name);
  for (int k = 0; k < nc; k++) {
    w[k] = (int)strlen(slt_fit_coef_name(law, k));
    for (int f = 0; f < s->nfam; f++) {
      cell(buf, sizeof buf, &res[f], k);
      if ((int)strlen(buf) > w[k]) w[k] = (int)strlen(buf);
    }
  }
  printf("%-*s  %4s", wname, "family", "runs");
  for (int k = 0; k < nc; k++) printf("  %-*s", k + 1 < nc ? w[k] : 0, slt_fit_coef_name(law, k));
  printf("\n");
  for (int f = 0; f < s->nfam; f++) {
    printf("%-*s  %4d", wname, s->fam[f].name, s->fam[f].n);
    for (int k = 0; k < nc; k++) {
      cell(buf, sizeof buf, &res[f], k);
      printf("  %-*s", k + 1 < nc ? w[k] : 0, buf); /* no trailing blanks */
    }
    printf("\n");
  }
}

/* Per exponent and pair of families: do the intervals overlap (SPEC §9: a "steeper" claim holds
 * only where they do not)? */
static void print_overlaps(const slt_fit_set *s, const slt_fit_result *res, slt_fit_law law) {
  int exps[2] = {2, -1};
  if (law == SLT_LAW_CHINCHILLA) exps[0] = 3, exps[1] = 4;
  for (int e = 0; e < 2 && exps[e] >= 0; e++) {
    int k = exps[e];
    const char *name = slt_fit_coef_name(law, k);
    for (int f = 0; f < s->nfam; f++)
      for (int g = f + 1; g < s->nfam; g++) {
        const slt_fit_result *x = &res[f], *y = &res[g];
        bool apart = x->hi[k] < y->lo[k] || y->hi[k] < x->lo[k];
        printf("%s: %s [%.4g, %.4g] and %s [%.4g, %.4g] %s", name, s->fam[f].name, x->lo[k],
               x->hi[k], s->fam[g].name, y->lo[k], y->hi[k],
               apart ? "do not overlap: " : "overlap: no claim either way\n");
        if (apart)
          printf("%s has the larger %s (steeper)\n",
                 x->lo[k] > y->hi[k] ? s->fam[f].name : s->fam[g].name, name);
      }
  }
}

/* Fit every family; 0, or 1 after a message. */
static int fit_all(const fit_args *a, const slt_fit_set *s, slt_fit_result *res) {
  for (int f = 0; f < s->nfam; f++) {
    slt_fit_runs r = slt_fit_family_runs(&s->fam[f]);
    slt_fit_opts o = a->o;
    o.seed = a->o.seed + 0x2545F4914F6CDD1Dull * (uint64_t)f; /* families draw independently */
    if (slt_fit_solve(&r, &o, &res[f])) {
      fprintf(stderr, "slt fit: %s: family '%s': %s\n", a->results, s->fam[f].name, slt_err_msg());
      return 1;
    }
  }
  return 0;
}

static void print_header(const fit_args *a, const slt_fit_set *s) {
  int runs = 0;
  for (int f = 0; f < s->nfam; f++) runs += s->fam[f].n;
  printf("%s: %d runs in %d famil%s", a->results, runs, s->nfam, s->nfam == 1 ? "y" : "ies");
  if (a->by) printf(" (by %s)", a->by);
  if (s->skipped_status || s->skipped_loss)
    printf("; skipped %d with a status other than done and %d without a finite val_loss",
           s->skipped_status, s->skipped_loss);
  printf("\nlaw: %s\n", a->o.law == SLT_LAW_COMPUTE
                            ? "L(C) = E + A*C^-alpha, least squares on log loss"
                            : "L(N, D) = E + A/N^alpha + B/D^beta (Approach 3, Huber 1e-3 on "
                              "log loss; a = beta/(alpha+beta), b = alpha/(alpha+beta))");
  if (a->o.bootstrap)
    printf("intervals: 5-95%% over %d bootstrap replicates (seed %llu), each refitted from %s\n\n",
           a->o.bootstrap, (unsigned long long)a->o.seed,
           a->o.grid_boot ? "the whole start grid" : "the full fit's best distinct optima");
  else
    printf("intervals: none (--bootstrap 0)\n\n");
}

int slt_cmd_fit(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  fit_args a = {.o = slt_fit_defaults(SLT_LAW_COMPUTE)};
  int bad = parse(argc, argv, &a);
  if (bad) return bad;
  a.o.delta = slt_fit_defaults(a.o.law).delta;
  if (a.plot && slt_cli_new_output("fit", a.plot, "--plot")) return 1;
  slt_table *t = slt_table_read(a.results);
  slt_fit_set s;
  if (!t || slt_fit_load(t, a.o.law, a.by, &s)) {
    fprintf(stderr, "slt fit: %s\n", slt_err_msg());
    slt_table_free(t);
    return 1;
  }
  slt_table_free(t);
  slt_fit_result *res = calloc((size_t)s.nfam, sizeof *res);
  int rc = res ? fit_all(&a, &s, res) : 1;
  if (!res) fprintf(stderr, "slt fit: out of memory\n");
  if (!rc) {
    print_header(&a, &s);
    print_table(&s, res, a.o.law);
    if (a.o.bootstrap && s.nfam > 1) printf("\n");
    if (a.o.bootstrap) print_overlaps(&s, res, a.o.law);
    for (int f = 0; a.o.bootstrap && f < s.nfam; f++)
      if (res[f].boot_used < a.o.bootstrap)
        printf("note: %s: %d of %d replicates reached a finite fit (the intervals use those)\n",
               s.fam[f].name, res[f].boot_used, a.o.bootstrap);
  }
  if (!rc && a.plot && slt_fit_plot(&s, res, a.o.law, a.plot)) {
    fprintf(stderr, "slt fit: %s\n", slt_err_msg());
    rc = 1;
  }
  if (!rc && a.plot) printf("plot: %s\n", a.plot);
  free(res);
  slt_fit_set_free(&s);
  return rc;
}
