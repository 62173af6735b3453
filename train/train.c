#include "train.h"

#include "trainer.h"

#include <math.h>
#include <string.h>

static void fill_result(const slt_trainer *t, slt_train_result *r) {
  *r = (slt_train_result){.steps = t->step,
                          .tokens = t->tokens,
                          .train_loss = t->last_loss,
                          .val_loss = t->last_val,
                          .best_val_loss = t->best_val,
                          .flops_per_token = t->flops_per_token,
                          .flops = t->flops_per_token * (double)t->tokens,
                          .seconds = t->run_seconds,
                          .params = slt_model_count(t->model),
                          .resumed_at = t->resumed_at,
                          .interrupted = t->interrupted};
}

int slt_train(const slt_config *cfg, const slt_train_opts *opts, slt_train_result *r) {
  slt_train_opts none = {0};
  if (!opts) opts = &none;
  memset(r, 0, sizeof *r);
  r->train_loss = r->val_loss = r->best_val_loss = NAN;
  if (slt_config_validate(cfg)) return -1;
  slt_trainer t;
  int rc = slt_trainer_init_resume(&t, cfg, opts->resume);
  if (!rc) rc = slt_trainer_run(&t, opts->stop);
  if (!rc) fill_result(&t, r);
  slt_trainer_free(&t); /* safe after a failed init: it starts by zeroing t */
  return rc;
}
