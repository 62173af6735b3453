/* The complex models behind the model seam: model.arch ifairy (layers/ifairy_model.c) gives the
 * logits of the model itself, real parameter counts from a hand formula, a KV-cache decoder equal
 * to the full forward, one-line config errors; the widely-linear op of Fairy2i against complex
 * arithmetic and by gradcheck; and slt_fairy2i_convert of a trained LLaMA-style GPT computing the
 * same logits (≤ 1e-4 relative). */
#include "suites.h"
#include "test_util.h"

#include "autograd/complex.h"
#include "autograd/error.h"
#include "ckpt/checkpoint.h"
#include "config/config.h"
#include "layers/fairy2i.h"
#include "layers/ifairy.h"
#include "train/train.h"

#include <complex.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* A tiny ifairy model section: V 37, T 8, 2 layers, H 8 complex, 2 heads, F 12 complex. */
static slt_model_config tiny(int stages, bool act8) {
  slt_config c;
  slt_config_defaults(&c);
  slt_model_config m = c.model;
  m.arch = SLT_ARCH_IFAIRY;
  m.vocab_size = 37, m.seq_len = 8, m.layers = 2, m.d_model = 8, m.heads = 2, m.ffn_dim = 12;
  m.norm = SLT_NORM_RMSNORM, m.act = SLT_ACT_RELU2, m.bias = false, m.tie_embeddings = false;
  m.phasequant.stages = stages;
  m.act_quant = act8 ? SLT_ACT_QUANT_INT8 : SLT_ACT_QUANT_NONE;
  return m;
}

static const int32_t IDS[14] = {1, 5, 9, 36, 0, 7, 7, 2, 30, 11, 4, 19, 3, 8};

