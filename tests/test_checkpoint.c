/* HDF5 checkpoints: round trip, names, the newest complete checkpoint, pruning, bitwise-identical
 * resume through the trainer (gradient accumulation, shuffled shards, either side of an eval,
 * metrics log cut back, version 1 files), stop_after / time_limit / signal stops writing a
 * checkpoint, and generation's KV cache against the full forward. Damaged files are the
 * checkpoint_damage suite's. Files live in a mkdtemp directory. */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include "suites.h"
#include "test_util.h"
#include "ckpt_fixture.h"
#include "tools/ckpt_diff.h"

#include "autograd/error.h"
#include "data/shard.h"
#include "layers/gpt.h"
#include "optim/adamw.h"
#include "ckpt/checkpoint.h"
#include "train/train.h"
#include "train/trainer.h"

#include <fcntl.h>
#include <ftw.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- round trip and names ---- */

static int count_tensor(const char *name, int ndim, const int64_t *shape, void *user) {
  (void)name, (void)ndim, (void)shape;
  ++*(int *)user;
  return 0;
}

static void test_round_trip(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("rt"), 10);
  mkdir(cfg.out_dir, 0777);
  ckpt_fake_run a, b;
  ckpt_fake_build(&a, &cfg, 1);
  ckpt_fake_build(&b, &cfg, 2);
  slt_ckpt_data d = ckpt_fake_data(&a, &cfg, 1);
  char path[SLT_CKPT_PATH];
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_save(cfg.out_dir, &d, path, sizeof path), 0);
  CU_ASSERT_STRING_EQUAL(path, test_tpath("rt/ckpt_00000007.h5"));
  slt_ckpt ck;
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_open(&ck, path), 0);
  CU_ASSERT_EQUAL(slt_config_diff(&ck.cfg, &cfg, NULL, NULL, 0), 0);
  CU_ASSERT_EQUAL(ck.state.step, 7);
  CU_ASSERT_EQUAL(ck.state.tokens, 7 * 128);
  CU_ASSERT_EQUAL(ck.state.world, 1);
  CU_ASSERT(!memcmp(&ck.state.cursors[0], &a.cur[0], sizeof a.cur[0]));
  int r = slt_ckpt_find_rng(&ck, "trainer");
  CU_ASSERT_FATAL(r >= 0);
  CU_ASSERT(!memcmp(ck.state.rngs[r], &a.rng[0], sizeof a.rng[0]));
  CU_ASSERT_STRING_EQUAL(ck.optim_name, "adamw");
  slt_ckpt_optim o = {
      .name = "adamw", .nslots = 2, .slot_names = {"m", "v"}, .slots = {b.o.m, b.o.v}};
  CU_ASSERT_EQUAL(slt_ckpt_read_params(&ck, b.m->params), 0);
  CU_ASSERT_EQUAL(slt_ckpt_read_optim(&ck, b.m->params, &o), 0);
  CU_ASSERT_EQUAL(o.step, 7);
  size_t bytes = (size_t)a.m->params->numel * sizeof(float);
  CU_ASSERT(!memcmp(a.m->params->data, b.m->params->data, bytes));
  CU_ASSERT(!memcmp(a.o.m, b.o.m, bytes));
  CU_ASSERT(!memcmp(a.o.v, b.o.v, bytes));
  int n = 0;
  CU_ASSERT_EQUAL(slt_ckpt_each_tensor(&ck, count_tensor, &n), 0);
  CU_ASSERT_EQUAL(n, a.m->params->count);
  slt_ckpt_close(&ck);
  /* A directory that does not exist: an error naming the file, nothing left behind. */
  CU_ASSERT(slt_ckpt_save(test_tpath("rt/missing"), &d, path, sizeof path) == -1 &&
            test_err_has("rt/missing/.ckpt_00000007.h5.tmp", "cannot write the checkpoint"));
  ckpt_fake_free(&a);
  ckpt_fake_free(&b);
}

