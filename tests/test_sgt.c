/* Self-guided training (layers/guided.h, train/sgt.h): the α schedule and fixedflop's stretch,
 * the guided forward (value, gradients, reduce_flop's coin), the guides starting as the merged
 * operator, their end at α = 0, and bitwise resume before, across and after the end of
 * guidance. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "layers/guided.h"
#include "layers/structured.h"
#include "ckpt/checkpoint.h"
#include "train/trainer.h"

#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


/* A tiny synthetic LowRank run with SGT: 2 layers (both structured), d 32, T 16. */
static void sgt_config(slt_config *c, const char *dir, int64_t steps, slt_sgt_mode mode) {
  slt_config_defaults(c);
  snprintf(c->out_dir, sizeof c->out_dir, "%s", test_tpath(dir));
  c->seed = 5;
  c->model.vocab_size = 64, c->model.seq_len = 16, c->model.layers = 2;
  c->model.d_model = 32, c->model.heads = 4, c->model.ffn_dim = 64;
  c->model.ffn.kind = SLT_LIN_LOWRANK, c->model.ffn.rank = 8;
  c->model.ffn.first_layer_dense = false;
  c->data.source = SLT_DATA_SYNTHETIC;
  c->data.synthetic.seed = 3;
  c->optim.lr = 3e-3;
  c->train.steps = steps, c->train.micro_batch = 2, c->train.grad_accum = 2;
  c->train.eval_every = 3, c->train.eval_batches = 1, c->train.ckpt_every = 0;
  c->train.keep_last = 0, c->train.threads = 2, c->train.log_every = 1;
  c->sgt.enabled = true, c->sgt.mode = mode, c->sgt.ratio = 0.5;
  c->sgt.schedule = SLT_SGT_COSINE, c->sgt.reduce_flop = true;
}

/* ---- schedule ---- */

