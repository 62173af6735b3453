/* The training loop: a model, its optimizer, the data and the schedule built from a config,
 * then steps with gradient accumulation, clipping, periodic evaluation, progress and metrics. */
#ifndef SLT_TRAINER_H
#define SLT_TRAINER_H

#include "data/loader.h"
#include "data/synthetic.h"
#include "layers/gpt.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "train/config.h"
#include "train/metrics.h"

#include <signal.h>

typedef struct slt_trainer {
  slt_config cfg;
  slt_gpt model;
  slt_adamw opt;
  slt_schedule sched;
  float *wd;           /* per parameter: the configured decay, or 0 for excluded groups */
  slt_markov *chain;   /* synthetic source, or NULL */
  slt_loader *loader;
  int32_t *x, *y;      /* one micro-batch (B, T) */
  slt_ctx ctx;
  slt_metrics metrics;
  int64_t step;        /* optimizer steps done */
  int64_t tokens;      /* training tokens seen */
  double loss_floor;   /* best achievable loss (synthetic source), else NAN */
  double flops_per_token, peak_gflops;
} slt_trainer;

/* Build everything from a validated config and prepare out_dir (config.yaml saved there).
 * Prints a summary of the model and data. 0 or -1 (error recorded). */
int slt_trainer_init(slt_trainer *t, const slt_config *cfg);
void slt_trainer_free(slt_trainer *t);
/* One optimizer step (grad_accum micro-batches); reports the mean loss and the grad norm. */
int slt_trainer_step(slt_trainer *t, double *loss, double *grad_norm);
/* Mean loss over train.eval_batches validation batches; NAN with the error recorded on failure. */
double slt_trainer_eval(slt_trainer *t);
/* Train to train.steps (or stop_after / time_limit / *stop set by a signal handler).
 * 0 on success, -1 on error. */
int slt_trainer_run(slt_trainer *t, volatile sig_atomic_t *stop);

#endif
