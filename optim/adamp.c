#include "adamp.h"

#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

slt_adamp_cfg slt_adamp_defaults(void) {
  return (slt_adamp_cfg){
      .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .delta = 0.1, .wd_ratio = 0.1, .nesterov = false};
}

int slt_adamp_init(slt_adamp *o, const slt_params *p, const slt_adamp_cfg *cfg) {
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  o->numel = p->numel;
  size_t bytes = (size_t)(p->numel ? p->numel : 1) * sizeof(float);
  o->m = aligned_alloc(64, bytes);
  o->v = aligned_alloc(64, bytes);
  if (!o->m || !o->v) {
    slt_adamp_free(o);
    slt_err_set("out of memory allocating AdamP state for %lld parameters", (long long)p->numel);
    return -1;
  }
  memset(o->m, 0, bytes);
  memset(o->v, 0, bytes);
  if (slt_proj_init(&o->proj, p, cfg->delta, cfg->wd_ratio, cfg->eps)) {
    slt_adamp_free(o);
    return -1;
  }
  return 0;
}

void slt_adamp_free(slt_adamp *o) {
  free(o->m);
  free(o->v);
  o->m = o->v = NULL;
  slt_proj_free(&o->proj);
}

/* One parameter's slice and this step's constants. Constants are the float casts of the double
 * values the reference computes in Python, so the float32 arithmetic matches it. The direction's
 * numerator is na·m + ng·g: (β1, 1−β1) with nesterov, (1, 0) without, which is exactly m and
 * keeps the loops free of branches (so they vectorise). */
typedef struct adamp_ctx {
  float *x, *m, *v;
  const float *g;
  float b1, omb1, b2, omb2, na, ng, bc2_sqrt, eps, decay, decay_proj, step_size;
} adamp_ctx;

#define ADAMP_CONSTS(c)                                                                            \
  const float b1 = (c)->b1, omb1 = (c)->omb1, b2 = (c)->b2, omb2 = (c)->omb2, na = (c)->na,        \
              ng = (c)->ng, bc2_sqrt = (c)->bc2_sqrt, eps = (c)->eps, decay = (c)->decay,          \
              step_size = (c)->step_size;                                                          \
  (void)decay, (void)step_size

/* The Adam direction at one element, m and v already updated. */
static inline float direction(float mi, float vi, float gi, float na, float ng, float bc2_sqrt,
                              float eps) {
  return (na * mi + ng * gi) / (sqrtf(vi) / bc2_sqrt + eps);
}

/* A 1-D parameter (never projected): AdamW's single pass with the direction above. */
static void plain(const adamp_ctx *c, int64_t n) {
  float *restrict x = c->x, *restrict m = c->m, *restrict v = c->v;
  const float *restrict g = c->g;
  ADAMP_CONSTS(c);
#pragma omp for schedule(static) nowait
  for (int64_t i = 0; i < n; i++) {
    float gi = g[i], mi = b1 * m[i] + omb1 * gi, vi = b2 * v[i] + omb2 * gi * gi;
    m[i] = mi, v[i] = vi;
    x[i] = x[i] * decay - step_size * direction(mi, vi, gi, na, ng, bc2_sqrt, eps);
  }
}

static void step(void *ctx, int64_t b, int64_t e, bool hold, float *restrict d,
                 float *restrict old) {
  const adamp_ctx *c = ctx;
  float *restrict x = c->x + b, *restrict m = c->m + b, *restrict v = c->v + b;
  const float *restrict g = c->g + b;
  ADAMP_CONSTS(c);
  const float keep = hold ? 1.0f : decay, move = hold ? 0.0f : step_size;
  for (int64_t i = 0; i < e - b; i++) {
    float gi = g[i], mi = b1 * m[i] + omb1 * gi, vi = b2 * v[i] + omb2 * gi * gi;
    m[i] = mi, v[i] = vi;
    float di = direction(mi, vi, gi, na, ng, bc2_sqrt, eps), xi = x[i];
    d[i] = di, old[i] = xi;
    x[i] = xi * keep - move * di;
  }
}

static void redo(void *ctx, int64_t b, int64_t e, float *restrict d) {
  const adamp_ctx *c = ctx;
  const float *restrict m = c->m + b, *restrict v = c->v + b, *restrict g = c->g + b;
  ADAMP_CONSTS(c);
  (void)b1, (void)omb1, (void)b2, (void)omb2;
  for (int64_t i = 0; i < e - b; i++) d[i] = direction(m[i], v[i], g[i], na, ng, bc2_sqrt, eps);
}

/* This step's arguments, shared by every parameter. */
typedef struct step_args {
  float lr, wd_scale;
  const float *wd, *lr_mult;
  double bc1;
  float bc2_sqrt;
} step_args;

static adamp_ctx ctx_for(const slt_adamp *o, const slt_params *p, int i, const step_args *a) {
  const slt_adamp_cfg *h = &o->cfg;
  int64_t off = p->items[i]->offset;
  double plr = (double)a->lr * (a->lr_mult ? a->lr_mult[i] : 1.0f);
  return (adamp_ctx){.x = p->data + off,
                     .m = o->m + off,
                     .v = o->v + off,
                     .g = p->grad + off,
                     .b1 = (float)h->beta1,
                     .omb1 = (float)(1.0 - h->beta1),
                     .b2 = (float)h->beta2,
                     .omb2 = (float)(1.0 - h->beta2),
                     .na = h->nesterov ? (float)h->beta1 : 1.0f,
                     .ng = h->nesterov ? (float)(1.0 - h->beta1) : 0.0f,
                     .bc2_sqrt = a->bc2_sqrt,
                     .eps = (float)h->eps,
                     .decay = (float)(1.0 - plr * a->wd[i] * a->wd_scale),
                     .decay_proj = (float)(1.0 - plr * a->wd[i] * a->wd_scale * h->wd_ratio),
                     .step_size = (float)(plr / a->bc1)};
}

static slt_proj_kernel kernel_of(adamp_ctx *c) {
  return (slt_proj_kernel){step, redo, c, c->step_size, c->decay, c->decay_proj};
}

void slt_adamp_step(slt_adamp *o, slt_params *p, float lr, float wd_scale, const float *wd,
                    const float *lr_mult) {
  o->step++;
  double bc1 = 1.0 - pow(o->cfg.beta1, (double)o->step);
  float bc2_sqrt = (float)sqrt(1.0 - pow(o->cfg.beta2, (double)o->step));
  step_args a = {.lr = lr,
                 .wd_scale = wd_scale,
                 .wd = wd,
                 .lr_mult = lr_mult,
                 .bc1 = bc1,
                 .bc2_sqrt = bc2_sqrt};
#pragma omp parallel
  {
    for (int i = 0; i < p->count; i++) {
      adamp_ctx c = ctx_for(o, p, i, &a);
      if (p->items[i]->t.ndim < 2) {
        plain(&c, p->items[i]->t.numel);
      } else {
        slt_proj_kernel k = kernel_of(&c);
        slt_proj_step(&o->proj, p, i, &k);
      }
    }
#pragma omp barrier
    if (slt_proj_decide_all(&o->proj, p))
      for (int i = 0; i < p->count; i++) {
        if (!slt_proj_needs_fix(&o->proj, i)) continue;
        adamp_ctx c = ctx_for(o, p, i, &a);
        slt_proj_kernel k = kernel_of(&c);
        slt_proj_fix(&o->proj, p, i, &k);
      }
  }
}
