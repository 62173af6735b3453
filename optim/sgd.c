#include "sgd.h"

#include "autograd/error.h"

#include <stdlib.h>
#include <string.h>

slt_sgd_cfg slt_sgd_defaults(void) {
  return (slt_sgd_cfg){.momentum = 0.9,
                       .dampening = 0,
                       .nesterov = false,
                       .eps = 1e-8,
                       .delta = 0.1,
                       .wd_ratio = 0.1};
}

static int alloc_buf(slt_sgd *o, const slt_params *p) {
  size_t bytes = (size_t)(p->numel ? p->numel : 1) * sizeof(float);
  o->buf = aligned_alloc(64, bytes);
  if (!o->buf) {
    slt_err_set("out of memory allocating the momentum buffer for %lld parameters",
                (long long)p->numel);
    return -1;
  }
  memset(o->buf, 0, bytes);
  return 0;
}

int slt_sgd_init(slt_sgd *o, const slt_params *p, const slt_sgd_cfg *cfg) {
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  o->numel = p->numel;
  if (cfg->nesterov && (cfg->momentum <= 0 || cfg->dampening != 0)) {
    slt_err_set("optim.nesterov needs optim.momentum > 0 and optim.dampening 0 for sgd "
                "(got momentum %g, dampening %g)",
                cfg->momentum, cfg->dampening);
    return -1;
  }
  return cfg->momentum != 0 ? alloc_buf(o, p) : 0;
}

int slt_sgdp_init(slt_sgd *o, const slt_params *p, const slt_sgd_cfg *cfg) {
  memset(o, 0, sizeof *o);
  o->cfg = *cfg;
  o->numel = p->numel;
  o->projected = true;
  if (!(cfg->momentum >= 0 && cfg->momentum < 1)) {
    slt_err_set("optim.momentum must be in [0, 1) for sgdp (got %g)", cfg->momentum);
    return -1;
  }
  if (alloc_buf(o, p) || slt_proj_init(&o->proj, p, cfg->delta, cfg->wd_ratio, cfg->eps)) {
    slt_sgd_free(o);
    return -1;
  }
  return 0;
}

void slt_sgd_free(slt_sgd *o) {
  free(o->buf);
  o->buf = NULL;
  if (o->projected) slt_proj_free(&o->proj);
}

/* x (n), g (n), buf (n) or NULL. torch.optim.SGD's single-tensor step, same float32 order. */
static void sgd_slice(float *restrict x, const float *restrict g, float *restrict buf, int64_t n,
                      float lr, float wd, float mu, float omd, bool first, bool nesterov) {
#pragma omp for schedule(static) nowait
  for (int64_t i = 0; i < n; i++) {
    float d = wd != 0 ? g[i] + wd * x[i] : g[i];
    if (buf) {
      float b = first ? d : mu * buf[i] + omd * d;
      buf[i] = b;
      d = nesterov ? d + mu * b : b;
    }
    x[i] = x[i] - lr * d;
  }
}

void slt_sgd_step(slt_sgd *o, slt_params *p, float lr, float wd_scale, const float *wd,
                  const float *lr_mult) {
  o->step++;
  const slt_sgd_cfg *h = &o->cfg;
  bool first = o->step == 1;
#pragma omp parallel
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    int64_t off = q->offset;
    float plr = (float)((double)lr * (lr_mult ? lr_mult[i] : 1.0f));
    sgd_slice(p->data + off, p->grad + off, o->buf ? o->buf + off : NULL, q->t.numel, plr,
              (float)((double)wd[i] * wd_scale), (float)h->momentum, (float)(1.0 - h->dampening),
              first, h->nesterov);
  }
}

/* SGDP: one parameter's slice and this step's constants. The direction is ng·g + nb·buf:
 * (1, μ) with nesterov, (0, 1) without, which is exactly buf and keeps the loops branch-free. */
typedef struct sgdp_ctx {
  float *x, *buf;
  const float *g;
  float mu, omd, ng, nb, lr, decay, decay_proj;
} sgdp_ctx;

