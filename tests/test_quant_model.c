/* model.quant wired into models (layers/quant_config.h): PyTorch parity of a W4A8 GPT and a
 * BitLinear (ternary + absmax8) GPT over 5 AdamW steps, the BitLinear one on BitNet's two-stage
 * schedule (tests/reference/quant_gpt_reference.py),
 * integer codes that dequantize to the fake-quant floats bit for bit, rules and their
 * description, LSQ parameters and their init, one-line config errors, and quantized exports
 * that evaluate exactly like the fake-quant model. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "autograd/ops.h"
#include "ckpt/checkpoint.h"
#include "layers/gpt.h"
#include "optim/adamw.h"
#include "optim/schedule.h"
#include "train/trainer.h"

#include <float.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int64_t read_dataset(hid_t f, const char *name, hid_t type, void *out, int64_t cap) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
  hid_t d = H5Dopen(f, name, H5P_DEFAULT), s = H5Dget_space(d);
  int64_t n = H5Sget_simple_extent_npoints(s);
  int rc = n <= cap ? H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : -1;
  H5Sclose(s);
  H5Dclose(d);
  return rc < 0 ? -1 : n;
}

static void fixture_config(hid_t f, slt_model_config *g, bool bitlinear) {
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
  g->pos = SLT_POS_ROPE;
  g->norm = bitlinear ? SLT_NORM_RMSNORM : SLT_NORM_LAYERNORM;
  g->act = bitlinear ? SLT_ACT_SWIGLU : SLT_ACT_GELU_TANH;
  slt_quant_config *q = &g->quant;
  if (bitlinear) {
    q->weight = (slt_quant_side){.kind = SLT_QC_TERNARY, .shards = 1};
    q->act = (slt_quant_side){.kind = SLT_QC_ABSMAX8};
    q->bitlinear_norm = true;
  } else {
    q->weight = (slt_quant_side){.kind = SLT_QC_INT, .bits = 4, .granularity = SLT_QGRAN_CHANNEL};
    q->act = (slt_quant_side){.kind = SLT_QC_INT, .bits = 8, .granularity = SLT_QGRAN_TOKEN};
  }
}

/* Every parameter from group/<name>, the two name sets equal; -1 on a mismatch. */
static int load_group(hid_t f, const char *group, slt_gpt *m) {
  for (int i = 0; i < m->params.count; i++) {
    slt_param *p = m->params.items[i];
    char path[160];
    snprintf(path, sizeof path, "%s/%s", group, p->name);
    if (read_dataset(f, path, H5T_NATIVE_FLOAT, p->t.data, p->t.numel) != p->t.numel) return -1;
  }
  hid_t g = H5Gopen(f, group, H5P_DEFAULT);
  hsize_t n = 0;
  H5Gget_num_objs(g, &n);
  H5Gclose(g);
  return (hsize_t)m->params.count == n ? 0 : -1;
}

/* Worst relative error of every parameter's values (grads: gradients) against group/. */
static double worst_against(hid_t f, const char *group, slt_gpt *m, bool grads, double *abs_err) {
  double worst = 0;
  *abs_err = 0;
  for (int i = 0; i < m->params.count; i++) {
    slt_param *p = m->params.items[i];
    float *ref = malloc(p->t.numel * sizeof(float));
    char path[160];
    snprintf(path, sizeof path, "%s/%s", group, p->name);
    CU_ASSERT_EQUAL_FATAL(read_dataset(f, path, H5T_NATIVE_FLOAT, ref, p->t.numel), p->t.numel);
    const float *v = grads ? p->t.grad : p->t.data;
    double e = test_rel_err(v, ref, p->t.numel);
    worst = e > worst ? e : worst;
    for (int64_t k = 0; k < p->t.numel; k++)
      *abs_err = fabs(v[k] - ref[k]) > *abs_err ? fabs(v[k] - ref[k]) : *abs_err;
    free(ref);
  }
  return worst;
}

