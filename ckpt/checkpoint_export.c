/* What every export and conversion of a checkpoint shares: the model a checkpoint holds, and
 * writing a derived model as an inference checkpoint that keeps the source's record. */
#include "checkpoint_internal.h"

#include "autograd/error.h"
#include "layers/model.h"

#include <stdlib.h>

slt_model *slt_ckpt_model(const slt_ckpt *c) {
  slt_model *m = slt_model_build(&c->cfg.model, SLT_MODEL_ALLOC);
  if (!m) { /* the layers' own checks name the key, not the file */
    ck_fail_prefixed(c->path, "the stored config: ");
    return NULL;
  }
  if (!slt_ckpt_read_params(c, m->params)) return m;
  slt_model_free(m);
  return NULL;
}

/* Where the source run stood (step, tokens, cursors, RNGs), and nothing of self-guidance: an
 * export has no guides and its config has SGT off, so a cursor that fixedflop moved back to
 * re-read the first steps is recorded at the step itself (cursors: world entries to fill). */
static slt_ckpt_state record_of(const slt_ckpt_state *s, slt_loader_cursor *cursors) {
  slt_ckpt_state r = {.step = s->step,
                      .tokens = s->tokens,
                      .world = s->world,
                      .cursors = cursors,
                      .nrngs = s->nrngs};
  for (int i = 0; i < s->world; i++) {
    cursors[i] = s->cursors[i];
    cursors[i].step = s->step;
  }
  for (int i = 0; i < s->nrngs; i++) {
    r.rng_names[i] = s->rng_names[i];
    r.rngs[i] = s->rngs[i];
  }
  return r;
}

int slt_ckpt_write_export(const char *out, const slt_ckpt *src, const slt_config *cfg,
                          const slt_params *params) {
  slt_config c = *cfg;
  c.sgt.enabled = false;
  slt_loader_cursor *cursors = calloc((size_t)src->state.world, sizeof *cursors);
  if (!cursors) {
    slt_err_set("out of memory");
    return -1;
  }
  slt_ckpt_data d = {.cfg = &c,
                     .params = params,
                     .optim = {.name = "none", .step = 0, .nslots = 0},
                     .state = record_of(&src->state, cursors)};
  int rc = slt_config_validate(&c) || slt_ckpt_write(out, &d) ? -1 : 0;
  free(cursors);
  return rc;
}
