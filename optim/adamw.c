#include "adamw.h"

#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int slt_adamw_init(slt_adamw *o, const slt_params *p, float beta1, float beta2, float eps) {
  memset(o, 0, sizeof *o);
  o->beta1 = beta1;
  o->beta2 = beta2;
  o->eps = eps;
  o->numel = p->numel;
  size_t bytes = (size_t)(p->numel ? p->numel : 1) * sizeof(float);
  o->m = aligned_alloc(64, bytes);
  o->v = aligned_alloc(64, bytes);
  if (!o->m || !o->v) {
    slt_adamw_free(o);
    slt_err_set("out of memory allocating AdamW state for %lld parameters", (long long)p->numel);
    return -1;
  }
  memset(o->m, 0, bytes);
  memset(o->v, 0, bytes);
  return 0;
}

void slt_adamw_free(slt_adamw *o) {
  free(o->m);
  free(o->v);
  o->m = o->v = NULL;
}

/* One parameter's slice: x, g, m, v (n). Same float32 operation order as PyTorch's
 * single-tensor AdamW, so short runs match it to rounding. */
static inline void adamw_slice(float *restrict x, const float *restrict g, float *restrict m,
                               float *restrict v, int64_t n, float decay, float b1, float b2,
                               float step_size, float bc2_sqrt, float eps) {
#pragma omp for schedule(static) nowait
  for (int64_t i = 0; i < n; i++) {
    float xi = x[i] * decay;
    float mi = b1 * m[i] + (1.0f - b1) * g[i];
    float vi = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
    m[i] = mi;
    v[i] = vi;
    x[i] = xi - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
  }
}

void slt_adamw_step(slt_adamw *o, slt_params *p, float lr, float wd_scale, const float *wd,
                    const float *lr_mult) {
  o->step++;
  /* Bias corrections in double, as PyTorch computes them in Python before casting. */
  double bc1 = 1.0 - pow(o->beta1, (double)o->step);
  float bc2_sqrt = (float)sqrt(1.0 - pow(o->beta2, (double)o->step));
#pragma omp parallel
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    float plr = lr * (lr_mult ? lr_mult[i] : 1.0f);
    int64_t off = q->offset;
    adamw_slice(p->data + off, p->grad + off, o->m + off, o->v + off, q->t.numel,
                (float)(1.0 - (double)plr * wd[i] * wd_scale), o->beta1, o->beta2, (float)(plr / bc1), bc2_sqrt,
                o->eps);
  }
}