/* Element i of a numeric attribute array (adamw_betas). */
static double attr_at(hid_t f, const char *name, int i) {
  double v[4] = {NAN, NAN, NAN, NAN};
  hid_t a = H5Aopen(f, name, H5P_DEFAULT), s = H5Aget_space(a);
  bool ok = H5Sget_simple_extent_npoints(s) > i && i < 4 && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
  H5Sclose(s);
  H5Aclose(a);
  return ok ? v[i] : NAN;
}

/* The fixture's model with its initial weights and its batch (x, y: B·T tokens). */
typedef struct {
  hid_t f;
  slt_model_config cfg;
  slt_gpt m;
  int B, T, V;
  int32_t x[256], y[256];
} parity_case;

static void parity_open(parity_case *p, const char *kind) {
  char path[512];
  snprintf(path, sizeof path, "%s/qgpt_%s.h5", SLT_FIXTURES, kind);
  p->f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(p->f >= 0);
  fixture_config(p->f, &p->cfg, !strcmp(kind, "bitlinear"));
  int rc = slt_gpt_build(&p->m, &p->cfg);
  if (rc) printf("\n  build: %s\n", slt_err_msg());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL_FATAL(load_group(p->f, "params", &p->m), 0);
  p->T = p->cfg.seq_len, p->V = p->cfg.vocab_size;
  int64_t n = read_dataset(p->f, "batch/x", H5T_NATIVE_INT32, p->x, 256);
  CU_ASSERT_FATAL(n > 0 && n % p->T == 0);
  p->B = (int)(n / p->T);
  CU_ASSERT_EQUAL_FATAL(read_dataset(p->f, "batch/y", H5T_NATIVE_INT32, p->y, 256), n);
}

/* Step 0: logits, loss and every parameter's gradient at 1e-5 relative. */
static void check_first_step(parity_case *p, const char *kind) {
  int64_t n = (int64_t)p->B * p->T * p->V;
  float *ref_logits = malloc(n * sizeof(float)), ref_loss;
  CU_ASSERT_EQUAL_FATAL(read_dataset(p->f, "logits", H5T_NATIVE_FLOAT, ref_logits, n), n);
  CU_ASSERT_EQUAL_FATAL(read_dataset(p->f, "loss", H5T_NATIVE_FLOAT, &ref_loss, 1), 1);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *logits = slt_gpt_logits(&p->m, &c, p->x, p->B, p->T, 0);
  slt_tensor *loss = slt_cross_entropy(&c, logits, p->y, -1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  double le = test_rel_err(logits->data, ref_logits, n), ae;
  slt_params_zero_grad(&p->m.params);
  CU_ASSERT_EQUAL_FATAL(slt_backward(&c, loss), 0);
  double ge = worst_against(p->f, "grads", &p->m, true, &ae);
  if (le > 1e-5 || ge > 1e-5 || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] logits rel %.2e, loss %.7f vs %.7f, worst grad rel %.2e\n", kind, le,
           loss->data[0], ref_loss, ge);
  CU_ASSERT(le <= 1e-5);
  CU_ASSERT(ge <= 1e-5);
  CU_ASSERT_DOUBLE_EQUAL(loss->data[0], ref_loss, 1e-5 * ref_loss);
  free(ref_logits);
  slt_ctx_free(&c);
}

/* The fixture's schedule: bitnet when it has schedule_* attributes, else a constant lr. Its lr
 * and weight-decay factor per step equal the reference's (its own formula) to rounding. */
