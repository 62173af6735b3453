/* HDF5 checkpoints: round trip, names, the newest complete checkpoint, pruning, one clear error
 * per kind of bad file, bitwise-identical resume through the trainer (gradient accumulation,
 * shuffled shards, either side of an eval, metrics log cut back), stop_after / time_limit /
 * signal stops writing a checkpoint, and generation's KV cache against the full forward.
 * Files live in a mkdtemp directory. */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "data/shard.h"
#include "layers/gpt.h"
#include "optim/adamw.h"
#include "train/checkpoint.h"
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






static void copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  char buf[65536];
  size_t n;
  while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
  if (a) fclose(a);
  if (b) fclose(b);
}

/* A tiny synthetic run: 2 layers, d 32, T 16, grad accumulation 2, eval every 3 steps. */
static void tiny_config(slt_config *c, const char *out_dir, int64_t steps) {
  slt_config_defaults(c);
  snprintf(c->out_dir, sizeof c->out_dir, "%s", out_dir);
  c->seed = 11;
  c->model.vocab_size = 64, c->model.seq_len = 16, c->model.layers = 2;
  c->model.d_model = 32, c->model.heads = 4, c->model.ffn_dim = 64;
  c->data.source = SLT_DATA_SYNTHETIC;
  c->data.synthetic.seed = 3;
  c->optim.lr = 3e-3;
  c->train.steps = steps, c->train.micro_batch = 4, c->train.grad_accum = 2;
  c->train.eval_every = 3, c->train.eval_batches = 2, c->train.ckpt_every = 0;
  c->train.keep_last = 0, c->train.threads = 2, c->train.log_every = 1;
}

/* ---- round trip and names ---- */

typedef struct {
  slt_gpt m;
  slt_adamw o;
  slt_loader_cursor cur[2];
  slt_rng rng[2];
} fake_run;

static void fake_build(fake_run *f, const slt_config *c, uint64_t seed) {
  slt_gpt_config g;
  slt_trainer_model_config(c, &g);
  CU_ASSERT_EQUAL_FATAL(slt_gpt_build(&f->m, &g), 0);
  slt_gpt_init_weights(&f->m, seed);
  CU_ASSERT_EQUAL_FATAL(slt_adamw_init(&f->o, &f->m.params, 0.9f, 0.95f, 1e-8f), 0);
  slt_rng r;
  slt_rng_seed(&r, seed + 1);
  slt_rng_fill_normal(&r, f->o.m, f->o.numel, 0.0f, 1.0f);
  slt_rng_fill_uniform(&r, f->o.v, f->o.numel, 0.0f, 1.0f);
  f->o.step = 7;
  for (int i = 0; i < 2; i++) {
    f->cur[i] = (slt_loader_cursor){.step = 7, .rows = 56, .seed = 11};
    slt_rng_seed(&f->rng[i], seed + 2 + i);
  }
}

static void fake_free(fake_run *f) {
  slt_adamw_free(&f->o);
  slt_gpt_free(&f->m);
}

static slt_ckpt_data fake_data(fake_run *f, const slt_config *c, int world) {
  return (slt_ckpt_data){.cfg = c,
                         .params = &f->m.params,
                         .optim = {.name = "adamw",
                                   .step = f->o.step,
                                   .nslots = 2,
                                   .slot_names = {"m", "v"},
                                   .slots = {f->o.m, f->o.v}},
                         .state = {.step = 7,
                                   .tokens = 7 * 128,
                                   .world = world,
                                   .cursors = f->cur,
                                   .nrngs = 1,
                                   .rng_names = {"trainer"},
                                   .rngs = {f->rng}}};
}

static int count_tensor(const char *name, int ndim, const int64_t *shape, void *user) {
  (void)name, (void)ndim, (void)shape;
  ++*(int *)user;
  return 0;
}

