/* Building a trainer from a config: threads, output directory, model, data, optimizer; and
 * resuming one from a checkpoint (whose reading and writing is trainer_ckpt.c's). */
#include "autograd/sys.h"
#include "kernels/gemm.h"
#include "train/trainer_gemm.h"
#include "trainer.h"

#include "autograd/durable.h"
#include "autograd/error.h"
#include "autograd/parallel.h"
#include "ckpt/checkpoint.h"
#include "train/dist.h"
#include "train/run_lock.h"
#include "train/trainer_dist.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
static int param_groups(const slt_config_optim *o, const slt_params *p, float **wd,
                        float **lr_mult) {
  size_t n = (size_t)(p->count ? p->count : 1);
  *wd = malloc(n * sizeof **wd);
  *lr_mult = malloc(n * sizeof **lr_mult);
  if (!*wd || !*lr_mult) {
    slt_err_set("out of memory for the parameter groups");
    return -1;
  }
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
      slt_metrics_say(NULL, "warning: optim.groups rule %d matches no parameter", unused + 1);
    /* LSQ step sizes (SPEC §5) never decay: last, so no rule overrides it; only when present,
     * so the unused-rule warning above never counts it. */
    for (int i = 0; i < p->count; i++)
      if (fnmatch("*.lsq_*", p->items[i]->name, 0) == 0) {
        rc = slt_groups_parse(&g, "*.lsq_* wd=0");
        break;
      }
    slt_groups_apply(&g, p, *wd, *lr_mult);
  }
  slt_groups_free(&g);
  return rc;
}

static slt_optim *make_optimizer(const slt_config_optim *o, const slt_params *p) {
  slt_optim_hparams h = {.beta1 = o->betas[0], .beta2 = o->betas[1], .eps = o->eps,
                         .momentum = o->momentum, .dampening = o->dampening,
                         .nesterov = o->nesterov, .delta = o->delta, .wd_ratio = o->wd_ratio};
  /* slt_optim_kind lists the optimizers in optim.name's order. */
  return slt_optim_new((slt_optim_kind)o->name, p, &h);
}

/* SGT: guides merged from the freshly initialised model, with the model's optimizer settings
 * and groups (the rules see the guides' names, "blocks.1.ffn.fc1.guide"). The coin flips of
 * reduce_flop come from the trainer's checkpointed stream. */
static int setup_sgt(slt_trainer *t) {
  const slt_config *c = &t->cfg;
  slt_sgt *s = &t->sgt;
  if (slt_model_guide_attach(t->model, &s->guide, c->sgt.reduce_flop, &t->rng)) return -1;
  if (param_groups(&c->optim, &s->guide.params, &s->wd, &s->lr_mult) ||
      !(s->opt = make_optimizer(&c->optim, &s->guide.params))) {
    slt_sgt_release(s, t->model);
    return -1;
  }
  slt_metrics_say(NULL, "sgt: %s, %lld guided steps of %lld (ratio %g), %s alpha, reduce_flop %s; guides "
         "%.2fM params",
         slt_sgt_mode_names[c->sgt.mode], (long long)slt_sgt_guided_steps(c),
         (long long)t->total_steps, c->sgt.ratio, slt_sgt_schedule_names[c->sgt.schedule],
         c->sgt.reduce_flop ? "on" : "off", s->guide.params.numel / 1e6);
  return 0;
}

/* The shards against the batch shapes, checked here rather than found out during the run: a
 * train set below one global batch repeats rows within every step, and a val set below one
 * evaluation's rows counts some rows twice in every validation loss. */
static int check_shard_rows(const slt_trainer *t) {
  const slt_config *c = &t->cfg;
  const int world = slt_dist_world(), B = c->train.micro_batch, T1 = c->model.seq_len + 1;
  const long long rows = slt_loader_rows(t->loader), val = slt_loader_val_rows(t->loader);
  const long long batch = (long long)B * c->train.grad_accum * world;
  const long long evals = (long long)c->train.eval_batches * B * world;
  if (rows < batch) {
    slt_err_set("data.train: %s holds %lld rows of seq_len + 1 = %d tokens, fewer than one global "
                "batch of %lld rows (train.micro_batch %d x train.grad_accum %d x %d rank%s); "
                "lower those or add training data",
                c->data.train, rows, T1, batch, B, c->train.grad_accum, world,
                world > 1 ? "s" : "");
    return -1;
  }
  if (c->train.eval_every > 0 && val > 0 && val < evals) {
    slt_err_set("data.val: %s holds %lld rows of seq_len + 1 = %d tokens, fewer than the %lld "
                "rows one evaluation reads (train.eval_batches %d x train.micro_batch %d x %d "
                "rank%s); lower train.eval_batches or add validation data",
                c->data.val, val, T1, evals, c->train.eval_batches, B, world, world > 1 ? "s" : "");
    return -1;
  }
  return 0;
}