static void test_names(void) {
  int64_t s = -1;
  CU_ASSERT(slt_ckpt_parse_name("ckpt_00000100.h5", &s) && s == 100);
  CU_ASSERT(slt_ckpt_parse_name("ckpt_123456789.h5", &s) && s == 123456789);
  CU_ASSERT(!slt_ckpt_parse_name("ckpt_100.h5", &s));
  CU_ASSERT(!slt_ckpt_parse_name("ckpt_000000100.h5", &s)); /* not the canonical spelling */
  CU_ASSERT(!slt_ckpt_parse_name(".ckpt_00000100.h5.tmp", &s));
  CU_ASSERT(!slt_ckpt_parse_name("ckpt_00000100.h5.tmp", &s));
  CU_ASSERT(!slt_ckpt_parse_name("ckpt_0000010x.h5", &s));
  char p[64];
  slt_ckpt_path(p, sizeof p, "d", 42);
  CU_ASSERT_STRING_EQUAL(p, "d/ckpt_00000042.h5");
}

/* ---- latest, prune ---- */

static void test_latest_skips_incomplete(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", test_tpath("latest"));
  char path[SLT_CKPT_PATH], skipped[2048];
  CU_ASSERT_EQUAL(slt_ckpt_latest(dir, path, sizeof path, skipped, sizeof skipped), 0);
  ckpt_fake_save(dir, 1);
  ckpt_fake_save(dir, 2);
  /* Newer names that must not be taken: truncated, not HDF5, no completion marker, and a
   * complete file under a temporary name. */
  truncate(test_tpath("latest/ckpt_00000002.h5"), 0);
  ckpt_fake_save(dir, 2);
  ckpt_copy_file(test_tpath("latest/ckpt_00000002.h5"), test_tpath("latest/ckpt_00000003.h5"));
  truncate(test_tpath("latest/ckpt_00000003.h5"), 4000);
  FILE *f = fopen(test_tpath("latest/ckpt_00000004.h5"), "w");
  fputs("not hdf5\n", f);
  fclose(f);
  ckpt_copy_file(test_tpath("latest/ckpt_00000002.h5"), test_tpath("latest/ckpt_00000005.h5"));
  ckpt_h5_delete(test_tpath("latest/ckpt_00000005.h5"), NULL, "complete");
  ckpt_copy_file(test_tpath("latest/ckpt_00000002.h5"), test_tpath("latest/.ckpt_00000009.h5.tmp"));
  int found = slt_ckpt_latest(dir, path, sizeof path, skipped, sizeof skipped);
  if (found != 1) printf("\n  latest: %d (%s); skipped %s\n", found, slt_err_msg(), skipped);
  CU_ASSERT_EQUAL(found, 1);
  CU_ASSERT_STRING_EQUAL(path, test_tpath("latest/ckpt_00000002.h5"));
  CU_ASSERT_PTR_NOT_NULL(strstr(skipped, "ckpt_00000003.h5"));
  CU_ASSERT_PTR_NOT_NULL(strstr(skipped, "ckpt_00000004.h5"));
  CU_ASSERT_PTR_NOT_NULL(strstr(skipped, "ckpt_00000005.h5"));
  CU_ASSERT_PTR_NULL(strstr(skipped, "00000009"));
}

static void test_prune(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", test_tpath("prune"));
  for (int s = 1; s <= 5; s++) ckpt_fake_save(dir, s);
  ckpt_copy_file(test_tpath("prune/ckpt_00000001.h5"), test_tpath("prune/.ckpt_00000006.h5.tmp"));
  CU_ASSERT_EQUAL(slt_ckpt_prune(dir, 2), 4); /* three old checkpoints and the stale temporary */
  CU_ASSERT(access(test_tpath("prune/ckpt_00000005.h5"), F_OK) == 0);
  CU_ASSERT(access(test_tpath("prune/ckpt_00000004.h5"), F_OK) == 0);
  CU_ASSERT(access(test_tpath("prune/ckpt_00000003.h5"), F_OK) != 0);
  CU_ASSERT(access(test_tpath("prune/.ckpt_00000006.h5.tmp"), F_OK) != 0);
  CU_ASSERT_EQUAL(slt_ckpt_prune(dir, 0), 0);
}

/* ---- resume through the trainer ---- */

typedef struct {
  float *p, *m, *v;
  int64_t n, step, tokens, opt_step;
  int64_t resumed_at; /* -1: a fresh start */
} snapshot;

static void snapshot_free(snapshot *s) {
  free(s->p), free(s->m), free(s->v);
  memset(s, 0, sizeof *s);
}

