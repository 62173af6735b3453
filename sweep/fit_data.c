/* Families of runs from a results table: the columns each law needs, skipped rows, checks. */
#include "sweep/fit_data.h"

#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { FLOPS, PARAMS, TOKENS, LOSS, NCOLS };
static const char *const col_names[NCOLS] = {"flops", "params", "tokens", "val_loss"};

/* The family named name, added when new; NULL when out of memory. */
static slt_fit_family *family(slt_fit_set *s, const char *name, int cap) {
  for (int f = 0; f < s->nfam; f++)
    if (!strcmp(s->fam[f].name, name)) return &s->fam[f];
  slt_fit_family *fams = realloc(s->fam, (size_t)(s->nfam + 1) * sizeof *fams);
  if (!fams) return NULL;
  s->fam = fams;
  slt_fit_family *f = &fams[s->nfam++];
  memset(f, 0, sizeof *f);
  f->name = strdup(name);
  f->line = malloc((size_t)cap * sizeof *f->line);
  double **arr[NCOLS] = {&f->flops, &f->params, &f->tokens, &f->loss};
  bool ok = f->name && f->line;
  for (int c = 0; c < NCOLS; c++) ok = ok && (*arr[c] = malloc((size_t)cap * sizeof **arr[c]));
  return ok ? f : NULL;
}

/* Whether row is skipped (status not done, loss missing or not finite), counting why; -1 with
 * the error recorded when its loss is there but not a number. */
static int skipped(const slt_table *t, int row, int status, int loss, slt_fit_set *s) {
  const char *st = status >= 0 ? slt_table_str(t, row, status) : "done";
  if (!st || strcmp(st, "done")) return s->skipped_status++, 1;
  const char *l = slt_table_str(t, row, loss);
  double v;
  if (!l || !l[strspn(l, " \t")]) return s->skipped_loss++, 1;
  if (slt_table_num(t, row, loss, &v)) return -1;
  if (!isfinite(v)) return s->skipped_loss++, 1;
  return 0;
}

/* Row's values of the columns in col (−1: not read) into v; -1 with the error recorded when one
 * is not a positive number. */
static int row_values(const slt_table *t, int row, const int *col, double *v) {
  for (int c = 0; c < NCOLS; c++) {
    v[c] = NAN;
    if (col[c] < 0) continue;
    if (slt_table_num(t, row, col[c], &v[c])) return -1;
    if (!(v[c] > 0)) {
      slt_err_set("%s:%d: column '%s': %s is not positive (the fit takes its log)", t->path,
                  t->line[row], col_names[c], slt_table_str(t, row, col[c]));
      return -1;
    }
  }
  return 0;
}

/* The columns law needs (and flops for the plot when there); -1 with the error recorded. */
static int find_columns(const slt_table *t, slt_fit_law law, int *col) {
  const char *need = law == SLT_LAW_COMPUTE ? "the compute law needs flops and val_loss"
                                            : "Approach 3 needs params, tokens and val_loss";
  bool chin = law == SLT_LAW_CHINCHILLA;
  col[PARAMS] = col[TOKENS] = -1;
  col[FLOPS] = slt_table_find(t, "flops"); /* Approach 3: only for the plot */
  if (!chin && slt_table_col(t, "flops", need) < 0) return -1;
  if (chin && ((col[PARAMS] = slt_table_col(t, "params", need)) < 0 ||
               (col[TOKENS] = slt_table_col(t, "tokens", need)) < 0))
    return -1;
  return (col[LOSS] = slt_table_col(t, "val_loss", need)) < 0 ? -1 : 0;
}

/* Every family has at least the law's parameters in runs. */
static int check_counts(const slt_table *t, slt_fit_law law, const char *by, slt_fit_set *s) {
  int np = slt_fit_nparams(law);
  const char *lname = law == SLT_LAW_COMPUTE ? "the compute law" : "Approach 3";
  if (!s->nfam) {
    slt_err_set("%s: no usable runs (%d with a status other than done, %d without a finite "
                "val_loss)",
                t->path, s->skipped_status, s->skipped_loss);
    return -1;
  }
  for (int f = 0; f < s->nfam; f++) {
    if (s->fam[f].n >= np) continue;
    if (by)
      slt_err_set("%s: family '%s' (column '%s') has %d usable run%s, fewer than the %d "
                  "parameters of %s",
                  t->path, s->fam[f].name, by, s->fam[f].n, s->fam[f].n == 1 ? "" : "s", np, lname);
    else
      slt_err_set("%s: %d usable run%s, fewer than the %d parameters of %s", t->path, s->fam[f].n,
                  s->fam[f].n == 1 ? "" : "s", np, lname);
    return -1;
  }
  return 0;
}

int slt_fit_load(const slt_table *t, slt_fit_law law, const char *by, slt_fit_set *out) {
  memset(out, 0, sizeof *out);
  int col[NCOLS], status = slt_table_find(t, "status");
  int bycol = by ? slt_table_col(t, by, "the --by column") : -1;
  if ((by && bycol < 0) || find_columns(t, law, col)) return -1;
  for (int row = 0; row < t->nrows; row++) {
    int skip = skipped(t, row, status, col[LOSS], out);
    double v[NCOLS];
    if (skip > 0) continue;
    if (skip < 0 || row_values(t, row, col, v)) goto fail;
    const char *name = by ? slt_table_str(t, row, bycol) : "all";
    if (!name || !*name) {
      slt_err_set("%s:%d: column '%s': no value (the --by column)", t->path, t->line[row], by);
      goto fail;
    }
    slt_fit_family *f = family(out, name, t->nrows);
    if (!f) {
      slt_err_set("%s: out of memory", t->path);
      goto fail;
    }
    f->flops[f->n] = v[FLOPS], f->params[f->n] = v[PARAMS], f->tokens[f->n] = v[TOKENS];
    f->loss[f->n] = v[LOSS], f->line[f->n++] = t->line[row];
  }
  if (!check_counts(t, law, by, out)) return 0;
fail:
  slt_fit_set_free(out);
  return -1;
}

void slt_fit_set_free(slt_fit_set *s) {
  for (int f = 0; f < s->nfam; f++) {
    slt_fit_family *fa = &s->fam[f];
    free(fa->name), free(fa->flops), free(fa->params), free(fa->tokens), free(fa->loss);
    free(fa->line);
  }
  free(s->fam);
  memset(s, 0, sizeof *s);
}

slt_fit_runs slt_fit_family_runs(const slt_fit_family *f) {
  return (slt_fit_runs){f->n, f->flops, f->params, f->tokens, f->loss};
}
