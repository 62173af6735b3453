/* The training loop: a model, its optimizer, the data and the schedule built from a config,
 * then steps with gradient accumulation, clipping, periodic evaluation, progress and metrics. */
#ifndef SLT_TRAINER_H
#define SLT_TRAINER_H

#include "autograd/sys.h"
#include "data/loader.h"
#include "data/synthetic.h"
#include "layers/model.h"
#include "optim/groups.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"
#include "config/config.h"
#include "train/metrics.h"
#include "train/sgt.h"

#include <signal.h>

#define SLT_TRAINER_RNG "trainer" /* its name in a checkpoint's /state/rng */

typedef struct slt_trainer {
  slt_config cfg;
  slt_model *model;
  slt_optim *opt;
  slt_schedule sched;
  float *wd, *lr_mult; /* per parameter, from the groups (optim.no_decay_*, optim.groups) */
  slt_markov *chain;   /* synthetic source, or NULL */
  slt_loader *loader;
  int32_t *x, *y;      /* one micro-batch (B, T) */
  slt_ctx ctx;
  slt_metrics metrics;
  int64_t step;        /* optimizer steps done */
  int64_t tokens;      /* training tokens seen */
  slt_rng rng;         /* for stochastic training features (SGT's reduce_flop); checkpointed */
  int64_t resumed_at;  /* step the run resumed from, -1 for a fresh start */
  double t_created;    /* slt_now() at init: train.time_limit counts from here */
  double ckpt_s;       /* seconds the last checkpoint took to write, 0 before the first */
  int64_t ckpt_step;   /* step of the last checkpoint written, -1 before the first */
  double loss_floor;   /* best achievable loss (synthetic source), else NAN */
  double flops_per_token, peak_gflops;
  int64_t total_steps; /* train.steps, plus SGT's guided steps in fixedflop mode */
  slt_sgt sgt;         /* self-guided training's guides and their optimizer, while they last */
  struct slt_dist_reducer *reducer; /* gradient all-reduce across MPI ranks (train/dist.h) */
  double last_loss, last_val, best_val; /* of the last run: NAN until known */
  double run_seconds;                   /* wall time of slt_trainer_run */
  bool interrupted; /* the last run stopped early on *stop (a signal), its checkpoint written */
  bool gemm_auto;   /* train.gemm was auto: cfg holds the backend measured (or resumed) */
} slt_trainer;

/* Build everything from a validated config and prepare out_dir (config.yaml saved there).
 * Prints a summary of the model and data. 0 or -1 (error recorded). */
int slt_trainer_init(slt_trainer *t, const slt_config *cfg);
/* slt_trainer_init, then continue from a checkpoint: resume is NULL (fresh start), "auto" (the
 * newest complete checkpoint in out_dir, or a fresh start when there is none, said so) or a
 * checkpoint path. The checkpoint's model config must equal cfg's and its world size this
 * run's. The metrics log is appended to, cut back to the checkpoint's step. 0 or -1. */
int slt_trainer_init_resume(slt_trainer *t, const slt_config *cfg, const char *resume);
/* Load model, optimizer and state from a checkpoint into an initialised trainer. 0 or -1. */
int slt_trainer_load(slt_trainer *t, const char *path);
/* Write out_dir/ckpt_<step>.h5 (atomically) and prune to train.keep_last; the path written
 * goes to path (may be NULL). 0 or -1. */
int slt_trainer_save(slt_trainer *t, char *path, size_t len);
/* SGT's guide parameters while guidance lasts, else NULL (their gradients are part of the
 * step: clipped with the model's and, across ranks, all-reduced with them). */
slt_params *slt_trainer_guide(slt_trainer *t);
void slt_trainer_free(slt_trainer *t);
/* One optimizer step (grad_accum micro-batches); reports the mean loss and the grad norm. */
int slt_trainer_step(slt_trainer *t, double *loss, double *grad_norm);
/* Mean loss over train.eval_batches validation batches; NAN with the error recorded on failure. */
double slt_trainer_eval(slt_trainer *t);
/* Train to train.steps (or stop_after / time_limit / *stop set by a signal handler), writing a
 * checkpoint every train.ckpt_every steps and whenever it stops. time_limit stops before the
 * next step (and its checkpoint) would pass it. 0 on success, -1 on error. */
int slt_trainer_run(slt_trainer *t, volatile sig_atomic_t *stop);

#endif
