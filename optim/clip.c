#include "clip.h"

#include "autograd/parallel.h"

#include <math.h>

double slt_grad_norm(const slt_params *p) {
  /* Padding between parameters holds zero gradients, so the flat buffer can be read whole. */
  return sqrt(slt_dot_fixed(p->grad, p->grad, p->numel));
}

static void scale_grads(slt_params *p, float c) {
  float *g = p->grad;
#pragma omp parallel for schedule(static) if (p->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < p->numel; i++) g[i] *= c;
}

double slt_clip_grad_norm_multi(slt_params *const *ps, int n, double max_norm) {
  double sq = 0;
  for (int k = 0; k < n; k++) sq += slt_dot_fixed(ps[k]->grad, ps[k]->grad, ps[k]->numel);
  double norm = sqrt(sq);
  double coef = max_norm / (norm + 1e-6);
  if (max_norm > 0 && coef < 1.0)
    for (int k = 0; k < n; k++) scale_grads(ps[k], (float)coef);
  return norm;
}

double slt_clip_grad_norm(slt_params *p, double max_norm) {
  return slt_clip_grad_norm_multi(&p, 1, max_norm);
}