/* Init (resuming as asked), run to the end; the final state goes to out (may be NULL). */
static int train(const slt_config *cfg, const char *resume, volatile sig_atomic_t *stop,
                 snapshot *out) {
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init_resume(&t, cfg, resume);
  if (!rc) rc = slt_trainer_run(&t, stop);
  test_quiet(false);
  if (rc) printf("\n  trainer: %s\n", slt_err_msg());
  if (!rc && out) {
    size_t bytes = (size_t)t.model->params->numel * sizeof(float);
    *out = (snapshot){malloc(bytes),
                      malloc(bytes),
                      malloc(bytes),
                      t.model->params->numel,
                      t.step,
                      t.tokens,
                      slt_optim_get_step(t.opt),
                      t.resumed_at};
    float *slots[SLT_OPTIM_MAX_SLOTS];
    int nslots = slt_optim_slots(t.opt, NULL, slots); /* adam*: m, v; sgd*: buf */
    memcpy(out->p, t.model->params->data, bytes);
    memset(out->m, 0, bytes);
    memset(out->v, 0, bytes);
    if (nslots > 0) memcpy(out->m, slots[0], bytes);
    if (nslots > 1) memcpy(out->v, slots[1], bytes);
  }
  slt_trainer_free(&t);
  return rc;
}

static bool same_state(const snapshot *a, const snapshot *b) {
  size_t bytes = (size_t)a->n * sizeof(float);
  return a->n == b->n && a->step == b->step && a->tokens == b->tokens &&
         a->opt_step == b->opt_step && !memcmp(a->p, b->p, bytes) && !memcmp(a->m, b->m, bytes) &&
         !memcmp(a->v, b->v, bytes);
}

/* The final checkpoints of two runs of the same length: every /model and /optim tensor (and the
 * optimizer's step) bitwise equal, read back from the files with plain HDF5. */
static void check_final_files(const char *name, const slt_config *a, const slt_config *b) {
  char fa[SLT_CKPT_PATH], fb[SLT_CKPT_PATH];
  slt_ckpt_path(fa, sizeof fa, a->out_dir, a->train.steps);
  slt_ckpt_path(fb, sizeof fb, b->out_dir, b->train.steps);
  ckpt_diff_result r;
  int rc = ckpt_diff(fa, fb, true, &r);
  if (rc || r.differ || r.tensors < 3)
    printf("\n  [%s] final checkpoints: %s, %lld of %lld floats differ (%d tensors) %s\n", name,
           rc ? "error" : "compared", (long long)r.differ, (long long)r.floats, r.tensors, r.first);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(r.tensors >= 3 && r.floats > 0); /* parameters and at least one slot */
  CU_ASSERT_EQUAL(r.differ, 0);
}

/* Train base's run straight and split at each k (stop_after k, then edit the checkpoint when
 * edit is given, then --resume auto): the loss log and the final parameters and optimizer
 * state must be bitwise the same. */
static void check_splits_edited(const char *name, const slt_config *base, const int64_t *ks, int nk,
                                void (*edit)(const char *ckpt)) {
  slt_config a = *base;
  char dir[256];
  snprintf(dir, sizeof dir, "%s/straight", name);
  snprintf(a.out_dir, sizeof a.out_dir, "%s", test_tpath(dir));
  snapshot sa = {0}, sb = {0};
  CU_ASSERT_EQUAL_FATAL(train(&a, NULL, NULL, &sa), 0);
  char *log_a = test_loss_log(a.out_dir);
  for (int i = 0; i < nk; i++) {
    slt_config b = *base;
    snprintf(dir, sizeof dir, "%s/split_%lld", name, (long long)ks[i]);
    snprintf(b.out_dir, sizeof b.out_dir, "%s", test_tpath(dir));
    b.train.stop_after = ks[i];
    CU_ASSERT_EQUAL_FATAL(train(&b, NULL, NULL, NULL), 0);
    char ck[SLT_CKPT_PATH];
    slt_ckpt_path(ck, sizeof ck, b.out_dir, ks[i]);
    CU_ASSERT(access(ck, F_OK) == 0); /* stop_after writes a checkpoint */
    if (edit) edit(ck);
    b.train.stop_after = 0;
    CU_ASSERT_EQUAL_FATAL(train(&b, "auto", NULL, &sb), 0);
    char *log_b = test_loss_log(b.out_dir);
    bool same_log = !strcmp(log_a, log_b), same = same_state(&sa, &sb);
    if (!same_log || !same)
      printf("\n  [%s, split at %lld] log %s, state %s\n--- straight\n%s--- split\n%s", name,
             (long long)ks[i], same_log ? "same" : "DIFFERS", same ? "same" : "DIFFERS", log_a,
             log_b);
    CU_ASSERT(same_log);
    CU_ASSERT(same);
    /* It did resume (a fresh run would reproduce the straight one bit for bit too) ... */
    if (sb.resumed_at != ks[i])
      printf("\n  [%s] resumed at %lld, expected %lld\n", name, (long long)sb.resumed_at,
             (long long)ks[i]);
    CU_ASSERT_EQUAL(sb.resumed_at, ks[i]);
    /* ... and the final checkpoints hold the same parameters and optimizer slots, bit for bit. */
    check_final_files(name, &a, &b);
    free(log_b);
    snapshot_free(&sb);
  }
  free(log_a);
  snapshot_free(&sa);
}