static slt_schedule fixture_schedule(hid_t f, int steps) {
  slt_schedule s = {.kind = SLT_SCHED_CONSTANT, .peak_lr = test_h5_attr_req(f, "adamw_lr"),
                    .total_steps = steps};
  if (H5Aexists(f, "schedule_total") > 0)
    s.kind = SLT_SCHED_BITNET, s.warmup = test_h5_attr_req(f, "schedule_warmup"),
    s.split = test_h5_attr_req(f, "schedule_split"), s.peak2 = test_h5_attr_req(f, "schedule_peak2"),
    s.total_steps = (int64_t)test_h5_attr_req(f, "schedule_total");
  double lr[8], wd[8];
  CU_ASSERT_EQUAL_FATAL(read_dataset(f, "schedule_lr", H5T_NATIVE_DOUBLE, lr, 8), steps);
  CU_ASSERT_EQUAL_FATAL(read_dataset(f, "schedule_wd", H5T_NATIVE_DOUBLE, wd, 8), steps);
  for (int t = 0; t < steps; t++) {
    slt_schedule_point pt = slt_schedule_at(&s, t);
    if (fabs(pt.lr - lr[t]) > 1e-12 * lr[t] || pt.wd_scale != wd[t])
      printf("\n  step %d: lr %.9g wd %g, reference %.9g %g", t, pt.lr, pt.wd_scale, lr[t], wd[t]);
    CU_ASSERT(fabs(pt.lr - lr[t]) <= 1e-12 * lr[t] && pt.wd_scale == wd[t]);
  }
  return s;
}

/* 5 AdamW steps on the fixture's schedule (weight decay on every parameter, as the fixture):
 * the loss before each step and after the last at 1e-5 relative, and the final weights. */
static void check_steps(parity_case *p, const char *kind) {
  enum { STEPS = 5 };
  double ref[STEPS + 1];
  CU_ASSERT_EQUAL_FATAL(read_dataset(p->f, "adamw_losses", H5T_NATIVE_DOUBLE, ref, STEPS + 1), STEPS + 1);
  slt_schedule sched = fixture_schedule(p->f, STEPS);
  float *wd = malloc(p->m.params.count * sizeof(float));
  for (int i = 0; i < p->m.params.count; i++) wd[i] = (float)test_h5_attr_req(p->f, "adamw_weight_decay");
  slt_adamw opt;
  CU_ASSERT_EQUAL_FATAL(slt_adamw_init(&opt, &p->m.params, (float)attr_at(p->f, "adamw_betas", 0),
                                       (float)attr_at(p->f, "adamw_betas", 1),
                                       (float)test_h5_attr_req(p->f, "adamw_eps")), 0);
  slt_ctx c;
  slt_ctx_init(&c);
  double worst = 0;
  for (int step = 0; step <= STEPS; step++) {
    slt_params_zero_grad(&p->m.params);
    slt_tensor *l = slt_gpt_loss(&p->m, &c, p->x, p->y, p->B, p->T);
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    double e = fabs(l->data[0] - ref[step]) / ref[step];
    worst = e > worst ? e : worst;
    if (e > 1e-5 || getenv("SLT_TEST_VERBOSE"))
      printf("\n  [%s] step %d loss %.7f vs %.7f (rel %.1e)", kind, step, l->data[0], ref[step], e);
    CU_ASSERT(e <= 1e-5);
    if (step < STEPS) {
      CU_ASSERT_EQUAL(slt_backward(&c, l), 0);
      slt_schedule_point pt = slt_schedule_at(&sched, step);
      slt_adamw_step(&opt, &p->m.params, (float)pt.lr, (float)pt.wd_scale, wd, NULL);
    }
    slt_ctx_reset(&c);
  }
  double ae, re = worst_against(p->f, "final", &p->m, false, &ae);
  if (ae > 1e-5 || re > 1e-5 || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] final weights: worst rel %.2e, max abs err %.2e\n", kind, re, ae);
  CU_ASSERT(re <= 1e-5 && ae <= 1e-5);
  slt_adamw_free(&opt);
  slt_ctx_free(&c);
  free(wd);
}

static void check_parity(const char *kind) {
  parity_case *p = calloc(1, sizeof *p);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  parity_open(p, kind);
  check_first_step(p, kind);
  check_steps(p, kind);
  slt_gpt_free(&p->m);
  H5Fclose(p->f);
  free(p);
}

