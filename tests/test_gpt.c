/* Parity of the GPT model with the PyTorch reference (tests/reference/gpt_reference.py):
 * logits, loss, every parameter gradient, and the losses of 5 AdamW steps. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "layers/gpt.h"
#include "optim/adamw.h"
#include "config/config.h"
#include "train/trainer.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Read a whole dataset as float or int32; returns its element count, or -1. */
static int64_t read_dataset(hid_t f, const char *name, hid_t mem_type, void *out, int64_t cap) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
  hid_t d = H5Dopen(f, name, H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  int64_t n = H5Sget_simple_extent_npoints(s);
  int rc = n <= cap ? H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : -1;
  H5Sclose(s);
  H5Dclose(d);
  return rc < 0 ? -1 : n;
}

static int enum_of(const char *s, const char *const *names, int n) {
  for (int i = 0; i < n; i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

static void config_from_fixture(hid_t f, slt_model_config *g) {
  static const char *norms[] = {"layernorm", "rmsnorm"}, *pos[] = {"rope", "learned", "none"},
                    *acts[] = {"gelu_tanh", "swiglu", "relu2"};
  char s[32];
  memset(g, 0, sizeof *g);
  g->vocab_size = (int)test_h5_attr_req(f, "vocab_size");
  g->seq_len = (int)test_h5_attr_req(f, "seq_len");
  g->layers = (int)test_h5_attr_req(f, "layers");
  g->d_model = (int)test_h5_attr_req(f, "d_model");
  g->heads = (int)test_h5_attr_req(f, "heads");
  g->kv_heads = (int)test_h5_attr_req(f, "kv_heads");
  g->ffn_dim = (int)test_h5_attr_req(f, "ffn_dim");
  g->norm_eps = (float)test_h5_attr_req(f, "norm_eps");
  g->rope_base = (float)test_h5_attr_req(f, "rope_base");
  g->init_std = (float)test_h5_attr_req(f, "init_std");
  g->bias = test_h5_attr_req(f, "bias") != 0;
  g->tie_embeddings = test_h5_attr_req(f, "tie_embeddings") != 0;
  test_h5_attr_str_req(f, "norm", s, sizeof s);
  g->norm = enum_of(s, norms, 2);
  test_h5_attr_str_req(f, "pos", s, sizeof s);
  g->pos = enum_of(s, pos, 3);
  test_h5_attr_str_req(f, "act", s, sizeof s);
  g->act = enum_of(s, acts, 3);
  CU_ASSERT(g->norm >= 0 && g->pos >= 0 && g->act >= 0); /* names this test knows */
}

/* Load every fixture parameter into the model, checking the two name sets are the same. */
static int load_params(hid_t f, slt_gpt *m) {
  int loaded = 0;
  for (int i = 0; i < m->params.count; i++) {
    slt_param *p = m->params.items[i];
    char path[160];
    snprintf(path, sizeof path, "params/%s", p->name);
    if (read_dataset(f, path, H5T_NATIVE_FLOAT, p->t.data, p->t.numel) != p->t.numel) {
      printf("\n  fixture lacks or mis-sizes %s\n", path);
      return -1;
    }
    loaded++;
  }
  hid_t g = H5Gopen(f, "params", H5P_DEFAULT);
  hsize_t n = 0;
  H5Gget_num_objs(g, &n);
  H5Gclose(g);
  return (hsize_t)loaded == n ? 0 : -1;
}

static void check_grads(hid_t f, slt_gpt *m) {
  float *ref = malloc(m->params.numel * sizeof(float));
  double worst = 0;
  const char *worst_name = "";
  for (int i = 0; i < m->params.count; i++) {
    slt_param *p = m->params.items[i];
    char path[160];
    snprintf(path, sizeof path, "grads/%s", p->name);
    CU_ASSERT_EQUAL_FATAL(read_dataset(f, path, H5T_NATIVE_FLOAT, ref, p->t.numel), p->t.numel);
    double e = test_rel_err(p->t.grad, ref, p->t.numel);
    if (e > worst) worst = e, worst_name = p->name;
  }
  if (worst > 1e-4 || getenv("SLT_TEST_VERBOSE"))
    printf("\n  worst gradient rel err %.2e (%s)\n", worst, worst_name);
  CU_ASSERT(worst <= 1e-4);
  free(ref);
}

static void check_fixture(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/gpt_%s.h5", SLT_FIXTURES, name);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  slt_model_config cfg;
  config_from_fixture(f, &cfg);
  slt_gpt m;
  int rc = slt_gpt_build(&m, &cfg);
  if (rc) printf("\n  build: %s\n", slt_err_msg());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL_FATAL(load_params(f, &m), 0);
  int B = 3, T = cfg.seq_len, V = cfg.vocab_size;
  int32_t x[3 * 64], y[3 * 64];
  CU_ASSERT_EQUAL_FATAL(read_dataset(f, "batch/x", H5T_NATIVE_INT32, x, B * T), B * T);
  CU_ASSERT_EQUAL_FATAL(read_dataset(f, "batch/y", H5T_NATIVE_INT32, y, B * T), B * T);
  float *ref_logits = malloc((size_t)B * T * V * sizeof(float)), ref_loss;
  CU_ASSERT_EQUAL_FATAL(read_dataset(f, "logits", H5T_NATIVE_FLOAT, ref_logits, B * T * V), B * T * V);
  CU_ASSERT_EQUAL_FATAL(read_dataset(f, "loss", H5T_NATIVE_FLOAT, &ref_loss, 1), 1);

  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *logits = slt_gpt_logits(&m, &c, x, B, T, 0);
  slt_tensor *loss = slt_cross_entropy(&c, logits, y, -1);
  if (!loss) printf("\n  forward: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  double le = test_rel_err(logits->data, ref_logits, (int64_t)B * T * V);
  if (le > 1e-4 || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] logits rel err %.2e, loss %.7f vs %.7f\n", name, le, loss->data[0], ref_loss);
  CU_ASSERT(le <= 1e-4);
  CU_ASSERT_DOUBLE_EQUAL(loss->data[0], ref_loss, 1e-5 * ref_loss);
  slt_params_zero_grad(&m.params);
  CU_ASSERT_EQUAL_FATAL(slt_backward(&c, loss), 0);
  check_grads(f, &m);
  slt_ctx_reset(&c);

  /* 5 AdamW steps from the same weights (weight decay on every parameter, as the fixture). */
  double ref_losses[6], betas[2];
  CU_ASSERT_EQUAL_FATAL(read_dataset(f, "adamw_losses", H5T_NATIVE_DOUBLE, ref_losses, 6), 6);
  hid_t a = H5Aopen(f, "adamw_betas", H5P_DEFAULT), as = a >= 0 ? H5Aget_space(a) : -1;
  CU_ASSERT_FATAL(as >= 0 && H5Sget_simple_extent_npoints(as) == 2 &&
                  H5Aread(a, H5T_NATIVE_DOUBLE, betas) >= 0); /* never garbage betas */
  H5Sclose(as);
  H5Aclose(a);
  float lr = (float)test_h5_attr_req(f, "adamw_lr"), wd_all = (float)test_h5_attr_req(f, "adamw_weight_decay");
  float *wd = malloc(m.params.count * sizeof(float));
  for (int i = 0; i < m.params.count; i++) wd[i] = wd_all;
  slt_adamw opt;
  CU_ASSERT_EQUAL_FATAL(slt_adamw_init(&opt, &m.params, (float)betas[0], (float)betas[1],
                                       (float)test_h5_attr_req(f, "adamw_eps")), 0);
  for (int step = 0; step <= 5; step++) {
    slt_params_zero_grad(&m.params);
    slt_tensor *l = slt_gpt_loss(&m, &c, x, y, B, T);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    double e = fabs(l->data[0] - ref_losses[step]) / ref_losses[step];
    if (e > 1e-5 || getenv("SLT_TEST_VERBOSE"))
      printf("\n  [%s] step %d loss %.7f vs %.7f (rel %.1e)", name, step, l->data[0],
             ref_losses[step], e);
    CU_ASSERT(e <= 1e-5);
    if (step < 5) {
      CU_ASSERT_EQUAL(slt_backward(&c, l), 0);
      slt_adamw_step(&opt, &m.params, lr, 1.0f, wd, NULL);
    }
    slt_ctx_reset(&c);
  }
  slt_adamw_free(&opt);
  free(wd);
  free(ref_logits);
  slt_ctx_free(&c);
  slt_gpt_free(&m);
  H5Fclose(f);
}

static void test_ln_rope_gelu(void) { check_fixture("ln_rope_gelu"); }
static void test_rms_swiglu_gqa(void) { check_fixture("rms_swiglu_gqa"); }
static void test_ln_learned_relu2(void) { check_fixture("ln_learned_relu2"); }

static void test_bad_model_configs(void) {
  slt_model_config g = {.vocab_size = 64, .seq_len = 8, .layers = 1, .d_model = 30, .heads = 4,
                      .kv_heads = 4, .ffn_dim = 64, .norm_eps = 1e-5f, .rope_base = 1e4f};
  slt_gpt m;
  CU_ASSERT_EQUAL(slt_gpt_build(&m, &g), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "model.heads"));
  g.d_model = 32, g.kv_heads = 3;
  CU_ASSERT_EQUAL(slt_gpt_build(&m, &g), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "model.kv_heads"));
  g.kv_heads = 4, g.layers = -2;
  CU_ASSERT_EQUAL(slt_gpt_build(&m, &g), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "model.layers"));
}