static void check_splits(const char *name, const slt_config *base, const int64_t *ks, int nk) {
  check_splits_edited(name, base, ks, nk, NULL);
}

static herr_t drop_sum(hid_t g, const char *name, const H5L_info_t *info, void *count) {
  (void)info;
  hid_t o = H5Oopen(g, name, H5P_DEFAULT);
  if (o >= 0 && H5Aexists(o, "xxh3_64") > 0 && H5Adelete(o, "xxh3_64") >= 0) ++*(int *)count;
  if (o >= 0) H5Oclose(o);
  return 0;
}

/* Turn a checkpoint into what format version 1 wrote: no checksums. */
static void make_v1(const char *path) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  int64_t version = 0;
  hid_t a = H5Aopen(f, "format_version", H5P_DEFAULT);
  CU_ASSERT(a >= 0 && H5Aread(a, H5T_NATIVE_INT64, &version) >= 0 && version == 2);
  version = 1;
  CU_ASSERT(H5Awrite(a, H5T_NATIVE_INT64, &version) >= 0);
  H5Aclose(a);
  int dropped = 0;
  H5Lvisit(f, H5_INDEX_NAME, H5_ITER_NATIVE, drop_sum, &dropped);
  H5Fclose(f);
  slt_ckpt ck;
  CU_ASSERT_FATAL(slt_ckpt_open(&ck, path) == 0);
  CU_ASSERT_EQUAL(ck.format_version, 1);
  int tensors = 0;
  slt_ckpt_each_tensor(&ck, count_tensor, &tensors);
  CU_ASSERT_EQUAL(dropped, 3 * tensors); /* every /model and /optim (m, v) tensor had one */
  slt_ckpt_close(&ck);
}

/* A version 1 checkpoint (before checksums) still loads, and resumes bitwise. */
static void test_resume_v1(void) {
  slt_config c;
  ckpt_tiny_config(&c, "", 6);
  int64_t ks[] = {3};
  check_splits_edited("v1", &c, ks, 1, make_v1);
}

static void test_resume_synthetic(void) {
  slt_config c;
  ckpt_tiny_config(&c, "", 8);
  /* Evals at 3, 6, 8: resume right before one (2), right after one (3), and at N/2. */
  int64_t ks[] = {2, 3, 4};
  check_splits("synthetic", &c, ks, 3);
}

/* A W4 LSQ model (learned scales are parameters, LSQ+ offsets too) on a lowrank FFN resumes
 * bitwise: scales, offsets and their optimizer state are checkpointed like any weight. */
static void test_resume_lsq(void) {
  slt_config c;
  ckpt_tiny_config(&c, "", 6);
  c.model.ffn.kind = SLT_LIN_LOWRANK, c.model.ffn.rank = 16;
  c.model.quant.weight.kind = SLT_QC_LSQ, c.model.quant.weight.bits = 4;
  c.model.quant.act.kind = SLT_QC_INT;
  snprintf(c.model.quant.rules, sizeof c.model.quant.rules, "*.fc2 w=lsq:4:minmax");
  int64_t ks[] = {3};
  check_splits("lsq", &c, ks, 1);
}