static void test_parity_w4a8(void) { check_parity("w4a8"); }
/* A ternary or absmax8 code is a step function: a value within float noise of a rounding
 * boundary rounds one way here and the other in PyTorch, and the trajectories part for good.
 * The fixture is chosen (seed, 2 x 8 tokens, d 16) so that every |W/γ| stays 5e-5 and every
 * x·s 3e-4 away from a boundary in all 6 forwards (about 6x the float32 rounding of x·s); the
 * reference asserts it. AdamW eps is 1e-5 there: with 1e-8 a near-zero gradient's rounding
 * noise moves its weight by lr·δg/eps. Two warm-up steps, stage-1 decay, stage 2 at step 4. */
static void test_parity_bitlinear(void) { check_parity("bitlinear"); }

/* ---- codes ---- */

/* slt_quant_dequant(slt_quant_codes(x)) == slt_quant_apply(x) bit for bit. */
static void check_codes(slt_quant_spec s, const char *what) {
  enum { R = 8, C = 64 };
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  slt_tensor *x = slt_new(&c, 2, (int[]){R, C});
  slt_rng rng;
  slt_rng_seed(&rng, 4);
  slt_rng_fill_normal(&rng, x->data, x->numel, 0.3f, 1.0f);
  x->data[5] = 0.0f, x->data[7] = -4.0f; /* a zero and an outlier */
  int64_t nb = slt_quant_nscales(&s, R, C), block = slt_quant_block(&s, R, C);
  slt_tensor *ls = NULL, *lo = NULL;
  if (s.kind == SLT_QUANT_LSQ) {
    ls = slt_new(&c, 1, (int[]){(int)nb});
    lo = s.scale == SLT_QSCALE_MINMAX ? slt_new(&c, 1, (int[]){(int)nb}) : NULL;
    CU_ASSERT_EQUAL_FATAL(slt_quant_lsq_init(x, &s, ls->data, lo ? lo->data : NULL), 0);
    ls->data[0] *= 0.5f; /* some values beyond the range */
  }
  slt_tensor *y = slt_quant_apply(&c, x, &s, ls, lo);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  float q[R * C], sc[R * C], z[R * C], back[R * C];
  CU_ASSERT_EQUAL_FATAL(slt_quant_codes(x, &s, ls ? ls->data : NULL, lo ? lo->data : NULL, q, sc, z), 0);
  slt_quant_dequant(&s, R * C, block, q, sc, z, back);
  int differ = 0;
  for (int i = 0; i < R * C; i++) {
    differ += memcmp(&back[i], &y->data[i], 4) != 0;
    if (memcmp(&back[i], &y->data[i], 4) && getenv("SLT_TEST_VERBOSE") && differ < 4)
      printf("\n  x %.9g y %.9g back %.9g q %g s %.9g", x->data[i], y->data[i], back[i], q[i], sc[i / block]);
  }
  if (differ) printf("\n  [%s] %d of %d dequantized values differ\n", what, differ, R * C);
  CU_ASSERT_EQUAL(differ, 0);
  slt_ctx_free(&c);
}

static void test_codes_round_trip(void) {
  slt_quant_spec base = {.kind = SLT_QUANT_INT, .bits = 4, .granularity = SLT_QGRAN_CHANNEL};
  check_codes(base, "int4 channel");
  slt_quant_spec s = base;
  s.scale = SLT_QSCALE_MINMAX, s.bits = 8, s.granularity = SLT_QGRAN_TENSOR;
  check_codes(s, "int8 tensor minmax");
  s = base, s.granularity = SLT_QGRAN_GROUP, s.group_size = 16, s.narrow = true;
  check_codes(s, "int4 group16 narrow");
  s = base, s.kind = SLT_QUANT_LSQ;
  check_codes(s, "lsq4 channel");
  s.scale = SLT_QSCALE_MINMAX;
  check_codes(s, "lsq+ 4 channel");
  s = (slt_quant_spec){.kind = SLT_QUANT_FP, .format = SLT_QFMT_E2M1, .granularity = SLT_QGRAN_CHANNEL};
  check_codes(s, "fp e2m1 channel");
  s.format = SLT_QFMT_E4M3, s.granularity = SLT_QGRAN_TENSOR;
  check_codes(s, "fp e4m3 tensor");
  s = (slt_quant_spec){.kind = SLT_QUANT_MX, .format = SLT_QFMT_E2M1, .granularity = SLT_QGRAN_GROUP,
                       .group_size = 32};
  check_codes(s, "mx e2m1");
  s.format = SLT_QFMT_E5M2;
  check_codes(s, "mx e5m2");
}

