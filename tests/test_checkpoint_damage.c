/* Damaged checkpoints: each kind of bad file, attribute, dataset, stored config and tensor is
 * one clear error naming the file and what was expected; a byte flipped in tensor data fails
 * its checksum; a checkpoint of another world size is refused. Files live in a mkdtemp
 * directory. */
#define _GNU_SOURCE /* mkdtemp */
#include "suites.h"
#include "test_util.h"
#include "ckpt_fixture.h"

#include "autograd/error.h"
#include "ckpt/checkpoint.h"
#include "train/trainer.h"

#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Open path and read its tensors into a tiny model; -1 with the error recorded on failure. */
static int open_and_read(const char *path, const slt_config *cfg) {
  ckpt_fake_run f;
  ckpt_fake_build(&f, cfg, 5);
  slt_ckpt ck;
  int rc = slt_ckpt_open(&ck, path);
  if (!rc) {
    slt_ckpt_optim o = {
        .name = "adamw", .nslots = 2, .slot_names = {"m", "v"}, .slots = {f.o.m, f.o.v}};
    rc = slt_ckpt_check_model(&ck, cfg) || slt_ckpt_read_params(&ck, f.m->params) ||
                 slt_ckpt_read_optim(&ck, f.m->params, &o)
             ? -1
             : 0;
    slt_ckpt_close(&ck);
  }
  ckpt_fake_free(&f);
  return rc;
}

/* A copy of a good checkpoint under a new name. */
static const char *variant(const char *name) {
  const char *p = test_tpath(name);
  ckpt_copy_file(test_tpath("bad/ckpt_00000003.h5"), p);
  return p;
}

static void test_bad_files(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
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
  ckpt_h5_delete(p, "model/blocks.1.attn.qkv.weight", NULL);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(
                p, "missing dataset /model/blocks.1.attn.qkv.weight (expected float32 (96, 32))"));
  p = variant("bad/noslot.h5");
  ckpt_h5_delete(p, "optim/wte.weight/v", NULL);
  CU_ASSERT(open_and_read(p, &cfg) == -1 && test_err_has(p, "missing dataset /optim/wte.weight/v"));
  p = variant("bad/shape.h5");
  ckpt_h5_delete(p, "model/ln_f.weight", NULL);
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
  ckpt_h5_delete(p, NULL, "complete");
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

/* Replace (or create) the float32 tensor dataset path/name, stored as type, with its
 * checksum attribute: sum, or (NULL) the data's own as slt writes it. */
static void h5_put_tensor(const char *path, const char *name, hid_t type, int ndim,
                          const hsize_t *dims, const float *data, const uint64_t *sum) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  if (H5Lexists(f, name, H5P_DEFAULT) > 0) H5Ldelete(f, name, H5P_DEFAULT);
  hid_t sp = H5Screate_simple(ndim, dims, NULL);
  hid_t d = H5Dcreate2(f, name, type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  CU_ASSERT(d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) >= 0);
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  uint64_t own = slt_ckpt_checksum(data, (size_t)n * sizeof(float));
  H5Dclose(d);
  H5Sclose(sp);
  H5Fclose(f);
  h5_put_attr(path, name, "xxh3_64", H5T_NATIVE_UINT64, 0, sum ? sum : &own);
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

static void wider(slt_config *c) {
  c->model.d_model = 48;
}
static void deeper(slt_config *c) {
  c->model.layers = 100000000;
}
static void odd_heads(slt_config *c) {
  c->model.heads = 3;
}

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
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
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
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
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
            test_err_has("/model/wte.weight has shape (64, 32), expected (64, 48)",
                         "by the stored config"));
  p = config_variant("bad/config_deeper.h5", &cfg, deeper);
  /* Refused by the config's own range check or, failing that, against the tensors. */
  CU_ASSERT(open_fails(p) && test_err_has(p, "model.layers") && test_err_has("100000000", NULL));
  p = config_variant("bad/config_heads.h5", &cfg, odd_heads);
  CU_ASSERT(open_fails(p) && test_err_has(p, "stored config: model.heads (3) must divide"));
}

/* Attributes out of range or of the wrong type, which the trainer would run on. */
static void test_bad_counts(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
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
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
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
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/nan.h5");
  float ln[32];
  for (int i = 0; i < 32; i++) ln[i] = i == 3 ? NAN : 1.0f;
  hsize_t dim = 32, wte[2] = {64, 32};
  h5_put_tensor(p, "model/ln_f.weight", H5T_NATIVE_FLOAT, 1, &dim, ln, NULL);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, "/model/ln_f.weight holds NaN at index 3"));
  p = variant("bad/inf.h5");
  float *v = calloc(64 * 32, sizeof *v);
  v[0] = INFINITY;
  h5_put_tensor(p, "optim/wte.weight/v", H5T_NATIVE_FLOAT, 2, wte, v, NULL);
  free(v);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, "/optim/wte.weight/v holds Inf at index 0"));
  p = variant("bad/int_tensor.h5");
  int32_t iv[32] = {0};
  h5_put_dataset(p, "model/ln_f.bias", H5T_NATIVE_INT32, 1, &dim, iv);
  CU_ASSERT(open_fails(p) && test_err_has(p, "/model/ln_f.bias is not a float32 tensor dataset"));
  p = variant("bad/model_dataset.h5");
  ckpt_h5_delete(p, "model", NULL);
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

