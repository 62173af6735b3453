#include "optimizer.h"

#include "autograd/error.h"
#include "optim/adamp.h"
#include "optim/adamw.h"
#include "optim/sgd.h"

#include <stdlib.h>
#include <string.h>

struct slt_optim {
  slt_optim_kind kind;
  union {
    slt_adamw adamw;
    slt_adamp adamp;
    slt_sgd sgd; /* sgd and sgdp */
  } u;
};

const char *const slt_optim_kind_names[] = {"adamw", "adamp", "sgdp", "sgd", NULL};

slt_optim_hparams slt_optim_defaults(void) {
  return (slt_optim_hparams){.beta1 = 0.9,
                             .beta2 = 0.999,
                             .eps = 1e-8,
                             .momentum = 0.9,
                             .dampening = 0,
                             .nesterov = false,
                             .delta = 0.1,
                             .wd_ratio = 0.1};
}

int slt_optim_kind_parse(const char *name) {
  for (int k = 0; k < 4; k++)
    if (!strcmp(name, slt_optim_kind_names[k])) return k;
  slt_err_set("unknown optimizer '%s' (expected adamw, adamp, sgdp or sgd)", name);
  return -1;
}

const char *slt_optim_kind_str(slt_optim_kind kind) {
  return (unsigned)kind < 4 ? slt_optim_kind_names[kind] : "?";
}

/* Ranges the update formulas need; the message names the config key. */
static int check(slt_optim_kind kind, const slt_optim_hparams *h) {
  bool adam = kind == SLT_OPT_ADAMW || kind == SLT_OPT_ADAMP;
  if (adam && !(h->beta1 >= 0 && h->beta1 < 1 && h->beta2 >= 0 && h->beta2 < 1)) {
    slt_err_set("optim.betas must be in [0, 1) (got [%g, %g])", h->beta1, h->beta2);
    return -1;
  }
  if (!(h->eps > 0)) {
    slt_err_set("optim.eps must be > 0 (got %g)", h->eps);
    return -1;
  }
  if (!adam && !(h->momentum >= 0 && h->momentum < 1 && h->dampening >= 0 && h->dampening <= 1)) {
    slt_err_set("optim.momentum must be in [0, 1) and optim.dampening in [0, 1] (got %g, %g)",
                h->momentum, h->dampening);
    return -1;
  }
  if ((kind == SLT_OPT_ADAMP || kind == SLT_OPT_SGDP) && !(h->delta > 0 && h->wd_ratio >= 0)) {
    slt_err_set("optim.delta must be > 0 and optim.wd_ratio >= 0 (got %g, %g)", h->delta,
                h->wd_ratio);
    return -1;
  }
  return 0;
}

static int init(slt_optim *o, const slt_params *p, const slt_optim_hparams *h) {
  slt_sgd_cfg s = {.momentum = h->momentum,
                   .dampening = h->dampening,
                   .nesterov = h->nesterov,
                   .eps = h->eps,
                   .delta = h->delta,
                   .wd_ratio = h->wd_ratio};
  switch (o->kind) {
  case SLT_OPT_ADAMW:
    return slt_adamw_init(&o->u.adamw, p, (float)h->beta1, (float)h->beta2, (float)h->eps);
  case SLT_OPT_ADAMP: {
    slt_adamp_cfg a = {.beta1 = h->beta1,
                       .beta2 = h->beta2,
                       .eps = h->eps,
                       .delta = h->delta,
                       .wd_ratio = h->wd_ratio,
                       .nesterov = h->nesterov};
    return slt_adamp_init(&o->u.adamp, p, &a);
  }
  case SLT_OPT_SGDP:
    return slt_sgdp_init(&o->u.sgd, p, &s);
  case SLT_OPT_SGD:
    return slt_sgd_init(&o->u.sgd, p, &s);
  }
  return -1;
}

slt_optim *slt_optim_new(slt_optim_kind kind, const slt_params *p, const slt_optim_hparams *h) {
  if ((unsigned)kind >= 4) {
    slt_err_set("unknown optimizer kind %d", (int)kind);
    return NULL;
  }
  if (check(kind, h)) return NULL;
  slt_optim *o = calloc(1, sizeof *o);
  if (!o) {
    slt_err_set("out of memory allocating the optimizer");
    return NULL;
  }
  o->kind = kind;
  if (init(o, p, h)) {
    free(o);
    return NULL;
  }
  return o;
}

void slt_optim_free(slt_optim *o) {
  if (!o) return;
  if (o->kind == SLT_OPT_ADAMW) slt_adamw_free(&o->u.adamw);
  if (o->kind == SLT_OPT_ADAMP) slt_adamp_free(&o->u.adamp);
  if (o->kind == SLT_OPT_SGDP || o->kind == SLT_OPT_SGD) slt_sgd_free(&o->u.sgd);
  free(o);
}

void slt_optim_step(slt_optim *o, slt_params *p, float lr, float wd_scale, const float *wd,
                    const float *lr_mult) {
  switch (o->kind) {
  case SLT_OPT_ADAMW:
    slt_adamw_step(&o->u.adamw, p, lr, wd_scale, wd, lr_mult);
    break;
  case SLT_OPT_ADAMP:
    slt_adamp_step(&o->u.adamp, p, lr, wd_scale, wd, lr_mult);
    break;
  case SLT_OPT_SGDP:
    slt_sgdp_step(&o->u.sgd, p, lr, wd_scale, wd, lr_mult);
    break;
  case SLT_OPT_SGD:
    slt_sgd_step(&o->u.sgd, p, lr, wd_scale, wd, lr_mult);
    break;
  }
}

int slt_optim_slots(const slt_optim *o, const char **names, float **bufs) {
  const char *n[SLT_OPTIM_MAX_SLOTS] = {"m", "v"};
  float *b[SLT_OPTIM_MAX_SLOTS] = {0};
  int count = 2;
  if (o->kind == SLT_OPT_ADAMW) b[0] = o->u.adamw.m, b[1] = o->u.adamw.v;
  if (o->kind == SLT_OPT_ADAMP) b[0] = o->u.adamp.m, b[1] = o->u.adamp.v;
  if (o->kind == SLT_OPT_SGDP || o->kind == SLT_OPT_SGD) {
    n[0] = "buf", b[0] = o->u.sgd.buf;
    count = b[0] ? 1 : 0;
  }
  for (int k = 0; k < count; k++) {
    if (names) names[k] = n[k];
    if (bufs) bufs[k] = b[k];
  }
  return count;
}

int64_t slt_optim_get_step(const slt_optim *o) {
  if (o->kind == SLT_OPT_ADAMW) return o->u.adamw.step;
  if (o->kind == SLT_OPT_ADAMP) return o->u.adamp.step;
  return o->u.sgd.step;
}

void slt_optim_set_step(slt_optim *o, int64_t step) {
  if (o->kind == SLT_OPT_ADAMW) o->u.adamw.step = step;
  if (o->kind == SLT_OPT_ADAMP) o->u.adamp.step = step;
  if (o->kind == SLT_OPT_SGDP || o->kind == SLT_OPT_SGD) o->u.sgd.step = step;
}

slt_optim_kind slt_optim_get_kind(const slt_optim *o) {
  return o->kind;
}

const uint8_t *slt_optim_views(const slt_optim *o) {
  if (o->kind == SLT_OPT_ADAMP) return o->u.adamp.proj.views;
  if (o->kind == SLT_OPT_SGDP) return o->u.sgd.proj.views;
  return NULL;
}
