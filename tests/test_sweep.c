/* slt sweep's library: sweep files expand in the documented order under the documented names,
 * derived step counts match budgets worked out by hand (SPEC §9 counting on a model small
 * enough to count on paper), bad sweep files give one line naming the file and key, and run
 * directories' logs and markers read back into the results table. Nothing here trains: the
 * kill-and-resume test is tests/sweep_kill.sh. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "sweep/sweep.h"
#include "sweep/table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* vocab 16, T 8, 1 layer, d 8, 2 heads, FFN 32, biases, tied head. By hand:
 *   embedding 16·8 = 128; block: 2 LayerNorms 2·16, q/k/v 3·(8·8 + 8) = 216, out 8·8 + 8 = 72,
 *   fc1 8·32 + 32 = 288, fc2 32·8 + 8 = 264; final LayerNorm 16
 *   total 1016, non-embedding 888, FFN 552.
 * Training FLOPs/token (SPEC §9): 3 × (2 × MACs + attention) with MACs = head 16·8 + block
 *   matrices 192 + 64 + 256 + 256 = 896, attention 1 layer × 2 products × 2 × T/2 × d = 128:
 *   3 × (1792 + 128) = 5760. Tokens per step: micro 2 × accumulation 3 × T 8 = 48. */
static const char *const TINY =
    "out_dir: unused\nseed: 1\n"
    "model: {vocab_size: 16, seq_len: 8, layers: 1, d_model: 8, heads: 2, ffn_dim: 32,\n"
    "        norm: layernorm, pos: rope, act: gelu_tanh, bias: true, tie_embeddings: true}\n"
    "data: {source: synthetic}\n"
    "train: {steps: 100, micro_batch: 2, grad_accum: 3, eval_every: 0, ckpt_every: 0}\n";

/* Write text to tmpdir/name; the path. */
static const char *put(const char *name, const char *text) {
  const char *path = test_tpath(name);
  FILE *f = fopen(path, "w");
  if (f) fputs(text, f), fclose(f);
  return path;
}

/* A sweep file over the tiny base with out: <name>.out and the given body. */
static slt_sweep *sweep_of(const char *name, const char *body) {
  char text[2048];
  put("tiny.yaml", TINY);
  snprintf(text, sizeof text, "base: tiny.yaml\nout: %s.out\n%s", name, body);
  slt_sweep *s = slt_sweep_load(put(name, text));
  if (!s) printf("\n  %s: %s\n", name, slt_err_msg());
  return s;
}