/* Published value lists: FP4 E2M1 (OCP MX spec table) and E4M3 landmarks. */
static void test_fp_code_tables(void) {
  static const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  for (int k = 0; k < 8; k++) {
    CU_ASSERT_EQUAL(slt_quant_fp_decode(SLT_QFMT_E2M1, k), e2m1[k]);
    CU_ASSERT_EQUAL(slt_quant_fp_decode(SLT_QFMT_E2M1, k | 8), -e2m1[k]);
    CU_ASSERT_EQUAL(slt_quant_fp_encode(SLT_QFMT_E2M1, -e2m1[k]), k | 8);
  }
  CU_ASSERT_EQUAL(slt_quant_fp_decode(SLT_QFMT_E4M3, 0x7E), 448.0f);
  CU_ASSERT_EQUAL(slt_quant_fp_decode(SLT_QFMT_E4M3, 0x01), 0x1p-9f); /* smallest subnormal */
  CU_ASSERT_EQUAL(slt_quant_fp_decode(SLT_QFMT_E4M3, 0x08), 0x1p-6f); /* smallest normal */
  CU_ASSERT(isnan(slt_quant_fp_decode(SLT_QFMT_E4M3, 0x7F)));
  CU_ASSERT_EQUAL(slt_quant_fp_decode(SLT_QFMT_E5M2, 0x7B), 57344.0f);
  CU_ASSERT_EQUAL(slt_quant_fp_encode(SLT_QFMT_E4M3, 448.0f), 0x7E);
  CU_ASSERT_EQUAL(slt_quant_fp_encode(SLT_QFMT_E4M3, 0.3f), -1); /* not a value of it */
}

/* ---- building quantized models ---- */

static slt_model_config tiny(int layers) {
  slt_config c;
  slt_config_defaults(&c);
  slt_model_config g = c.model;
  g.vocab_size = 64, g.seq_len = 16, g.layers = layers, g.d_model = 64, g.heads = 4, g.ffn_dim = 128;
  return g;
}

