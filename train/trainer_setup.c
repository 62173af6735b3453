/* Building a trainer from a config: threads, output directory, model, data, optimizer. */
#include "trainer.h"

#include "autograd/error.h"

#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void model_config(const slt_config *c, slt_gpt_config *g) {
  const slt_config_model *m = &c->model;
  *g = (slt_gpt_config){
      .vocab_size = m->vocab_size, .seq_len = m->seq_len, .layers = m->layers,
      .d_model = m->d_model, .heads = m->heads, .kv_heads = slt_config_kv_heads(c),
      .ffn_dim = slt_config_ffn_dim(c), .norm = m->norm, .norm_eps = (float)m->norm_eps,
      .pos = m->pos, .rope_base = (float)m->rope_base, .act = m->act, .bias = m->bias,
      .tie_embeddings = m->tie_embeddings, .init_std = (float)m->init_std};
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

static void set_threads(int n) {
  if (n <= 0) n = omp_get_num_procs();
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

/* Weight decay per parameter: optim.no_decay_1d exempts vectors (biases, norm gains),
 * optim.no_decay_embeddings the token and position tables. */
static int decay_groups(slt_trainer *t) {
  const slt_params *p = &t->model.params;
  t->wd = malloc((size_t)(p->count ? p->count : 1) * sizeof *t->wd);
  if (!t->wd) return -1;
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    bool embedding = !strcmp(q->name, "wte.weight") || !strcmp(q->name, "wpe.weight");
    bool exempt = (t->cfg.optim.no_decay_1d && q->t.ndim == 1) ||
                  (t->cfg.optim.no_decay_embeddings && embedding);
    t->wd[i] = exempt ? 0.0f : (float)t->cfg.optim.weight_decay;
  }
  return 0;
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

static void print_summary(const slt_trainer *t) {
  const slt_gpt_config *g = &t->model.cfg;
  const slt_config *c = &t->cfg;
  int64_t total = 0, ffn = 0;
  for (int i = 0; i < t->model.params.count; i++) {
    const slt_param *q = t->model.params.items[i];
    total += q->t.numel;
    if (strstr(q->name, ".ffn.")) ffn += q->t.numel;
  }
  printf("model: %d layers, d_model %d, %d heads (%d kv), ffn %d, vocab %d, T %d: %.2fM params "
         "(FFN %.2fM)\n",
         g->layers, g->d_model, g->heads, g->kv_heads, g->ffn_dim, g->vocab_size, g->seq_len,
         total / 1e6, ffn / 1e6);
  printf("batch: %d x %d micro-batch x %d accumulation = %d tokens per step; %lld steps; "
         "%d threads\n",
         c->train.micro_batch, c->model.seq_len, c->train.grad_accum,
         c->train.micro_batch * c->model.seq_len * c->train.grad_accum, (long long)c->train.steps,
         omp_get_max_threads());
}

int slt_trainer_init(slt_trainer *t, const slt_config *cfg) {
  memset(t, 0, sizeof *t);
  t->cfg = *cfg;
  const slt_config *c = &t->cfg;
  set_threads(c->train.threads);
  slt_ctx_init(&t->ctx);
  char path[SLT_CFG_STR + 16];
  snprintf(path, sizeof path, "%s/config.yaml", c->out_dir);
  if (make_dirs(c->out_dir) || slt_config_save(c, path)) return -1;
  slt_gpt_config g;
  model_config(c, &g);
  if (slt_gpt_build(&t->model, &g)) return -1;
  slt_gpt_init_weights(&t->model, (uint64_t)c->seed);
  if (decay_groups(t) || open_data(t)) return -1;
  if (slt_adamw_init(&t->opt, &t->model.params, (float)c->optim.betas[0],
                     (float)c->optim.betas[1], (float)c->optim.eps))
    return -1;
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
  t->flops_per_token = slt_gpt_flops_per_token(&g, g.seq_len);
  t->peak_gflops = slt_sgemm_peak_gflops();
  print_summary(t);
  return slt_metrics_open(&t->metrics, c->out_dir, c->train.metrics, false);
}

void slt_trainer_free(slt_trainer *t) {
  slt_metrics_close(&t->metrics);
  slt_ctx_free(&t->ctx);
  slt_adamw_free(&t->opt);
  slt_gpt_free(&t->model);
  slt_loader_free(t->loader);
  slt_markov_free(t->chain);
  free(t->wd);
  free(t->x);
  free(t->y);
  memset(t, 0, sizeof *t);
}
