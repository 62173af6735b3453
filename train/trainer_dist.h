/* The trainer's data-parallel parts (train/trainer_dist.c), for trainer.c and trainer_setup.c:
 * with one rank each is what the single-process trainer did before. */
#ifndef SLT_TRAINER_DIST_H
#define SLT_TRAINER_DIST_H

#include "train/trainer.h"

/* Create the gradient reducer and give every rank rank 0's parameters (the model's and the
 * SGT guides'). Call once the parameters are final (fresh or loaded). 0 or -1. */
int slt_trainer_dist_setup(slt_trainer *t);
void slt_trainer_dist_free(slt_trainer *t);
/* Backward of a micro-batch's scaled loss; on the step's last micro-batch the gradients
 * (model and guides) are then summed over ranks, in buckets overlapping backward when
 * dist.overlap is on. 0 or -1. */
int slt_trainer_dist_backward(slt_trainer *t, slt_tensor *scaled, bool last);
/* The mean over ranks of sum / count (each rank's count the same). With one rank: sum / count. */
double slt_trainer_dist_mean(double sum, int count);
/* True on every rank when v is true on any: every rank stops at the same step. */
bool slt_trainer_dist_any(bool v);
/* Every rank's loader cursor and trainer RNG, in rank order, into cursors and rngs (world
 * entries each); a collective. 0 or -1. */
int slt_trainer_dist_gather(slt_trainer *t, slt_loader_cursor *cursors, slt_rng *rngs);
/* -1 with an error when the ranks' parameters are no longer bitwise identical. */
int slt_trainer_dist_check_replicas(slt_trainer *t);
/* Rank 0 resolves --resume (auto looks at rank 0's out_dir) and every rank gets its path. */
int slt_trainer_dist_share_path(char *path, size_t len);
/* The metrics log: rank 0's only; other ranks keep a closed one. 0 or -1. */
int slt_trainer_dist_open_metrics(slt_trainer *t, bool append);

#endif
