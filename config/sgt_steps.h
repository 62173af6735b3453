/* Self-guided training's step plan (SPEC §3) as functions of the run config: guided steps, the
 * run's length, α per step and the data each step reads. The guides themselves are train/sgt.h's. */
#ifndef SLT_SGT_STEPS_H
#define SLT_SGT_STEPS_H

#include "config/config.h"

#include <stdint.h>

/* T = ⌊sgt.ratio · train.steps⌋, or 0 when sgt is off. */
int64_t slt_sgt_guided_steps(const slt_config *c);
/* Optimizer steps of the whole run: train.steps, plus T for fixedflop. */
int64_t slt_sgt_total_steps(const slt_config *c);
/* α for optimizer step `step` (0-based): 1 at 0, ½(1 + cos(π·step/T)) (or 1 − step/T) up to
 * T, then 0. 0 everywhere without SGT. */
double slt_sgt_alpha(const slt_config *c, int64_t step);
/* The step whose data optimizer step `step` reads: itself, except that fixedflop's last T steps
 * re-read the data of steps 0..T-1. */
int64_t slt_sgt_data_step(const slt_config *c, int64_t step);

#endif
