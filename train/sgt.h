/* Self-guided training at the trainer's level (SPEC §3): how many steps are guided, α per
 * optimizer step, the stretched run of fixedflop and the data it re-reads, and the guides'
 * optimizer, freed with the guides once α reaches 0. The guided forward is layers/guided.h. */
#ifndef SLT_SGT_H
#define SLT_SGT_H

#include "layers/guided.h"
#include "optim/optimizer.h"
#include "config/config.h"

typedef struct slt_sgt {
  slt_guide guide;     /* attached to the model while guidance lasts */
  slt_optim *opt;      /* the guides' optimizer; NULL once freed (or without SGT) */
  float *wd, *lr_mult; /* per guide parameter, from optim's groups */
} slt_sgt;

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
/* True while the guides exist. */
static inline bool slt_sgt_active(const slt_sgt *s) { return s->opt != NULL; }
/* Free the guides (detaching them from m), their optimizer state and groups. */
void slt_sgt_release(slt_sgt *s, slt_gpt *m);
/* Bytes the guides and their optimizer state hold (0 once released). */
int64_t slt_sgt_bytes(const slt_sgt *s);

#endif