static void test_round_trip(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("rt"), 10);
  mkdir(cfg.out_dir, 0777);
  fake_run a, b;
  fake_build(&a, &cfg, 1);
  fake_build(&b, &cfg, 2);
  slt_ckpt_data d = fake_data(&a, &cfg, 1);
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
  CU_ASSERT_EQUAL(slt_ckpt_read_params(&ck, &b.m.params), 0);
  CU_ASSERT_EQUAL(slt_ckpt_read_optim(&ck, &b.m.params, &o), 0);
  CU_ASSERT_EQUAL(o.step, 7);
  size_t bytes = (size_t)a.m.params.numel * sizeof(float);
  CU_ASSERT(!memcmp(a.m.params.data, b.m.params.data, bytes));
  CU_ASSERT(!memcmp(a.o.m, b.o.m, bytes));
  CU_ASSERT(!memcmp(a.o.v, b.o.v, bytes));
  int n = 0;
  CU_ASSERT_EQUAL(slt_ckpt_each_tensor(&ck, count_tensor, &n), 0);
  CU_ASSERT_EQUAL(n, a.m.params.count);
  slt_ckpt_close(&ck);
  /* A directory that does not exist: an error naming the file, nothing left behind. */
  CU_ASSERT(slt_ckpt_save(test_tpath("rt/missing"), &d, path, sizeof path) == -1 &&
            test_err_has("rt/missing/.ckpt_00000007.h5.tmp", "cannot write the checkpoint"));
  fake_free(&a);
  fake_free(&b);
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

/* ---- latest, prune, bad files ---- */

/* Write a checkpoint at dir/ckpt_<step>.h5 from a fake run. */
static void fake_save(const char *dir, int64_t step) {
  slt_config cfg;
  tiny_config(&cfg, dir, 10);
  mkdir(dir, 0777);
  fake_run f;
  fake_build(&f, &cfg, 1);
  slt_ckpt_data d = fake_data(&f, &cfg, 1);
  d.state.step = step;
  f.cur[0].step = step, f.cur[0].rows = step * 8;
  CU_ASSERT_EQUAL(slt_ckpt_save(dir, &d, NULL, 0), 0);
  fake_free(&f);
}

/* Edit an HDF5 file in place: delete a link or an attribute of the root. */
static void h5_delete(const char *path, const char *link, const char *attr) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  if (link) CU_ASSERT(H5Ldelete(f, link, H5P_DEFAULT) >= 0);
  if (attr) CU_ASSERT(H5Adelete(f, attr) >= 0);
  H5Fclose(f);
}

static void test_latest_skips_incomplete(void) {
  char dir[512];
  snprintf(dir, sizeof dir, "%s", test_tpath("latest"));
  char path[SLT_CKPT_PATH], skipped[2048];
  CU_ASSERT_EQUAL(slt_ckpt_latest(dir, path, sizeof path, skipped, sizeof skipped), 0);
  fake_save(dir, 1);
  fake_save(dir, 2);
  /* Newer names that must not be taken: truncated, not HDF5, no completion marker, and a
   * complete file under a temporary name. */
  truncate(test_tpath("latest/ckpt_00000002.h5"), 0);
  fake_save(dir, 2);
  copy_file(test_tpath("latest/ckpt_00000002.h5"), test_tpath("latest/ckpt_00000003.h5"));
  truncate(test_tpath("latest/ckpt_00000003.h5"), 4000);
  FILE *f = fopen(test_tpath("latest/ckpt_00000004.h5"), "w");
  fputs("not hdf5\n", f);
  fclose(f);
  copy_file(test_tpath("latest/ckpt_00000002.h5"), test_tpath("latest/ckpt_00000005.h5"));
  h5_delete(test_tpath("latest/ckpt_00000005.h5"), NULL, "complete");
  copy_file(test_tpath("latest/ckpt_00000002.h5"), test_tpath("latest/.ckpt_00000009.h5.tmp"));
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
  for (int s = 1; s <= 5; s++) fake_save(dir, s);
  copy_file(test_tpath("prune/ckpt_00000001.h5"), test_tpath("prune/.ckpt_00000006.h5.tmp"));
  CU_ASSERT_EQUAL(slt_ckpt_prune(dir, 2), 4); /* three old checkpoints and the stale temporary */
  CU_ASSERT(access(test_tpath("prune/ckpt_00000005.h5"), F_OK) == 0);
  CU_ASSERT(access(test_tpath("prune/ckpt_00000004.h5"), F_OK) == 0);
  CU_ASSERT(access(test_tpath("prune/ckpt_00000003.h5"), F_OK) != 0);
  CU_ASSERT(access(test_tpath("prune/.ckpt_00000006.h5.tmp"), F_OK) != 0);
  CU_ASSERT_EQUAL(slt_ckpt_prune(dir, 0), 0);
}

