/* Internal to the sweep files: small file helpers and the results row. */
#ifndef SLT_SWEEP_INT_H
#define SLT_SWEEP_INT_H

#include "sweep/sweep.h"

#include <stddef.h>

/* <out_dir>/metrics.jsonl (or .csv) of cfg into buf. */
void slt_sweep_metrics_path(const slt_config *cfg, char *buf, size_t len);
/* The step and loss of the last complete record of cfg's metrics log; 0, or -1 when there is
 * none (no log yet, or only a header). */
int slt_sweep_last_record(const slt_config *cfg, int64_t *step, double *loss);
/* Replace path with text, durably (temp file named by pid, fsync, rename, directory fsync). */
int slt_sweep_write_file(const char *path, const char *text);
/* mkdir -p; 0 or -1 with the error recorded. */
int slt_sweep_mkdirs(const char *dir);

/* ---- the local runner (sweep_run.c) and its display (sweep_progress.c) ---- */

#include <sys/types.h>

typedef struct {
  slt_sweep_run *run;
  pid_t pid;
  int64_t step0; /* where the run stood when launched */
  int64_t step;  /* its last logged step, and loss */
  double loss;
} slt_sweep_slot;

typedef struct {
  const slt_sweep *s;
  slt_sweep_run *runs;
  const slt_sweep_opts *o;
  slt_sweep_summary *sum;
  int *queue, nqueue, next; /* indices of the runs to launch, and the next one */
  slt_sweep_slot *slot;     /* o->jobs of them; pid 0 = free */
  int active;
  double work_done; /* FLOPs trained by runs that ended in this sweep */
  double t_start, t_drawn;
  int drawn; /* lines of the last terminal redraw */
  bool tty;
} slt_sweep_runner;

/* Print an event line (a run started, finished, failed) above the progress display. */
void slt_sweep_event(slt_sweep_runner *R, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Refresh the per-run lines and the overall line: redrawn in place on a terminal (every
 * second), plain lines every 30 s otherwise; force draws now. */
void slt_sweep_draw(slt_sweep_runner *R, bool force);
/* FLOPs of the steps from `from` to `to` of r. */
double slt_sweep_work(const slt_sweep_run *r, int64_t from, int64_t to);

#endif
