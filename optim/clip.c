#include "clip.h"

#include "autograd/parallel.h"

#include <math.h>

double slt_grad_norm(const slt_params *p) {
  /* Padding between parameters holds zero gradients, so the flat buffer can be read whole. */
  return sqrt(slt_dot_fixed(p->grad, p->grad, p->numel));
}

double slt_clip_grad_norm(slt_params *p, double max_norm) {
  double norm = slt_grad_norm(p);
  if (max_norm > 0) {
    double coef = max_norm / (norm + 1e-6);
    if (coef < 1.0) {
      float c = (float)coef;
      float *g = p->grad;
#pragma omp parallel for schedule(static) if (p->numel >= SLT_PAR_MIN)
      for (int64_t i = 0; i < p->numel; i++) g[i] *= c;
    }
  }
  return norm;
}
