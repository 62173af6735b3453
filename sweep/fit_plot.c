/* slt fit --plot: loss against FLOPs per family, drawn by gnuplot from a temp data file and
 * script (gnuplot is run, not linked: it stays an optional runtime tool). */
#define _GNU_SOURCE /* mkdtemp */
#include "sweep/fit_data.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { CURVE_POINTS = 120, MAX_SIZES = 8 };

/* s as a gnuplot single-quoted string ('' is a quote; a newline would end the command). */
static void quoted(FILE *g, const char *s) {
  fputc('\'', g);
  for (; *s; s++) {
    if (*s == '\'') fputc('\'', g);
    fputc(*s == '\n' || *s == '\r' ? ' ' : *s, g);
  }
  fputc('\'', g);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* FLOPs per parameter-token of a family (Approach 3): the median of flops/(N·D), or 6. */
static double flops_factor(const slt_fit_family *f) {
  double *k = malloc((size_t)f->n * sizeof *k), med = 6;
  int m = 0;
  for (int i = 0; k && i < f->n; i++)
    if (isfinite(f->flops[i])) k[m++] = f->flops[i] / (f->params[i] * f->tokens[i]);
  if (m) {
    qsort(k, (size_t)m, sizeof *k, cmp_double);
    med = m % 2 ? k[m / 2] : 0.5 * (k[m / 2 - 1] + k[m / 2]);
  }
  free(k);
  return med;
}

static double run_flops(const slt_fit_family *f, int i, double k) {
  return isfinite(f->flops[i]) ? f->flops[i] : k * f->params[i] * f->tokens[i];
}

/* One data block (gnuplot index): x, L(x) on a log grid over [lo, hi]. For the compute law the
 * fitted curve; for Approach 3 the model of size N (N > 0), or the frontier (N = 0). */
static void curve(FILE *d, slt_fit_law law, const double *c, double k, double N, double lo,
                  double hi) {
  for (int j = 0; j < CURVE_POINTS; j++) {
    double x = lo * pow(hi / lo, j / (CURVE_POINTS - 1.0)), L;
    if (law == SLT_LAW_COMPUTE) {
      L = slt_fit_predict(law, c, x, 0);
    } else {
      double F = x / k, n = N; /* F = N·D */
      if (n <= 0)              /* N_opt = G·F^(β/(α+β)), G = (αA/(βB))^(1/(α+β)) */
        n = pow(c[3] * c[1] / (c[4] * c[2]), 1 / (c[3] + c[4])) * pow(F, c[5]);
      L = slt_fit_predict(law, c, n, F / n);
    }
    fprintf(d, "%.9g %.9g\n", x, L);
  }
  fprintf(d, "\n\n");
}

/* Write a family's blocks (points, then curves) and the matching plot clauses; the next block
 * index. */
static int family_blocks(FILE *d, FILE *g, int fi, const slt_fit_family *f, const slt_fit_result *r,
                         slt_fit_law law, const char *data, int idx) {
  double k = law == SLT_LAW_CHINCHILLA ? flops_factor(f) : 6, lo = INFINITY, hi = 0;
  for (int i = 0; i < f->n; i++) {
    double x = run_flops(f, i, k);
    fprintf(d, "%.9g %.9g\n", x, f->loss[i]);
    lo = fmin(lo, x), hi = fmax(hi, x);
  }
  fprintf(d, "\n\n");
  lo /= 2, hi *= 2;
  char title[300];
  snprintf(title, sizeof title, "%s (%d runs)", f->name, f->n);
  fprintf(g, "%s", fi ? ", \\\n  " : "plot ");
  quoted(g, data);
  fprintf(g, " index %d with points pt 7 ps 1.2 lc %d title ", idx++, fi + 1);
  quoted(g, title);
  fprintf(g, " noenhanced");
  if (law == SLT_LAW_COMPUTE) {
    curve(d, law, r->coef, k, 0, lo, hi);
    fprintf(g, ", \\\n  '' index %d with lines lw 2 lc %d title 'E + A C^{-α}: α = %.3g'", idx++,
            fi + 1, r->coef[2]);
    return idx;
  }
  double sizes[MAX_SIZES];
  int ns = 0;
  for (int i = 0; i < f->n; i++) {
    bool seen = false;
    for (int j = 0; j < ns; j++) seen = seen || fabs(sizes[j] / f->params[i] - 1) < 1e-9;
    if (!seen && ns < MAX_SIZES) sizes[ns++] = f->params[i];
  }
  double dlo = INFINITY, dhi = 0; /* each model size over the family's token range */
  for (int i = 0; i < f->n; i++) dlo = fmin(dlo, f->tokens[i]), dhi = fmax(dhi, f->tokens[i]);
  for (int j = 0; j < ns; j++) {
    curve(d, law, r->coef, k, sizes[j], k * sizes[j] * dlo / 2, k * sizes[j] * dhi * 2);
    fprintf(g, ", \\\n  '' index %d with lines dt 2 lc %d %s", idx++, fi + 1,
            j ? "notitle" : "title 'fixed N'");
  }
  curve(d, law, r->coef, k, 0, lo, hi);
  fprintf(g, ", \\\n  '' index %d with lines lw 3 lc %d title 'frontier: N_{opt} ∝ C^{%.2f}'",
          idx++, fi + 1, r->coef[5]);
  return idx;
}

/* The script's preamble: terminal (pngcairo when there, else png), output, axes (y: the runs'
 * losses with a margin, so curves far from the data do not squash them). */
static void preamble(FILE *g, const slt_fit_set *s, slt_fit_law law, const char *png,
                     bool flops_estimated) {
  double lo = INFINITY, hi = 0;
  for (int f = 0; f < s->nfam; f++)
    for (int i = 0; i < s->fam[f].n; i++)
      lo = fmin(lo, s->fam[f].loss[i]), hi = fmax(hi, s->fam[f].loss[i]);
  fprintf(g, "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
             "  set terminal pngcairo size 1100,750 enhanced font ',11'\n"
             "} else {\n  set terminal png size 1100,750\n}\n");
  fprintf(g, "set output ");
  quoted(g, png);
  fprintf(g, "\nset yrange [%.6g:%.6g]", lo - 0.1 * (hi - lo) - 0.01, hi + 0.1 * (hi - lo) + 0.01);
  fprintf(g, "\nset logscale x\nset format x '10^{%%L}'\nset grid\n");
  fprintf(g, "set key outside right top\nset xlabel 'training FLOPs%s'\nset ylabel 'val\\_loss'\n",
          flops_estimated ? " (6·N·D: no flops column)" : "");
  fprintf(g, "set title '%s'\n",
          law == SLT_LAW_COMPUTE ? "L(C) = E + A·C^{-α}" : "L(N, D) = E + A/N^α + B/D^β");
}

/* Run gnuplot on script; errors from its stderr (in errpath) or a missing binary. */
static int run_gnuplot(const char *script, const char *errpath, const char *png) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  char *argv[] = {"gnuplot", (char *)script, NULL};
  pid_t pid;
  int rc = posix_spawnp(&pid, "gnuplot", &fa, NULL, argv, environ), status = 0;
  posix_spawn_file_actions_destroy(&fa);
  if (rc) {
    slt_err_set("cannot run gnuplot for --plot: %s (install gnuplot-nox)",
                rc == ENOENT ? "not found on PATH" : strerror(rc));
    return -1;
  }
  waitpid(pid, &status, 0);
  struct stat st;
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !stat(png, &st) && st.st_size > 0) return 0;
  /* gnuplot's message: the line naming the script line ("... line N: why"), else its last */
  char line[256], msg[256] = "";
  FILE *e = fopen(errpath, "r");
  bool named = false;
  while (e && fgets(line, sizeof line, e)) {
    line[strcspn(line, "\n")] = 0;
    bool names = strstr(line, "\" line ") != NULL;
    if (line[strspn(line, " ^")] && (names || !named)) snprintf(msg, sizeof msg, "%s", line);
    named = named || names;
  }
  if (e) fclose(e);
  const char *why = strstr(msg, "\" line ") ? strchr(strstr(msg, "\" line "), ':') : NULL;
  why = why ? why + 2 : msg;
  slt_err_set("gnuplot failed drawing %s%s%s", png, why[0] ? ": " : "", why);
  return -1;
}