static int open_shards(slt_trainer *t, const slt_loader_cfg *lc) {
  const slt_config *c = &t->cfg;
  const char *val = c->train.eval_every > 0 || c->data.val[0] ? c->data.val : NULL;
  t->loader =
      slt_loader_new_shards(c->data.train, val && *val ? val : NULL, c->model.vocab_size, lc);
  if (!t->loader || check_shard_rows(t)) return -1;
  /* A warning, not an error: a smoke test may validate on its training file on purpose. */
  const char *both = slt_loader_val_in_train(t->loader);
  if (both)
    slt_metrics_say(NULL, "warning: data.val file %s is also in data.train: the validation loss will measure "
           "memorised training data",
           both);
  slt_metrics_say(NULL, "data: %s (%lld rows of %d)", c->data.train, (long long)slt_loader_rows(t->loader),
         c->model.seq_len + 1);
  return 0;
}

static int open_data(slt_trainer *t) {
  const slt_config *c = &t->cfg;
  slt_loader_cfg lc = {.seq_len = c->model.seq_len,
                       .micro_batch = c->train.micro_batch,
                       .grad_accum = c->train.grad_accum,
                       .rank = slt_dist_rank(),
                       .world = slt_dist_world(),
                       .seed = (uint64_t)c->seed,
                       .shuffle = c->data.shuffle};
  t->loss_floor = NAN;
  if (c->data.source == SLT_DATA_SYNTHETIC) {
    int V = slt_config_synthetic_vocab(c);
    if (V > c->model.vocab_size) {
      slt_err_set("data.synthetic.vocab (%d) exceeds model.vocab_size (%d)", V,
                  c->model.vocab_size);
      return -1;
    }
    t->chain = slt_markov_new(V, c->data.synthetic.order, c->data.synthetic.alpha,
                              (uint64_t)c->data.synthetic.seed);
    if (!t->chain) return -1;
    t->loss_floor = slt_markov_floor(t->chain, c->model.seq_len);
    slt_metrics_say(NULL, "data: synthetic order-%d Markov chain over %d tokens; entropy rate %.4f nats, "
           "loss floor for rows of %d: %.4f nats",
           c->data.synthetic.order, V, slt_markov_entropy_rate(t->chain), c->model.seq_len,
           t->loss_floor);
    t->loader = slt_loader_new_synthetic(t->chain, &lc);
  } else if (open_shards(t, &lc)) {
    return -1;
  }
  return t->loader ? 0 : -1;
}

/* The sgemm peak for MFU: measured once per process and thread count (it takes about a second
 * and does not change while the process runs). */
static double peak_gflops(void) {
  static double peak;
  static int threads, key = -1; /* and products: backend and precision (train/trainer_gemm.c) */
  int now = slt_gemm_precision() * 2 + !strcmp(slt_gemm_backend(), "onednn");
  if (threads != omp_get_max_threads() || key != now) {
    threads = omp_get_max_threads(), key = now;
    peak = slt_gemm_peak_gflops();
  }
  return peak;
}

static void print_summary(const slt_trainer *t) {
  const slt_config *c = &t->cfg;
  slt_model_counts n = slt_model_count(t->model);
  char what[256];
  slt_model_describe(t->model, what, sizeof what);
  slt_metrics_say(NULL, "model: %s: %.2fM params (%.2fM non-embedding); FFN %.2fM = %.1f%% of the dense FFN's "
         "%.2fM",
         what, n.total / 1e6, (n.total - n.embedding) / 1e6, n.ffn / 1e6,
         100.0 * n.ffn / n.ffn_dense, n.ffn_dense / 1e6);
  int world = slt_dist_world();
  int64_t rows = (int64_t)c->train.micro_batch * c->train.grad_accum * world;
  char quant[2048];
  if (slt_model_describe_quant(t->model, false, quant, sizeof quant))
    for (char *line = quant, *nl; (nl = strchr(line, '\n')); line = nl + 1)
      slt_metrics_say(NULL, "quant: %.*s", (int)(nl - line), line);
  slt_metrics_say(NULL, "batch: global batch %lld = micro-batch %d x %d accumulation x %d rank%s; %lld tokens "
         "per step (T %d); %lld steps; %d threads%s",
         (long long)rows, c->train.micro_batch, c->train.grad_accum, world, world > 1 ? "s" : "",
         (long long)rows * c->model.seq_len, c->model.seq_len, (long long)c->train.steps,
         omp_get_max_threads(), world > 1 ? " per rank" : "");
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
  slt_threads_set(c->train.threads ? c->train.threads : slt_dist_default_threads());
  slt_ctx_init(&t->ctx);
  /* Data first: its checks (shards, rows, a synthetic table too large) take moments, while a
   * model built from the same mistaken sizes can take minutes and gigabytes. */
  if (open_data(t) || slt_trainer_gemm_setup(t)) return -1; /* products before any is made */
  if (!(t->model = slt_model_build(&c->model, SLT_MODEL_ALLOC))) return -1;
  slt_model_init_weights(t->model, (uint64_t)c->seed);
  t->total_steps = slt_sgt_total_steps(c);
  if (param_groups(&c->optim, t->model->params, &t->wd, &t->lr_mult) ||
      !(t->opt = make_optimizer(&c->optim, t->model->params)))
    return -1;
  if (c->sgt.enabled && setup_sgt(t)) return -1;
  /* fixedflop stretches the schedule over the longer run. */
  t->sched = (slt_schedule){.kind = c->schedule.name, .peak_lr = c->optim.lr,
                            .min_lr_ratio = c->schedule.min_lr_ratio,
                            .warmup = c->schedule.warmup,
                            .decay_fraction = c->schedule.decay_fraction,
                            .split = c->schedule.split,
                            .peak2 = c->schedule.peak2,
                            .drop_at = c->schedule.drop_at,
                            .drop = c->schedule.drop,
                            .wd_off_at = c->schedule.wd_off_at,
                            .total_steps = t->total_steps};
  size_t bt = (size_t)c->train.micro_batch * c->model.seq_len;
  t->x = malloc(bt * sizeof *t->x);
  t->y = malloc(bt * sizeof *t->y);
  if (!t->x || !t->y) {
    slt_err_set("out of memory allocating the batch");
    return -1;
  }
  t->flops_per_token = slt_model_flops_per_token(t->model, c->model.seq_len);
  t->peak_gflops = peak_gflops();
  print_summary(t);
  return 0;
}