/* Open path and read its tensors into a tiny model; -1 with the error recorded on failure. */
static int open_and_read(const char *path, const slt_config *cfg) {
  fake_run f;
  fake_build(&f, cfg, 5);
  slt_ckpt ck;
  int rc = slt_ckpt_open(&ck, path);
  if (!rc) {
    slt_ckpt_optim o = {
        .name = "adamw", .nslots = 2, .slot_names = {"m", "v"}, .slots = {f.o.m, f.o.v}};
    rc = slt_ckpt_check_model(&ck, cfg) || slt_ckpt_read_params(&ck, &f.m.params) ||
                 slt_ckpt_read_optim(&ck, &f.m.params, &o)
             ? -1
             : 0;
    slt_ckpt_close(&ck);
  }
  fake_free(&f);
  return rc;
}

/* A copy of a good checkpoint under a new name. */
static const char *variant(const char *name) {
  const char *p = test_tpath(name);
  copy_file(test_tpath("bad/ckpt_00000003.h5"), p);
  return p;
}

static void test_bad_files(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("bad"), 10);
  fake_save(cfg.out_dir, 3);
  /* Everything HDF5 would print goes to stderr: capture it to check it stays silent. */
  fflush(stderr);
  int saved = dup(2), cap = open(test_tpath("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  dup2(cap, 2);
  CU_ASSERT_EQUAL(open_and_read(variant("bad/good.h5"), &cfg), 0);
  const char *p = variant("bad/text.h5");
  FILE *f = fopen(p, "w");
  fputs("hello\n", f);
  fclose(f);
  CU_ASSERT(open_and_read(p, &cfg) == -1 && test_err_has(p, "not an HDF5 file"));
  p = variant("bad/trunc.h5");
  struct stat st;
  stat(p, &st);
  truncate(p, st.st_size / 2);
  CU_ASSERT(open_and_read(p, &cfg) == -1 && test_err_has(p, "truncated"));
  p = variant("bad/nomodel.h5");
  h5_delete(p, "model/blocks.1.attn.qkv.weight", NULL);
  CU_ASSERT(
      open_and_read(p, &cfg) == -1 &&
      test_err_has(p, "missing dataset /model/blocks.1.attn.qkv.weight (expected float32 (96, 32))"));
  p = variant("bad/noslot.h5");
  h5_delete(p, "optim/wte.weight/v", NULL);
  CU_ASSERT(open_and_read(p, &cfg) == -1 && test_err_has(p, "missing dataset /optim/wte.weight/v"));
  p = variant("bad/shape.h5");
  h5_delete(p, "model/ln_f.weight", NULL);
  hid_t h = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  hsize_t dim = 16;
  hid_t sp = H5Screate_simple(1, &dim, NULL);
  H5Dclose(H5Dcreate2(h, "model/ln_f.weight", H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT,
                      H5P_DEFAULT));
  H5Sclose(sp);
  H5Fclose(h);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, "/model/ln_f.weight has shape (16), expected (32)"));
  p = variant("bad/incomplete.h5");
  h5_delete(p, NULL, "complete");
  CU_ASSERT(open_and_read(p, &cfg) == -1 && test_err_has(p, "incomplete checkpoint"));
  slt_config other = cfg;
  other.model.layers = 3, other.model.d_model = 48;
  CU_ASSERT(open_and_read(test_tpath("bad/good.h5"), &other) == -1 &&
            test_err_has("model.layers (2 vs 3)", "model.d_model (32 vs 48)"));
  CU_ASSERT(open_and_read(test_tpath("bad/none.h5"), &cfg) == -1 &&
            test_err_has(test_tpath("bad/none.h5"), "No such file"));
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  close(cap);
  stat(test_tpath("stderr.txt"), &st);
  CU_ASSERT_EQUAL(st.st_size, 0); /* HDF5 printed nothing of its own */
}