/* AdamP's state (m, v and its step) resumes bitwise too; SGDP's momentum buffer as well. */
static void test_resume_adamp_sgdp(void) {
  slt_config c;
  ckpt_tiny_config(&c, "", 6);
  c.optim.name = SLT_OPT_ADAMP;
  c.optim.weight_decay = 0.05;
  int64_t ks[] = {3};
  check_splits("adamp", &c, ks, 1);
  c.optim.name = SLT_OPT_SGDP;
  c.optim.lr = 0.05;
  c.optim.momentum = 0.9;
  check_splits("sgdp", &c, ks, 1);
}

/* Shards of a simple token process (next = (a·prev + noise) mod V) so the model has something
 * to learn; few rows, so the shuffled epochs wrap during the run. */
static void write_shards(void) {
  mkdir(test_tpath("shards"), 0777);
  slt_rng r;
  slt_rng_seed(&r, 77);
  uint32_t tok[700], prev = 1;
  const char *files[] = {"shards/train_0.bin", "shards/train_1.bin", "shards/val_0.bin"};
  int sizes[] = {700, 400, 300};
  for (int f = 0; f < 3; f++) {
    for (int i = 0; i < sizes[f]; i++)
      tok[i] = prev = (5 * prev + (uint32_t)slt_rng_below(&r, 3)) % 64;
    CU_ASSERT_EQUAL_FATAL(slt_shard_write(test_tpath(files[f]), tok, sizes[f], 2), 0);
  }
}

static void test_resume_shards(void) {
  write_shards();
  slt_config c;
  ckpt_tiny_config(&c, "", 10);
  c.data.source = SLT_DATA_SHARDS;
  c.data.shuffle = true;
  c.train.log_every = 2; /* the stops (odd steps) show progress but add no record */
  snprintf(c.data.train, sizeof c.data.train, "%s", test_tpath("shards/train_*.bin"));
  snprintf(c.data.val, sizeof c.data.val, "%s", test_tpath("shards/val_*.bin"));
  int64_t ks[] = {5, 3};
  check_splits("shards", &c, ks, 2);
}

/* --resume PATH from an older checkpoint: the log is cut back to it, steps are not repeated. */
static void test_resume_path_trims_log(void) {
  slt_config c;
  ckpt_tiny_config(&c, test_tpath("trim"), 8);
  c.train.ckpt_every = 2, c.train.stop_after = 6;
  CU_ASSERT_EQUAL_FATAL(train(&c, NULL, NULL, NULL), 0);
  c.train.stop_after = 0;
  CU_ASSERT_EQUAL_FATAL(train(&c, test_tpath("trim/ckpt_00000002.h5"), NULL, NULL), 0);
  char *log = test_loss_log(c.out_dir), *straight = test_loss_log(test_tpath("synthetic/straight"));
  CU_ASSERT_STRING_EQUAL(log, straight); /* steps 1..8 once each, same numbers */
  free(log);
  free(straight);
}

static void test_stops_write_checkpoints(void) {
  slt_config c;
  ckpt_tiny_config(&c, test_tpath("signal"), 8);
  volatile sig_atomic_t stop = 1; /* as if SIGINT arrived during the first step */
  snapshot s = {0};
  CU_ASSERT_EQUAL_FATAL(train(&c, NULL, &stop, &s), 0);
  CU_ASSERT_EQUAL(s.step, 1);
  CU_ASSERT(access(test_tpath("signal/ckpt_00000001.h5"), F_OK) == 0);
  snapshot_free(&s);
  ckpt_tiny_config(&c, test_tpath("time"), 8);
  c.train.time_limit = 1e-6; /* already over after the first step */
  CU_ASSERT_EQUAL_FATAL(train(&c, NULL, NULL, &s), 0);
  CU_ASSERT_EQUAL(s.step, 1);
  CU_ASSERT(access(test_tpath("time/ckpt_00000001.h5"), F_OK) == 0);
  snapshot_free(&s);
  c.train.time_limit = 3600; /* resumes and finishes well within it */
  CU_ASSERT_EQUAL_FATAL(train(&c, "auto", NULL, &s), 0);
  CU_ASSERT_EQUAL(s.step, 8);
  CU_ASSERT(access(test_tpath("time/ckpt_00000008.h5"), F_OK) == 0);
  snapshot_free(&s);
}

