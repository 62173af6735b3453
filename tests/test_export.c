/* Pre-merge export and generation's choice of FFN form: a structured GPT and its merged dense
 * twin give the same logits (every kind, layer 0 dense or not); `slt export --merge` round-trips
 * through checkpoint files and refuses bad input with one line; the form picked from timings;
 * greedy generation gives the same tokens in either form or switching between them. */
#define _GNU_SOURCE /* readlink */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "layers/gpt_merge.h"
#include "ckpt/checkpoint.h"
#include "train/trainer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ‖merged − factored‖ / ‖factored‖ of the logits: float rounding of the two orders of the
 * products gives ~1.5e-7 here; the brief's bound is 1e-5. */
#define MERGE_TOL 1e-6

typedef struct {
  const char *label;
  slt_lin_struct kind;
  int rank, nblocks;
  bool first_layer_dense;
  slt_act_kind act;
} ffn_case;

/* d 32, ffn 64: every kind's shape rules hold (B | 32, 64 and R). */
static const ffn_case cases[] = {
    {"lowrank R=8", SLT_LIN_LOWRANK, 8, 0, true, SLT_ACT_GELU_TANH},
    {"lowrank R=16 all layers swiglu", SLT_LIN_LOWRANK, 16, 0, false, SLT_ACT_SWIGLU},
    {"blockdense B=2 R=16", SLT_LIN_BLOCKDENSE, 16, 2, true, SLT_ACT_GELU_TANH},
    {"blockdense B=4 R=8 all layers", SLT_LIN_BLOCKDENSE, 8, 4, false, SLT_ACT_RELU2},
    {"blockshuffle B=2", SLT_LIN_BLOCKSHUFFLE, 0, 2, true, SLT_ACT_GELU_TANH},
    {"blockshuffle B=4 all layers", SLT_LIN_BLOCKSHUFFLE, 0, 4, false, SLT_ACT_GELU_TANH},
};
#define NCASES (int)(sizeof cases / sizeof *cases)

/* A tiny synthetic run: 3 layers, d 32, 4 heads, T 16, vocab 64, the case's FFN. */
static void tiny_config(slt_config *c, const ffn_case *k) {
  slt_config_defaults(c);
  snprintf(c->out_dir, sizeof c->out_dir, "%s", test_tmpdir());
  c->model.vocab_size = 64, c->model.seq_len = 16, c->model.layers = 3;
  c->model.d_model = 32, c->model.heads = 4, c->model.ffn_dim = 64, c->model.act = k->act;
  c->model.ffn =
      (slt_ffn_config){k->kind, k->rank, k->nblocks, SLT_LIN_INIT_AUTO, k->first_layer_dense};
  c->data.source = SLT_DATA_SYNTHETIC;
}

/* The case's model with every parameter (biases and norm gains too) drawn N(0, 0.2²), so a
 * parameter merged or copied wrongly shows in the logits. */
static void random_model(slt_gpt *m, const slt_config *c, uint64_t seed) {
  slt_model_config g = c->model;
  CU_ASSERT_EQUAL_FATAL(slt_gpt_build(m, &g), 0);
  slt_rng rng;
  slt_rng_seed(&rng, seed);
  slt_rng_fill_normal(&rng, m->params.data, m->params.numel, 0.0f, 0.2f);
}

/* ‖logits(a) − logits(b)‖ / ‖logits(b)‖ on two fixed random sequences of the full length. */
static double logits_rel_err(slt_gpt *a, slt_gpt *b) {
  enum { B = 2, T = 16 };
  int32_t ids[B * T];
  slt_rng rng;
  slt_rng_seed(&rng, 99);
  for (int i = 0; i < B * T; i++) ids[i] = (int32_t)slt_rng_below(&rng, a->cfg.vocab_size);
  slt_ctx ca, cb;
  slt_ctx_init(&ca);
  slt_ctx_init(&cb);
  slt_ctx_set_no_grad(&ca, true);
  slt_ctx_set_no_grad(&cb, true);
  slt_tensor *la = slt_gpt_logits(a, &ca, ids, B, T, 0), *lb = slt_gpt_logits(b, &cb, ids, B, T, 0);
  double err =
      la && lb && la->numel == lb->numel ? test_rel_err(la->data, lb->data, la->numel) : INFINITY;
  slt_ctx_free(&ca);
  slt_ctx_free(&cb);
  return err;
}