/* The constants as locals: GCC does not vectorise loops that read them through the struct. */
#define SGDP_CONSTS(c)                                                                             \
  const float mu = (c)->mu, omd = (c)->omd, ng = (c)->ng, nb = (c)->nb, lr = (c)->lr,              \
              decay = (c)->decay;                                                                  \
  (void)mu, (void)omd, (void)lr, (void)decay

/* A 1-D parameter (never projected): one pass. */
static void plain(const sgdp_ctx *c, int64_t n) {
  float *restrict x = c->x, *restrict buf = c->buf;
  const float *restrict g = c->g;
  SGDP_CONSTS(c);
#pragma omp for schedule(static) nowait
  for (int64_t i = 0; i < n; i++) {
    float b = mu * buf[i] + omd * g[i];
    buf[i] = b;
    x[i] = x[i] * decay - lr * (ng * g[i] + nb * b);
  }
}

static void step(void *ctx, int64_t b, int64_t e, bool hold, float *restrict d,
                 float *restrict old) {
  const sgdp_ctx *c = ctx;
  float *restrict x = c->x + b, *restrict buf = c->buf + b;
  const float *restrict g = c->g + b;
  SGDP_CONSTS(c);
  const float keep = hold ? 1.0f : decay, move = hold ? 0.0f : lr;
  for (int64_t i = 0; i < e - b; i++) {
    float bi = mu * buf[i] + omd * g[i], xi = x[i];
    buf[i] = bi;
    float di = ng * g[i] + nb * bi;
    d[i] = di, old[i] = xi;
    x[i] = xi * keep - move * di;
  }
}

static void redo(void *ctx, int64_t b, int64_t e, float *restrict d) {
  const sgdp_ctx *c = ctx;
  const float *restrict buf = c->buf + b, *restrict g = c->g + b;
  SGDP_CONSTS(c);
  for (int64_t i = 0; i < e - b; i++) d[i] = ng * g[i] + nb * buf[i];
}

static sgdp_ctx ctx_for(const slt_sgd *o, const slt_params *p, int i, float lr, float wd_scale,
                        const float *wd, const float *lr_mult) {
  const slt_sgd_cfg *h = &o->cfg;
  int64_t off = p->items[i]->offset;
  double plr = (double)lr * (lr_mult ? lr_mult[i] : 1.0f);
  double w = plr * wd[i] * wd_scale / (1.0 - h->momentum);
  return (sgdp_ctx){.x = p->data + off,
                    .buf = o->buf + off,
                    .g = p->grad + off,
                    .mu = (float)h->momentum,
                    .omd = (float)(1.0 - h->dampening),
                    .ng = h->nesterov ? 1.0f : 0.0f,
                    .nb = h->nesterov ? (float)h->momentum : 1.0f,
                    .lr = (float)plr,
                    .decay = (float)(1.0 - w),
                    .decay_proj = (float)(1.0 - w * h->wd_ratio)};
}

void slt_sgdp_step(slt_sgd *o, slt_params *p, float lr, float wd_scale, const float *wd,
                   const float *lr_mult) {
  o->step++;
#pragma omp parallel
  {
    for (int i = 0; i < p->count; i++) {
      sgdp_ctx c = ctx_for(o, p, i, lr, wd_scale, wd, lr_mult);
      if (p->items[i]->t.ndim < 2) {
        plain(&c, p->items[i]->t.numel);
      } else {
        slt_proj_kernel k = {step, redo, &c, c.lr, c.decay, c.decay_proj};
        slt_proj_step(&o->proj, p, i, &k);
      }
    }
#pragma omp barrier
    if (slt_proj_decide_all(&o->proj, p))
      for (int i = 0; i < p->count; i++) {
        if (!slt_proj_needs_fix(&o->proj, i)) continue;
        sgdp_ctx c = ctx_for(o, p, i, lr, wd_scale, wd, lr_mult);
        slt_proj_kernel k = {step, redo, &c, c.lr, c.decay, c.decay_proj};
        slt_proj_fix(&o->proj, p, i, &k);
      }
  }
}