/* Loss and every gradient of a GPT step with all op kinds (rope, GQA, swiglu, rmsnorm), big
 * enough that the ops take their multi-threaded paths; copied out for comparison. */
static float gpt_step(float *grads, int64_t *n) {
  slt_model_config g = {.vocab_size = 512, .seq_len = 64, .layers = 2, .d_model = 128, .heads = 4,
                      .kv_heads = 2, .ffn_dim = 256, .norm = SLT_NORM_RMSNORM, .norm_eps = 1e-5f,
                      .pos = SLT_POS_ROPE, .rope_base = 1e4f, .act = SLT_ACT_SWIGLU,
                      .bias = true, .tie_embeddings = true, .init_std = 0.02f};
  slt_gpt m;
  if (slt_gpt_build(&m, &g)) return NAN;
  slt_gpt_init_weights(&m, 11);
  int32_t x[4 * 64], y[4 * 64];
  for (int i = 0; i < 4 * 64; i++) x[i] = (i * 37) % 512, y[i] = (i * 101 + 7) % 512;
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *l = slt_gpt_loss(&m, &c, x, y, 4, 64);
  float loss = l && !slt_backward(&c, l) ? l->data[0] : NAN;
  if (grads) memcpy(grads, m.params.grad, m.params.numel * sizeof(float));
  *n = m.params.numel;
  slt_ctx_free(&c);
  slt_gpt_free(&m);
  return loss;
}

