/* slt sweep: a sweep file (base config, overrides for every run, a cartesian `grid`, zipped
 * `runs` lists, seeds, and a derived step count) expanded into runs, each in its own directory
 * <out>/<name>/ with its resolved config.yaml. The runs are trained by child processes
 * (`slt train <dir>/config.yaml --resume auto`), locally (sweep_run.c) or as a Slurm array
 * (sweep_slurm.c); a finished run leaves DONE holding its result line (JSON), a failed one
 * FAILED holding the error line, and results.jsonl/results.csv are rebuilt from the run
 * directories whoever trained them (sweep_results.c).
 *
 * The sweep file (YAML; every key optional except base and out):
 *   base: ../configs/quickstart.yaml      # relative to the sweep file
 *   out: runs/sweeps/ffn_scaling          # relative to the sweep file, or absolute
 *   set: {train.eval_every: 200}          # overrides for every run
 *   grid: {model.d_model: [64, 128], model.ffn.kind: [dense, lowrank]}   # cartesian product
 *   runs: {model.ffn.rank: [16, 32]}      # zipped lists (same length), crossed with the grid
 *   seeds: [1, 2]                         # crossed too (the config key `seed`)
 *   derive: {tokens_per_param: 20, params: nonembed}   # or tokens: 2.0e6, or flops: 1.0e13
 *   ranks: 1                              # MPI ranks per run (only under --slurm; steps count it)
 *
 * Counting (SPEC §9): params total, non-embedding (total − token/position tables) and FFN from
 * the model seam's counts; FLOPs per token are the model's own training FLOPs (forward +
 * backward, attention included); tokens = optimizer steps × micro_batch × grad_accum × seq_len ×
 * ranks; flops = FLOPs per token × tokens. Derived train.steps (SGT's fixedflop extra steps are
 * not counted in the budget):
 *   tokens: D            steps = ⌈D / tokens per step⌉
 *   tokens_per_param: r  steps = ⌈r·N / tokens per step⌉, N = non-embedding params (Kaplan,
 *                        Chinchilla-style budgets on the body of the model), or total params
 *                        with `params: total`
 *   flops: C             steps = ⌈(C / FLOPs per token) / tokens per step⌉
 *
 * Errors are one line "FILE:LINE: key: what was expected" (FILE alone where no line applies). */
#ifndef SLT_SWEEP_H
#define SLT_SWEEP_H

#include "config/config.h"
#include "layers/model.h"

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

enum { SLT_SWEEP_MAX_KEYS = 32, SLT_SWEEP_NAME = 256 };

/* One override key and its values (set: one value; grid, runs, seeds: a list). */
typedef struct slt_sweep_axis {
  char *key;       /* dotted config key */
  char *short_key; /* the key as run names show it */
  int n;
  char **vals; /* value text as `key=value` overrides take it (a list as "[a,b]") */
  int line;    /* of the key in the sweep file */
} slt_sweep_axis;

typedef enum {
  SLT_DERIVE_NONE,
  SLT_DERIVE_TOKENS,
  SLT_DERIVE_TOKENS_PER_PARAM,
  SLT_DERIVE_FLOPS
} slt_sweep_derive;

typedef struct slt_sweep {
  char *path; /* the sweep file as given */
  char *base; /* base config path (resolved against the sweep file's directory) */
  char *out;  /* the sweep directory, absolute */
  int nset, ngrid, nzip;
  slt_sweep_axis *set, *grid, *zip;
  slt_sweep_axis seeds; /* key "seed"; n == 0 without seeds */
  slt_sweep_derive derive;
  double derive_value;
  bool params_total; /* tokens_per_param counts total parameters, not non-embedding */
  int derive_line;
  int ranks;
  slt_config base_cfg; /* the base file with `set` applied */
} slt_sweep;

/* One expanded run. */
typedef struct slt_sweep_run {
  char name[SLT_SWEEP_NAME]; /* "d_model=128,ffn.kind=lowrank,seed=1" ("run" when nothing varies) */
  char dir[PATH_MAX];        /* <out>/<name> */
  int nvary;                 /* the varying overrides: axis (grid, runs, seeds) and value */
  const slt_sweep_axis *axis[SLT_SWEEP_MAX_KEYS];
  const char *vals[SLT_SWEEP_MAX_KEYS];
  slt_config cfg;          /* resolved (out_dir = dir, train.steps derived) */
  slt_model_counts counts; /* of cfg.model */
  double flops_per_token;
  int64_t steps;           /* optimizer steps of the whole run (SGT's fixedflop included) */
  int64_t tokens_per_step; /* micro_batch × grad_accum × seq_len × ranks */
  int64_t tokens;          /* steps × tokens_per_step */
  double flops;            /* flops_per_token × tokens */
} slt_sweep_run;

/* ---- the file and its runs (sweep.c, sweep_expand.c) ---- */

/* Parse and check a sweep file (every override key and value checked against the config
 * schema, the base config loaded). NULL with one error line recorded. */
slt_sweep *slt_sweep_load(const char *path);
/* Free a sweep; NULL is fine. */
void slt_sweep_free(slt_sweep *s);
/* Every run in order (grid keys in file order, the first varying slowest; then the zipped runs;
 * seeds innermost), named, resolved, counted and derived. NULL with the error recorded. */
