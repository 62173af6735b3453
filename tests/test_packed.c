/* Packed low-bit inference (slt export --packed, layers/packed_linear.h, SPEC §8): the file's
 * /packed codes decode by the documented layout (decoded here by hand, not by the kernels'
 * unpack) to exactly the training transform's ternary codes and γ; loading it runs every block
 * linear packed, and its logits match the fake-quant training model's; the KV-cache decoder of
 * the packed model matches its full forward; gradients and non-ternary weights are refused.
 *
 * The logits bound. The training model computes each block linear as fp32 GEMM of x_q = q/s
 * (slt_act_quant_absmax8: s = 127/max|x|, q = clamp(nearbyint(x·s), -128, 127)) and W_q = c·γ.
 * The packed linear re-quantizes x_q with the same formula: max|x_q| = 127/s, so s' = s up to 2
 * ulps and nearbyint(x_q·s') = q exactly (|q| <= 127, relative error <= 4u << 0.5/127); it sums
 * Σ c·q exactly in int32 and scales once by γ/s'. So one linear differs only by the GEMM's
 * rounding, |Δy| <= (in + 2)·u·(γ/s)·Σ|q_i| (u = 2^-24), relative to |y| about in·u ≈ 1e-5 at
 * worst for in = 160 and in practice √in·u ≈ 1e-6. A later absmax8 flips a rounding only when an
 * input lies within that distance of a half step, which shifts it by 1/s; over the 2 layers of
 * this model that stays below 1e-4 of the largest logit. A wrong code, γ, shard or activation
 * order gives O(1). */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "autograd/ternary.h"
#include "ckpt/checkpoint.h"
#include "layers/packed_linear.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T 12
#define TOL 1e-4

static slt_config packed_cfg(void) {
  slt_config c;
  slt_config_defaults(&c);
  slt_model_config *g = &c.model;
  g->vocab_size = 50, g->seq_len = 16, g->layers = 2, g->d_model = 96, g->heads = 4;
  g->ffn_dim = 160, g->norm = SLT_NORM_RMSNORM, g->act = SLT_ACT_SWIGLU, g->bias = false;
  g->quant.weight.kind = SLT_QC_TERNARY, g->quant.weight.shards = 2;
  g->quant.act.kind = SLT_QC_ABSMAX8;
  g->quant.bitlinear_norm = true;
  return c;
}

/* A model of c drawn from seed, checkpointed at path. NULL on failure (asserted). */
static slt_model *make_ckpt(const slt_config *c, const char *path) {
  slt_model *m = slt_model_build(&c->model, SLT_MODEL_ALLOC);
  if (!m) printf("\n  build: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  slt_model_init_weights(m, 42);
  slt_loader_cursor cur = {0};
  slt_ckpt_data d = {.cfg = c,
                     .params = m->params,
                     .optim = {.name = "none"},
                     .state = {.step = 0, .world = 1, .cursors = &cur}};
  CU_ASSERT_EQUAL_FATAL(slt_ckpt_write(path, &d), 0);
  return m;
}

static int write_packed(const char *in, const char *out) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, in)) return -1;
  slt_model *m = slt_model_build(&ck.cfg.model, SLT_MODEL_ALLOC);
  int count = 0, rc = m ? slt_ckpt_read_params(&ck, m->params) : -1;
  int64_t bytes = 0;
  slt_ckpt_data d = {.cfg = &ck.cfg, .params = m ? m->params : NULL,
                     .optim = {.name = "none"}, .state = ck.state};
  if (!rc) rc = slt_ckpt_write_packed(out, &d, m, &count, &bytes);
  slt_model_free(m);
  slt_ckpt_close(&ck);
  return rc;
}

/* Logits (T, V) of ids under no-grad into out. */
static void logits_of(slt_model *m, const int32_t *ids, float *out) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  slt_tensor *y = slt_model_logits(m, &c, ids, 1, T, 0);
  if (!y) printf("\n  logits: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  memcpy(out, y->data, (size_t)y->numel * sizeof *out);
  slt_ctx_free(&c);
}

static const int32_t ids[T] = {1, 7, 3, 49, 0, 22, 5, 5, 31, 8, 17, 40};

/* qs decoded by the layout ckpt/checkpoint_packed.c documents: weight e of a 256-block is bits
 * 2l..2l+1 of byte 32j + m, e = 128j + 32l + m, code = w + 1. */
