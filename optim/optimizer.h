/* One interface over AdamW, AdamP, SGD and SGDP, so the trainer picks an optimizer by name and
 * the checkpoint code saves any optimizer's state the same way: named slots ("m", "v", "buf"),
 * each a flat buffer laid out like the parameter store (parameter i at items[i]->offset), plus
 * the step counter. */
#ifndef SLT_OPTIMIZER_H
#define SLT_OPTIMIZER_H

#include "autograd/params.h"

#include <stdbool.h>
#include <stdint.h>

/* The config's optim.name; slt_optim_kind_names[kind] is its spelling (NULL-terminated). */
typedef enum { SLT_OPT_ADAMW, SLT_OPT_ADAMP, SLT_OPT_SGDP, SLT_OPT_SGD } slt_optim_kind;
extern const char *const slt_optim_kind_names[];

#define SLT_OPTIM_MAX_SLOTS 2

typedef struct slt_optim_hparams {
  double beta1, beta2, eps;   /* adamw, adamp; eps is also the projection's eps (sgdp) */
  double momentum, dampening; /* sgd, sgdp */
  bool nesterov;              /* adamp, sgd, sgdp */
  double delta, wd_ratio;     /* adamp, sgdp */
} slt_optim_hparams;

typedef struct slt_optim slt_optim;

/* β (0.9, 0.999), eps 1e-8, momentum 0.9, dampening 0, nesterov off, delta 0.1, wd_ratio 0.1. */
slt_optim_hparams slt_optim_defaults(void);
/* The kind named "adamw", "adamp", "sgdp" or "sgd", or -1 (error recorded). */
int slt_optim_kind_parse(const char *name);
/* The name of a kind. */
const char *slt_optim_kind_str(slt_optim_kind kind);
/* An optimizer with zeroed state for the store; NULL (error recorded) on bad hyper-parameters
 * (the message names the optim.* key) or out of memory. */
slt_optim *slt_optim_new(slt_optim_kind kind, const slt_params *p, const slt_optim_hparams *h);
void slt_optim_free(slt_optim *o);
/* One step: lr, per-parameter weight decay wd[i] scaled by wd_scale, lr_mult[i] (NULL: all 1). */
void slt_optim_step(slt_optim *o, slt_params *p, float lr, float wd_scale, const float *wd,
                    const float *lr_mult);
/* The state slots: names[k] and bufs[k] (p->numel floats each; either array may be NULL);
 * returns how many (at most SLT_OPTIM_MAX_SLOTS; 0 for SGD without momentum). */
int slt_optim_slots(const slt_optim *o, const char **names, float **bufs);
/* Steps taken (bias correction, SGD's first-step buffer); set it when resuming. */
int64_t slt_optim_get_step(const slt_optim *o);
void slt_optim_set_step(slt_optim *o, int64_t step);
slt_optim_kind slt_optim_get_kind(const slt_optim *o);
/* AdamP/SGDP: per parameter, the projection view of the last step (slt_proj_view: 0 none,
 * 1 channel, 2 layer); NULL for the others. */
const uint8_t *slt_optim_views(const slt_optim *o);

#endif