/* ---- tensor checksums ---- */

/* The file offset of dataset name's bytes (H5Dget_offset), or -1. */
static int64_t h5_offset(const char *path, const char *name) {
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t d = f >= 0 ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
  haddr_t off = d >= 0 ? H5Dget_offset(d) : HADDR_UNDEF;
  if (d >= 0) H5Dclose(d);
  if (f >= 0) H5Fclose(f);
  return off == HADDR_UNDEF ? -1 : (int64_t)off;
}

/* Flip the lowest mantissa bit of element k of dataset name, in place in the file: the value
 * stays finite and near, so only a checksum can tell. */
static void flip_element(const char *path, const char *name, int64_t k) {
  int64_t off = h5_offset(path, name);
  CU_ASSERT_FATAL(off > 0);
  int fd = open(path, O_RDWR);
  unsigned char b = 0;
  CU_ASSERT(pread(fd, &b, 1, (off_t)(off + 4 * k)) == 1);
  b ^= 1;
  CU_ASSERT(pwrite(fd, &b, 1, (off_t)(off + 4 * k)) == 1);
  close(fd);
}

/* A byte flipped inside a tensor's data (model weights, optimizer slots) is refused with the
 * file and the dataset named in one line. */
static void test_flipped_tensor_bytes(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/flip_model.h5");
  flip_element(p, "model/blocks.0.attn.qkv.weight", 1234);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, ": /model/blocks.0.attn.qkv.weight: checksum mismatch (stored 0x"));
  CU_ASSERT(test_err_has("computed 0x", "): the file is corrupt"));
  slt_config stored;
  CU_ASSERT(slt_ckpt_load_model(p, &stored) == NULL &&
            test_err_has(p, "/model/blocks.0.attn.qkv.weight: checksum mismatch"));
  p = variant("bad/flip_slot.h5");
  flip_element(p, "optim/wte.weight/m", 64 * 32 - 1); /* the last element */
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, ": /optim/wte.weight/m: checksum mismatch (stored 0x"));
}

/* A tensor HDF5 must convert (big-endian here) is read by H5Dread, not raw: checked too. */
static void test_converted_tensor_checked(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
  ckpt_fake_run f;
  ckpt_fake_build(&f, &cfg, 1); /* the weights ckpt_fake_save wrote */
  const slt_param *q = slt_params_find(f.m->params, "blocks.1.ffn.fc1.weight");
  CU_ASSERT_FATAL(q != NULL);
  hsize_t dims[2] = {(hsize_t)q->t.shape[0], (hsize_t)q->t.shape[1]};
  const char *p = variant("bad/be_good.h5");
  h5_put_tensor(p, "model/blocks.1.ffn.fc1.weight", H5T_IEEE_F32BE, 2, dims, q->t.data, NULL);
  CU_ASSERT_EQUAL(open_and_read(p, &cfg), 0); /* the values, not the file's bytes, are summed */
  p = variant("bad/be_bad.h5");
  uint64_t sum = slt_ckpt_checksum(q->t.data, (size_t)q->t.numel * sizeof(float));
  q->t.data[5] = nextafterf(q->t.data[5], 1.0f);
  h5_put_tensor(p, "model/blocks.1.ffn.fc1.weight", H5T_IEEE_F32BE, 2, dims, q->t.data, &sum);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, ": /model/blocks.1.ffn.fc1.weight: checksum mismatch"));
  ckpt_fake_free(&f);
}

/* Format version 2 stores a checksum on every tensor: one missing is damage. */
static void test_missing_checksum(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
  const char *p = variant("bad/nosum_model.h5");
  hid_t f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT(H5Adelete_by_name(f, "model/ln_f.bias", "xxh3_64", H5P_DEFAULT) >= 0);
  H5Fclose(f);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, ": /model/ln_f.bias: the checksum attribute xxh3_64 is missing"));
  p = variant("bad/nosum_slot.h5");
  f = H5Fopen(p, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT(H5Adelete_by_name(f, "optim/ln_f.bias/v", "xxh3_64", H5P_DEFAULT) >= 0);
  H5Fclose(f);
  CU_ASSERT(open_and_read(p, &cfg) == -1 &&
            test_err_has(p, ": /optim/ln_f.bias/v: the checksum attribute xxh3_64 is missing"));
}

/* 0, or -1 with the error recorded: open path and slt_ckpt_verify it (what slt info --verify
 * does); v gets the counts. */