/* The seam's model and the model built directly compute the same logits and loss, bit for bit. */
static void test_seam_is_the_model(void) {
  for (int v = 0; v < 3; v++) {
    slt_model_config mc = tiny(v, v > 0);
    slt_model *m = slt_model_build(&mc, SLT_MODEL_ALLOC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    slt_model_init_weights(m, 5);
    slt_ifairy f;
    slt_ifairy_config fc = slt_ifairy_config_of(&mc);
    CU_ASSERT_EQUAL_FATAL(slt_ifairy_build(&f, &fc, true), 0);
    slt_ifairy_init_weights(&f, 5);
    CU_ASSERT_EQUAL(f.params.numel, m->params->numel);
    CU_ASSERT(!memcmp(f.params.data, m->params->data, f.params.numel * sizeof(float)));
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *a = slt_model_logits(m, &c, IDS, 2, 7, 0),
               *b = slt_ifairy_logits(&f, &c, IDS, 2, 7, 0);
    CU_ASSERT_FATAL(a && b);
    CU_ASSERT(!memcmp(a->data, b->data, a->numel * sizeof(float)));
    slt_tensor *la = slt_model_loss(m, &c, IDS, IDS + 1, 1, 7);
    slt_tensor *lb = slt_ifairy_loss(&f, &c, IDS, IDS + 1, 1, 7);
    CU_ASSERT(la && lb && la->data[0] == lb->data[0] && isfinite(la->data[0]));
    CU_ASSERT_EQUAL(slt_model_flops_per_token(m, 8), slt_ifairy_flops_per_token(&f, 8));
    slt_ctx_free(&c);
    slt_ifairy_free(&f);
    slt_model_free(m);
  }
}

/* Real parameter counts (each complex weight two real numbers) from the SPEC §6 layout. */
static void test_counts(void) {
  slt_model_config mc = tiny(1, true);
  int64_t V = 37, H = 8, F = 12, L = 2;
  int64_t per_layer = 8 * H * H + 6 * H * F /* q k v o; gate up down, re and im */ + 3 * 2 * H +
                      2 * F; /* attn_norm, attn.sub_norm, mlp_norm; mlp.sub_norm */
  int64_t total = 2 * V * 2 * H + 2 * H + L * per_layer; /* embed, head, final norm */
  for (int mode = 0; mode < 2; mode++) {
    slt_model *m = slt_model_build(&mc, mode ? SLT_MODEL_DECLARE : SLT_MODEL_ALLOC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    slt_model_counts n = slt_model_count(m);
    CU_ASSERT_EQUAL(n.total, total);
    CU_ASSERT_EQUAL(n.embedding, V * 2 * H);
    CU_ASSERT_EQUAL(n.ffn, L * (6 * H * F + 2 * F));
    CU_ASSERT(mode == 0 || m->params->data == NULL);
    char buf[200];
    slt_model_describe(m, buf, sizeof buf);
    CU_ASSERT_PTR_NOT_NULL(strstr(buf, "ifairy"));
    slt_model_free(m);
  }
}

/* The KV-cache decoder (layers/ifairy_infer.c): prefill 4 tokens, then 3 one at a time; every
 * row equals the full forward's within 1e-5 of the largest logit, in full precision and with
 * PhaseQuant + 8-bit activations. Only attention's order of operations differs (online softmax
 * over cached keys against slt_attention's GEMMs): a few ulps of the attention output. With 8-bit
 * activations, a value that moves by those ulps across a rounding boundary would shift one input
 * by a step; none does for this model (checked: the difference stays at float rounding), and a
 * wrong cache position, RoPE offset or causal range gives O(1e-2) and more. */
static void test_decoder(void) {
  for (int v = 0; v < 2; v++) {
    slt_model_config mc = tiny(v, v > 0);
    slt_model *m = slt_model_build(&mc, SLT_MODEL_ALLOC);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    slt_model_init_weights(m, 9);
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *full = slt_model_logits(m, &c, IDS, 1, 7, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(full);
    slt_decoder *d = slt_model_decoder(m, &(slt_decoder_opts){.cap = 7, .prefill = 4});
    CU_ASSERT_PTR_NOT_NULL_FATAL(d);
    CU_ASSERT_STRING_EQUAL(d->note, ""); /* a real KV cache: no prefix-recompute notice */
    int V = 37, at = 0;
    double dmax = 0, scale = 0;
    for (int64_t i = 0; i < full->numel; i++) scale = fmax(scale, fabs(full->data[i]));
    for (int n = 4; at < 7; at += n, n = 1) {
      slt_tensor *y = d->forward(d, &c, IDS + at, n);
      CU_ASSERT_FATAL(y && y->shape[1] == n && y->shape[2] == V);
      for (int k = 0; k < n * V; k++)
        dmax = fmax(dmax, fabs(y->data[k] - full->data[(size_t)at * V + k]));
    }
    printf("\n  stages %d: KV decoder vs full forward max |d| %.3g of max |logit| %.3g", v, dmax,
           scale);
    CU_ASSERT(dmax <= 1e-5 * scale && scale > 0);
    CU_ASSERT_PTR_NULL(d->forward(d, &c, IDS, 1)); /* past cap */
    CU_ASSERT(test_err_has("KV cache", "7 of 7"));
    slt_decoder_free(d);
    slt_ctx_free(&c);
    slt_model_free(m);
  }
}

/* Each bad section is refused by slt_model_check with one line naming the key. */
static void test_config_errors(void) {
  slt_model_config m;
#define BAD(stmt, key, also)                                                                       \
  do {                                                                                             \
    m = tiny(1, true);                                                                             \
    stmt;                                                                                          \
    CU_ASSERT_EQUAL(slt_model_check(&m), -1);                                                      \
    CU_ASSERT(test_err_has(key, also));                                                            \
    CU_ASSERT_PTR_NULL(slt_model_build(&m, SLT_MODEL_DECLARE));                                    \
  } while (0)
  BAD(m.norm = SLT_NORM_LAYERNORM, "model.norm", "rmsnorm");
  BAD(m.act = SLT_ACT_SWIGLU, "model.act", "relu2");
  BAD(m.pos = SLT_POS_LEARNED, "model.pos", "rope");
  BAD(m.bias = true, "model.bias", "false");
  BAD(m.tie_embeddings = true, "model.tie_embeddings", "false");
  BAD(m.kv_heads = 1, "model.kv_heads", "grouped-query");
  BAD(m.ffn.kind = SLT_LIN_LOWRANK, "model.ffn.kind", "dense");
  BAD(m.heads = 3, "model.heads", "model.d_model");
  BAD((m.arch = SLT_ARCH_GPT, m.norm = SLT_NORM_LAYERNORM), "model.phasequant.stages", "gpt");
  BAD((m.arch = SLT_ARCH_GPT, m.phasequant.stages = 0), "model.act_quant", "gpt");
  BAD((m.arch = SLT_ARCH_FAIRY2I), "model.act", "swiglu");
#undef BAD
  m = tiny(2, false);
  CU_ASSERT_EQUAL(slt_model_check(&m), 0);
}

/* ---- Fairy2i's widely-linear map ---- */

static slt_tensor *f_wl(slt_ctx *c, slt_tensor *const *in, const void *user) {
  (void)user;
  return slt_cplx_wl_linear(c, in[0], in[1], in[2], in[3], in[4]);
}

/* y = U·x + W·conj(x) in C99 complex double, against the op (rows of x in [re | im]). */
static void test_wl_op(void) {
  int NO = 3, NI = 4, R = 5;
  slt_tensor *in[5] = {test_randn(71, 2, (int[]){R, 2 * NI}, 1.0f, true),
                       test_randn(72, 2, (int[]){NO, NI}, 1.0f, true),
                       test_randn(73, 2, (int[]){NO, NI}, 1.0f, true),
                       test_randn(74, 2, (int[]){NO, NI}, 1.0f, true),
                       test_randn(75, 2, (int[]){NO, NI}, 1.0f, true)};
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *y = slt_cplx_wl_linear(&c, in[0], in[1], in[2], in[3], in[4]);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  double worst = 0;
  for (int r = 0; r < R; r++)
    for (int o = 0; o < NO; o++) {
      double complex s = 0;
      for (int i = 0; i < NI; i++) {
        const float *x = in[0]->data + r * 2 * NI;
        double complex z = x[i] + I * x[NI + i];
        double complex u = in[1]->data[o * NI + i] + I * in[2]->data[o * NI + i];
        double complex w = in[3]->data[o * NI + i] + I * in[4]->data[o * NI + i];
        s += u * z + w * conj(z);
      }
      double e = cabs(s - (y->data[r * 2 * NO + o] + I * y->data[r * 2 * NO + NO + o]));
      if (e > worst) worst = e;
    }
  CU_ASSERT(worst < 1e-5);
  slt_ctx_free(&c);
  test_gradcheck("cplx_wl_linear", f_wl, 5, in, NULL, 1e-2);
  in[2]->requires_grad = false; /* one part frozen */
  test_gradcheck("cplx_wl_linear, u_im frozen", f_wl, 5, in, NULL, 1e-2);
  for (int k = 0; k < 5; k++) slt_tensor_free(in[k]);
}

/* A LLaMA-style GPT trained 30 steps on the synthetic source (tied or not), converted: the same
 * logits within 1e-4 relative; with PhaseQuant x2 on U and W the loss stays finite and every
 * parameter of the complex model gets a gradient. */
static void check_conversion(bool tied) {
  slt_config c;
  slt_config_defaults(&c);
  snprintf(c.out_dir, sizeof c.out_dir, "%s", test_tpath(tied ? "gpt_tied" : "gpt"));
  c.seed = 3;
  slt_quant_config no_quant = c.model.quant; /* the schema's defaults: quantization off */
  c.model = (slt_model_config){.arch = SLT_ARCH_GPT,
                               .vocab_size = 48,
                               .seq_len = 16,
                               .layers = 2,
                               .d_model = 24,
                               .heads = 3,
                               .ffn_dim = 40,
                               .norm = SLT_NORM_RMSNORM,
                               .norm_eps = 1e-5,
                               .pos = SLT_POS_ROPE,
                               .rope_base = 10000,
                               .act = SLT_ACT_SWIGLU,
                               .tie_embeddings = tied,
                               .init_std = 0.02};
  c.model.quant = no_quant;
  c.data.source = SLT_DATA_SYNTHETIC;
  c.optim.lr = 1e-2;
  c.train.steps = 30, c.train.micro_batch = 4, c.train.eval_every = 0, c.train.threads = 2;
  c.train.ckpt_every = 0, c.train.log_every = 30;
  CU_ASSERT_EQUAL_FATAL(slt_config_validate(&c), 0);
  slt_train_result r;
  test_quiet(true);
  int rc = slt_train(&c, &(slt_train_opts){0}, &r);
  test_quiet(false);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  char path[SLT_CKPT_PATH];
  slt_ckpt_path(path, sizeof path, c.out_dir, 30);
  slt_config ck;
  slt_model *g = slt_ckpt_load_model(path, &ck);
  CU_ASSERT_PTR_NOT_NULL_FATAL(g);
  slt_model_config fc;
  CU_ASSERT_EQUAL_FATAL(slt_fairy2i_config_from_gpt(g->cfg, 0, SLT_ACT_QUANT_NONE, &fc), 0);
  CU_ASSERT(fc.d_model == 12 && fc.ffn_dim == 20 && fc.arch == SLT_ARCH_FAIRY2I);
  slt_model *f = slt_model_build(&fc, SLT_MODEL_ALLOC);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL_FATAL(slt_fairy2i_convert(g, f), 0);
  /* As many real numbers as the untied GPT: each 2n·2m matrix becomes U and W, n·m complex each */
  int64_t V = 48, C = 24, L = 2, Fr = 40;
  CU_ASSERT_EQUAL(slt_model_count(f).total, 2 * V * C + C + L * (2 * C + 4 * C * C + 3 * C * Fr));
  int32_t ids[32];
  for (int i = 0; i < 32; i++) ids[i] = (i * 7 + 3) % 48;
  slt_ctx x;
  slt_ctx_init(&x);
  slt_tensor *a = slt_model_logits(g, &x, ids, 2, 16, 0),
             *b = slt_model_logits(f, &x, ids, 2, 16, 0);
  CU_ASSERT_FATAL(a && b && a->numel == b->numel);
  double e = test_rel_err(b->data, a->data, a->numel);
  if (e > 1e-4 || getenv("SLT_TEST_VERBOSE"))
    printf("\n  fairy2i%s: logits rel err %.2e", tied ? " (tied)" : "", e);
  CU_ASSERT(e <= 1e-4);
  slt_ctx_reset(&x);
  slt_model_free(f);
  fc.phasequant.stages = 2;
  f = slt_model_build(&fc, SLT_MODEL_ALLOC);
  CU_ASSERT_EQUAL_FATAL(slt_fairy2i_convert(g, f), 0);
  slt_tensor *loss = slt_model_loss(f, &x, ids, ids + 1, 1, 15);
  CU_ASSERT_FATAL(loss && isfinite(loss->data[0]));
  slt_params_zero_grad(f->params);
  CU_ASSERT_EQUAL(slt_backward(&x, loss), 0);
  for (int i = 0; i < f->params->count; i++) {
    slt_param *p = f->params->items[i];
    double s = 0;
    for (int64_t j = 0; j < p->t.numel; j++) s += fabs(p->t.grad[j]);
    if (!(s > 0)) printf("\n  no gradient on %s", p->name);
    CU_ASSERT(s > 0);
  }
  slt_ctx_free(&x);
  slt_model_free(f);
  slt_model_free(g);
}

static void test_fairy2i_untied(void) {
  check_conversion(false);
}
static void test_fairy2i_tied(void) {
  check_conversion(true);
}

/* Sources that are not LLaMA-style are refused with the reason. */
static void test_fairy2i_refuses(void) {
  slt_config c;
  slt_config_defaults(&c); /* layernorm, gelu, biases */
  slt_model_config out;
  CU_ASSERT_EQUAL(slt_fairy2i_config_from_gpt(&c.model, 2, SLT_ACT_QUANT_NONE, &out), -1);
  CU_ASSERT(test_err_has("LLaMA-style", "rmsnorm"));
  c.model.norm = SLT_NORM_RMSNORM, c.model.act = SLT_ACT_SWIGLU, c.model.bias = false;
  c.model.kv_heads = 2;
  CU_ASSERT_EQUAL(slt_fairy2i_config_from_gpt(&c.model, 2, SLT_ACT_QUANT_NONE, &out), -1);
  CU_ASSERT(test_err_has("LLaMA-style", "kv_heads"));
  c.model.kv_heads = 0;
  CU_ASSERT_EQUAL(slt_fairy2i_config_from_gpt(&c.model, 2, SLT_ACT_QUANT_NONE, &out), 0);
}

/* The recipes load and validate; the 700M one has the published shape and hyper-parameters
 * (SPEC §6) and, declared only, the real parameter count of that layout: each complex weight is
 * two real numbers, so "700M" complex-weight blocks hold 1.36G real numbers. */
static void test_recipes(void) {
  slt_config c;
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL_FATAL(
      slt_config_load_file(&c, SLT_SOURCE_DIR "/configs/recipes/ifairy_700m.yaml"), 0);
  CU_ASSERT_EQUAL_FATAL(slt_config_validate(&c), 0);
  const slt_model_config *m = &c.model;
  CU_ASSERT(m->arch == SLT_ARCH_IFAIRY && m->d_model == 1536 && m->ffn_dim == 4096 &&
            m->layers == 24 && m->heads == 16 && m->rope_base == 10000 &&
            m->phasequant.stages == 1 && m->act_quant == SLT_ACT_QUANT_INT8);
  CU_ASSERT(c.optim.name == SLT_OPT_ADAMW && c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.95 &&
            c.optim.clip == 2.0 && c.optim.lr == 1.5e-3 && c.optim.weight_decay == 0.1);
  CU_ASSERT(c.schedule.name == SLT_SCHED_IFAIRY && c.schedule.warmup == 375);
  slt_model *d = slt_model_build(m, SLT_MODEL_DECLARE);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  int64_t V = 32000, H = 1536, F = 4096;
  int64_t blocks = 24 * (8 * H * H + 6 * H * F + 6 * H + 2 * F);
  CU_ASSERT_EQUAL(slt_model_count(d).total, 2 * V * 2 * H + 2 * H + blocks);
  slt_model_free(d);
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL(slt_config_load_file(&c, SLT_SOURCE_DIR "/configs/recipes/ifairy_tiny.yaml"), 0);
  CU_ASSERT_EQUAL(slt_config_validate(&c), 0);
  CU_ASSERT(c.model.arch == SLT_ARCH_IFAIRY && c.schedule.name == SLT_SCHED_IFAIRY &&
            c.optim.clip == 2.0);
}

static int init(void) {
  return test_tmpdir_init("ifairy_model");
}

int register_ifairy_model_suite(void) {
  CU_pSuite s = CU_add_suite("ifairy_model", init, test_tmpdir_cleanup);
  return !s || !CU_add_test(s, "the seam's model is the iFairy model", test_seam_is_the_model) ||
                 !CU_add_test(s, "real parameter counts, declare mode", test_counts) ||
                 !CU_add_test(s, "KV-cache decoder equals the full forward", test_decoder) ||
                 !CU_add_test(s, "config errors", test_config_errors) ||
                 !CU_add_test(s, "widely-linear op: complex arithmetic, gradcheck", test_wl_op) ||
                 !CU_add_test(s, "fairy2i: trained GPT converts to the same logits",
                              test_fairy2i_untied) ||
                 !CU_add_test(s, "fairy2i: tied GPT converts", test_fairy2i_tied) ||
                 !CU_add_test(s, "fairy2i: non-LLaMA sources refused", test_fairy2i_refuses) ||
                 !CU_add_test(s, "recipes ifairy_700m and ifairy_tiny", test_recipes)
             ? -1
             : 0;
}
