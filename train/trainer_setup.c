/* Building a trainer from a config: threads, output directory, model, data, optimizer; and
 * resuming one from a checkpoint. */
#include "trainer.h"

#include "autograd/error.h"
#include "autograd/parallel.h"
#include "train/checkpoint.h"

#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void slt_trainer_model_config(const slt_config *c, slt_gpt_config *g) {
  const slt_config_model *m = &c->model;
  *g = (slt_gpt_config){
      .vocab_size = m->vocab_size, .seq_len = m->seq_len, .layers = m->layers,
      .d_model = m->d_model, .heads = m->heads, .kv_heads = slt_config_kv_heads(c),
      .ffn_dim = slt_config_ffn_dim(c), .norm = m->norm, .norm_eps = (float)m->norm_eps,
      .pos = m->pos, .rope_base = (float)m->rope_base, .act = m->act, .bias = m->bias,
      .tie_embeddings = m->tie_embeddings, .init_std = (float)m->init_std,
      /* The config's enums are in layers/structured.h's order (config.h says so). */
      .ffn = {.kind = (int)m->ffn.kind, .rank = m->ffn.rank, .nblocks = m->ffn.nblocks,
              .init = (int)m->ffn.init, .first_layer_dense = m->ffn.first_layer_dense}};
}

/* mkdir -p */
static int make_dirs(const char *path) {
  char buf[SLT_CFG_STR];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1;; p++) {
    bool end = *p == '\0';
    if (*p == '/' || end) {
      *p = '\0';
      if (mkdir(buf, 0777) && errno != EEXIST) {
        slt_err_set("out_dir: cannot create '%s': %s", buf, strerror(errno));
        return -1;
      }
      if (end) break;
      *p = '/';
    }
  }
  return 0;
}

/* Weight decay and lr multiplier per parameter: optim.no_decay_1d exempts vectors (biases, norm
 * gains), optim.no_decay_embeddings the token and position tables, then the optim.groups rules. */
static int param_groups(slt_trainer *t) {
  const slt_params *p = &t->model.params;
  const slt_config_optim *o = &t->cfg.optim;
  size_t n = (size_t)(p->count ? p->count : 1);
  t->wd = malloc(n * sizeof *t->wd);
  t->lr_mult = malloc(n * sizeof *t->lr_mult);
  if (!t->wd || !t->lr_mult) return -1;
  slt_groups g;
  slt_groups_init(&g, o->weight_decay);
  int rc = slt_groups_add_defaults(&g, o->no_decay_1d, o->no_decay_embeddings);
  char rules[SLT_CFG_STR];
  snprintf(rules, sizeof rules, "%s", o->groups);
  for (char *save = NULL, *r = strtok_r(rules, ";", &save); r && !rc; r = strtok_r(NULL, ";", &save))
    if (r[strspn(r, " \t")] && slt_groups_parse(&g, r)) {
      char msg[600];
      snprintf(msg, sizeof msg, "optim.groups: %s", slt_err_msg());
      slt_err_set("%s", msg);
      rc = -1;
    }
  if (!rc) {
    int unused = slt_groups_unused(&g, p);
    if (unused >= 0)
      printf("warning: optim.groups rule %d matches no parameter\n", unused + 1);
    slt_groups_apply(&g, p, t->wd, t->lr_mult);
  }
  slt_groups_free(&g);
  return rc;
}

static int make_optimizer(slt_trainer *t) {
  const slt_config_optim *o = &t->cfg.optim;
  slt_optim_hparams h = {.beta1 = o->betas[0], .beta2 = o->betas[1], .eps = o->eps,
                         .momentum = o->momentum, .dampening = o->dampening,
                         .nesterov = o->nesterov, .delta = o->delta, .wd_ratio = o->wd_ratio};
  /* slt_optim_kind lists the optimizers in optim.name's order. */
  t->opt = slt_optim_new((slt_optim_kind)o->name, &t->model.params, &h);
  return t->opt ? 0 : -1;
}

static int open_data(slt_trainer *t) {
  const slt_config *c = &t->cfg;
  slt_loader_cfg lc = {.seq_len = c->model.seq_len, .micro_batch = c->train.micro_batch,
                       .grad_accum = c->train.grad_accum, .rank = 0, .world = 1,
                       .seed = (uint64_t)c->seed, .shuffle = c->data.shuffle};
  t->loss_floor = NAN;
  if (c->data.source == SLT_DATA_SYNTHETIC) {
    int V = slt_config_synthetic_vocab(c);
    if (V > c->model.vocab_size) {
      slt_err_set("data.synthetic.vocab (%d) exceeds model.vocab_size (%d)", V, c->model.vocab_size);
      return -1;
    }
    t->chain = slt_markov_new(V, c->data.synthetic.order, c->data.synthetic.alpha,
                              (uint64_t)c->data.synthetic.seed);
    if (!t->chain) return -1;
    t->loss_floor = slt_markov_floor(t->chain, c->model.seq_len);
    printf("data: synthetic order-%d Markov chain over %d tokens; entropy rate %.4f nats, "
           "loss floor for rows of %d: %.4f nats\n",
           c->data.synthetic.order, V, slt_markov_entropy_rate(t->chain), c->model.seq_len,
           t->loss_floor);
    t->loader = slt_loader_new_synthetic(t->chain, &lc);
  } else {
    const char *val = c->train.eval_every > 0 || c->data.val[0] ? c->data.val : NULL;
    t->loader = slt_loader_new_shards(c->data.train, val && *val ? val : NULL,
                                      c->model.vocab_size, &lc);
    if (t->loader)
      printf("data: %s (%lld rows of %d)\n", c->data.train, (long long)slt_loader_rows(t->loader),
             c->model.seq_len + 1);
  }
  return t->loader ? 0 : -1;
}

