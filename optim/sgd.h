/* SGD with momentum, and SGDP (SPEC §4, clovaai/AdamP).
 * SGD is torch.optim.SGD: weight decay coupled into the gradient (d = g + wd·p), the momentum
 * buffer starts as the first d, then buf ← μ·buf + (1−dampening)·d; nesterov steps along
 * d + μ·buf. SGDP: buf ← μ·buf + (1−dampening)·g from zero, d = g + μ·buf (nesterov) or buf,
 * the projection of projection.h on d, decoupled decay p·(1 − lr·wd·wd_eff/(1−μ)). */
#ifndef SLT_SGD_H
#define SLT_SGD_H

#include "optim/projection.h"

#include <stdbool.h>

typedef struct slt_sgd_cfg {
  double momentum, dampening;
  bool nesterov;
  double eps, delta, wd_ratio; /* SGDP's projection */
} slt_sgd_cfg;

typedef struct slt_sgd {
  slt_sgd_cfg cfg;
  bool projected; /* SGDP */
  float *buf;     /* momentum buffer, p->numel; NULL for plain SGD without momentum */
  int64_t step;
  int64_t numel;
  slt_proj proj; /* SGDP only: scratch, and proj.views of the last step */
} slt_sgd;

/* momentum 0.9, dampening 0, nesterov off, eps 1e-8, delta 0.1, wd_ratio 0.1. */
slt_sgd_cfg slt_sgd_defaults(void);
/* Plain SGD; nesterov needs momentum > 0 and dampening 0 (as torch). 0 or -1. */
int slt_sgd_init(slt_sgd *o, const slt_params *p, const slt_sgd_cfg *cfg);
/* SGDP; momentum must be below 1 (the decay divides by 1 − μ). 0 or -1. */
int slt_sgdp_init(slt_sgd *o, const slt_params *p, const slt_sgd_cfg *cfg);
/* Free either kind. */
void slt_sgd_free(slt_sgd *o);
/* One plain SGD step; wd, wd_scale and lr_mult (NULL: all 1) as slt_adamw_step. */
void slt_sgd_step(slt_sgd *o, slt_params *p, float lr, float wd_scale, const float *wd,
                  const float *lr_mult);
/* One SGDP step; same arguments. */
void slt_sgdp_step(slt_sgd *o, slt_params *p, float lr, float wd_scale, const float *wd,
                   const float *lr_mult);

#endif