/* out_dir and out_dir/config.yaml (the resolved config), written by rank 0 only once the run is
 * known to start: a resume that fails keeps the config.yaml of the run it was resuming. */
static int save_run_config(const slt_trainer *t) {
  char path[SLT_CFG_STR + 16];
  snprintf(path, sizeof path, "%s/config.yaml", t->cfg.out_dir);
  if (slt_dist_rank() != 0) return 0;
  return make_dirs(t->cfg.out_dir) || slt_config_save(&t->cfg, path) ? -1 : 0;
}

int slt_trainer_init(slt_trainer *t, const slt_config *cfg) {
  return slt_trainer_init_resume(t, cfg, NULL);
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
  /* The trimmed log is durable before it replaces the old one, and its name after. */
  bool ok = out && !fflush(out) && !fsync(fileno(out));
  if ((out && fclose(out)) || !ok) {
    slt_err_set("%s: cannot rewrite the metrics log: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  if (slt_durable_rename(tmp, path)) return -1;
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

/* train.init_from: the weights of a fresh run from a checkpoint's /model (its optimizer state,
 * step and data position are not this run's). 0 or -1. */
static int init_from(slt_trainer *t) {
  const char *path = t->cfg.train.init_from;
  slt_ckpt ck;
  int rc = slt_ckpt_open(&ck, path);
  if (!rc) {
    rc = slt_ckpt_read_params(&ck, t->model->params);
    slt_ckpt_close(&ck);
  }
  if (rc) {
    char why[1024];
    snprintf(why, sizeof why, "%s", slt_err_msg());
    slt_err_set("train.init_from: %s", why);
    return -1;
  }
  slt_metrics_say(NULL, "weights from %s (train.init_from)", path);
  return 0;
}

int slt_trainer_init_resume(slt_trainer *t, const slt_config *cfg, const char *resume) {
  char path[SLT_CKPT_PATH];
  path[0] = '\0';
  /* Rank 0 picks the checkpoint; every rank reads it (out_dir must be shared between nodes). */
  if (init_parts(t, cfg) || (slt_dist_rank() == 0 && slt_run_lock(cfg->out_dir, "out_dir", t)) ||
      (slt_dist_rank() == 0 && resolve_resume(t, resume, path, sizeof path)) ||
      slt_trainer_dist_share_path(path, sizeof path))
    return -1;
  if (path[0]) {
    if (slt_trainer_load(t, path) || (slt_dist_rank() == 0 && trim_metrics(&t->cfg, t->step)))
      return -1;
    slt_metrics_say(NULL, "resumed from %s at step %lld (%lld tokens seen)", path,
                    (long long)t->step, (long long)t->tokens);
  } else if (cfg->train.init_from[0] && init_from(t)) {
    return -1;
  }
  if (save_run_config(t) || slt_trainer_dist_setup(t)) return -1;
  return slt_trainer_dist_open_metrics(t, path[0] != '\0');
}

void slt_trainer_free(slt_trainer *t) {
  slt_run_unlock(t);
  slt_metrics_close(&t->metrics);
  slt_ctx_free(&t->ctx);
  slt_sgt_release(&t->sgt, t->model);
  slt_optim_free(t->opt);
  slt_model_free(t->model);
  slt_loader_free(t->loader);
  slt_trainer_dist_free(t);
  slt_markov_free(t->chain);
  free(t->wd);
  free(t->lr_mult);
  free(t->x);
  free(t->y);
  memset(t, 0, sizeof *t);
}
