#include "sgt.h"

#include <stdlib.h>

void slt_sgt_release(slt_sgt *s, slt_model *m) {
  slt_optim_free(s->opt);
  s->opt = NULL;
  slt_model_guide_detach(m, &s->guide);
  free(s->wd);
  free(s->lr_mult);
  s->wd = s->lr_mult = NULL;
}

int64_t slt_sgt_bytes(const slt_sgt *s) {
  if (!s->opt) return 0;
  /* Weights and gradients, plus the optimizer's slots, each a flat buffer of numel floats. */
  int64_t per = s->guide.params.numel * (int64_t)sizeof(float);
  return per * (2 + slt_optim_slots(s->opt, NULL, NULL));
}