/* slt_train tells a stop on the flag (slt train exits 3 on it) from a finished run, a
 * time_limit stop, and a flag raised during the last step (the run is complete then). */
static void test_interrupted_result(void) {
  slt_config c;
  slt_train_result r;
  volatile sig_atomic_t stop = 1;
  slt_train_opts opts = {.stop = &stop};
  ckpt_tiny_config(&c, test_tpath("flag"), 8);
  test_quiet(true);
  int rc = slt_train(&c, &opts, &r);
  test_quiet(false);
  CU_ASSERT(rc == 0 && r.interrupted && r.steps == 1);
  ckpt_tiny_config(&c, test_tpath("flag_time"), 8);
  c.train.time_limit = 1e-6;
  test_quiet(true);
  rc = slt_train(&c, NULL, &r);
  test_quiet(false);
  CU_ASSERT(rc == 0 && !r.interrupted && r.steps == 1);
  ckpt_tiny_config(&c, test_tpath("flag_last"), 1);
  test_quiet(true);
  rc = slt_train(&c, &opts, &r);
  test_quiet(false);
  CU_ASSERT(rc == 0 && !r.interrupted && r.steps == 1);
}

/* A peak measured while the machine was busy (here: made absurdly low) is measured again once
 * the training rate exceeds it, so MFU is not reported above 100%. */
static void test_low_peak_measured_again(void) {
  slt_config c;
  ckpt_tiny_config(&c, test_tpath("peak"), 3);
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init(&t, &c);
  double measured = t.peak_gflops;
  t.peak_gflops = 1e-6;
  if (!rc) rc = slt_trainer_run(&t, NULL);
  test_quiet(false);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(measured > 1.0);
  CU_ASSERT(t.peak_gflops > 1.0); /* a real sgemm rate again, not the planted one */
  slt_trainer_free(&t);
}

/* ---- generation ---- */

/* Logits of the KV-cache forward (prefill 5, then one token at a time) against the full
 * forward's, position by position. */
