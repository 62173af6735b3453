/* AdamP (SPEC §4, clovaai/AdamP): Adam whose step loses its radial component, and whose weight
 * decay shrinks by wd_ratio, on parameters the gradient treats as scale-invariant (see
 * projection.h). State lives in flat buffers laid out like the parameter store. */
#ifndef SLT_ADAMP_H
#define SLT_ADAMP_H

#include "optim/projection.h"

#include <stdbool.h>

typedef struct slt_adamp_cfg {
  double beta1, beta2, eps; /* eps is also the projection's eps, as in the reference */
  double delta, wd_ratio;
  bool nesterov;
} slt_adamp_cfg;

typedef struct slt_adamp {
  slt_adamp_cfg cfg;
  float *m, *v; /* first and second moments, p->numel each */
  int64_t step; /* steps taken; bias correction uses the count after the increment */
  int64_t numel;
  slt_proj proj; /* scratch, and proj.views: the view each parameter took at the last step */
} slt_adamp;

/* The reference's defaults: β (0.9, 0.999), eps 1e-8, delta 0.1, wd_ratio 0.1, nesterov off. */
slt_adamp_cfg slt_adamp_defaults(void);
/* Allocate zeroed moments and the projection scratch for the store; 0 or -1. */
int slt_adamp_init(slt_adamp *o, const slt_params *p, const slt_adamp_cfg *cfg);
void slt_adamp_free(slt_adamp *o);
/* One step at learning rate lr; wd, wd_scale and lr_mult (NULL: all 1) as slt_adamw_step. */
void slt_adamp_step(slt_adamp *o, slt_params *p, float lr, float wd_scale, const float *wd,
                    const float *lr_mult);

#endif
