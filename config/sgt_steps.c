/* Self-guided training's step plan: pure functions of the config, so the trainer and the
 * checkpoint reader (which checks a fixedflop cursor) agree on them. */
#include "sgt_steps.h"

#include <math.h>

int64_t slt_sgt_guided_steps(const slt_config *c) {
  if (!c->sgt.enabled) return 0;
  return (int64_t)floor(c->sgt.ratio * (double)c->train.steps);
}

int64_t slt_sgt_total_steps(const slt_config *c) {
  bool stretch = c->sgt.enabled && c->sgt.mode == SLT_SGT_FIXEDFLOP;
  return c->train.steps + (stretch ? slt_sgt_guided_steps(c) : 0);
}

double slt_sgt_alpha(const slt_config *c, int64_t step) {
  int64_t T = slt_sgt_guided_steps(c);
  if (T <= 0 || step >= T) return 0.0;
  double t = (double)step / (double)T;
  if (c->sgt.schedule == SLT_SGT_LINEAR) return 1.0 - t;
  return 0.5 * (1.0 + cos(M_PI * t));
}

int64_t slt_sgt_data_step(const slt_config *c, int64_t step) {
  bool reread = c->sgt.enabled && c->sgt.mode == SLT_SGT_FIXEDFLOP;
  return reread && step >= c->train.steps ? step - c->train.steps : step;
}
