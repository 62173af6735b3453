/* Packed complex inference (layers/packed_cplx.h, SPEC §6, §8): an ifairy export loaded from its
 * /packed {±1, ±i} codes runs every ComplexLinear through the cplx2 kernels with int8 re/im
 * activations; its logits match the fake-quant training model's (PhaseQuant weights, 8-bit
 * activations, fp32 GEMMs) within the bound below; its KV-cache decoder matches its own full
 * forward; gradients are refused; a model trained without 8-bit activations stays fp32.
 *
 * The logits bound. Training feeds every ComplexLinear x_q = q/a (slt_cplx_act_quant8: a = 127 /
 * max|x| per token and part, q = nearbyint(x·a), |q| <= 127) and computes B·x_q with B the
 * (2out, 2in) real block weight of {±s_re, ±i·s_im}, one fp32 GEMM of 2·in terms. The packed
 * linear re-quantizes x_q with the same formula: max|x_q| = 127/a to 1 ulp, so a' = a(1 ± 2u) and
 * nearbyint(x_q·a') = q exactly (|q·4u| << 1/2); it sums the ±q exactly in int32 and scales once
 * (y_re = A·s_re/a_re + B·s_im/a_im, 3 roundings). So one linear's outputs differ by at most
 * (2·in + 5)·u·Σ_j |B_ij·x_q,j| (u = 2^-24): for in <= 160 that is 2e-5 of the sum of absolute
 * terms at worst, ~1e-6 in practice (√(2·in)·u growth). The next 8-bit rounding flips only when a
 * value lies within that distance of a half step; a flip moves one input by 1/a, i.e. 1/127 of
 * that token's largest activation, which after a normalised block moves the logits by ~1e-3 of
 * their scale at most. Hence TOL = 1e-4 of the largest logit holds with or without a rare flip,
 * while a wrong code, scale (s_re for s_im), part order or activation scale gives O(1). */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "ckpt/checkpoint.h"
#include "layers/packed_linear.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T 12
#define V 50
#define TOL 1e-4

static const int32_t ids[T] = {1, 7, 3, 49, 0, 22, 5, 5, 31, 8, 17, 40};

/* An ifairy config: 2 layers, 96 complex hidden, 4 heads, 160 complex FFN; PhaseQuant 1 stage. */
static slt_config ifairy_cfg(bool act8) {
  slt_config c;
  slt_config_defaults(&c);
  slt_model_config *g = &c.model;
  g->arch = SLT_ARCH_IFAIRY, g->vocab_size = V, g->seq_len = 16, g->layers = 2;
  g->d_model = 96, g->heads = 4, g->ffn_dim = 160, g->tie_embeddings = false, g->bias = false;
  g->norm = SLT_NORM_RMSNORM, g->act = SLT_ACT_RELU2, g->phasequant.stages = 1;
  g->act_quant = act8 ? SLT_ACT_QUANT_INT8 : SLT_ACT_QUANT_NONE;
  return c;
}

/* A checkpoint of c's model drawn from seed 42 at src, and its packed export at out. */
static void make_files(const slt_config *c, const char *src, const char *out) {
  slt_model *m = slt_model_build(&c->model, SLT_MODEL_ALLOC);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  slt_model_init_weights(m, 42);
  slt_loader_cursor cur = {0};
  slt_ckpt_data d = {.cfg = c, .params = m->params, .optim = {.name = "none"},
                     .state = {.step = 0, .world = 1, .cursors = &cur}};
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_write(src, &d), 0);
  int count = 0;
  int64_t bytes = 0;
  int rc = slt_ckpt_write_packed(out, &d, m, &count, &bytes);
  if (rc) printf("\n  export: %s\n", slt_err_msg());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(count, 14);
  slt_model_free(m);
}

/* Logits (T, V) of ids under no-grad into out. */
static void logits_of(slt_model *m, float *out) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  slt_tensor *y = slt_model_logits(m, &c, ids, 1, T, 0);
  if (!y) printf("\n  logits: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  memcpy(out, y->data, (size_t)y->numel * sizeof *out);
  slt_ctx_free(&c);
}

static double max_abs(const float *v, int64_t n) {
  double a = 0;
  for (int64_t i = 0; i < n; i++) a = fmax(a, fabs(v[i]));
  return a;
}

