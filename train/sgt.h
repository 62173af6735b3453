/* Self-guided training at the trainer's level (SPEC §3): how many steps are guided, α per
 * optimizer step, the stretched run of fixedflop and the data it re-reads, and the guides'
 * optimizer, freed with the guides once α reaches 0. The guided forward is layers/guided.h. */
#ifndef SLT_SGT_H
#define SLT_SGT_H

#include "layers/guided.h"
#include "optim/optimizer.h"
#include "config/config.h"
#include "config/sgt_steps.h"

typedef struct slt_sgt {
  slt_guide guide;     /* attached to the model while guidance lasts */
  slt_optim *opt;      /* the guides' optimizer; NULL once freed (or without SGT) */
  float *wd, *lr_mult; /* per guide parameter, from optim's groups */
} slt_sgt;

/* True while the guides exist. */
static inline bool slt_sgt_active(const slt_sgt *s) { return s->opt != NULL; }
/* Free the guides (detaching them from m), their optimizer state and groups. */
void slt_sgt_release(slt_sgt *s, slt_model *m);
/* Bytes the guides and their optimizer state hold (0 once released). */
int64_t slt_sgt_bytes(const slt_sgt *s);

#endif
