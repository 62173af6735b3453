/* The checkpoint suites' shared fixture (see ckpt_fixture.h). */
#include "ckpt_fixture.h"

#include "train/trainer.h"

#include <CUnit/CUnit.h>
#include <hdf5.h>
#include <stdio.h>
#include <sys/stat.h>

void ckpt_copy_file(const char *from, const char *to) {
  FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
  char buf[65536];
  size_t n;
  while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
  if (a) fclose(a);
  if (b) fclose(b);
}

/* A tiny synthetic run: 2 layers, d 32, T 16, grad accumulation 2, eval every 3 steps. */
void ckpt_tiny_config(slt_config *c, const char *out_dir, int64_t steps) {
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

void ckpt_fake_build(ckpt_fake_run *f, const slt_config *c, uint64_t seed) {
  slt_model_config g = c->model;
  f->m = slt_model_build(&g, SLT_MODEL_ALLOC);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f->m);
  slt_model_init_weights(f->m, seed);
  CU_ASSERT_EQUAL_FATAL(slt_adamw_init(&f->o, f->m->params, 0.9f, 0.95f, 1e-8f), 0);
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

void ckpt_fake_free(ckpt_fake_run *f) {
  slt_adamw_free(&f->o);
  slt_model_free(f->m);
}

slt_ckpt_data ckpt_fake_data(ckpt_fake_run *f, const slt_config *c, int world) {
  return (slt_ckpt_data){.cfg = c,
                         .params = f->m->params,
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

/* Write a checkpoint at dir/ckpt_<step>.h5 from a fake run. */
void ckpt_fake_save(const char *dir, int64_t step) {
  slt_config cfg;
  ckpt_tiny_config(&cfg, dir, 10);
  mkdir(dir, 0777);
  ckpt_fake_run f;
  ckpt_fake_build(&f, &cfg, 1);
  slt_ckpt_data d = ckpt_fake_data(&f, &cfg, 1);
  d.state.step = step;
  f.cur[0].step = step, f.cur[0].rows = step * 8;
  CU_ASSERT_EQUAL(slt_ckpt_save(dir, &d, NULL, 0), 0);
  ckpt_fake_free(&f);
}

/* Edit an HDF5 file in place: delete a link or an attribute of the root. */
void ckpt_h5_delete(const char *path, const char *link, const char *attr) {
  hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  if (link) CU_ASSERT(H5Ldelete(f, link, H5P_DEFAULT) >= 0);
  if (attr) CU_ASSERT(H5Adelete(f, attr) >= 0);
  H5Fclose(f);
}