/* The sgemm peak for MFU: measured once per process and thread count (it takes about a second
 * and does not change while the process runs). */
static double peak_gflops(void) {
  static double peak;
  static int threads;
  if (threads != omp_get_max_threads()) {
    threads = omp_get_max_threads();
    peak = slt_sgemm_peak_gflops();
  }
  return peak;
}

static void print_summary(const slt_trainer *t) {
  const slt_gpt_config *g = &t->model.cfg;
  const slt_config *c = &t->cfg;
  int64_t ffn = slt_gpt_ffn_params(&t->model), dense = slt_gpt_dense_ffn_params(g);
  printf("model: %d layers, d_model %d, %d heads (%d kv), ffn %d (%s), vocab %d, T %d: %.2fM "
         "params; FFN %.2fM = %.1f%% of the dense FFN's %.2fM\n",
         g->layers, g->d_model, g->heads, g->kv_heads, g->ffn_dim,
         slt_ffn_kind_names[c->model.ffn.kind], g->vocab_size, g->seq_len,
         t->model.params.numel / 1e6, ffn / 1e6, 100.0 * ffn / dense, dense / 1e6);
  printf("batch: %d x %d micro-batch x %d accumulation = %d tokens per step; %lld steps; "
         "%d threads\n",
         c->train.micro_batch, c->model.seq_len, c->train.grad_accum,
         c->train.micro_batch * c->model.seq_len * c->train.grad_accum, (long long)c->train.steps,
         omp_get_max_threads());
}

/* Everything but the metrics log, which a resumed run appends to. */
static int init_parts(slt_trainer *t, const slt_config *cfg) {
  memset(t, 0, sizeof *t);
  t->t_created = slt_now();
  t->cfg = *cfg;
  t->resumed_at = t->ckpt_step = -1;
  const slt_config *c = &t->cfg;
  /* Its own stream, apart from the init stream, so using it never shifts the weights drawn. */
  slt_rng_seed(&t->rng, (uint64_t)c->seed ^ UINT64_C(0x747261696e6572)); /* "trainer" */
  slt_threads_set(c->train.threads);
  slt_ctx_init(&t->ctx);
  char path[SLT_CFG_STR + 16];
  snprintf(path, sizeof path, "%s/config.yaml", c->out_dir);
  if (make_dirs(c->out_dir) || slt_config_save(c, path)) return -1;
  slt_gpt_config g;
  slt_trainer_model_config(c, &g);
  if (slt_gpt_build(&t->model, &g)) return -1;
  slt_gpt_init_weights(&t->model, (uint64_t)c->seed);
  if (param_groups(t) || open_data(t) || make_optimizer(t)) return -1;
  t->sched = (slt_schedule){.kind = c->schedule.name, .peak_lr = c->optim.lr,
                            .min_lr_ratio = c->schedule.min_lr_ratio,
                            .warmup = c->schedule.warmup,
                            .decay_fraction = c->schedule.decay_fraction,
                            .total_steps = c->train.steps};
  size_t bt = (size_t)c->train.micro_batch * c->model.seq_len;
  t->x = malloc(bt * sizeof *t->x);
  t->y = malloc(bt * sizeof *t->y);
  if (!t->x || !t->y) {
    slt_err_set("out of memory allocating the batch");
    return -1;
  }
  t->flops_per_token = slt_gpt_flops_per_token(&t->model, g.seq_len);
  t->peak_gflops = peak_gflops();
  print_summary(t);
  return 0;
}

int slt_trainer_init(slt_trainer *t, const slt_config *cfg) {
  return slt_trainer_init_resume(t, cfg, NULL);
}

/* ---- checkpoints ---- */

/* The optimizer's state as the checkpoint's (slot name, flat buffer) pairs. */
static slt_ckpt_optim optim_view(slt_trainer *t) {
  slt_ckpt_optim v = {.name = slt_optim_kind_str(slt_optim_get_kind(t->opt)),
                      .step = slt_optim_get_step(t->opt)};
  v.nslots = slt_optim_slots(t->opt, v.slot_names, v.slots);
  return v;
}