/* ---- damaged contents: each a clear error naming the file and the dataset or attribute ---- */

/* Replace (or create) the dataset path/name by one of type with the given shape and data. */
static void h5_put_dataset(const char *path, const char *name, hid_t type, int ndim,
                           const hsize_t *dims, const void *data) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  if (H5Lexists(f, name, H5P_DEFAULT) > 0) H5Ldelete(f, name, H5P_DEFAULT);
  hid_t sp = ndim ? H5Screate_simple(ndim, dims, NULL) : H5Screate(H5S_SCALAR);
  hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT(d >= 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  H5Dclose(d);
  H5Sclose(sp);
  H5Fclose(f);
}

/* Replace (or create) the attribute obj:name: n elements of type (n = 0: a scalar). */
static void h5_put_attr(const char *path, const char *obj, const char *name, hid_t type, int n,
                        const void *data) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  hid_t o = H5Oopen(f, obj, H5P_DEFAULT);
  if (H5Aexists(o, name) > 0) H5Adelete(o, name);
  hsize_t dim = (hsize_t)n;
  hid_t sp = n ? H5Screate_simple(1, &dim, NULL) : H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(o, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT(a >= 0 && H5Awrite(a, type, data) >= 0);
  H5Aclose(a);
  H5Sclose(sp);
  H5Oclose(o);
  H5Fclose(f);
}

static void h5_put_i64(const char *path, const char *obj, const char *name, int64_t v) {
  h5_put_attr(path, obj, name, H5T_NATIVE_INT64, 0, &v);
}

/* Replace the root attribute config by n variable-length strings. */
static void h5_put_config(const char *path, const char **texts, int n) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  h5_put_attr(path, "/", "config", t, n, texts);
  H5Tclose(t);
}

/* The YAML of c (malloc'd). */
static char *yaml_of(const slt_config *c) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  slt_config_write(c, f);
  fclose(f);
  return buf;
}

/* A variant whose stored config is cfg with edit applied. */
static const char *config_variant(const char *name, const slt_config *cfg,
                                  void (*edit)(slt_config *)) {
  const char *p = variant(name);
  slt_config c = *cfg;
  edit(&c);
  const char *text = yaml_of(&c);
  h5_put_config(p, &text, 1);
  free((void *)text);
  return p;
}

static void wider(slt_config *c) { c->model.d_model = 48; }
static void deeper(slt_config *c) { c->model.layers = 100000000; }
static void odd_heads(slt_config *c) { c->model.heads = 3; }

/* Open only: the header, config and state checks. */
static bool open_fails(const char *path) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, path)) return true;
  slt_ckpt_close(&ck);
  return false;
}

/* Several strings where one is expected: reading them overflowed a one-string buffer. */
static void test_bad_string_attrs(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("bad"), 10);
  fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/config_array.h5");
  char *yaml = yaml_of(&cfg);
  const char *two[2] = {yaml, yaml};
  h5_put_config(p, two, 2);
  free(yaml);
  CU_ASSERT(open_fails(p) && test_err_has(p, "root attribute 'config' is missing or not a string"));
  p = variant("bad/format_array.h5");
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, 14);
  h5_put_attr(p, "/", "format", t, 2, "slt-checkpointslt-checkpoint");
  H5Tclose(t);
  CU_ASSERT(open_fails(p) && test_err_has(p, "not an slt checkpoint"));
}