static int verify(const char *path, slt_ckpt_verified *v) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, path)) return -1;
  int rc = slt_ckpt_verify(&ck, v);
  slt_ckpt_close(&ck);
  return rc;
}

/* slt_ckpt_verify reads every tensor: a good file gives the model's tensors and both AdamW
 * slots of each; damage slt_ckpt_open does not look at (a flipped bit in an optimizer slot or
 * a weight, a non-finite value with a matching checksum, a missing slot) is one error naming
 * the dataset. */
static void test_verify_every_tensor(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("bad"), 10);
  ckpt_fake_save(cfg.out_dir, 3);
  ckpt_fake_run f;
  ckpt_fake_build(&f, &cfg, 1);
  int64_t numel = 0;
  for (int i = 0; i < f.m->params->count; i++) numel += f.m->params->items[i]->t.numel;
  slt_ckpt_verified v;
  CU_ASSERT_EQUAL(verify(test_tpath("bad/ckpt_00000003.h5"), &v), 0);
  CU_ASSERT_EQUAL(v.tensors, 3 * f.m->params->count);
  CU_ASSERT_EQUAL(v.bytes, 3 * numel * 4);
  const char *p = variant("bad/verify_slot.h5");
  flip_element(p, "optim/blocks.1.ffn.fc2.weight/v", 7);
  slt_ckpt ck;
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_open(&ck, p), 0); /* the header does not show it */
  slt_ckpt_close(&ck);
  CU_ASSERT(verify(p, &v) == -1 &&
            test_err_has(p, ": /optim/blocks.1.ffn.fc2.weight/v: checksum mismatch (stored 0x"));
  p = variant("bad/verify_model.h5");
  flip_element(p, "model/wte.weight", 64 * 32 - 1);
  CU_ASSERT(verify(p, &v) == -1 && test_err_has(p, ": /model/wte.weight: checksum mismatch"));
  const slt_param *q = slt_params_find(f.m->params, "ln_f.weight");
  CU_ASSERT_FATAL(q != NULL);
  hsize_t dim = (hsize_t)q->t.numel;
  q->t.data[3] = NAN;
  p = variant("bad/verify_nan.h5");
  h5_put_tensor(p, "optim/ln_f.weight/m", H5T_IEEE_F32LE, 1, &dim, q->t.data, NULL);
  CU_ASSERT(verify(p, &v) == -1 && test_err_has(p, ": /optim/ln_f.weight/m: holds NaN"));
  p = variant("bad/verify_noslot.h5");
  ckpt_h5_delete(p, "optim/ln_f.bias/v", NULL);
  CU_ASSERT(verify(p, &v) == -1 &&
            test_err_has(p, ": /optim/ln_f.bias/v is missing or not of /model/ln_f.bias's shape"));
  ckpt_fake_free(&f);
}

static void test_world_size_refused(void) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, test_tpath("world"), 10);
  mkdir(cfg.out_dir, 0777);
  ckpt_fake_run f;
  ckpt_fake_build(&f, &cfg, 1);
  slt_ckpt_data d = ckpt_fake_data(&f, &cfg, 2);
  char path[SLT_CKPT_PATH];
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_save(cfg.out_dir, &d, path, sizeof path), 0);
  ckpt_fake_free(&f);
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init_resume(&t, &cfg, "auto");
  test_quiet(false);
  CU_ASSERT(rc == -1 && test_err_has(path, "2 ranks"));
  slt_trainer_free(&t);
}

static int suite_init_damage(void) {
  return test_tmpdir_init("ckpt_damage");
}

int register_checkpoint_damage_suite(void) {
  CU_pSuite s = CU_add_suite("checkpoint_damage", suite_init_damage, test_tmpdir_cleanup);
  if (!s) return -1;
  return !CU_add_test(s, "bad checkpoints: one clear error each", test_bad_files) ||
         !CU_add_test(s, "bad checkpoints: string attributes of several strings",
                      test_bad_string_attrs) ||
         !CU_add_test(s, "bad checkpoints: a stored config that does not fit the tensors",
                      test_bad_stored_config) ||
         !CU_add_test(s, "bad checkpoints: counts out of range or not integers", test_bad_counts) ||
         !CU_add_test(s, "bad checkpoints: RNG and cursor datasets", test_bad_state_datasets) ||
         !CU_add_test(s, "bad checkpoints: non-finite, non-float and extra tensors",
                      test_bad_tensors) ||
         !CU_add_test(s, "a byte flipped in tensor data is refused", test_flipped_tensor_bytes) ||
         !CU_add_test(s, "tensors HDF5 converts are checksummed too",
                      test_converted_tensor_checked) ||
         !CU_add_test(s, "a missing checksum is refused", test_missing_checksum) ||
         !CU_add_test(s, "slt_ckpt_verify checks every tensor", test_verify_every_tensor) ||
         !CU_add_test(s, "another world size is refused", test_world_size_refused);
}