static double max_diff(const float *a, const float *b, int64_t n) {
  double d = 0;
  for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - b[i]));
  return d;
}

/* Prefill 5, then one token at a time: the decoder's rows against full (T, V); max |d|. */
static double decoded_diff(slt_model *m, const float *full) {
  slt_decoder *dec = slt_model_decoder(m, &(slt_decoder_opts){.cap = T, .ffn_form = -1});
  CU_ASSERT_PTR_NOT_NULL_FATAL(dec);
  CU_ASSERT_STRING_EQUAL(dec->note, "");
  slt_ctx c;
  slt_ctx_init(&c);
  double d = 0;
  for (int t = 0; t < T;) {
    int n = t ? 1 : 5;
    slt_ctx_reset(&c);
    slt_tensor *y = dec->forward(dec, &c, ids + t, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    d = fmax(d, max_diff(y->data, full + (size_t)t * V, (int64_t)n * V));
    t += n;
  }
  slt_ctx_free(&c);
  slt_decoder_free(dec);
  return d;
}

static void test_logits_match(void) {
  slt_config c = ifairy_cfg(true), cfg;
  const char *src = test_tpath("src.h5"), *out = test_tpath("packed.h5");
  make_files(&c, src, out);
  slt_model *ref = slt_ckpt_load_model(src, &cfg), *pk = slt_ckpt_load_model(out, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
  if (!pk) printf("\n  load: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
  CU_ASSERT_EQUAL(slt_packed_count(pk), 14);
  /* per layer q, k, v, o and down: 96 rows; gate, up: 160; each row 64 bytes; 8 bytes of scales */
  CU_ASSERT_EQUAL(slt_packed_bytes(pk), 2 * ((5 * 96 + 2 * 160) * 64 + 7 * 8));
  float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
  logits_of(ref, a);
  logits_of(pk, b);
  double d = max_diff(a, b, T * V), scale = max_abs(a, T * V);
  printf("\n  packed vs fake-quant logits: max |d| %.3g of max |logit| %.3g", d, scale);
  CU_ASSERT_TRUE(d <= TOL * scale && scale > 0);
  /* the KV cache, packed: position by position as the packed model's full forward */
  double dk = decoded_diff(pk, b);
  printf("\n  packed KV decoder vs packed full forward: max |d| %.3g\n", dk);
  CU_ASSERT_TRUE(dk <= 1e-5 * max_abs(b, T * V));
  /* training through a packed linear is refused */
  slt_ctx ctx;
  slt_ctx_init(&ctx);
  CU_ASSERT_PTR_NULL(slt_model_logits(pk, &ctx, ids, 1, T, 0));
  CU_ASSERT_TRUE(test_err_has("no-grad", NULL));
  slt_ctx_free(&ctx);
  free(a), free(b);
  slt_model_free(ref);
  slt_model_free(pk);
}

/* Without 8-bit activations the model never saw int8 inputs: its export runs dequantized fp32
 * (the same floats as the fake-quant model), not the int8 kernels. */
static void test_fp32_without_act8(void) {
  slt_config c = ifairy_cfg(false), cfg;
  const char *src = test_tpath("src32.h5"), *out = test_tpath("packed32.h5");
  make_files(&c, src, out);
  slt_model *ref = slt_ckpt_load_model(src, &cfg), *pk = slt_ckpt_load_model(out, &cfg);
  CU_ASSERT_FATAL(ref && pk);
  CU_ASSERT_EQUAL(slt_packed_count(pk), 0);
  float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
  logits_of(ref, a);
  logits_of(pk, b);
  CU_ASSERT_EQUAL(memcmp(a, b, sizeof(float) * T * V), 0);
  free(a), free(b);
  slt_model_free(ref);
  slt_model_free(pk);
}

static int suite_init(void) { return test_tmpdir_init("packed_cplx"); }
static int suite_clean(void) { return test_tmpdir_cleanup(); }

int register_packed_cplx_suite(void) {
  CU_pSuite s = CU_add_suite("packed_cplx", suite_init, suite_clean);
  if (!s) return -1;
  return CU_add_test(s, "packed ifairy logits = fake-quant logits, KV cache too",
                     test_logits_match) &&
                 CU_add_test(s, "no 8-bit activations: stays fp32", test_fp32_without_act8)
             ? 0
             : -1;
}