static void test_layout_exact(void) {
  slt_config c = packed_cfg();
  const char *in = test_tpath("src.h5"), *out = test_tpath("packed.h5");
  slt_model *m = make_ckpt(&c, in);
  CU_ASSERT_EQUAL_FATAL(write_packed(in, out), 0);
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_TRUE_FATAL(f >= 0);
  int checked = 0;
  for (int i = 0; i < m->params->count; i++) {
    const slt_param *p = m->params->items[i];
    if (!strstr(p->name, "blocks.") || p->t.ndim != 2) continue;
    int64_t out_ = p->t.shape[0], in_ = p->t.shape[1], rb = (in_ + 255) / 256 * 64;
    int8_t *want = malloc((size_t)p->t.numel);
    float gw[2], gg[2];
    uint8_t *qs = malloc((size_t)(out_ * rb));
    CU_ASSERT_EQUAL(slt_ternary_codes(&p->t, 2, want, gw, NULL), 0);
    char path[256];
    snprintf(path, sizeof path, "packed/%s/qs", p->name);
    hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
    CU_ASSERT_TRUE_FATAL(d >= 0);
    CU_ASSERT_TRUE(H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, qs) >= 0);
    H5Dclose(d);
    snprintf(path, sizeof path, "packed/%s/gamma", p->name);
    d = H5Dopen2(f, path, H5P_DEFAULT);
    CU_ASSERT_TRUE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, gg) >= 0);
    H5Dclose(d);
    CU_ASSERT_EQUAL(memcmp(gw, gg, sizeof gw), 0);
    int64_t bad = 0;
    for (int64_t r = 0; r < out_; r++)
      for (int64_t e = 0; e < rb * 4; e++) {
        int64_t blk = e / 256, k = e % 256, j = k / 128, l = (k % 128) / 32, mm = k % 32;
        int code = (qs[r * rb + blk * 64 + 32 * j + mm] >> (2 * l)) & 3;
        int w = e < in_ ? want[r * in_ + e] : 0; /* padding: weight 0 */
        bad += code != w + 1;
      }
    CU_ASSERT_EQUAL(bad, 0);
    checked++;
    free(want), free(qs);
  }
  CU_ASSERT_EQUAL(checked, 8);
  H5Fclose(f);
  /* loaded unpacked, the weights are exactly the training transform's c·γ */
  slt_config cfg;
  slt_model *u = slt_ckpt_load_model_ex(out, &cfg, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL(u);
  CU_ASSERT_EQUAL(slt_packed_count(u), 0);
  CU_ASSERT_EQUAL(cfg.model.quant.weight.kind, SLT_QC_NONE); /* stored weights are quantized */
  slt_ctx ctx;
  slt_ctx_init(&ctx);
  for (int i = 0; i < m->params->count; i++) {
    slt_param *p = m->params->items[i];
    const slt_param *q = slt_params_find(u->params, p->name);
    CU_ASSERT_PTR_NOT_NULL_FATAL(q);
    const slt_tensor *want = strstr(p->name, "blocks.") && p->t.ndim == 2
                                 ? slt_ternary_weight(&ctx, &p->t, 2)
                                 : &p->t;
    int64_t nd = 0, first = -1;
    for (int64_t k = 0; k < p->t.numel; k++)
      if (want->data[k] != q->t.data[k] && !nd++) first = k;
    if (nd)
      printf("\n  %s: %lld differ, first [%lld] %g vs %g\n", p->name, (long long)nd,
             (long long)first, want->data[first], q->t.data[first]);
    CU_ASSERT_EQUAL(nd, 0);
  }
  slt_ctx_free(&ctx);
  slt_model_free(u);
  slt_model_free(m);
}

static double max_abs(const float *v, int64_t n) {
  double a = 0;
  for (int64_t i = 0; i < n; i++) a = fmax(a, fabs(v[i]));
  return a;
}

static void test_logits_match(void) {
  const char *in = test_tpath("src.h5"), *out = test_tpath("packed.h5");
  slt_config cfg;
  slt_model *ref = slt_ckpt_load_model(in, &cfg), *pk = slt_ckpt_load_model(out, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pk);
  CU_ASSERT_EQUAL(slt_packed_count(pk), 8);
  CU_ASSERT_EQUAL(slt_packed_bytes(pk), 2 * (288 + 96 + 320 + 96) * 64 + 8 * 2 * 4);
  int V = cfg.model.vocab_size;
  float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
  logits_of(ref, ids, a);
  logits_of(pk, ids, b);
  double d = 0, scale = max_abs(a, (int64_t)T * V);
  for (int i = 0; i < T * V; i++) d = fmax(d, fabs(a[i] - b[i]));
  printf("\n  packed vs fake-quant logits: max |d| %.3g of max |logit| %.3g\n", d, scale);
  CU_ASSERT_TRUE(d <= TOL * scale);
  CU_ASSERT_TRUE(d > 0 || scale > 0);
  /* the KV cache: prefill 5, then one token at a time, against the full forward */
  slt_decoder *dec = slt_model_decoder(pk, &(slt_decoder_opts){.cap = T, .ffn_form = -1});
  CU_ASSERT_PTR_NOT_NULL_FATAL(dec);
  CU_ASSERT_STRING_EQUAL(dec->note, ""); /* packed FFNs are not "structured": no fp32 twin */
  slt_ctx c;
  slt_ctx_init(&c);
  double dk = 0;
  for (int t = 0; t < T;) {
    int n = t ? 1 : 5;
    slt_ctx_reset(&c);
    slt_tensor *y = dec->forward(dec, &c, ids + t, n);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    for (int k = 0; k < n * V; k++) dk = fmax(dk, fabs(y->data[k] - b[t * V + k]));
    t += n;
  }
  CU_ASSERT_TRUE(dk <= TOL * scale);
  slt_ctx_free(&c);
  slt_decoder_free(dec);
  /* training through a packed linear is refused */
  slt_ctx_init(&c);
  CU_ASSERT_PTR_NULL(slt_model_logits(pk, &c, ids, 1, T, 0));
  CU_ASSERT_TRUE(test_err_has("no-grad", NULL));
  slt_ctx_free(&c);
  free(a), free(b);
  slt_model_free(ref);
  slt_model_free(pk);
}