slt_sweep_run *slt_sweep_expand(const slt_sweep *s, int *n);
/* A value as run names show it: characters other than [A-Za-z0-9._+-] become '_'. */
void slt_sweep_sanitize(const char *val, char *out, size_t len);
/* True when name matches pattern: a glob (fnmatch) when it has * ? or [, else a substring. */
bool slt_sweep_match(const char *name, const char *pattern);

/* ---- a run's state and results (sweep_results.c) ---- */

typedef enum { SLT_RUN_PENDING, SLT_RUN_PARTIAL, SLT_RUN_DONE, SLT_RUN_FAILED } slt_sweep_status;
/* "pending", "partial", "done", "failed": the results table's status column. */
const char *slt_sweep_status_name(slt_sweep_status st);

/* What a run's metrics log says. */
typedef struct slt_sweep_result {
  int64_t step, tokens;        /* of the last record (0 without any) */
  double train_loss, val_loss; /* of the last record (val: NAN when it has none) */
  double best_val_loss;        /* lowest val_loss in the log, NAN without one */
  double seconds; /* training time: Σ tokens of each logging interval / its tokens per second
                     (evaluation and checkpoint time excluded; the same whoever ran the run) */
} slt_sweep_result;

/* Read cfg's metrics log (<out_dir>/metrics.jsonl or .csv) into r (zeros and NANs without a
 * log). 0, or -1 with the error recorded (a record that does not parse). */
int slt_sweep_read_metrics(const slt_config *cfg, slt_sweep_result *r);
/* DONE, then FAILED, then partial (a checkpoint or a metrics log), else pending. */
slt_sweep_status slt_sweep_run_status(const slt_sweep_run *r);
/* Write <dir>/config.yaml, or check the one there loads to the same config (train.threads
 * aside): a sweep file edited since its runs started must not resume them as something else.
 * 0, or -1 with the error recorded. */
int slt_sweep_prepare(const slt_sweep_run *r);
/* The check alone: 0 when <dir>/config.yaml is absent or the same config; -1 otherwise. */
int slt_sweep_check_config(const slt_sweep_run *r);
/* After a run's process ended: when its newest complete checkpoint is its last step, write DONE
 * (the result line) and return 1; 0 when the run is unfinished; -1 with the error recorded. */
int slt_sweep_finish(const slt_sweep *s, const slt_sweep_run *r);
/* Write <dir>/FAILED holding line. 0 or -1. */
int slt_sweep_mark_failed(const slt_sweep_run *r, const char *line);
/* The result line of r as results.jsonl holds it (no newline) into buf. */
void slt_sweep_result_json(const slt_sweep *s, const slt_sweep_run *r, const slt_sweep_result *res,
                           slt_sweep_status st, char *buf, size_t len);
/* Rebuild <out>/results.jsonl and <out>/results.csv from every run's directory (finishing runs
 * that completed without DONE, e.g. under Slurm); count[status] gets the runs per status (may be
 * NULL). 0, or -1 with the error recorded. */
int slt_sweep_collect(const slt_sweep *s, const slt_sweep_run *runs, int n, int count[4]);

/* ---- running (sweep_run.c, sweep_slurm.c) ---- */

typedef struct slt_sweep_opts {
  const char *exe;             /* the slt program the children run */
  int jobs;                    /* runs at once */
  int threads;                 /* train.threads per run (0: the usable cores / jobs) */
  bool retry_failed;           /* run FAILED runs again (else they are skipped) */
  const char *only;            /* run only the runs matching this (slt_sweep_match); NULL: all */
  volatile sig_atomic_t *stop; /* set by a signal handler: forward SIGTERM to the runs, wait */
  FILE *out;                   /* progress and events (NULL: silent) */
} slt_sweep_opts;

typedef struct slt_sweep_summary {
  int total, selected; /* runs in the sweep; matching --only */
  int skipped_done, skipped_failed, launched;
  int done, failed, unfinished; /* of the launched: finished, failed, stopped before the end */
  int threads;
  bool interrupted;
} slt_sweep_summary;

/* Threads per run for jobs at once on this process's usable cores (at least 1). */
int slt_sweep_threads(int jobs);
/* Train the selected runs that are not DONE (FAILED ones too with retry_failed), `jobs` child
 * processes at once, under an advisory lock on the sweep directory; then collect. 0 (whether or
 * not some runs failed: see sum), or -1 with the error recorded (the lock is held elsewhere, a
 * run directory cannot be prepared, fork fails). */
int slt_sweep_execute(const slt_sweep *s, slt_sweep_run *runs, int n, const slt_sweep_opts *o,
                      slt_sweep_summary *sum);
/* Write an sbatch array script to file, one task per selected unfinished run (each
 * `slt train <dir>/config.yaml --resume auto`, under `srun -n ranks` when ranks > 1), writing
 * the runs' config.yaml first. *tasks gets the count. 0, or -1 with the error recorded. */
int slt_sweep_slurm(const slt_sweep *s, const slt_sweep_run *runs, int n, const char *only,
                    const char *exe, const char *file, int *tasks);

#endif
