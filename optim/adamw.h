/* AdamW with PyTorch semantics (torch.optim.AdamW, non-fused): decoupled weight decay
 * p ← p·(1 − lr·wd), then the Adam step with bias correction. State lives in flat buffers laid
 * out like the parameter store, so one step is one pass over memory. */
#ifndef SLT_ADAMW_H
#define SLT_ADAMW_H

#include "autograd/params.h"

typedef struct slt_adamw {
  float beta1, beta2, eps;
  float *m, *v;  /* first and second moments, p->numel each */
  int64_t step;  /* number of steps taken (bias correction uses step after increment) */
  int64_t numel;
} slt_adamw;

/* Allocate zeroed moments for the store; returns 0 or -1. */
int slt_adamw_init(slt_adamw *o, const slt_params *p, float beta1, float beta2, float eps);
void slt_adamw_free(slt_adamw *o);
/* One step at learning rate lr. wd[i] is the weight decay of parameter i (its group's value),
 * scaled by wd_scale (the schedules that turn decay off part-way); lr_mult may be NULL (all 1). */
void slt_adamw_step(slt_adamw *o, slt_params *p, float lr, float wd_scale, const float *wd,
                    const float *lr_mult);

#endif