static void test_refusals(void) {
  slt_config c = packed_cfg();
  c.model.quant.weight.kind = SLT_QC_INT, c.model.quant.weight.bits = 4;
  c.model.quant.weight.granularity = SLT_QGRAN_CHANNEL;
  snprintf(c.model.quant.rules, sizeof c.model.quant.rules, "blocks.0.attn.qkv w=ternary");
  const char *in = test_tpath("int4.h5");
  slt_model_free(make_ckpt(&c, in));
  CU_ASSERT_EQUAL(write_packed(in, test_tpath("int4_packed.h5")), -1);
  CU_ASSERT_TRUE(test_err_has("not ternary", "--quantize"));
  slt_config_defaults(&c);
  c.model.vocab_size = 50, c.model.seq_len = 16, c.model.layers = 1, c.model.d_model = 64;
  in = test_tpath("fp32.h5");
  slt_model_free(make_ckpt(&c, in));
  CU_ASSERT_EQUAL(write_packed(in, test_tpath("fp32_packed.h5")), -1);
  CU_ASSERT_TRUE(test_err_has("no ternary or {±1, ±i} weights", NULL));
}

/* ifairy with PhaseQuant: {±1, ±i} codes and (s_re, s_im) that read back (dequantized) to exactly
 * PhaseQuant's weights: the stored config has stages 0 and the logits are the same floats.
 * (Loaded packed, the model runs the complex kernels: tests/test_packed_cplx.c.) */
static void test_ifairy_exact(void) {
  slt_config c;
  slt_config_defaults(&c);
  slt_model_config *g = &c.model;
  g->arch = SLT_ARCH_IFAIRY, g->vocab_size = 50, g->seq_len = 16, g->layers = 2;
  g->d_model = 96, g->heads = 4, g->ffn_dim = 160, g->tie_embeddings = false, g->bias = false;
  g->norm = SLT_NORM_RMSNORM, g->act = SLT_ACT_RELU2, g->phasequant.stages = 1, g->act_quant = SLT_ACT_QUANT_INT8;
  const char *in = test_tpath("ifairy.h5"), *out = test_tpath("ifairy_packed.h5");
  slt_model *m = make_ckpt(&c, in);
  CU_ASSERT_EQUAL_FATAL(write_packed(in, out), 0);
  slt_config cfg;
  slt_model *p = slt_ckpt_load_model_ex(out, &cfg, false);
  if (!p) printf("\n  load: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(slt_packed_count(p), 0);
  CU_ASSERT_EQUAL(cfg.model.phasequant.stages, 0);
  int V = 50;
  float *a = malloc(sizeof(float) * T * V), *b = malloc(sizeof(float) * T * V);
  logits_of(m, ids, a);
  logits_of(p, ids, b);
  int differ = 0;
  for (int i = 0; i < T * V; i++) differ += a[i] != b[i];
  CU_ASSERT_EQUAL(differ, 0);
  /* 14 ComplexLinears: the file is ~16x smaller than two float32 parts */
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_TRUE(H5Lexists(f, "packed/blocks.0.mlp.down_proj.weight", H5P_DEFAULT) > 0);
  H5Fclose(f);
  c.model.phasequant.stages = 2;
  slt_model_free(make_ckpt(&c, test_tpath("ifairy2.h5")));
  CU_ASSERT_EQUAL(write_packed(test_tpath("ifairy2.h5"), test_tpath("ifairy2_packed.h5")), -1);
  CU_ASSERT_TRUE(test_err_has("stages", NULL));
  free(a), free(b);
  slt_model_free(p);
  slt_model_free(m);
}

static int suite_init(void) { return test_tmpdir_init("packed"); }
static int suite_clean(void) { return test_tmpdir_cleanup(); }

int register_packed_suite(void) {
  CU_pSuite s = CU_add_suite("packed", suite_init, suite_clean);
  if (!s) return -1;
  return CU_add_test(s, "codes decode by the documented layout, exact", test_layout_exact) &&
                 CU_add_test(s, "packed logits = fake-quant logits, KV cache too",
                             test_logits_match) &&
                 CU_add_test(s, "non-ternary and unquantized models refused", test_refusals) &&
                 CU_add_test(s, "ifairy {±1, ±i} codes read back exactly", test_ifairy_exact)
             ? 0
             : -1;
}