/* ---- the merge ---- */

static void test_merge_matches_factored(void) {
  for (int i = 0; i < NCASES; i++) {
    slt_config c;
    tiny_config(&c, &cases[i]);
    slt_gpt m, twin;
    random_model(&m, &c, 10 + i);
    CU_ASSERT_TRUE(slt_gpt_has_structured_ffn(&m));
    int rc = slt_gpt_merge(&m, &twin);
    if (rc) printf("\n  %s: %s\n", cases[i].label, slt_err_msg());
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_FALSE(slt_gpt_has_structured_ffn(&twin));
    CU_ASSERT_EQUAL(twin.cfg.ffn.kind, SLT_LIN_DENSE);
    CU_ASSERT_EQUAL(slt_gpt_ffn_params(&twin), slt_gpt_dense_ffn_params(&twin.cfg));
    double err = logits_rel_err(&twin, &m);
    if (!(err <= MERGE_TOL)) printf("\n  %s: logits rel err %.3g\n", cases[i].label, err);
    CU_ASSERT_TRUE(err <= MERGE_TOL);
    /* The test can fail: one merged row off by 0.1% is caught. */
    slt_tensor *w = twin.blocks[2].fc2.weight;
    for (int j = 0; j < w->shape[1]; j++) w->data[j] *= 1.001f;
    double off = logits_rel_err(&twin, &m);
    if (!(off > MERGE_TOL)) printf("\n  %s: perturbed rel err only %.3g\n", cases[i].label, off);
    CU_ASSERT_TRUE(off > MERGE_TOL);
    slt_gpt_free(&twin);
    slt_gpt_free(&m);
  }
}

/* A dense layer 0 is copied, not merged: its weight in the twin is the source's, bit for bit. */
static void test_merge_copies_dense_layers(void) {
  slt_config c;
  tiny_config(&c, &cases[0]);
  slt_gpt m, twin;
  random_model(&m, &c, 3);
  CU_ASSERT_EQUAL_FATAL(slt_gpt_merge(&m, &twin), 0);
  const slt_tensor *a = m.blocks[0].fc1.weight, *b = twin.blocks[0].fc1.weight;
  CU_ASSERT_EQUAL_FATAL(a->numel, b->numel);
  CU_ASSERT_EQUAL(memcmp(a->data, b->data, a->numel * sizeof(float)), 0);
  CU_ASSERT_EQUAL(memcmp(m.wte->data, twin.wte->data, m.wte->numel * sizeof(float)), 0);
  CU_ASSERT_EQUAL(memcmp(m.blocks[1].fc1.bias->data, twin.blocks[1].fc1.bias->data,
                         m.blocks[1].fc1.bias->numel * sizeof(float)),
                  0);
  slt_gpt_free(&twin);
  slt_gpt_free(&m);
}

/* ---- slt export --merge through files ---- */

/* The slt program next to this test runner (the same build), or NULL. */
static const char *slt_binary(void) {
  static char path[4096];
  ssize_t n = readlink("/proc/self/exe", path, sizeof path - 8);
  if (n <= 0) return NULL;
  path[n] = '\0';
  char *slash = strrchr(path, '/');
  if (!slash) return NULL;
  strcpy(slash + 1, "slt");
  return access(path, X_OK) ? NULL : path;
}

/* Run `slt export ARGS`, stderr into tmpdir/export.err; the exit status, or -1. */
static int run_export(const char *args) {
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s' export %s >/dev/null 2>'%s'", slt_binary(), args,
           test_tpath("export.err"));
  int st = system(cmd);
  return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* tmpdir/export.err is exactly one line containing want. */
