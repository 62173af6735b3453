/* What a run shows and keeps: a progress display (one self-rewriting line on a terminal,
 * plain lines otherwise) and the metrics log out_dir/metrics.{jsonl,csv} anyone can plot. */
#ifndef SLT_METRICS_H
#define SLT_METRICS_H

#include "config/config.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

typedef struct slt_step_record {
  int64_t step, total_steps; /* step is 1-based: the number of optimizer steps done */
  double loss, lr, grad_norm;
  int64_t tokens;            /* tokens seen so far */
  double tok_per_s, mfu;     /* over the last logging interval */
  double eta_s;              /* estimated seconds to the end */
  double val_loss;           /* NAN except on eval steps */
} slt_step_record;

typedef struct slt_metrics {
  FILE *log;
  slt_metrics_format format;
  bool tty;          /* stdout is a terminal: rewrite one line */
  bool line_pending; /* a progress line is on screen without its newline */
} slt_metrics;

/* Open out_dir/metrics.<fmt> (appending when resuming); 0 or -1. */
int slt_metrics_open(slt_metrics *m, const char *out_dir, slt_metrics_format fmt, bool append);
void slt_metrics_close(slt_metrics *m);
/* Append one record to the log (flushed, so a crash loses at most this line). */
void slt_metrics_log(slt_metrics *m, const slt_step_record *r);
/* Show progress: rewrite the terminal line, or print a plain line when not a terminal. */
void slt_metrics_progress(slt_metrics *m, const slt_step_record *r);
/* Where messages go: fn(line, user) for every slt_metrics_say line (no newline), and no
 * progress display; NULL restores stdout. Process-wide: the CLI or a library caller sets it. */
typedef void (*slt_say_fn)(const char *line, void *user);
void slt_metrics_set_sink(slt_say_fn fn, void *user);
/* Print a message on its own line (ending any pending progress line first), or hand it to the
 * sink. */
void slt_metrics_say(slt_metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