int slt_trainer_save(slt_trainer *t, char *path, size_t len) {
  slt_loader_cursor cur = slt_loader_get_cursor(t->loader);
  if (cur.step != t->step || cur.micro_step) {
    slt_err_set("checkpoint: the data cursor (step %lld, micro step %lld) is not at the trainer's "
                "step %lld", (long long)cur.step, (long long)cur.micro_step, (long long)t->step);
    return -1;
  }
  slt_ckpt_data d = {.cfg = &t->cfg, .params = &t->model.params, .optim = optim_view(t),
                     .state = {.step = t->step, .tokens = t->tokens, .world = 1, .cursors = &cur,
                               .nrngs = 1, .rng_names = {SLT_TRAINER_RNG}, .rngs = {&t->rng}}};
  double t0 = slt_now();
  if (slt_ckpt_save(t->cfg.out_dir, &d, path, len) ||
      slt_ckpt_prune(t->cfg.out_dir, t->cfg.train.keep_last) < 0)
    return -1;
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

static int load_from(slt_trainer *t, const slt_ckpt *ck) {
  const slt_ckpt_state *s = &ck->state;
  if (slt_ckpt_check_model(ck, &t->cfg)) return -1;
  if (s->world != 1) {
    slt_err_set("%s: written by a run of %d ranks, this run has 1: resuming with another world "
                "size is not supported yet", ck->path, s->world);
    return -1;
  }
  int r = slt_ckpt_find_rng(ck, SLT_TRAINER_RNG);
  if (r < 0) {
    slt_err_set("%s: missing /state/rng/%s (the trainer's RNG)", ck->path, SLT_TRAINER_RNG);
    return -1;
  }
  slt_ckpt_optim o = optim_view(t);
  if (strcmp(ck->optim_name, o.name)) {
    slt_err_set("%s: written with optimizer '%s', the config says optim.name=%s", ck->path,
                ck->optim_name, o.name);
    return -1;
  }
  if (slt_ckpt_read_params(ck, &t->model.params) || slt_ckpt_read_optim(ck, &t->model.params, &o))
    return -1;
  if (slt_loader_set_cursor(t->loader, &s->cursors[0])) return fail_with_path(ck->path);
  slt_optim_set_step(t->opt, o.step);
  t->rng = s->rngs[r][0];
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

/* Cut the metrics log back to records of steps <= step: a run that died after its last
 * checkpoint logged steps it is about to redo, and plots should not see them twice. */
static int trim_metrics(const slt_config *c, int64_t step) {
  char path[SLT_CFG_STR + 32], tmp[SLT_CFG_STR + 48];
  bool csv = c->train.metrics == SLT_METRICS_CSV;
  snprintf(path, sizeof path, "%s/metrics.%s", c->out_dir, csv ? "csv" : "jsonl");
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *in = fopen(path, "r");
  if (!in) return 0; /* no log yet */
  FILE *out = fopen(tmp, "w");
  char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  for (bool first = true; out && (n = getline(&line, &cap, in)) > 0; first = false) {
    long long s;
    bool has = csv ? sscanf(line, "%lld,", &s) == 1 : sscanf(line, "{\"step\":%lld", &s) == 1;
    if (has ? s > step : !(csv && first)) continue; /* keep records up to step, CSV's header */
    fwrite(line, 1, (size_t)n, out);
    if (line[n - 1] != '\n') fputc('\n', out); /* a line cut short by a crash */
  }
  free(line);
  fclose(in);
  if (!out || fclose(out) || rename(tmp, path)) {
    slt_err_set("%s: cannot rewrite the metrics log: %s", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* The checkpoint to resume from into path ("" for a fresh start). */
static int resolve_resume(const slt_trainer *t, const char *resume, char *path, size_t len) {
  path[0] = '\0';
  if (!resume) return 0;
  if (strcmp(resume, "auto")) {
    snprintf(path, len, "%s", resume);
    return 0;
  }
  char skipped[2048];
  int found = slt_ckpt_latest(t->cfg.out_dir, path, len, skipped, sizeof skipped);
  if (found < 0) return -1;
  if (skipped[0]) slt_metrics_say(NULL, "resume: skipped %s", skipped);
  if (!found) {
    path[0] = '\0';
    slt_metrics_say(NULL, "resume: no complete checkpoint in %s: starting fresh", t->cfg.out_dir);
  }
  return 0;
}

int slt_trainer_init_resume(slt_trainer *t, const slt_config *cfg, const char *resume) {
  char path[SLT_CKPT_PATH];
  if (init_parts(t, cfg) || resolve_resume(t, resume, path, sizeof path)) return -1;
  if (path[0]) {
    if (slt_trainer_load(t, path) || trim_metrics(&t->cfg, t->step)) return -1;
    slt_metrics_say(NULL, "resumed from %s at step %lld (%lld tokens seen)", path,
                    (long long)t->step, (long long)t->tokens);
  }
  return slt_metrics_open(&t->metrics, t->cfg.out_dir, t->cfg.train.metrics, path[0] != '\0');
}

void slt_trainer_free(slt_trainer *t) {
  slt_metrics_close(&t->metrics);
  slt_ctx_free(&t->ctx);
  slt_optim_free(t->opt);
  slt_gpt_free(&t->model);
  slt_loader_free(t->loader);
  slt_markov_free(t->chain);
  free(t->wd);
  free(t->lr_mult);
  free(t->x);
  free(t->y);
  memset(t, 0, sizeof *t);
}