static bool err_file_is(const char *want) {
  char buf[2048] = "";
  FILE *f = fopen(test_tpath("export.err"), "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  char *nl = strchr(buf, '\n');
  bool ok = strstr(buf, want) && nl && nl[1] == '\0';
  if (!ok) printf("\n  wanted one line with '%s', got: %s\n", want, buf);
  return ok;
}

/* Checkpoint m (config c) at step 7 with AdamW-like slots, as the trainer would. */
static void write_ckpt(const char *path, const slt_config *c, const slt_gpt *m) {
  float *slots = calloc(2 * (size_t)m->params.numel, sizeof *slots);
  slt_loader_cursor cur = {.step = 7, .rows = 56, .seed = 11};
  slt_rng rng;
  slt_rng_seed(&rng, 5);
  slt_ckpt_data d = {.cfg = c,
                     .params = &m->params,
                     .optim = {.name = "adamw",
                               .step = 7,
                               .nslots = 2,
                               .slot_names = {"m", "v"},
                               .slots = {slots, slots + m->params.numel}},
                     .state = {.step = 7,
                               .tokens = 7 * 64,
                               .world = 1,
                               .cursors = &cur,
                               .nrngs = 1,
                               .rng_names = {"trainer"},
                               .rngs = {&rng}}};
  CU_ASSERT_EQUAL(slt_ckpt_write(path, &d), 0);
  free(slots);
}

/* The exported file: dense config that validates, the same step, no optimizer state, and the
 * source model's logits. */
static void check_exported(const char *path, slt_gpt *src, const char *label) {
  slt_ckpt ck;
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_open(&ck, path), 0);
  CU_ASSERT_EQUAL(ck.cfg.model.ffn.kind, SLT_LIN_DENSE);
  CU_ASSERT_EQUAL(slt_config_validate(&ck.cfg), 0);
  CU_ASSERT_EQUAL(ck.state.step, 7);
  CU_ASSERT_EQUAL(ck.state.tokens, 7 * 64);
  CU_ASSERT_STRING_EQUAL(ck.optim_name, "none");
  slt_ckpt_close(&ck);
  slt_config cfg;
  slt_model *loaded = slt_ckpt_load_model(path, &cfg);
  if (!loaded) printf("\n  %s: %s\n", label, slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(loaded);
  slt_gpt *out = (slt_gpt *)loaded; /* a gpt arch: the seam's view is its first member */
  CU_ASSERT_FALSE(slt_gpt_has_structured_ffn(out));
  double err = logits_rel_err(out, src);
  if (!(err <= MERGE_TOL)) printf("\n  %s: exported logits rel err %.3g\n", label, err);
  CU_ASSERT_TRUE(err <= MERGE_TOL);
  slt_model_free(loaded);
}

static void test_export_round_trip(void) {
  if (!slt_binary()) {
    test_skip("export round trip", "no slt program next to slt_tests (build the slt target)");
    return;
  }
  for (int i = 0; i < NCASES; i += 2) { /* one case per kind */
    slt_config c;
    tiny_config(&c, &cases[i]);
    slt_gpt m;
    random_model(&m, &c, 20 + i);
    char in[256], out[256], args[1024];
    snprintf(in, sizeof in, "%s", test_tpath("structured.h5"));
    snprintf(out, sizeof out, "%s", test_tpath("merged.h5"));
    remove(out);
    write_ckpt(in, &c, &m);
    snprintf(args, sizeof args, "--merge '%s' '%s'", in, out);
    CU_ASSERT_EQUAL(run_export(args), 0);
    check_exported(out, &m, cases[i].label);
    /* OUT exists now: refused, the file left as it was. */
    struct stat before, after;
    stat(out, &before);
    CU_ASSERT_EQUAL(run_export(args), 1);
    CU_ASSERT_TRUE(err_file_is("already exists"));
    CU_ASSERT_EQUAL(stat(out, &after), 0);
    CU_ASSERT_EQUAL(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
    /* The dense export itself has nothing to merge. */
    snprintf(args, sizeof args, "--merge '%s' '%s'", out, test_tpath("again.h5"));
    CU_ASSERT_EQUAL(run_export(args), 1);
    CU_ASSERT_TRUE(err_file_is("already dense"));
    slt_gpt_free(&m);
  }
}

static void test_export_errors(void) {
  if (!slt_binary()) {
    test_skip("export errors", "no slt program next to slt_tests (build the slt target)");
    return;
  }
  char args[1024];
  snprintf(args, sizeof args, "--merge '%s' '%s'", test_tpath("missing.h5"), test_tpath("o.h5"));
  CU_ASSERT_EQUAL(run_export(args), 1);
  CU_ASSERT_TRUE(err_file_is("missing.h5: cannot open the checkpoint"));
  FILE *f = fopen(test_tpath("text.h5"), "w");
  fputs("not hdf5\n", f);
  fclose(f);
  snprintf(args, sizeof args, "--merge '%s' '%s'", test_tpath("text.h5"), test_tpath("o.h5"));
  CU_ASSERT_EQUAL(run_export(args), 1);
  CU_ASSERT_TRUE(err_file_is("not an HDF5 file"));
  snprintf(args, sizeof args, "'%s' '%s'", test_tpath("text.h5"), test_tpath("o.h5"));
  CU_ASSERT_EQUAL(run_export(args), 2);
  CU_ASSERT_TRUE(err_file_is("--merge is required"));
  CU_ASSERT_EQUAL(access(test_tpath("o.h5"), F_OK), -1); /* nothing written on failure */
  /* The library path alike: a bad path is one error naming it. */
  slt_config cfg;
  CU_ASSERT_PTR_NULL(slt_ckpt_load_model(test_tpath("missing.h5"), &cfg));
  CU_ASSERT_TRUE(test_err_has("missing.h5", "cannot open"));
}

/* ---- generation's FFN form ---- */

static void test_form_pick(void) {
  /* Factored wins at 1 token, merged at 64: times are lines crossing at n = 1 + 63·(0.1/0.5). */
  const slt_gpt_form_time t[] = {{1, {0.1e-3, 0.2e-3}}, {64, {0.9e-3, 0.5e-3}}};
  CU_ASSERT_EQUAL(slt_gpt_form_pick(t, 2, 1), SLT_GPT_FACTORED);
  CU_ASSERT_EQUAL(slt_gpt_form_pick(t, 2, 64), SLT_GPT_MERGED);
  CU_ASSERT_EQUAL(slt_gpt_form_pick(t, 2, 13), SLT_GPT_FACTORED); /* crossing at 13.6 */
  CU_ASSERT_EQUAL(slt_gpt_form_pick(t, 2, 14), SLT_GPT_MERGED);
  CU_ASSERT_EQUAL(slt_gpt_form_pick(t, 2, 1000), SLT_GPT_MERGED); /* extrapolated */
  /* One point decides every n; a tie keeps the factored form. */
  CU_ASSERT_EQUAL(slt_gpt_form_pick(t + 1, 1, 1), SLT_GPT_MERGED);
  const slt_gpt_form_time tie[] = {{8, {1e-3, 1e-3}}};
  CU_ASSERT_EQUAL(slt_gpt_form_pick(tie, 1, 8), SLT_GPT_FACTORED);
  CU_ASSERT_EQUAL(slt_gpt_form_pick(t, 0, 8), SLT_GPT_FACTORED);
  /* Three points: the segment around n decides. */
  const slt_gpt_form_time three[] = {{1, {1.0, 2.0}}, {16, {4.0, 3.0}}, {256, {10.0, 30.0}}};
  CU_ASSERT_EQUAL(slt_gpt_form_pick(three, 3, 1), SLT_GPT_FACTORED);
  CU_ASSERT_EQUAL(slt_gpt_form_pick(three, 3, 16), SLT_GPT_MERGED);
  CU_ASSERT_EQUAL(slt_gpt_form_pick(three, 3, 256), SLT_GPT_FACTORED);
  /* Forced, or no twin. */
  slt_gpt dummy;
  slt_gpt_forms f = {.model = {&dummy, &dummy}, .ntimes = 2, .forced = -1};
  memcpy(f.times, t, sizeof t);
  CU_ASSERT_EQUAL(slt_gpt_forms_choice(&f, 1), SLT_GPT_FACTORED);
  CU_ASSERT_EQUAL(slt_gpt_forms_choice(&f, 64), SLT_GPT_MERGED);
  f.forced = SLT_GPT_MERGED;
  CU_ASSERT_EQUAL(slt_gpt_forms_choice(&f, 1), SLT_GPT_MERGED);
  f.model[SLT_GPT_MERGED] = NULL;
  CU_ASSERT_EQUAL(slt_gpt_forms_choice(&f, 64), SLT_GPT_FACTORED);
}

enum { PROMPT = 6, NEW = 12 };

/* Greedy generation of NEW tokens after a fixed prompt, every forward through f; the last
 * logits (V) into last. 0 or -1. */
static int greedy(slt_gpt_forms *f, int32_t *out, float *last) {
  const slt_gpt *m = f->model[SLT_GPT_FACTORED];
  int V = m->cfg.vocab_size;
  int32_t prompt[PROMPT] = {3, 14, 15, 9, 26, 5};
  slt_gpt_kv kv;
  if (slt_gpt_kv_init(&kv, m, PROMPT + NEW)) return -1;
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *logits = slt_gpt_forms_forward(f, &c, &kv, prompt, PROMPT);
  for (int t = 0; logits && t < NEW; t++) {
    const float *row = logits->data + (size_t)(logits->shape[1] - 1) * V;
    memcpy(last, row, (size_t)V * sizeof *last);
    out[t] = slt_model_sample(row, V, 0.0f, 0, NULL);
    slt_ctx_reset(&c);
    if (t + 1 < NEW) logits = slt_gpt_forms_forward(f, &c, &kv, &out[t], 1);
  }
  int rc = logits ? 0 : -1;
  slt_ctx_free(&c);
  slt_gpt_kv_free(&kv);
  return rc;
}

static void test_generation_forms_agree(void) {
  /* Every forward factored, every forward merged, and switching: prefill in one form, decode in
   * the other (timings made up so the pick does that). */
  const slt_gpt_form_time prefill_merged[] = {{1, {1, 2}}, {PROMPT, {2, 1}}};
  const slt_gpt_form_time prefill_factored[] = {{1, {2, 1}}, {PROMPT, {1, 2}}};
  for (int i = 0; i < NCASES; i++) {
    slt_config c;
    tiny_config(&c, &cases[i]);
    /* A random model tends to repeat one token forever; an untied head, embeddings that dominate
     * the residual stream and no final-norm bias make the next token depend on the last one. */
    c.model.tie_embeddings = false;
    slt_gpt m, twin;
    random_model(&m, &c, 30 + i);
    for (int64_t k = 0; k < m.wte->numel; k++) m.wte->data[k] *= 10.0f;
    memset(m.lnf_b->data, 0, m.lnf_b->numel * sizeof(float));
    CU_ASSERT_EQUAL_FATAL(slt_gpt_merge(&m, &twin), 0);
    int32_t tok[4][NEW];
    float last[4][64];
    for (int run = 0; run < 4; run++) {
      slt_gpt_forms f = {.model = {&m, &twin}, .ntimes = 2, .forced = run < 2 ? run : -1};
      memcpy(f.times, run == 2 ? prefill_merged : prefill_factored, sizeof prefill_merged);
      CU_ASSERT_EQUAL_FATAL(greedy(&f, tok[run], last[run]), 0);
    }
    CU_ASSERT_EQUAL(memcmp(tok[0], tok[1], sizeof tok[0]), 0);
    CU_ASSERT_EQUAL(memcmp(tok[0], tok[2], sizeof tok[0]), 0);
    CU_ASSERT_EQUAL(memcmp(tok[0], tok[3], sizeof tok[0]), 0);
    for (int run = 1; run < 4; run++) {
      double err = test_rel_err(last[run], last[0], 64);
      if (!(err <= MERGE_TOL))
        printf("\n  %s run %d: last logits rel err %.3g\n", cases[i].label, run, err);
      CU_ASSERT_TRUE(err <= MERGE_TOL);
    }
    /* Not a degenerate sequence: greedy decoding of a random model visits several tokens. */
    int distinct = 0;
    for (int t = 0; t < NEW; t++) {
      bool seen = false;
      for (int u = 0; u < t; u++) seen |= tok[0][u] == tok[0][t];
      distinct += !seen;
    }
    CU_ASSERT_TRUE(distinct >= 3);
    slt_gpt_free(&twin);
    slt_gpt_free(&m);
  }
}

static void test_forms_time(void) {
  slt_config c;
  tiny_config(&c, &cases[2]);
  slt_gpt m, twin;
  random_model(&m, &c, 40);
  CU_ASSERT_EQUAL_FATAL(slt_gpt_merge(&m, &twin), 0);
  slt_gpt_forms f = {.model = {&m, &twin}, .forced = -1};
  CU_ASSERT_EQUAL_FATAL(slt_gpt_forms_time(&f, (int[]){1, 16}, 2), 0);
  CU_ASSERT_EQUAL(f.ntimes, 2);
  CU_ASSERT_EQUAL(f.times[0].n, 1);
  CU_ASSERT_EQUAL(f.times[1].n, 16);
  for (int k = 0; k < 2; k++)
    for (int form = 0; form < 2; form++)
      CU_ASSERT_TRUE(f.times[k].s[form] > 0 && f.times[k].s[form] < 1);
  CU_ASSERT_EQUAL(slt_gpt_forms_time(&f, (int[]){16, 1}, 2), -1);
  CU_ASSERT_TRUE(test_err_has("ascending", NULL));
  f.model[SLT_GPT_MERGED] = NULL;
  CU_ASSERT_EQUAL(slt_gpt_forms_time(&f, (int[]){1}, 1), -1);
  CU_ASSERT_TRUE(test_err_has("merged twin", NULL));
  slt_gpt_free(&twin);
  slt_gpt_free(&m);
}

/* Temperatures at the ends of --temperature's range: a tiny one (1e-30, or 1e-45, a float
 * denormal) divides logit gaps into -1e30 and more, whose exp underflows to 0, so it is greedy
 * without overflowing; a huge one (1e38) flattens the logits, so every id is drawn. A --top-k
 * past the vocabulary keeps every id. */
static void test_sample_extreme_temperatures(void) {
  enum { V = 8, DRAWS = 4000 };
  const float logits[V] = {0.5f, 2.0f, -1.0f, 1.999f, 0.0f, -3.0f, 1.0f, 1.5f};
  slt_rng rng;
  slt_rng_seed(&rng, 5);
  for (int i = 0; i < 50; i++) {
    CU_ASSERT_EQUAL(slt_model_sample(logits, V, 1e-30f, 0, &rng), 1);
    CU_ASSERT_EQUAL(slt_model_sample(logits, V, 1e-45f, 3, &rng), 1);
  }
  int seen[V] = {0};
  for (int i = 0; i < DRAWS; i++) {
    int id = slt_model_sample(logits, V, 1e38f, 100, &rng);
    CU_ASSERT_TRUE_FATAL(id >= 0 && id < V);
    seen[id]++;
  }
  for (int i = 0; i < V; i++) CU_ASSERT_TRUE(seen[i] > DRAWS / V / 2);
}

static int suite_init(void) {
  return test_tmpdir_init("export");
}
static int suite_clean(void) {
  return test_tmpdir_cleanup();
}

int register_export_suite(void) {
  CU_pSuite s = CU_add_suite("export", suite_init, suite_clean);
  if (!s) return -1;
  return !CU_add_test(s, "merged twin matches factored logits (every kind)",
                      test_merge_matches_factored) ||
                 !CU_add_test(s, "dense parameters copied exactly",
                              test_merge_copies_dense_layers) ||
                 !CU_add_test(s, "slt export --merge round trip", test_export_round_trip) ||
                 !CU_add_test(s, "slt export errors", test_export_errors) ||
                 !CU_add_test(s, "form picked from timings", test_form_pick) ||
                 !CU_add_test(s, "greedy tokens same in either form",
                              test_generation_forms_agree) ||
                 !CU_add_test(s, "forms timed", test_forms_time) ||
                 !CU_add_test(s, "sampling at extreme temperatures",
                              test_sample_extreme_temperatures)
             ? -1
             : 0;
}