/* A stored config that does not describe the stored tensors. */
static void test_bad_stored_config(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("bad"), 10);
  fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/config_empty.h5"), *blank = " \n";
  h5_put_config(p, &blank, 1);
  CU_ASSERT(open_fails(p) && test_err_has(p, "root attribute 'config' is empty"));
  p = variant("bad/config_deep.h5");
  char *deep = malloc(4 * 2000 + 8);
  int k = sprintf(deep, "a: ");
  for (int i = 0; i < 2000; i++) deep[k++] = '[';
  for (int i = 0; i < 2000; i++) deep[k++] = ']';
  deep[k] = '\0';
  h5_put_config(p, (const char **)&deep, 1);
  free(deep);
  CU_ASSERT(open_fails(p) && test_err_has(p, "'config' is nested too deep"));
  p = config_variant("bad/config_wider.h5", &cfg, wider);
  CU_ASSERT(open_fails(p) &&
            test_err_has("/model/wte.weight has another shape", "model.d_model 48 (expected "
                                                                "shape (64, 48))"));
  p = config_variant("bad/config_deeper.h5", &cfg, deeper);
  CU_ASSERT(open_fails(p) && test_err_has(p, "model.layers 100000000"));
  p = config_variant("bad/config_heads.h5", &cfg, odd_heads);
  CU_ASSERT(open_fails(p) && test_err_has(p, "stored config: model.heads (3) must divide"));
}

/* Attributes out of range or of the wrong type, which the trainer would run on. */
static void test_bad_counts(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("bad"), 10);
  fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/optim_step.h5");
  h5_put_i64(p, "optim", "step", INT64_MAX);
  CU_ASSERT(open_fails(p) && test_err_has(p, "attribute /optim:step is 9223372036854775807"));
  p = variant("bad/tokens.h5");
  h5_put_i64(p, "state", "tokens", -5);
  CU_ASSERT(open_fails(p) && test_err_has(p, "attribute /state:tokens is -5, expected"));
  p = variant("bad/world_float.h5");
  double one = 1;
  h5_put_attr(p, "state", "world", H5T_NATIVE_DOUBLE, 0, &one);
  CU_ASSERT(open_fails(p) && test_err_has(p, "attribute /state:world is not an integer scalar"));
  p = variant("bad/guided.h5");
  h5_put_i64(p, "state", "sgt_guided_steps", -1);
  CU_ASSERT(open_fails(p) && test_err_has(p, "attribute /state:sgt_guided_steps is -1"));
}

/* RNG states and data cursors that HDF5 would convert into made-up values. */
static void test_bad_state_datasets(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("bad"), 10);
  fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/rng_float.h5");
  hsize_t dims[2] = {1, 4};
  double d[4] = {1.5, 2.5, 3.5, 4.5};
  h5_put_dataset(p, "state/rng/trainer", H5T_NATIVE_DOUBLE, 2, dims, d);
  CU_ASSERT(open_fails(p) && test_err_has(p, "/state/rng/trainer is not a uint64 (1, 4) dataset"));
  p = variant("bad/rng_zero.h5");
  uint64_t z[4] = {0};
  h5_put_dataset(p, "state/rng/trainer", H5T_NATIVE_UINT64, 2, dims, z);
  CU_ASSERT(open_fails(p) && test_err_has(p, "/state/rng/trainer row 0 is all zeros"));
  p = variant("bad/rng_many.h5");
  uint64_t one[4] = {1, 2, 3, 4};
  const char *names[] = {"state/rng/a", "state/rng/b", "state/rng/c", "state/rng/d"};
  for (int i = 0; i < 4; i++) h5_put_dataset(p, names[i], H5T_NATIVE_UINT64, 2, dims, one);
  CU_ASSERT(open_fails(p) && test_err_has(p, "expected at most 4 RNG datasets"));
  p = variant("bad/cursor_fields.h5");
  hid_t t = H5Tcreate(H5T_COMPOUND, 2 * sizeof(int64_t));
  H5Tinsert(t, "step", 0, H5T_NATIVE_INT64);
  H5Tinsert(t, "micro_step", sizeof(int64_t), H5T_NATIVE_INT64);
  int64_t cur[2] = {3, 0};
  hsize_t n = 1;
  h5_put_dataset(p, "state/data_cursor", t, 1, &n, cur);
  H5Tclose(t);
  CU_ASSERT(open_fails(p) && test_err_has(p, "/state/data_cursor lacks the integer member 'rows'"));
}

