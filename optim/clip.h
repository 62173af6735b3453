/* Global-norm gradient clipping (torch.nn.utils.clip_grad_norm_ semantics). */
#ifndef SLT_CLIP_H
#define SLT_CLIP_H

#include "autograd/params.h"

/* The L2 norm of all gradients, summed in double in a fixed order. */
double slt_grad_norm(const slt_params *p);
/* Scale the gradients by max_norm/(norm + 1e-6) when that is below 1; returns the norm
 * before clipping. max_norm <= 0 only measures. */
double slt_clip_grad_norm(slt_params *p, double max_norm);
/* The same over several stores taken as one (the model and SGT's guides): one global norm. */
double slt_clip_grad_norm_multi(slt_params *const *ps, int n, double max_norm);

#endif
