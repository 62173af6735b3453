/* Data parallelism in the trainer: reduction of gradients, losses and stop requests; replicas'
 * initial parameters; every rank's data cursor and RNG for checkpoints. */
#include "trainer_dist.h"

#include "autograd/error.h"
#include "train/dist.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int slt_trainer_dist_setup(slt_trainer *t) {
  const slt_config *c = &t->cfg;
  t->reducer = slt_dist_reducer_new((int64_t)(c->dist.bucket_mb * 1e6 / sizeof(float)),
                                    c->dist.overlap);
  if (!t->reducer) return -1;
  /* Each rank initialised the same weights from the seed (or read the same checkpoint); rank
   * 0's copy is the truth all the same, so no accident of a rank's set-up can fork a replica. */
  slt_params *guide = slt_trainer_guide(t);
  if (slt_dist_bcast(t->model->params->data, (size_t)t->model->params->numel * sizeof(float), 0) ||
      (guide && slt_dist_bcast(guide->data, (size_t)guide->numel * sizeof(float), 0)))
    return -1;
  if (slt_dist_world() > 1)
    slt_metrics_say(NULL, "dist: %d ranks (%d on this node), %lld gradient buckets of %.3g MB, overlap %s",
           slt_dist_world(), slt_dist_local_size(),
           (long long)slt_dist_bucket_count(t->model->params->numel,
                                            (int64_t)(c->dist.bucket_mb * 1e6 / sizeof(float))),
           c->dist.bucket_mb, c->dist.overlap ? "on" : "off");
  return 0;
}

void slt_trainer_dist_free(slt_trainer *t) {
  slt_dist_reducer_free(t->reducer);
  t->reducer = NULL;
}

int slt_trainer_dist_backward(slt_trainer *t, slt_tensor *scaled, bool last) {
  if (!last || slt_dist_world() == 1) return slt_backward(&t->ctx, scaled);
  slt_dist_reducer *r = t->reducer;
  slt_params *guide = slt_trainer_guide(t);
  slt_dist_reducer_clear(r);
  if (slt_dist_reducer_add(r, t->model->params->grad, t->model->params->numel) ||
      (guide && slt_dist_reducer_add(r, guide->grad, guide->numel)) ||
      slt_dist_reducer_begin(r, &t->ctx))
    return -1;
  if (slt_backward(&t->ctx, scaled)) {
    slt_ctx_set_hook(&t->ctx, NULL, NULL); /* the caller aborts every rank */
    return -1;
  }
  return slt_dist_reducer_end(r, &t->ctx);
}

double slt_trainer_dist_mean(double sum, int count) {
  if (slt_dist_sum(&sum, 1)) return NAN;
  return sum / ((double)count * slt_dist_world());
}

bool slt_trainer_dist_any(bool v) {
  int f = v;
  return slt_dist_or(&f) ? true : f != 0;
}

int slt_trainer_dist_gather(slt_trainer *t, slt_loader_cursor *cursors, slt_rng *rngs) {
  slt_loader_cursor cur = slt_loader_get_cursor(t->loader);
  return slt_dist_allgather(&cur, cursors, sizeof cur) ||
                 slt_dist_allgather(&t->rng, rngs, sizeof t->rng)
             ? -1
             : 0;
}

int slt_trainer_dist_check_replicas(slt_trainer *t) {
  int same = slt_dist_same(t->model->params->data, (size_t)t->model->params->numel * sizeof(float));
  if (same == 1) return 0;
  if (same == 0)
    slt_err_set("rank %d: the ranks' parameters differ at step %lld: the replicas drifted apart "
                "(a non-deterministic reduction?)", slt_dist_rank(), (long long)t->step);
  return -1;
}

int slt_trainer_dist_share_path(char *path, size_t len) {
  return slt_dist_bcast(path, len, 0);
}

int slt_trainer_dist_open_metrics(slt_trainer *t, bool append) {
  if (slt_dist_rank() == 0)
    return slt_metrics_open(&t->metrics, t->cfg.out_dir, t->cfg.train.metrics, append);
  memset(&t->metrics, 0, sizeof t->metrics); /* log NULL: records are dropped */
  return 0;
}