/* Tensors: non-finite values, entries that are not float datasets, extra optimizer state. */
static void test_bad_tensors(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("bad"), 10);
  fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/nan.h5");
  float ln[32];
  for (int i = 0; i < 32; i++) ln[i] = i == 3 ? NAN : 1.0f;
  hsize_t dim = 32, wte[2] = {64, 32};
  h5_put_dataset(p, "model/ln_f.weight", H5T_NATIVE_FLOAT, 1, &dim, ln);
  CU_ASSERT(open_and_read(p, &cfg) == -1 && test_err_has(p, "/model/ln_f.weight holds NaN at index 3"));
  p = variant("bad/inf.h5");
  float *v = calloc(64 * 32, sizeof *v);
  v[0] = INFINITY;
  h5_put_dataset(p, "optim/wte.weight/v", H5T_NATIVE_FLOAT, 2, wte, v);
  free(v);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, "/optim/wte.weight/v holds Inf at index 0"));
  p = variant("bad/int_tensor.h5");
  int32_t iv[32] = {0};
  h5_put_dataset(p, "model/ln_f.bias", H5T_NATIVE_INT32, 1, &dim, iv);
  CU_ASSERT(open_fails(p) && test_err_has(p, "/model/ln_f.bias is not a float32 tensor dataset"));
  p = variant("bad/model_dataset.h5");
  h5_delete(p, "model", NULL);
  int32_t x = 1;
  h5_put_dataset(p, "model", H5T_NATIVE_INT32, 0, NULL, &x);
  CU_ASSERT(open_fails(p) && test_err_has(p, "/model is not a group"));
  p = variant("bad/optim_extra.h5");
  hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  H5Gclose(H5Gcreate2(f, "optim/bogus.weight", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  H5Fclose(f);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, "/optim/bogus.weight is not a parameter of this model"));
}

static void test_world_size_refused(void) {
  slt_config cfg;
  tiny_config(&cfg, test_tpath("world"), 10);
  mkdir(cfg.out_dir, 0777);
  fake_run f;
  fake_build(&f, &cfg, 1);
  slt_ckpt_data d = fake_data(&f, &cfg, 2);
  char path[SLT_CKPT_PATH];
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_save(cfg.out_dir, &d, path, sizeof path), 0);
  fake_free(&f);
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init_resume(&t, &cfg, "auto");
  test_quiet(false);
  CU_ASSERT(rc == -1 && test_err_has(path, "2 ranks"));
  slt_trainer_free(&t);
}

/* ---- resume through the trainer ---- */

typedef struct {
  float *p, *m, *v;
  int64_t n, step, tokens, opt_step;
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
    size_t bytes = (size_t)t.model.params.numel * sizeof(float);
    *out = (snapshot){malloc(bytes), malloc(bytes), malloc(bytes), t.model.params.numel,
                      t.step,        t.tokens,      slt_optim_get_step(t.opt)};
    float *slots[SLT_OPTIM_MAX_SLOTS];
    int nslots = slt_optim_slots(t.opt, NULL, slots); /* adam*: m, v; sgd*: buf */
    memcpy(out->p, t.model.params.data, bytes);
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

/* Train base's run straight and split at each k (stop_after k, then --resume auto): the loss
 * log and the final parameters and optimizer state must be bitwise the same. */
static void check_splits(const char *name, const slt_config *base, const int64_t *ks, int nk) {
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
    free(log_b);
    snapshot_free(&sb);
  }
  free(log_a);
  snapshot_free(&sa);
}

static void test_resume_synthetic(void) {
  slt_config c;
  tiny_config(&c, "", 8);
  /* Evals at 3, 6, 8: resume right before one (2), right after one (3), and at N/2. */
  int64_t ks[] = {2, 3, 4};
  check_splits("synthetic", &c, ks, 3);
}

