#include "schedule.h"

#include <math.h>
#include <stddef.h>

const char *const slt_schedule_names[] = {"cosine", "linear", "constant", "wsd",
                                          "trilm",  "ifairy", "bitnet",   NULL};

int64_t slt_schedule_warmup_steps(const slt_schedule *s) {
  if (s->warmup <= 0) return 0;
  if (s->warmup < 1) return (int64_t)floor(s->warmup * (double)s->total_steps);
  return (int64_t)s->warmup;
}

/* Fraction of the post-warmup span done at step, clamped to [0, 1]. */
static double progress(const slt_schedule *s, int64_t step, int64_t warm) {
  int64_t span = s->total_steps - warm;
  if (span <= 0) return 1.0;
  double p = (double)(step - warm) / (double)span;
  return p < 0 ? 0 : p > 1 ? 1 : p;
}

static double cosine_lr(const slt_schedule *s, double p) {
  double min = s->min_lr_ratio * s->peak_lr;
  return min + 0.5 * (1.0 + cos(M_PI * p)) * (s->peak_lr - min);
}

slt_schedule_point slt_schedule_at(const slt_schedule *s, int64_t step) {
  slt_schedule_point pt = {s->peak_lr, 1.0};
  int64_t warm = slt_schedule_warmup_steps(s);
  double T = (double)s->total_steps, t = (double)step;
  if (step < warm) {
    pt.lr = s->peak_lr * (double)(step + 1) / (double)warm;
    return pt;
  }
  double p = progress(s, step, warm), min = s->min_lr_ratio * s->peak_lr;
  switch (s->kind) {
  case SLT_SCHED_CONSTANT: break;
  case SLT_SCHED_LINEAR: pt.lr = min + (1.0 - p) * (s->peak_lr - min); break;
  case SLT_SCHED_COSINE: pt.lr = cosine_lr(s, p); break;
  case SLT_SCHED_WSD: {
    double start = T * (1.0 - s->decay_fraction);
    if (t >= start && T > start) pt.lr = s->peak_lr - (s->peak_lr - min) * (t - start) / (T - start);
    break;
  }
  case SLT_SCHED_TRILM:
    pt.lr = cosine_lr(s, p) * (t >= s->drop_at * T ? s->drop : 1.0);
    pt.wd_scale = t >= s->wd_off_at * T ? 0.0 : 1.0;
    break;
  case SLT_SCHED_BITNET:
    pt.lr = t < s->split * T ? s->peak_lr * (1.0 - (t - warm) / T)
                             : s->peak_lr * s->peak2 * (1.0 - t / T);
    pt.wd_scale = t >= s->split * T ? 0.0 : 1.0;
    break;
  case SLT_SCHED_IFAIRY:
    pt.lr = t < T / 2 ? s->peak_lr * (1.0 - (t - warm) / T) : s->peak_lr * 0.6666 * (1.0 - t / T);
    pt.wd_scale = t >= T / 2 ? 0.0 : 1.0;
    break;
  }
  return pt;
}