int slt_fit_plot(const slt_fit_set *s, const slt_fit_result *res, slt_fit_law law,
                 const char *png) {
  const char *tmp = getenv("TMPDIR");
  char dir[512], data[600], script[600], err[600];
  snprintf(dir, sizeof dir, "%s/slt_fit_XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (!mkdtemp(dir)) {
    slt_err_set("--plot: cannot make a temp directory %s: %s", dir, strerror(errno));
    return -1;
  }
  snprintf(data, sizeof data, "%s/plot.dat", dir);
  snprintf(script, sizeof script, "%s/plot.gp", dir);
  snprintf(err, sizeof err, "%s/gnuplot.err", dir);
  FILE *d = fopen(data, "w"), *g = fopen(script, "w");
  int rc = -1;
  if (d && g) {
    bool estimated = false;
    for (int f = 0; f < s->nfam; f++) estimated = estimated || !isfinite(s->fam[f].flops[0]);
    preamble(g, s, law, png, estimated);
    for (int f = 0, idx = 0; f < s->nfam; f++)
      idx = family_blocks(d, g, f, &s->fam[f], &res[f], law, data, idx);
    fprintf(g, "\n");
  }
  bool wrote = d && g && !ferror(d) && !ferror(g);
  if (d) wrote = !fclose(d) && wrote;
  if (g) wrote = !fclose(g) && wrote;
  if (!wrote)
    slt_err_set("--plot: cannot write the gnuplot files in %s", dir);
  else
    rc = run_gnuplot(script, err, png);
  unlink(data), unlink(script), unlink(err), rmdir(dir);
  return rc;
}