static void test_counts_and_derive(void) {
  static const struct {
    const char *derive;
    int64_t steps;
  } cases[] = {
      {"", 100},                                                /* the base's train.steps */
      {"derive: {tokens: 1.0e4}\n", 209},                       /* 10000 / 48 = 208.3 */
      {"derive: {tokens: 4800}\n", 100},                        /* exactly 100: not 101 */
      {"derive: {tokens_per_param: 20}\n", 370},                /* 20 × 888 = 17760 = 370 × 48 */
      {"derive: {tokens_per_param: 20, params: total}\n", 424}, /* 20320 / 48 = 423.3 */
      {"derive: {flops: 1.0e8}\n", 362},            /* 1e8 / 5760 = 17361.1 tokens: 361.7 */
      {"derive: {tokens: 1.0e4}\nranks: 2\n", 105}, /* 96 tokens per step: 104.2 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    slt_sweep *s = sweep_of("derive.yaml", cases[i].derive);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    int n;
    slt_sweep_run *r = slt_sweep_expand(s, &n);
    if (!r) printf("\n  %s\n", slt_err_msg());
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_STRING_EQUAL(r->name, "run");
    CU_ASSERT_EQUAL(r->counts.total, 1016);
    CU_ASSERT_EQUAL(r->counts.total - r->counts.embedding, 888);
    CU_ASSERT_EQUAL(r->counts.ffn, 552);
    CU_ASSERT_EQUAL(r->flops_per_token, 5760.0);
    int64_t tps = strstr(cases[i].derive, "ranks") ? 96 : 48;
    CU_ASSERT_EQUAL(r->tokens_per_step, tps);
    if (r->steps != cases[i].steps)
      printf("\n  '%s': %lld steps, %lld wanted\n", cases[i].derive, (long long)r->steps,
             (long long)cases[i].steps);
    CU_ASSERT_EQUAL(r->steps, cases[i].steps);
    CU_ASSERT_EQUAL(r->cfg.train.steps, cases[i].steps);
    CU_ASSERT_EQUAL(r->tokens, cases[i].steps * tps);
    CU_ASSERT_EQUAL(r->flops, 5760.0 * (double)(cases[i].steps * tps));
    free(r);
    slt_sweep_free(s);
  }
}

/* grid (first key slowest) × zipped runs × seeds (fastest), names from the short keys. */
static void test_expand_order_and_names(void) {
  slt_sweep *s = sweep_of("grid.yaml", "set: {train.eval_every: 10}\n"
                                       "grid: {model.d_model: [8, 16], optim.lr: [1.0e-3, 3e-3]}\n"
                                       "runs: {model.ffn.kind: [dense, lowrank], "
                                       "model.ffn.rank: [0, 4]}\nseeds: [1, 2]\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  int n;
  slt_sweep_run *r = slt_sweep_expand(s, &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL_FATAL(n, 16);
  static const char *const want[] = {
      "d_model=8,lr=1.0e-3,ffn.kind=dense,ffn.rank=0,seed=1",
      "d_model=8,lr=1.0e-3,ffn.kind=dense,ffn.rank=0,seed=2",
      "d_model=8,lr=1.0e-3,ffn.kind=lowrank,ffn.rank=4,seed=1",
      "d_model=8,lr=1.0e-3,ffn.kind=lowrank,ffn.rank=4,seed=2",
      "d_model=8,lr=3e-3,ffn.kind=dense,ffn.rank=0,seed=1",
  };
  for (int i = 0; i < 5; i++) CU_ASSERT_STRING_EQUAL(r[i].name, want[i]);
  CU_ASSERT_STRING_EQUAL(r[15].name, "d_model=16,lr=3e-3,ffn.kind=lowrank,ffn.rank=4,seed=2");
  const slt_config *c = &r[15].cfg;
  CU_ASSERT_EQUAL(c->model.d_model, 16);
  CU_ASSERT_EQUAL(c->optim.lr, 3e-3);
  CU_ASSERT_EQUAL(c->model.ffn.kind, SLT_LIN_LOWRANK);
  CU_ASSERT_EQUAL(c->model.ffn.rank, 4);
  CU_ASSERT_EQUAL(c->seed, 2);
  CU_ASSERT_EQUAL(c->train.eval_every, 10);
  CU_ASSERT_EQUAL(r[4].cfg.model.d_model, 8);
  CU_ASSERT_EQUAL(r[4].cfg.optim.lr, 3e-3);
  CU_ASSERT_EQUAL(r[4].cfg.model.ffn.kind, SLT_LIN_DENSE);
  /* The directory and out_dir: <sweep file's dir>/grid.yaml.out/<name>, absolute. */
  char dir[4096];
  snprintf(dir, sizeof dir, "%s/grid.yaml.out/%s", test_tmpdir(), r[15].name);
  CU_ASSERT_STRING_EQUAL(r[15].dir, dir);
  CU_ASSERT_STRING_EQUAL(c->out_dir, dir);
  CU_ASSERT(slt_sweep_match(r[15].name, "d_model=16,*seed=2"));
  CU_ASSERT(slt_sweep_match(r[15].name, "lowrank"));
  CU_ASSERT(!slt_sweep_match(r[15].name, "d_model=8,*"));
  CU_ASSERT(!slt_sweep_match(r[15].name, "dense,"));
  free(r);
  slt_sweep_free(s);
}

/* Keys that would look alike without their section keep it; values are sanitised. */
static void test_name_clash_and_sanitise(void) {
  slt_sweep *s = sweep_of("clash.yaml",
                          "grid: {optim.name: [adamw, sgd], schedule.name: [cosine, constant]}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  int n;
  slt_sweep_run *r = slt_sweep_expand(s, &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(n, 4);
  CU_ASSERT_STRING_EQUAL(r[1].name, "optim.name=adamw,schedule.name=constant");
  free(r);
  slt_sweep_free(s);
  char out[64];
  slt_sweep_sanitize("data/rw train*.bin", out, sizeof out);
  CU_ASSERT_STRING_EQUAL(out, "data_rw_train_.bin");
  slt_sweep_sanitize("a:b\"c\\d+e-f_g.h", out, sizeof out);
  CU_ASSERT_STRING_EQUAL(out, "a_b_c_d+e-f_g.h");
}

/* Every bad file: NULL (or no runs) and one line naming the file and the key. */
static void test_bad_files(void) {
  static const struct {
    const char *body, *a, *b;
  } cases[] = {
      {"grdi: {model.d_model: [8]}\n", "bad.yaml:3:", "unknown key 'grdi'"},
      {"grid: {}\n", "bad.yaml:3:", "grid: empty"},
      {"grid: {model.d_model: []}\n", "grid: model.d_model", "empty list"},
      {"grid: {model.d_model: 8}\n", "grid: model.d_model", "expected a list"},
      {"runs: {model.d_model: [8, 16], seed: [1]}\n", "runs: seed has 1 values",
       "model.d_model has 2"},
      {"grid: {model.dmodel: [8]}\n",
       "grid:", "unknown key 'model.dmodel' (did you mean 'model.d_model'?)"},
      {"grid: {model.d_model: [8, abc]}\n",
       "bad.yaml:3:", "model.d_model: expected an integer, got 'abc'"},
      {"set: {model.d_model: 8}\ngrid: {model.d_model: [8]}\n", "model.d_model", "also in set"},
      {"set: {out_dir: x}\n", "set: out_dir", "set by the sweep"},
      {"derive: {tokenz: 5}\n", "derive: tokenz", "unknown key"},
      {"derive: {tokens: 5, flops: 6}\n", "derive: flops", "only one of"},
      {"derive: {tokens: -5}\n", "derive: tokens", "positive number"},
      {"derive: {tokens: lots}\n", "derive: tokens", "positive number"},
      {"derive: {tokens: 5, params: total}\n", "derive: params", "only with tokens_per_param"},
      {"derive: {tokens_per_param: 5, params: all}\n", "derive: params", "nonembed or total"},
      {"set: {train.steps: 5}\nderive: {tokens: 5}\n", "derive: tokens", "set sets it too"},
      {"derive: {tokens: 1.0e30}\n", "derive: tokens", "outside train.steps' range"},
      {"grid: {model.heads: [3]}\n", "run 'heads=3'", "model.heads"},
      {"seeds: [1, 1]\n", "bad.yaml", "both named 'seed=1'"},
      {"seeds: []\n", "seeds", "empty list"},
      {"grid: {seed: [1]}\nseeds: [2]\n", "seeds", "also set in grid"},
      {"ranks: 0\n", "ranks", "from 1"},
      {"grid: {model.d_model: [8\n", "bad.yaml", "YAML error"},
  };
  put("tiny.yaml", TINY);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char text[1024];
    snprintf(text, sizeof text, "base: tiny.yaml\nout: bad.out\n%s", cases[i].body);
    slt_err_clear();
    slt_sweep *s = slt_sweep_load(put("bad.yaml", text));
    int n = 0;
    slt_sweep_run *r = s ? slt_sweep_expand(s, &n) : NULL;
    CU_ASSERT_PTR_NULL(r);
    if (r) printf("\n  accepted: %s", cases[i].body);
    CU_ASSERT(test_err_has(cases[i].a, cases[i].b));
    free(r);
    slt_sweep_free(s);
  }
  /* base and out */
  slt_err_clear();
  CU_ASSERT_PTR_NULL(slt_sweep_load(put("nobase.yaml", "out: x\n")));
  CU_ASSERT(test_err_has("nobase.yaml: missing 'base'", NULL));
  CU_ASSERT_PTR_NULL(slt_sweep_load(put("missing.yaml", "base: nothere.yaml\nout: x\n")));
  CU_ASSERT(test_err_has("missing.yaml:1: base:", "nothere.yaml"));
  CU_ASSERT_PTR_NULL(slt_sweep_load(test_tpath("absent.yaml")));
  CU_ASSERT(test_err_has("absent.yaml: cannot open", NULL));
}

/* A metrics log written by hand: the last record (the one cut short is being written), the
 * best val loss, seconds = Σ tokens per interval / tokens per second = 1 + 2 + 0.5 + 1. */
static const char *const METRICS =
    "{\"step\":1,\"loss\":3.5,\"lr\":0.001,\"grad_norm\":1,\"tokens\":48,\"tok_per_s\":48,\"mfu\":"
    "0.1}\n"
    "{\"step\":2,\"loss\":3,\"lr\":0.001,\"grad_norm\":1,\"tokens\":96,\"tok_per_s\":24,\"mfu\":0."
    "1,"
    "\"val_loss\":3.25}\n"
    "{\"step\":3,\"loss\":2.5,\"lr\":0.001,\"grad_norm\":1,\"tokens\":144,\"tok_per_s\":96,"
    "\"mfu\":0.1,\"val_loss\":2.875}\n"
    "{\"step\":4,\"loss\":2,\"lr\":0.001,\"grad_norm\":1,\"tokens\":192,\"tok_per_s\":48,\"mfu\":0."
    "1,"
    "\"val_loss\":3}\n"
    "{\"step\":5,\"loss\":1.9,\"lr\"";

static void write_in(const slt_sweep_run *r, const char *name, const char *text) {
  char path[4200];
  snprintf(path, sizeof path, "%s", r->dir);
  *strrchr(path, '/') = '\0';
  mkdir(path, 0777); /* the sweep directory */
  mkdir(r->dir, 0777);
  snprintf(path, sizeof path, "%s/%s", r->dir, name);
  FILE *f = fopen(path, "w");
  if (f) fputs(text, f), fclose(f);
}

static void test_metrics_and_status(void) {
  slt_sweep *s = sweep_of("state.yaml", "grid: {model.d_model: [8, 16, 32]}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  int n;
  slt_sweep_run *r = slt_sweep_expand(s, &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(slt_sweep_run_status(&r[0]), SLT_RUN_PENDING);
  CU_ASSERT_EQUAL(slt_sweep_prepare(&r[0]), 0);
  CU_ASSERT_EQUAL(slt_sweep_run_status(&r[0]), SLT_RUN_PENDING); /* a config is no start */
  CU_ASSERT_EQUAL(slt_sweep_prepare(&r[0]), 0);                  /* the same config again */
  slt_sweep_run changed = r[0];
  changed.cfg.model.heads = 4;
  CU_ASSERT_EQUAL(slt_sweep_prepare(&changed), -1);
  CU_ASSERT(test_err_has("config.yaml: the run's config differs", "model.heads (2 vs 4)"));
  write_in(&r[0], "metrics.jsonl", METRICS);
  slt_sweep_result m;
  CU_ASSERT_EQUAL(slt_sweep_read_metrics(&r[0].cfg, &m), 0);
  CU_ASSERT_EQUAL(m.step, 4);
  CU_ASSERT_EQUAL(m.tokens, 192);
  CU_ASSERT_EQUAL(m.train_loss, 2.0);
  CU_ASSERT_EQUAL(m.val_loss, 3.0);
  CU_ASSERT_EQUAL(m.best_val_loss, 2.875);
  CU_ASSERT_DOUBLE_EQUAL(m.seconds, 4.5, 1e-12);
  CU_ASSERT_EQUAL(slt_sweep_run_status(&r[0]), SLT_RUN_PARTIAL);
  CU_ASSERT_EQUAL(slt_sweep_finish(s, &r[0]), 0); /* no checkpoint: not finished */
  CU_ASSERT_EQUAL(slt_sweep_mark_failed(&r[0], "loss is nan at step 5"), 0);
  CU_ASSERT_EQUAL(slt_sweep_run_status(&r[0]), SLT_RUN_FAILED);
  write_in(&r[0], "DONE", "{}\n");
  CU_ASSERT_EQUAL(slt_sweep_run_status(&r[0]), SLT_RUN_DONE);
  write_in(&r[1], "metrics.jsonl", "{\"step\":1,\"loss\":3.5}\n");
  CU_ASSERT_EQUAL(slt_sweep_read_metrics(&r[1].cfg, &m), -1);
  CU_ASSERT(test_err_has("metrics.jsonl:1: not a metrics record", NULL));
  free(r);
  slt_sweep_free(s);
}

/* The result line of a run, every column. */
static void test_result_line(void) {
  slt_sweep *s = sweep_of("line.yaml", "set: {train.eval_every: 0}\n"
                                       "grid: {model.d_model: [8], model.norm: [rmsnorm]}\n"
                                       "derive: {tokens: 4800}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  int n;
  slt_sweep_run *r = slt_sweep_expand(s, &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  slt_sweep_result m = {100, 4800, 2.5, 2.625, 2.5625, 1.5};
  char line[2048];
  slt_sweep_result_json(s, r, &m, SLT_RUN_DONE, line, sizeof line);
  /* RMSNorm has no bias: 1016 − (2 + 1) LayerNorm biases of 8 = 992 params. */
  CU_ASSERT_STRING_EQUAL(line, "{\"name\":\"d_model=8,norm=rmsnorm\",\"model.d_model\":8,"
                               "\"model.norm\":\"rmsnorm\",\"train.eval_every\":0,\"steps\":100,"
                               "\"params\":992,\"params_nonembed\":864,\"params_ffn\":552,"
                               "\"flops_per_token\":5760,\"tokens\":4800,\"flops\":27648000,"
                               "\"train_loss\":2.5,\"val_loss\":2.625,\"best_val_loss\":2.5625,"
                               "\"seconds\":1.5,\"status\":\"done\"}");
  m.val_loss = NAN;
  slt_sweep_result_json(s, r, &m, SLT_RUN_PARTIAL, line, sizeof line);
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"val_loss\":null,"));
  CU_ASSERT_PTR_NOT_NULL(strstr(line, "\"status\":\"partial\"}"));
  free(r);
  slt_sweep_free(s);
}

/* results.csv from a DONE run (its figures from DONE), a partial one (its log) and a pending
 * one, read back with slt fit's table reader. */
static void test_collect(void) {
  slt_sweep *s = sweep_of("col.yaml", "grid: {model.d_model: [8, 16, 32]}\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  int n, count[4];
  slt_sweep_run *r = slt_sweep_expand(s, &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  write_in(&r[0], "DONE",
           "{\"name\":\"d_model=8\",\"steps\":100,\"tokens\":4800,\"train_loss\":2.5,"
           "\"val_loss\":2.75,\"best_val_loss\":2.5,\"seconds\":7,\"status\":\"done\"}\n");
  write_in(&r[1], "metrics.jsonl", METRICS);
  CU_ASSERT_EQUAL_FATAL(slt_sweep_collect(s, r, n, count), 0);
  CU_ASSERT(count[SLT_RUN_DONE] == 1 && count[SLT_RUN_PARTIAL] == 1 && count[SLT_RUN_PENDING] == 1);
  char path[4200];
  snprintf(path, sizeof path, "%s/results.csv", s->out);
  slt_table *t = slt_table_read(path);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_EQUAL(t->nrows, 3);
  int st = slt_table_find(t, "status"), val = slt_table_find(t, "val_loss"),
      key = slt_table_find(t, "model.d_model"), fl = slt_table_find(t, "flops");
  CU_ASSERT(st >= 0 && val >= 0 && key >= 0 && fl >= 0);
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 0, st), "done");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 1, st), "partial");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 2, st), "pending");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 0, val), "2.75");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 1, val), "3");
  const char *none = slt_table_str(t, 2, val); /* an empty CSV cell */
  CU_ASSERT(!none || !*none);
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 2, key), "32");
  CU_ASSERT_STRING_EQUAL(slt_table_str(t, 0, fl), "27648000"); /* 5760 × 4800 */
  slt_table_free(t);
  free(r);
  slt_sweep_free(s);
}

static int suite_init(void) {
  return test_tmpdir_init("sweep");
}

int register_sweep_suite(void) {
  CU_pSuite s = CU_add_suite("sweep", suite_init, test_tmpdir_cleanup);
  return !s || !CU_add_test(s, "counts and derived steps by hand", test_counts_and_derive) ||
         !CU_add_test(s, "expansion order and names", test_expand_order_and_names) ||
         !CU_add_test(s, "name clashes and sanitising", test_name_clash_and_sanitise) ||
         !CU_add_test(s, "bad sweep files: one line each", test_bad_files) ||
         !CU_add_test(s, "metrics, markers, config check", test_metrics_and_status) ||
         !CU_add_test(s, "result line", test_result_line) ||
         !CU_add_test(s, "results table", test_collect);
}
