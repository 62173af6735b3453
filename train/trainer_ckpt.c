/* A trainer to and from a checkpoint: model, optimizer state, SGT guides while they exist, and
 * every rank's data cursor and RNG. */
#include "autograd/sys.h"
#include "trainer.h"

#include "autograd/error.h"
#include "ckpt/checkpoint.h"
#include "train/dist.h"
#include "train/trainer_dist.h"
#include "train/trainer_gemm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An optimizer's state as the checkpoint's (slot name, flat buffer) pairs. */
static slt_ckpt_optim optim_view(slt_optim *opt) {
  slt_ckpt_optim v = {.name = slt_optim_kind_str(slt_optim_get_kind(opt)),
                      .step = slt_optim_get_step(opt)};
  v.nslots = slt_optim_slots(opt, v.slot_names, v.slots);
  return v;
}

/* Rank 0 writes d with every rank's data cursor and RNG (gathered: a collective), once the
 * replicas are checked to agree; the other ranks write nothing (path_out ""). 0 or -1. */
static int save_ranks(slt_trainer *t, slt_ckpt_data *d, char *path, size_t len) {
  int world = slt_dist_world(), rc = -1;
  slt_loader_cursor *cursors = malloc((size_t)world * sizeof *cursors);
  slt_rng *rngs = malloc((size_t)world * sizeof *rngs);
  if (!cursors || !rngs) {
    slt_err_set("rank %d: out of memory gathering the ranks' state", slt_dist_rank());
  } else if (!slt_trainer_dist_gather(t, cursors, rngs) && !slt_trainer_dist_check_replicas(t)) {
    d->state.world = world;
    d->state.cursors = cursors;
    d->state.rngs[0] = rngs; /* rng_names[0]: SLT_TRAINER_RNG */
    if (path && len) path[0] = '\0';
    rc = slt_dist_rank() == 0 && (slt_ckpt_save(t->cfg.out_dir, d, path, len) ||
                                  slt_ckpt_prune(t->cfg.out_dir, t->cfg.train.keep_last) < 0)
             ? -1
             : 0;
  }
  free(cursors);
  free(rngs);
  return rc;
}

int slt_trainer_save(slt_trainer *t, char *path, size_t len) {
  slt_loader_cursor cur = slt_loader_get_cursor(t->loader);
  if (cur.step != slt_sgt_data_step(&t->cfg, t->step) || cur.micro_step) {
    slt_err_set("checkpoint: the data cursor (step %lld, micro step %lld) is not at the trainer's "
                "step %lld", (long long)cur.step, (long long)cur.micro_step, (long long)t->step);
    return -1;
  }
  slt_ckpt_data d = {.cfg = &t->cfg, .params = t->model->params, .optim = optim_view(t->opt),
                     .state = {.step = t->step, .tokens = t->tokens, .world = 1, .cursors = &cur,
                               .nrngs = 1, .rng_names = {SLT_TRAINER_RNG}, .rngs = {&t->rng},
                               .sgt_alpha = slt_sgt_alpha(&t->cfg, t->step),
                               .sgt_guided_steps = slt_sgt_guided_steps(&t->cfg)}};
  if (slt_sgt_active(&t->sgt)) {
    d.guide = &t->sgt.guide.params;
    d.guide_optim = optim_view(t->sgt.opt);
  }
  double t0 = slt_now();
  if (save_ranks(t, &d, path, len)) return -1;
  t->ckpt_s = slt_now() - t0;
  t->ckpt_step = t->step;
  return 0;
}

/* Prefix the recorded message with the checkpoint's path. */
static int fail_with_path(const char *path) {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", slt_err_msg());
  slt_err_set("%s: %s", path, msg);
  return -1;
}

/* SGT's guides: read while guidance lasts at the checkpoint's step, freed after it. */
static int load_guide(slt_trainer *t, const slt_ckpt *ck) {
  if (!slt_sgt_active(&t->sgt)) return 0;
  if (slt_sgt_alpha(&t->cfg, ck->state.step) <= 0) {
    slt_sgt_release(&t->sgt, t->model);
    return 0;
  }
  if (!slt_ckpt_has_guide(ck)) {
    slt_err_set("%s: step %lld is within SGT's %lld guided steps but the checkpoint has no "
                "/guide (written without sgt.enabled?)", ck->path, (long long)ck->state.step,
                (long long)slt_sgt_guided_steps(&t->cfg));
    return -1;
  }
  slt_ckpt_optim o = optim_view(t->sgt.opt);
  if (slt_ckpt_read_guide(ck, &t->sgt.guide.params, &o)) return -1;
  slt_optim_set_step(t->sgt.opt, o.step);
  t->sgt.guide.alpha = (float)slt_sgt_alpha(&t->cfg, ck->state.step);
  return 0;
}

static int load_from(slt_trainer *t, const slt_ckpt *ck) {
  const slt_ckpt_state *s = &ck->state;
  if (slt_ckpt_check_model(ck, &t->cfg)) return -1;
  if (s->world != slt_dist_world()) {
    slt_err_set("%s: written by a run of %d rank%s, this run has %d: resuming with another "
                "world size is not supported (each rank's data slice would change)", ck->path,
                s->world, s->world == 1 ? "" : "s", slt_dist_world());
    return -1;
  }
  int r = slt_ckpt_find_rng(ck, SLT_TRAINER_RNG);
  if (r < 0) {
    slt_err_set("%s: missing /state/rng/%s (the trainer's RNG)", ck->path, SLT_TRAINER_RNG);
    return -1;
  }
  slt_ckpt_optim o = optim_view(t->opt);
  if (strcmp(ck->optim_name, o.name)) {
    slt_err_set("%s: written with optimizer '%s', the config says optim.name=%s", ck->path,
                ck->optim_name, o.name);
    return -1;
  }
  if (slt_trainer_gemm_follow(t, ck->cfg.train.gemm) ||
      slt_ckpt_read_params(ck, t->model->params) || slt_ckpt_read_optim(ck, t->model->params, &o) ||
      load_guide(t, ck))
    return -1;
  if (slt_loader_set_cursor(t->loader, &s->cursors[slt_dist_rank()]))
    return fail_with_path(ck->path);
  slt_optim_set_step(t->opt, o.step);
  t->rng = s->rngs[r][slt_dist_rank()];
  t->step = t->resumed_at = t->ckpt_step = s->step;
  t->tokens = s->tokens;
  char diff[1024];
  if (slt_config_diff(&ck->cfg, &t->cfg, NULL, diff, sizeof diff))
    slt_metrics_say(NULL, "resume: config changed since the checkpoint: %s (then vs now)", diff);
  return 0;
}

int slt_trainer_load(slt_trainer *t, const char *path) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, path)) return -1;
  int rc = load_from(t, &ck);
  slt_ckpt_close(&ck);
  return rc;
}