/* AdamP's state (m, v and its step) resumes bitwise too; SGDP's momentum buffer as well. */
static void test_resume_adamp_sgdp(void) {
  slt_config c;
  tiny_config(&c, "", 6);
  c.optim.name = SLT_OPTIM_ADAMP;
  c.optim.weight_decay = 0.05;
  int64_t ks[] = {3};
  check_splits("adamp", &c, ks, 1);
  c.optim.name = SLT_OPTIM_SGDP;
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
  tiny_config(&c, "", 10);
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
  tiny_config(&c, test_tpath("trim"), 8);
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
  tiny_config(&c, test_tpath("signal"), 8);
  volatile sig_atomic_t stop = 1; /* as if SIGINT arrived during the first step */
  snapshot s = {0};
  CU_ASSERT_EQUAL_FATAL(train(&c, NULL, &stop, &s), 0);
  CU_ASSERT_EQUAL(s.step, 1);
  CU_ASSERT(access(test_tpath("signal/ckpt_00000001.h5"), F_OK) == 0);
  snapshot_free(&s);
  tiny_config(&c, test_tpath("time"), 8);
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

/* A peak measured while the machine was busy (here: made absurdly low) is measured again once
 * the training rate exceeds it, so MFU is not reported above 100%. */
static void test_low_peak_measured_again(void) {
  slt_config c;
  tiny_config(&c, test_tpath("peak"), 3);
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
static void check_kv(const char *label, slt_gpt_config g) {
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
  slt_gpt_config g = {.vocab_size = 50,
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
  g = (slt_gpt_config){.vocab_size = 40,
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
  CU_ASSERT_EQUAL(slt_gpt_sample(logits, 6, 0.0f, 0, &a), 1); /* argmax, first of ties */
  CU_ASSERT_EQUAL(slt_gpt_sample(logits, 6, 1.0f, 1, &a), 1);
  int hist[6] = {0};
  slt_rng_seed(&a, 9), slt_rng_seed(&b, 9);
  for (int i = 0; i < 2000; i++) {
    int x = slt_gpt_sample(logits, 6, 1.0f, 3, &a);
    CU_ASSERT_EQUAL(x, slt_gpt_sample(logits, 6, 1.0f, 3, &b)); /* same seed, same draws */
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
         !CU_add_test(s, "resume from a path cuts the metrics log back",
                      test_resume_path_trims_log) ||
         !CU_add_test(s, "signal and time limit stop with a checkpoint",
                      test_stops_write_checkpoints) ||
         !CU_add_test(s, "a low sgemm peak is measured again", test_low_peak_measured_again) ||
         !CU_add_test(s, "KV-cache logits equal the full forward", test_kv_cache) ||
         !CU_add_test(s, "sampling: argmax, top-k, determinism", test_sampling);
}

static int suite_init_ckpt(void) { return test_tmpdir_init("ckpt"); }

int register_checkpoint_suite(void) {
  CU_pSuite s = CU_add_suite("checkpoint", suite_init_ckpt, test_tmpdir_cleanup);
  if (!s) return -1;
  return !CU_add_test(s, "save, open, read back bitwise", test_round_trip) ||
         !CU_add_test(s, "checkpoint names", test_names) ||
         !CU_add_test(s, "latest skips incomplete and temporary files",
                      test_latest_skips_incomplete) ||
         !CU_add_test(s, "prune keeps the newest and removes stale temporaries", test_prune) ||
         !CU_add_test(s, "bad checkpoints: one clear error each", test_bad_files) ||
         !CU_add_test(s, "bad checkpoints: string attributes of several strings",
                      test_bad_string_attrs) ||
         !CU_add_test(s, "bad checkpoints: a stored config that does not fit the tensors",
                      test_bad_stored_config) ||
         !CU_add_test(s, "bad checkpoints: counts out of range or not integers", test_bad_counts) ||
         !CU_add_test(s, "bad checkpoints: RNG and cursor datasets", test_bad_state_datasets) ||
         !CU_add_test(s, "bad checkpoints: non-finite, non-float and extra tensors",
                      test_bad_tensors) ||
         !CU_add_test(s, "another world size is refused", test_world_size_refused) ||
         register_resume_tests(s);
}
