/* The runs slt fit uses, taken from a results table (any CSV or JSONL with the needed columns)
 * and grouped into families by one column. */
#ifndef SLT_FIT_DATA_H
#define SLT_FIT_DATA_H

#include "sweep/fit.h"
#include "sweep/table.h"

#include <stdbool.h>

typedef struct {
  char *name; /* the value of the --by column ("all" without one) */
  int n;
  double *flops, *params, *tokens, *loss; /* n each; NaN for a column the law does not read (the
                                             compute law: params, tokens; Approach 3: flops
                                             when the table has none) */
  int *line;                              /* the file line of each run */
} slt_fit_family;

typedef struct {
  int nfam;
  slt_fit_family *fam; /* in order of first appearance */
  int skipped_status;  /* rows whose status is not "done" */
  int skipped_loss;    /* rows whose val_loss is missing or not finite */
} slt_fit_set;

/* The usable runs of t for law, grouped by column by (NULL: one family). Needs flops (compute
 * law) or params and tokens (Approach 3), and val_loss; a status column, when present, keeps
 * only "done" rows. -1 with one error line naming the file (and line and column) recorded: a
 * missing column, a bad or non-positive number, a family with fewer runs than parameters. */
int slt_fit_load(const slt_table *t, slt_fit_law law, const char *by, slt_fit_set *out);
/* Free what slt_fit_load allocated. */
void slt_fit_set_free(slt_fit_set *s);
/* A family's runs as slt_fit_solve takes them (pointers into f). */
slt_fit_runs slt_fit_family_runs(const slt_fit_family *f);
/* Draw loss against FLOPs (log x) into png with gnuplot (a temp data file and script): each
 * family's runs and fitted curve (res[f]); for Approach 3 the curve of each model size (up to
 * 8) and the compute-optimal frontier, at FLOPs = k·N·D with k the family's median
 * flops/(N·D) (6 without a flops column). -1 with the error recorded (gnuplot not installed,
 * gnuplot failing, no PNG written). */
int slt_fit_plot(const slt_fit_set *s, const slt_fit_result *res, slt_fit_law law, const char *png);

#endif