static void check_kv(const char *label, slt_model_config g) {
  slt_gpt m;
  CU_ASSERT_EQUAL_FATAL(slt_gpt_build(&m, &g), 0);
  slt_gpt_init_weights(&m, 3);
  int T = g.seq_len, V = g.vocab_size, P = 5;
  int32_t ids[32];
  slt_rng r;
  slt_rng_seed(&r, 4);
  for (int t = 0; t < T; t++) ids[t] = (int32_t)slt_rng_below(&r, (uint64_t)V);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  float *ref = malloc((size_t)T * V * sizeof *ref);
  slt_tensor *full = slt_gpt_logits(&m, &c, ids, 1, T, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(full);
  memcpy(ref, full->data, (size_t)T * V * sizeof *ref);
  slt_ctx_reset(&c);
  slt_gpt_kv kv;
  CU_ASSERT_EQUAL_FATAL(slt_gpt_kv_init(&kv, &m, T), 0);
  double worst = 0, scale = 1;
  for (int i = 0; i < T * V; i++) scale = fmax(scale, fabs(ref[i]));
  for (int t = 0; t < T;) {
    int n = t == 0 ? P : 1;
    slt_tensor *l = slt_gpt_forward_cached(&m, &c, &kv, ids + t, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    for (int i = 0; i < n * V; i++) worst = fmax(worst, fabs(l->data[i] - ref[(size_t)t * V + i]));
    slt_ctx_reset(&c);
    t += n;
  }
  CU_ASSERT_PTR_NULL(slt_gpt_forward_cached(&m, &c, &kv, ids, 1)); /* the cache is full */
  if (worst / scale > 1e-5 || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] KV-cache logits max abs err %.2e (logits up to %.2f)\n", label, worst, scale);
  CU_ASSERT(worst / scale <= 1e-5);
  slt_gpt_kv_free(&kv);
  slt_ctx_free(&c);
  free(ref);
  slt_gpt_free(&m);
}

static void test_kv_cache(void) {
  slt_model_config g = {.vocab_size = 50,
                      .seq_len = 12,
                      .layers = 2,
                      .d_model = 32,
                      .heads = 4,
                      .kv_heads = 4,
                      .ffn_dim = 48,
                      .norm = SLT_NORM_LAYERNORM,
                      .norm_eps = 1e-5f,
                      .pos = SLT_POS_ROPE,
                      .rope_base = 1e4f,
                      .act = SLT_ACT_GELU_TANH,
                      .bias = true,
                      .tie_embeddings = true,
                      .init_std = 0.3f};
  check_kv("layernorm rope gelu", g);
  g.norm = SLT_NORM_RMSNORM, g.act = SLT_ACT_SWIGLU, g.bias = false, g.kv_heads = 2;
  g.tie_embeddings = false;
  check_kv("rmsnorm swiglu GQA untied", g);
  g = (slt_model_config){.vocab_size = 40,
                       .seq_len = 10,
                       .layers = 3,
                       .d_model = 24,
                       .heads = 3,
                       .kv_heads = 3,
                       .ffn_dim = 40,
                       .norm_eps = 1e-5f,
                       .pos = SLT_POS_LEARNED,
                       .rope_base = 1e4f,
                       .act = SLT_ACT_RELU2,
                       .bias = true,
                       .tie_embeddings = true,
                       .init_std = 0.3f};
  check_kv("learned positions relu2", g);
}

static void test_sampling(void) {
  float logits[6] = {0.1f, 2.0f, -1.0f, 1.9f, 0.0f, 2.0f};
  slt_rng a, b;
  slt_rng_seed(&a, 9);
  CU_ASSERT_EQUAL(slt_model_sample(logits, 6, 0.0f, 0, &a), 1); /* argmax, first of ties */
  CU_ASSERT_EQUAL(slt_model_sample(logits, 6, 1.0f, 1, &a), 1);
  int hist[6] = {0};
  slt_rng_seed(&a, 9), slt_rng_seed(&b, 9);
  for (int i = 0; i < 2000; i++) {
    int x = slt_model_sample(logits, 6, 1.0f, 3, &a);
    CU_ASSERT_EQUAL(x, slt_model_sample(logits, 6, 1.0f, 3, &b)); /* same seed, same draws */
    hist[x]++;
  }
  CU_ASSERT(hist[0] == 0 && hist[2] == 0 && hist[4] == 0); /* outside the top 3 */
  CU_ASSERT(hist[1] > 500 && hist[3] > 500 && hist[5] > 500);
}

static int register_resume_tests(CU_pSuite s) {
  return !CU_add_test(s, "resume is bitwise identical: synthetic, grad accum, around evals",
                      test_resume_synthetic) ||
         !CU_add_test(s, "resume is bitwise identical: shuffled shards", test_resume_shards) ||
         !CU_add_test(s, "resume is bitwise identical: AdamP and SGDP", test_resume_adamp_sgdp) ||
         !CU_add_test(s, "resume is bitwise identical: W4 LSQ (learned scales)", test_resume_lsq) ||
         !CU_add_test(s, "a version 1 checkpoint (no checksums) loads and resumes",
                      test_resume_v1) ||
         !CU_add_test(s, "resume from a path cuts the metrics log back",
                      test_resume_path_trims_log) ||
         !CU_add_test(s, "signal and time limit stop with a checkpoint",
                      test_stops_write_checkpoints) ||
         !CU_add_test(s, "slt_train reports a stop on the flag", test_interrupted_result) ||
         !CU_add_test(s, "a low sgemm peak is measured again", test_low_peak_measured_again) ||
         !CU_add_test(s, "KV-cache logits equal the full forward", test_kv_cache) ||
         !CU_add_test(s, "sampling: argmax, top-k, determinism", test_sampling);
}

static int suite_init_ckpt(void) {
  return test_tmpdir_init("ckpt");
}

int register_checkpoint_suite(void) {
  CU_pSuite s = CU_add_suite("checkpoint", suite_init_ckpt, test_tmpdir_cleanup);
  if (!s) return -1;
  return !CU_add_test(s, "save, open, read back bitwise", test_round_trip) ||
         !CU_add_test(s, "checkpoint names", test_names) ||
         !CU_add_test(s, "latest skips incomplete and temporary files",
                      test_latest_skips_incomplete) ||
         !CU_add_test(s, "prune keeps the newest and removes stale temporaries", test_prune) ||
         register_resume_tests(s);
}