static char *describe(const slt_model_config *g, bool shares) {
  slt_model *m = slt_model_build(g, SLT_MODEL_DECLARE);
  if (!m) printf("\n  build: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  static char buf[2048];
  slt_model_describe_quant(m, shares, buf, sizeof buf);
  if (getenv("SLT_TEST_VERBOSE")) printf("\n%s", buf);
  slt_model_free(m);
  return buf;
}

static void test_rules_describe(void) {
  slt_model_config g = tiny(4);
  g.quant.weight.kind = SLT_QC_INT;
  g.quant.act.kind = SLT_QC_INT;
  snprintf(g.quant.rules, sizeof g.quant.rules,
           "*.ffn.* w=int:4:group32 a=fp:e4m3; lm_head w=int:8; blocks.0.* w=none a=none");
  CU_ASSERT_STRING_EQUAL(describe(&g, false),
                         "blocks.0.*: w=none a=none\n"
                         "blocks.1-3.attn.*: w=int8/channel a=int8/token\n"
                         "blocks.1-3.ffn.*: w=int4/group32 a=fp:e4m3/token\n"
                         "lm_head: w=int8/channel a=none\n");
  snprintf(g.quant.rules, sizeof g.quant.rules, "blocks.2.attn.proj w=mx:e2m1");
  CU_ASSERT_STRING_EQUAL(describe(&g, false),
                         "blocks.0-1.*: w=int8/channel a=int8/token\n"
                         "blocks.2.attn.qkv: w=int8/channel a=int8/token\n"
                         "blocks.2.attn.proj: w=mx:e2m1 a=int8/token\n"
                         "blocks.2.ffn.*: w=int8/channel a=int8/token\n"
                         "blocks.3.*: w=int8/channel a=int8/token\n");
  g = tiny(2); /* nothing set: no description, and the same parameters as before */
  CU_ASSERT_STRING_EQUAL(describe(&g, false), "");
}

/* One bad model.quant: the build fails with one line containing want. */
static void check_bad(const slt_model_config *g, const char *want) {
  slt_model *m = slt_model_build(g, SLT_MODEL_DECLARE);
  CU_ASSERT_PTR_NULL(m);
  slt_model_free(m);
  const char *msg = slt_err_msg();
  if (!strstr(msg, want) || strchr(msg, '\n')) printf("\n  want '%s' in: %s\n", want, msg);
  CU_ASSERT_PTR_NOT_NULL(strstr(msg, want));
  CU_ASSERT_PTR_NULL(strchr(msg, '\n'));
}

static void test_bad_configs(void) {
  slt_model_config g = tiny(2), b;
  b = g, b.quant.weight.kind = SLT_QC_INT, b.quant.weight.bits = 1;
  check_bad(&b, "model.quant.weight: quant int: bits must be 2..16, got 1");
  b = g, b.quant.weight.kind = SLT_QC_FP, b.quant.weight.format = SLT_QFMT_E2M1, b.quant.weight.bits = 8;
  check_bad(&b, "model.quant.weight: quant fp: format e2m1 is 4 bits");
  b = g, b.quant.weight.kind = SLT_QC_INT, b.quant.weight.granularity = SLT_QGRAN_GROUP,
  b.quant.weight.group_size = 48;
  check_bad(&b, "blocks.0.attn.qkv: model.quant.weight: blocks.0.attn.qkv.weight: quant int: "
                "group_size 48");
  b = g, b.quant.act.kind = SLT_QC_INT, b.quant.act.granularity = SLT_QGRAN_GROUP;
  b.quant.act.group_size = 96;
  check_bad(&b, "blocks.0.attn.qkv: model.quant.act: the input of 64 features: quant int: "
                "group_size 96");
  b = g, b.quant.act.kind = SLT_QC_TERNARY;
  check_bad(&b, "model.quant.act.kind: ternary is for weights");
  b = g, b.quant.act.kind = SLT_QC_LSQ, b.quant.act.bits = 8;
  check_bad(&b, "model.quant.act.kind: lsq learns weight scales only");
  b = g, b.quant.weight.kind = SLT_QC_ABSMAX8;
  check_bad(&b, "model.quant.weight.kind: absmax8 is for activations");
  b = g, b.quant.weight.kind = SLT_QC_INT, b.quant.weight.granularity = SLT_QGRAN_TOKEN;
  check_bad(&b, "model.quant.weight.granularity: token is for activations");
  b = g, b.quant.bitlinear_norm = true;
  check_bad(&b, "model.quant.bitlinear_norm needs model.norm: rmsnorm");
  b = g, snprintf(b.quant.rules, sizeof b.quant.rules, "*.attn.* w=int:banana");
  check_bad(&b, "model.quant.rules: rule 1 ('*.attn.*') w=: 'banana' in 'int:banana'");
  b = g, snprintf(b.quant.rules, sizeof b.quant.rules, "*.ffn.* w=int:8; blocks.9.* a=int:8");
  check_bad(&b, "model.quant.rules: rule 2 ('blocks.9.*') matches no linear");
  b = g, snprintf(b.quant.rules, sizeof b.quant.rules, "w=int:8");
  check_bad(&b, "model.quant.rules: rule 1 must start with a glob");
  b = g, b.quant.weight.kind = SLT_QC_TERNARY, b.quant.weight.shards = 7;
  check_bad(&b, "shards 7 does not divide");
}

/* LSQ scales are parameters named after their factor, initialised per SPEC §5 from the weights. */
static void test_lsq_params(void) {
  slt_model_config g = tiny(2);
  g.ffn.kind = SLT_LIN_LOWRANK, g.ffn.rank = 16;
  g.quant.weight.kind = SLT_QC_LSQ, g.quant.weight.bits = 4;
  slt_model *m = slt_model_build(&g, SLT_MODEL_ALLOC);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  slt_model_init_weights(m, 5);
  const slt_param *s = slt_params_find(m->params, "blocks.1.ffn.fc1.v.lsq_scale");
  const slt_param *v = slt_params_find(m->params, "blocks.1.ffn.fc1.v");
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  CU_ASSERT(s->t.ndim == 1 && s->t.shape[0] == 16); /* per output channel of v (16, 64) */
  CU_ASSERT_PTR_NOT_NULL(slt_params_find(m->params, "blocks.0.attn.qkv.weight.lsq_scale"));
  CU_ASSERT_PTR_NULL(slt_params_find(m->params, "wte.weight.lsq_scale"));
  for (int r = 0; r < 16; r++) {
    double a = 0;
    for (int k = 0; k < 64; k++) a += fabs(v->t.data[r * 64 + k]);
    double want = 2.0 * (a / 64) / sqrt(7.0); /* 2·mean|w|/√qmax */
    CU_ASSERT(fabs(s->t.data[r] - want) <= 1e-6 * want);
  }
  slt_model_free(m);
}

/* The trainer exempts LSQ scales from weight decay (and only them, with these settings). */
static void test_lsq_no_decay(void) {
  slt_config c;
  slt_config_defaults(&c);
  c.model = tiny(2);
  c.model.quant.weight.kind = SLT_QC_LSQ;
  c.data.source = SLT_DATA_SYNTHETIC;
  c.train.steps = 2, c.train.micro_batch = 2, c.train.eval_every = 0;
  snprintf(c.out_dir, sizeof c.out_dir, "%s", test_tpath("lsq_decay"));
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init_resume(&t, &c, NULL);
  test_quiet(false);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  int lsq = 0;
  for (int i = 0; i < t.model->params->count; i++) {
    bool is = strstr(t.model->params->items[i]->name, ".lsq_scale") != NULL;
    lsq += is;
    CU_ASSERT_EQUAL(t.wd[i], is ? 0.0f : (float)c.optim.weight_decay);
  }
  CU_ASSERT_EQUAL(lsq, 8);
  slt_trainer_free(&t);
}

/* ---- quantized export ---- */

/* Export a model quantized by rules of every kind, load it back: the logits are the same floats
 * as the fake-quant model's, and /quant holds int8/uint8 codes. */
static void test_export_exact(void) {
  slt_config c;
  slt_config_defaults(&c);
  c.model = tiny(4);
  c.model.ffn.kind = SLT_LIN_LOWRANK, c.model.ffn.rank = 16;
  c.model.tie_embeddings = false;
  slt_quant_side *w = &c.model.quant.weight; /* the rest: the config's defaults */
  w->kind = SLT_QC_INT, w->bits = 4, w->granularity = SLT_QGRAN_GROUP, w->group_size = 32;
  c.model.quant.act.kind = SLT_QC_INT;
  snprintf(c.model.quant.rules, sizeof c.model.quant.rules,
           "blocks.1.* w=lsq:4:channel:minmax; blocks.2.* w=fp:e2m1:channel a=absmax8; "
           "blocks.3.attn.* w=mx:e2m1; blocks.3.ffn.* w=ternary; lm_head w=int:8");
  c.data.source = SLT_DATA_SYNTHETIC;
  slt_model *m = slt_model_build(&c.model, SLT_MODEL_ALLOC);
  if (!m) printf("\n  build: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  slt_model_init_weights(m, 9);
  const char *out = test_tpath("qexport.h5");
  unlink(out);
  slt_loader_cursor cur = {0};
  slt_ckpt_data d = {.cfg = &c, .params = m->params, .optim = {.name = "none"},
                     .state = {.world = 1, .cursors = &cur}};
  int count = 0;
  int64_t bytes = 0;
  int rc = slt_ckpt_write_quantized(out, &d, m, &count, &bytes);
  if (rc) printf("\n  export: %s\n", slt_err_msg());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  /* Layer 0 (dense FFN): 4 weights; layers 1-3 (lowrank FFN): 2 + 2·2 each; the head: 1. */
  CU_ASSERT_EQUAL(count, 4 + 3 * 6 + 1);
  slt_config back, tied = c; /* a quantized head tied to wte: refused, nothing written */
  tied.model.tie_embeddings = true;
  slt_model *h = slt_model_build(&tied.model, SLT_MODEL_ALLOC);
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  d.cfg = &tied;
  CU_ASSERT_EQUAL(slt_ckpt_write_quantized(test_tpath("tied.h5"), &d, h, &count, &bytes), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "tied"));
  CU_ASSERT(access(test_tpath("tied.h5"), F_OK) != 0);
  slt_model_free(h);
  slt_model *e = slt_ckpt_load_model(out, &back);
  if (!e) printf("\n  load: %s\n", slt_err_msg());
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT_EQUAL(back.model.quant.weight.kind, SLT_QC_NONE);
  CU_ASSERT_PTR_NULL(strstr(back.model.quant.rules, "w="));
  int32_t ids[2 * 16];
  for (int i = 0; i < 32; i++) ids[i] = (i * 7) % 64;
  slt_ctx c1, c2;
  slt_ctx_init(&c1), slt_ctx_init(&c2);
  slt_ctx_set_no_grad(&c1, true), slt_ctx_set_no_grad(&c2, true);
  slt_tensor *a = slt_model_logits(m, &c1, ids, 2, 16, 0), *b = slt_model_logits(e, &c2, ids, 2, 16, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(memcmp(a->data, b->data, a->numel * sizeof(float)), 0);
  hid_t f = H5Fopen(out, H5F_ACC_RDONLY, H5P_DEFAULT);
  hid_t ds = H5Dopen(f, "/quant/blocks.0.attn.qkv.weight/codes", H5P_DEFAULT), t = H5Dget_type(ds);
  CU_ASSERT(H5Tget_size(t) == 1 && H5Tget_sign(t) == H5T_SGN_2);
  H5Tclose(t), H5Dclose(ds), H5Fclose(f);
  slt_ctx_free(&c1), slt_ctx_free(&c2);
  slt_model_free(e);
  slt_model_free(m);
}

static int suite_init(void) { return test_tmpdir_init("quant_model"); }
static int suite_clean(void) { return test_tmpdir_cleanup(); }

int register_quant_model_suite(void) {
  CU_pSuite s = CU_add_suite("quant_model", suite_init, suite_clean);
  return !s || !CU_add_test(s, "parity: W4A8 per-channel/per-token GPT vs PyTorch", test_parity_w4a8) ||
         !CU_add_test(s, "parity: BitLinear ternary + absmax8 GPT vs PyTorch", test_parity_bitlinear) ||
         !CU_add_test(s, "codes dequantize to the fake-quant floats", test_codes_round_trip) ||
         !CU_add_test(s, "fp code tables", test_fp_code_tables) ||
         !CU_add_test(s, "rules and their description", test_rules_describe) ||
         !CU_add_test(s, "bad model.quant: one line naming the key", test_bad_configs) ||
         !CU_add_test(s, "LSQ scales: names, shapes, init", test_lsq_params) ||
         !CU_add_test(s, "LSQ scales: no weight decay", test_lsq_no_decay) ||
         !CU_add_test(s, "export --quantize evaluates exactly", test_export_exact);
}