static void test_step_determinism(void) {
  int64_t n;
  gpt_step(NULL, &n);
  float *g1 = malloc(n * sizeof(float)), *g2 = malloc(n * sizeof(float));
  float l1 = gpt_step(g1, &n), l2 = gpt_step(g2, &n);
  CU_ASSERT(isfinite(l1));
  CU_ASSERT_EQUAL(memcmp(&l1, &l2, sizeof l1), 0);
  CU_ASSERT_EQUAL(memcmp(g1, g2, n * sizeof(float)), 0);
  free(g1);
  free(g2);
}

/* SPEC §2's parameter formulas for one structured linear N -> M (weights only). */
static int64_t structured_weights(int kind, int64_t N, int64_t M, int64_t R, int64_t B) {
  switch (kind) {
  case SLT_LIN_LOWRANK: return (N + M) * R;
  case SLT_LIN_BLOCKDENSE: return R * (M + N / B);
  case SLT_LIN_BLOCKSHUFFLE: return (N < M ? N : M) * (N + M) / B;
  default: return N * M;
  }
}

/* The configs/ffn settings: on the s model, the FFN parameter count equals the formulas (layer 0 dense) and
 * each structured layer holds the paper's ≈63% or ≈32% of a dense FFN. */
static void test_ffn_configs(void) {
  const char *names[] = {"lowrank_63", "lowrank_32", "blockdense_63",
                         "blockdense_32", "blockshuffle_63", "blockshuffle_32"};
  for (int i = 0; i < 6; i++) {
    slt_config c;
    slt_config_defaults(&c);
    char path[512];
    CU_ASSERT_EQUAL_FATAL(slt_config_load_file(&c, SLT_SOURCE_DIR "/configs/models/s.yaml"), 0);
    snprintf(path, sizeof path, SLT_SOURCE_DIR "/configs/ffn/%s.yaml", names[i]);
    CU_ASSERT_EQUAL_FATAL(slt_config_load_file(&c, path), 0);
    c.model.vocab_size = 256; /* FFN counts do not depend on it; keeps the test light */
    slt_model_config g = c.model;
    slt_gpt m;
    int rc = slt_gpt_build(&m, &g);
    if (rc) printf("\n  %s: %s\n", names[i], slt_err_msg());
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    int64_t d = g.d_model, f = g.ffn_dim, R = g.ffn.rank, B = g.ffn.nblocks;
    int64_t biases = g.layers * (f + d);
    int64_t layer = structured_weights(g.ffn.kind, d, f, R, B) +
                    structured_weights(g.ffn.kind, f, d, R, B);
    int64_t expect = 2 * d * f + (g.layers - 1) * layer + biases;
    CU_ASSERT_EQUAL(slt_gpt_ffn_params(&m), expect);
    double frac = (double)layer / (2.0 * d * f), want = strstr(names[i], "63") ? 0.625 : 0.3125;
    if (fabs(frac - want) > 0.02) printf("\n  %s: %.3f of dense per layer\n", names[i], frac);
    CU_ASSERT(fabs(frac - want) <= 0.02);
    slt_gpt_free(&m);
  }
}

int register_gpt_suite(void) {
  CU_pSuite s = CU_add_suite("gpt", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "parity: layernorm + rope + gelu_tanh + bias", test_ln_rope_gelu) ||
         !CU_add_test(s, "parity: rmsnorm + swiglu + no bias + GQA, untied", test_rms_swiglu_gqa) ||
         !CU_add_test(s, "parity: layernorm + learned positions + relu2", test_ln_learned_relu2) ||
         !CU_add_test(s, "bad model configs", test_bad_model_configs) ||
         !CU_add_test(s, "bitwise determinism of a whole step", test_step_determinism) ||
         !CU_add_test(s, "configs/ffn: FFN counts match the formulas", test_ffn_configs);
}