static void test_alpha_schedule(void) {
  slt_config c;
  sgt_config(&c, "unused", 10, SLT_SGT_FIXEDFLOP);
  CU_ASSERT_EQUAL(slt_sgt_guided_steps(&c), 5);
  CU_ASSERT_EQUAL(slt_sgt_total_steps(&c), 15);
  CU_ASSERT_DOUBLE_EQUAL(slt_sgt_alpha(&c, 0), 1.0, 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(slt_sgt_alpha(&c, 1), 0.5 * (1 + cos(M_PI / 5)), 1e-12);
  CU_ASSERT_DOUBLE_EQUAL(slt_sgt_alpha(&c, 4), 0.5 * (1 + cos(4 * M_PI / 5)), 1e-12);
  CU_ASSERT_EQUAL(slt_sgt_alpha(&c, 5), 0.0);
  CU_ASSERT_EQUAL(slt_sgt_alpha(&c, 12), 0.0);
  /* fixedflop's last T steps re-read steps 0..T-1. */
  CU_ASSERT_EQUAL(slt_sgt_data_step(&c, 9), 9);
  CU_ASSERT_EQUAL(slt_sgt_data_step(&c, 10), 0);
  CU_ASSERT_EQUAL(slt_sgt_data_step(&c, 14), 4);
  c.sgt.schedule = SLT_SGT_LINEAR;
  CU_ASSERT_DOUBLE_EQUAL(slt_sgt_alpha(&c, 2), 0.6, 1e-12);
  c.sgt.mode = SLT_SGT_FIXEDSTEP;
  CU_ASSERT_EQUAL(slt_sgt_total_steps(&c), 10);
  CU_ASSERT_EQUAL(slt_sgt_data_step(&c, 12), 12);
  c.sgt.ratio = 0.34; /* ⌊0.34 · 10⌋ */
  CU_ASSERT_EQUAL(slt_sgt_guided_steps(&c), 3);
  c.sgt.enabled = false;
  CU_ASSERT_EQUAL(slt_sgt_guided_steps(&c), 0);
  CU_ASSERT_EQUAL(slt_sgt_alpha(&c, 0), 0.0);
  CU_ASSERT_EQUAL(slt_sgt_total_steps(&c), 10);
}

/* ---- the guided forward ---- */

typedef struct {
  slt_params p;
  slt_lin l;
  slt_tensor *w;
  slt_guide g;
} guided_layer;

/* A LowRank (in 8, out 6, rank 3) linear with a bias and a random guide (not its merge, so the
 * two paths differ), α = alpha. */
static void guided_build(guided_layer *y, float alpha, bool reduce_flop, slt_rng *coin) {
  memset(y, 0, sizeof *y);
  slt_params_init(&y->p);
  CU_ASSERT_EQUAL_FATAL(slt_lin_declare_lowrank(&y->l, &y->p, "fc", 8, 6, true, 3,
                                                SLT_LIN_INIT_NORMAL), 0);
  y->w = slt_params_add(&y->p, "fc.guide", 2, (int[]){6, 8});
  CU_ASSERT_EQUAL_FATAL(slt_params_alloc(&y->p), 0);
  slt_rng rng;
  slt_rng_seed(&rng, 21);
  slt_rng_fill_normal(&rng, y->p.data, y->p.numel, 0.0f, 0.5f);
  y->g = (slt_guide){.w = &y->w, .n = 1, .alpha = alpha, .reduce_flop = reduce_flop, .coin = coin};
}

static slt_tensor *f_guided(slt_ctx *c, slt_tensor *const *in, const void *u) {
  guided_layer *y = (guided_layer *)u;
  return slt_guided_forward(&y->g, 0, &y->l, c, in[0]);
}

static void test_guided_forward(void) {
  guided_layer y;
  guided_build(&y, 0.3f, false, NULL);
  slt_tensor *x = test_randn(4, 2, (int[]){5, 8}, 1.0f, true);
  /* o = α·(x·Wᵀ + b) + (1 − α)·S(x), S(x) with the bias: computed by hand. */
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *o = f_guided(&c, &x, &y);
  slt_tensor *d = slt_linear(&c, x, y.w, y.l.bias), *s = slt_lin_forward(&y.l, &c, x);
  float want[30];
  for (int i = 0; i < 30; i++) want[i] = 0.3f * d->data[i] + 0.7f * s->data[i];
  CU_ASSERT(test_rel_err(o->data, want, 30) < 1e-6);
  /* α = 0 is the structured linear alone. */
  y.g.alpha = 0.0f;
  CU_ASSERT(test_rel_err(f_guided(&c, &x, &y)->data, s->data, 30) == 0.0);
  slt_ctx_free(&c);
  /* Gradients of x, the guide, both factors and the bias. */
  y.g.alpha = 0.3f;
  slt_tensor *inputs[5] = {x, y.w, y.l.factor[0], y.l.factor[1], y.l.bias};
  test_gradcheck("guided lowrank alpha 0.3", f_guided, 5, inputs, &y, 1e-2);
  slt_tensor_free(x);
  slt_params_free(&y.p);
}

/* reduce_flop: in training the dense path runs with probability α (the output is S(x) alone
 * otherwise); evaluation always blends and never draws from the stream. */
static void test_reduce_flop_coin(void) {
  slt_rng coin;
  slt_rng_seed(&coin, 99);
  guided_layer y;
  guided_build(&y, 0.25f, true, &coin);
  slt_tensor *x = test_randn(4, 2, (int[]){5, 8}, 1.0f, false);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *s = slt_lin_forward(&y.l, &c, x);
  float plain[30];
  memcpy(plain, s->data, sizeof plain);
  int n = 1600, dense = 0;
  for (int i = 0; i < n; i++) {
    dense += memcmp(f_guided(&c, &x, &y)->data, plain, sizeof plain) != 0;
    slt_ctx_reset(&c);
  }
  /* Binomial(1600, 0.25): mean 400, sd 17.3; 4 sd either side. */
  CU_ASSERT(dense > 400 - 70 && dense < 400 + 70);
  slt_rng before = coin;
  slt_ctx_set_no_grad(&c, true);
  for (int i = 0; i < 20; i++) {
    CU_ASSERT(memcmp(f_guided(&c, &x, &y)->data, plain, sizeof plain) != 0);
    slt_ctx_reset(&c);
  }
  CU_ASSERT(!memcmp(&before, &coin, sizeof coin));
  slt_ctx_free(&c);
  slt_tensor_free(x);
  slt_params_free(&y.p);
}

/* Attached to a GPT, every structured FFN linear gets a guide equal to its merged operator, so
 * at α = 1 the model computes what it computes without guides. */
static void test_guides_start_merged(void) {
  static const int kinds[] = {SLT_LIN_LOWRANK, SLT_LIN_BLOCKDENSE, SLT_LIN_BLOCKSHUFFLE};
  for (int k = 0; k < 3; k++) {
    slt_model_config g = {.vocab_size = 32, .seq_len = 8, .layers = 2, .d_model = 16, .heads = 2,
                        .kv_heads = 2, .ffn_dim = 32, .norm_eps = 1e-5f, .rope_base = 10000,
                        .bias = true, .tie_embeddings = true, .init_std = 0.02f,
                        .ffn = {kinds[k], 8, 2, SLT_LIN_INIT_AUTO, true}};
    slt_gpt m;
    CU_ASSERT_EQUAL_FATAL(slt_gpt_build(&m, &g), 0);
    slt_gpt_init_weights(&m, 3);
    slt_guide guide;
    CU_ASSERT_EQUAL_FATAL(slt_guide_attach(&guide, &m, false, NULL), 0);
    /* first_layer_dense: layer 0 has no guides, layer 1 has two. */
    CU_ASSERT(!guide.w[0] && !guide.w[1] && guide.w[2] && guide.w[3]);
    CU_ASSERT_EQUAL(guide.params.count, 2);
    int32_t ids[16];
    for (int i = 0; i < 16; i++) ids[i] = (i * 7) % 32;
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *guided = slt_gpt_logits(&m, &c, ids, 2, 8, 0);
    m.guide = NULL;
    slt_tensor *plain = slt_gpt_logits(&m, &c, ids, 2, 8, 0);
    double err = test_rel_err(guided->data, plain->data, plain->numel);
    if (err >= 1e-5) printf("\n  kind %d: guided vs plain %.3g\n", kinds[k], err);
    CU_ASSERT(err < 1e-5);
    slt_ctx_free(&c);
    slt_guide_detach(&guide, &m);
    slt_gpt_free(&m);
  }
}

/* ---- the trainer ---- */

/* fixedflop: 8 + 4 steps, a schedule over 12, the guides gone after step 4, and steps 8..11
 * reading the batches of steps 0..3. */
static void test_fixedflop_run(void) {
  slt_config c;
  sgt_config(&c, "fixedflop", 8, SLT_SGT_FIXEDFLOP);
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init(&t, &c);
  test_quiet(false);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(t.total_steps, 12);
  CU_ASSERT_EQUAL(t.sched.total_steps, 12);
  CU_ASSERT(slt_sgt_bytes(&t.sgt) > 0 && slt_trainer_guide(&t) != NULL);
  size_t bt = (size_t)c.train.micro_batch * c.model.seq_len;
  int32_t *seen = malloc(12 * bt * sizeof *seen);
  double loss, norm;
  test_quiet(true);
  for (int s = 0; s < 12 && !rc; s++) {
    rc = slt_trainer_step(&t, &loss, &norm);
    memcpy(seen + s * bt, t.x, bt * sizeof *seen); /* the step's last micro-batch */
    bool guided = s + 1 < 4;
    if (guided != (slt_trainer_guide(&t) != NULL)) rc = -2;
  }
  test_quiet(false);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(slt_sgt_bytes(&t.sgt), 0);
  CU_ASSERT_PTR_NULL(((slt_gpt *)t.model)->guide); /* a gpt arch */
  for (int s = 0; s < 4; s++) CU_ASSERT(!memcmp(seen + s * bt, seen + (8 + s) * bt, bt * 4));
  CU_ASSERT(memcmp(seen, seen + 4 * bt, bt * 4) != 0);
  free(seen);
  slt_trainer_free(&t);
}

typedef struct {
  float *p, *m, *v;
  int64_t n, step, resumed_at;
} final_state;

/* Init (resuming as asked), run to the end; the final model and optimizer state into out. */
static int train(const slt_config *cfg, const char *resume, final_state *out) {
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init_resume(&t, cfg, resume);
  if (!rc) rc = slt_trainer_run(&t, NULL);
  test_quiet(false);
  if (rc) printf("\n  trainer: %s\n", slt_err_msg());
  if (!rc && out) {
    size_t bytes = (size_t)t.model->params->numel * sizeof(float);
    float *slots[SLT_OPTIM_MAX_SLOTS];
    slt_optim_slots(t.opt, NULL, slots);
    *out = (final_state){malloc(bytes), malloc(bytes), malloc(bytes), t.model->params->numel,
                         t.step, t.resumed_at};
    memcpy(out->p, t.model->params->data, bytes);
    memcpy(out->m, slots[0], bytes);
    memcpy(out->v, slots[1], bytes);
  }
  slt_trainer_free(&t);
  return rc;
}

static bool same_final(const final_state *a, const final_state *b) {
  size_t bytes = (size_t)a->n * sizeof(float);
  return a->n == b->n && a->step == b->step && !memcmp(a->p, b->p, bytes) &&
         !memcmp(a->m, b->m, bytes) && !memcmp(a->v, b->v, bytes);
}

static void final_free(final_state *s) { free(s->p), free(s->m), free(s->v); }

/* Straight run vs stop at k then --resume auto, for each k: same losses, same final state. */
static void check_resume(const char *name, slt_config base, const int64_t *ks, int nk) {
  char dir[128];
  snprintf(dir, sizeof dir, "%s/straight", name);
  snprintf(base.out_dir, sizeof base.out_dir, "%s", test_tpath(dir));
  final_state a, b;
  CU_ASSERT_EQUAL_FATAL(train(&base, NULL, &a), 0);
  char *log_a = test_loss_log(base.out_dir);
  for (int i = 0; i < nk; i++) {
    slt_config c = base;
    snprintf(dir, sizeof dir, "%s/split_%lld", name, (long long)ks[i]);
    snprintf(c.out_dir, sizeof c.out_dir, "%s", test_tpath(dir));
    c.train.stop_after = ks[i];
    CU_ASSERT_EQUAL_FATAL(train(&c, NULL, NULL), 0);
    c.train.stop_after = 0;
    CU_ASSERT_EQUAL_FATAL(train(&c, "auto", &b), 0);
    CU_ASSERT_EQUAL(b.resumed_at, ks[i]); /* not a fresh start after skipping the checkpoint */
    char *log_b = test_loss_log(c.out_dir);
    bool same_log = !strcmp(log_a, log_b), same = same_final(&a, &b);
    if (!same_log || !same)
      printf("\n  [%s, resumed at %lld] log %s, state %s\n--- straight\n%s--- resumed\n%s", name,
             (long long)ks[i], same_log ? "same" : "DIFFERS", same ? "same" : "DIFFERS", log_a,
             log_b);
    CU_ASSERT(same_log && same);
    free(log_b);
    final_free(&b);
  }
  free(log_a);
  final_free(&a);
}

/* T = 4 of 8 (+4 re-read): resume while guiding (2), at the last guided step (3: the resumed
 * run frees the guides), exactly at the end (4: no guides left to load), after it (6) and
 * within the re-read steps (9). reduce_flop's coin flips resume too. */
static void test_resume_fixedflop(void) {
  slt_config c;
  sgt_config(&c, "", 8, SLT_SGT_FIXEDFLOP);
  int64_t ks[] = {2, 3, 4, 6, 9};
  check_resume("resume_fixedflop", c, ks, 5);
}

static void test_resume_fixedstep_linear(void) {
  slt_config c;
  sgt_config(&c, "", 8, SLT_SGT_FIXEDSTEP);
  c.sgt.schedule = SLT_SGT_LINEAR, c.sgt.reduce_flop = false;
  int64_t ks[] = {1, 5};
  check_resume("resume_fixedstep", c, ks, 2);
}

/* What a checkpoint holds during and after guidance. */
static void test_checkpoint_contents(void) {
  slt_config c;
  sgt_config(&c, "contents", 8, SLT_SGT_FIXEDFLOP);
  c.train.ckpt_every = 1;
  CU_ASSERT_EQUAL_FATAL(train(&c, NULL, NULL), 0);
  char path[SLT_CKPT_PATH];
  slt_ckpt_path(path, sizeof path, c.out_dir, 2);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  CU_ASSERT(H5Lexists(f, "guide/blocks.1.ffn.fc2.guide", H5P_DEFAULT) > 0);
  CU_ASSERT(H5Lexists(f, "guide_optim/blocks.0.ffn.fc1.guide/v", H5P_DEFAULT) > 0);
  hid_t s = H5Gopen2(f, "state", H5P_DEFAULT);
  CU_ASSERT_DOUBLE_EQUAL(test_h5_attr_num(s, "sgt_alpha", -1), 0.5, 1e-12); /* α(2), T = 4 */
  CU_ASSERT_EQUAL(test_h5_attr_num(s, "sgt_guided_steps", -1), 4);
  H5Gclose(s);
  H5Fclose(f);
  slt_ckpt_path(path, sizeof path, c.out_dir, 4);
  f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  CU_ASSERT(H5Lexists(f, "guide", H5P_DEFAULT) == 0);
  H5Fclose(f);
  /* The last checkpoint's cursor stands at the re-read data step (4 of 12), and opens. */
  slt_ckpt ck;
  slt_ckpt_path(path, sizeof path, c.out_dir, 12);
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_open(&ck, path), 0);
  CU_ASSERT(ck.state.step == 12 && ck.state.cursors[0].step == 4);
  slt_ckpt_close(&ck);
  /* A guided step's checkpoint without its guides cannot be resumed: one clear error. */
  slt_ckpt_path(path, sizeof path, c.out_dir, 2);
  f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  H5Ldelete(f, "guide", H5P_DEFAULT);
  H5Fclose(f);
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init_resume(&t, &c, path);
  test_quiet(false);
  CU_ASSERT(rc == -1 && test_err_has(path, "/guide"));
  slt_trainer_free(&t);
}

static int suite_init(void) { return test_tmpdir_init("sgt"); }

int register_sgt_suite(void) {
  CU_pSuite s = CU_add_suite("sgt", suite_init, test_tmpdir_cleanup);
  if (!s) return -1;
  return !CU_add_test(s, "alpha schedule and fixedflop steps", test_alpha_schedule) ||
         !CU_add_test(s, "guided forward and gradcheck", test_guided_forward) ||
         !CU_add_test(s, "reduce_flop coin", test_reduce_flop_coin) ||
         !CU_add_test(s, "guides start as the merged operator", test_guides_start_merged) ||
         !CU_add_test(s, "fixedflop run: stretch, free, re-read", test_fixedflop_run) ||
         !CU_add_test(s, "bitwise resume (fixedflop, reduce_flop)", test_resume_fixedflop) ||
         !CU_add_test(s, "bitwise resume (fixedstep, linear)", test_resume_fixedstep_linear) ||
         !CU_add_test(s, "checkpoint contents", test_checkpoint_contents);
}
