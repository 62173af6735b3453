#include "trainer_gemm.h"

#include "kernels/gemm.h"
#include "train/dist.h"
#include "train/trainer_dist.h"

#include <stdio.h>
#include <string.h>

int slt_trainer_gemm_setup(slt_trainer *t) {
  const slt_config *c = &t->cfg;
  int rows = c->train.micro_batch * c->model.seq_len;
  if (slt_gemm_configure(c->train.gemm, c->train.precision, rows, c->model.d_model,
                         slt_config_ffn_dim(c)))
    return -1;
  /* Ranks measure apart and could disagree; all must run the same products. */
  if (c->train.gemm == SLT_GEMM_AUTO && slt_dist_world() > 1 &&
      slt_trainer_dist_any(strcmp(slt_gemm_backend(), "onednn") != 0) &&
      slt_gemm_configure(SLT_GEMM_OPENBLAS, slt_gemm_precision(), rows, 0, 0))
    return -1;
  printf("gemm: %s\n", slt_gemm_describe());
  /* The measured backend goes into the run's config.yaml and checkpoints, for resumes. */
  t->gemm_auto = c->train.gemm == SLT_GEMM_AUTO;
  if (t->gemm_auto)
    t->cfg.train.gemm = strcmp(slt_gemm_backend(), "onednn") ? SLT_GEMM_OPENBLAS : SLT_GEMM_ONEDNN;
  return 0;
}

int slt_trainer_gemm_follow(slt_trainer *t, slt_gemm_kind kind) {
  if (!t->gemm_auto || kind == SLT_GEMM_AUTO || kind == t->cfg.train.gemm) return 0;
  const slt_config *c = &t->cfg;
  if (slt_gemm_configure(kind, c->train.precision, c->train.micro_batch * c->model.seq_len,
                         c->model.d_model, slt_config_ffn_dim(c)))
    return -1;
  t->cfg.train.gemm = kind;
  printf("gemm: %s (train.gemm auto: the checkpoint's backend, for a bitwise resume)\n",
         slt_gemm_describe());
  return 0;
}

void slt_trainer_gemm_weights_begin(slt_trainer *t) {
  slt_params *guide = slt_trainer_guide(t);
  slt_gemm_weights(0, t->model->params->data, t->model->params->numel);
  slt_gemm_weights(1, guide ? guide->data : NULL, guide ? guide->numel : 0);
}

void slt_trainer_gemm_weights_end(void) {
  slt_gemm_weights(0, NULL, 0);
  slt_gemm_weights(1, NULL, 0);
}
