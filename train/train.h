/* Training as one library call: what `slt train`, `slt sweep` and tests use. It validates the
 * config, builds model, data and optimizer, resumes, runs and frees, and hands back the figures
 * a results table needs. Messages go through the metrics sink (train/metrics.h), never printf. */
#ifndef SLT_TRAIN_H
#define SLT_TRAIN_H

#include "config/config.h"
#include "layers/model.h"

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct slt_train_opts {
  const char *resume;           /* NULL (fresh), "auto" or a checkpoint path */
  volatile sig_atomic_t *stop;  /* set by a signal handler to stop after the current step */
} slt_train_opts;

typedef struct slt_train_result {
  int64_t steps, tokens;        /* where the run stands at the end (resumed steps included) */
  double train_loss, val_loss;  /* of the last step (val: NAN when it did not evaluate) */
  double best_val_loss;         /* over this invocation's evaluations */
  double flops_per_token;       /* training FLOPs per token (forward + backward) */
  double flops;                 /* flops_per_token × tokens */
  double seconds;               /* wall time of the training loop */
  slt_model_counts params;
  int64_t resumed_at;           /* step resumed from, -1 for a fresh start */
  bool interrupted;             /* stopped early by opts->stop (on any rank), checkpoint written */
} slt_train_result;

/* Train cfg to its end (or a stop); r gets the figures. 0, or -1 with the error recorded. */
int slt_train(const slt_config *cfg, const slt_train_opts *opts, slt_train_result *r);

#endif
