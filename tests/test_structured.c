/* Structured linears (layers/structured.h): gradchecks, pre-merge, parameter accounting, shape
 * errors, init, and parity with the PyTorch reference (tests/reference/structured_reference.py). */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "layers/gpt.h"
#include "layers/structured.h"
#include "optim/adamw.h"

#include <hdf5.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A layer with its own parameter store. */
typedef struct {
  slt_params p;
  slt_lin l;
} layer;

/* Build a layer, fill every weight N(0, std) ("normal" init) and the bias N(0, std) too. */
static int layer_build(layer *y, slt_lin_spec spec, int in, int out, bool bias, float std,
                       uint64_t seed) {
  slt_params_init(&y->p);
  if (slt_lin_declare_spec(&y->l, &y->p, "fc", in, out, bias, &spec) || slt_params_alloc(&y->p))
    return -1;
  slt_rng rng;
  slt_rng_seed(&rng, seed);
  slt_lin_init(&y->l, &rng, std);
  if (y->l.bias) slt_rng_fill_normal(&rng, y->l.bias->data, out, 0.0f, std);
  return 0;
}

static slt_lin_spec spec_of(slt_lin_struct kind, int rank, int nblocks) {
  return (slt_lin_spec){kind, rank, nblocks, SLT_LIN_INIT_NORMAL};
}

static const char *kind_name(slt_lin_struct k) {
  static const char *n[] = {"dense", "lowrank", "blockdense", "blockshuffle"};
  return n[k];
}

/* ---- gradchecks ---- */

static slt_tensor *f_layer(slt_ctx *c, slt_tensor *const *in, const void *u) {
  return slt_lin_forward((slt_lin *)u, c, in[0]);
}

static void check_grad(slt_lin_struct kind, int in, int out, int rank, int nb) {
  layer y;
  CU_ASSERT_EQUAL_FATAL(layer_build(&y, spec_of(kind, rank, nb), in, out, true, 1.0f, 7), 0);
  slt_tensor *x = test_randn(11, 3, (int[]){2, 3, in}, 1.0f, true);
  slt_tensor *inputs[4] = {x, y.l.factor[0], y.l.factor[1], y.l.bias};
  char label[96];
  snprintf(label, sizeof label, "%s N=%d M=%d R=%d B=%d", kind_name(kind), in, out, rank, nb);
  test_gradcheck(label, f_layer, 4, inputs, &y.l, 1e-2);
  slt_tensor_free(x);
  slt_params_free(&y.p);
}

static void test_grad_lowrank(void) {
  check_grad(SLT_LIN_LOWRANK, 8, 12, 4, 0);
  check_grad(SLT_LIN_LOWRANK, 12, 6, 3, 0);
}
static void test_grad_blockdense(void) {
  check_grad(SLT_LIN_BLOCKDENSE, 8, 12, 4, 2);
  check_grad(SLT_LIN_BLOCKDENSE, 12, 6, 6, 3);
}
static void test_grad_blockshuffle(void) {
  check_grad(SLT_LIN_BLOCKSHUFFLE, 8, 12, 0, 2);
  check_grad(SLT_LIN_BLOCKSHUFFLE, 12, 6, 0, 3);
  check_grad(SLT_LIN_BLOCKSHUFFLE, 8, 16, 0, 4);
}

/* The two ops the structured linears are built from, each on its own: the gradcheck, and the
 * forward against the definition in autograd/ops.h written out as loops. */
static slt_tensor *f_blockdiag(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_blockdiag(c, in[0], in[1]);
}

typedef struct {
  int r, l;
} rl;

static slt_tensor *f_interleave(slt_ctx *c, slt_tensor *const *in, const void *u) {
  const rl *d = u;
  return slt_interleave(c, in[0], d->r, d->l, in[1]);
}

/* y[.., b·m + i] = Σ_j W_b[i][j] · x[.., b·n + j] */
static void check_blockdiag(int nb, int n, int m) {
  slt_tensor *x = test_randn(21, 3, (int[]){2, 3, nb * n}, 1.0f, true);
  slt_tensor *w = test_randn(22, 3, (int[]){nb, m, n}, 1.0f, true);
  char label[64];
  snprintf(label, sizeof label, "blockdiag B=%d n=%d m=%d", nb, n, m);
  test_gradcheck(label, f_blockdiag, 2, (slt_tensor *[]){x, w}, NULL, 1e-2);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *y = slt_blockdiag(&c, x, w);
  CU_ASSERT_FATAL(y && y->ndim == 3 && y->shape[2] == nb * m);
  double worst = 0;
  for (int row = 0; row < 6; row++)
    for (int b = 0; b < nb; b++)
      for (int i = 0; i < m; i++) {
        double want = 0;
        for (int j = 0; j < n; j++)
          want += (double)w->data[(b * m + i) * n + j] * x->data[row * nb * n + b * n + j];
        worst = fmax(worst, fabs(y->data[row * nb * m + b * m + i] - want));
      }
  CU_ASSERT(worst < 1e-5);
  slt_ctx_free(&c);
  slt_tensor_free(x);
  slt_tensor_free(w);
}

/* y[.., j·r + i] = x[.., i·l + j] + bias[j·r + i] */
static void check_interleave(int r, int l, bool bias) {
  slt_tensor *x = test_randn(31, 3, (int[]){2, 3, r * l}, 1.0f, true);
  slt_tensor *b = bias ? test_randn(32, 1, (int[]){r * l}, 1.0f, true) : NULL;
  rl d = {r, l};
  char label[64];
  snprintf(label, sizeof label, "interleave r=%d l=%d%s", r, l, bias ? " +bias" : "");
  test_gradcheck(label, f_interleave, bias ? 2 : 1, (slt_tensor *[]){x, b}, &d, 1e-2);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *y = slt_interleave(&c, x, r, l, b);
  CU_ASSERT_FATAL(y && y->numel == x->numel);
  int bad = 0;
  for (int row = 0; row < 6; row++)
    for (int i = 0; i < r; i++)
      for (int j = 0; j < l; j++)
        bad += y->data[row * r * l + j * r + i] !=
               x->data[row * r * l + i * l + j] + (b ? b->data[j * r + i] : 0.0f);
  CU_ASSERT_EQUAL(bad, 0);
  slt_ctx_free(&c);
  slt_tensor_free(x);
  slt_tensor_free(b);
}

static void test_grad_blockdiag(void) {
  check_blockdiag(2, 4, 6);
  check_blockdiag(3, 5, 2);
  check_blockdiag(1, 3, 3);
}

static void test_grad_interleave(void) {
  check_interleave(3, 4, true);
  check_interleave(3, 4, false);
  check_interleave(2, 5, true);
  check_interleave(4, 1, false);
}

/* ---- pre-merge: x·Wᵀ + b with the merged W equals the factored forward ---- */

static void check_merge(slt_lin_struct kind, int in, int out, int rank, int nb) {
  layer y;
  CU_ASSERT_EQUAL_FATAL(layer_build(&y, spec_of(kind, rank, nb), in, out, true, 0.3f, 3), 0);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *x = test_randn(5, 2, (int[]){17, in}, 1.0f, false);
  slt_tensor *w = slt_tensor_new(2, (int[]){out, in});
  CU_ASSERT_EQUAL_FATAL(y.l.kind->merge(&y.l, w->data), 0);
  slt_tensor *yf = slt_lin_forward(&y.l, &c, x);
  slt_tensor *yd = slt_linear(&c, x, w, y.l.bias);
  CU_ASSERT_PTR_NOT_NULL_FATAL(yf);
  double e = test_rel_err(yf->data, yd->data, yf->numel);
  if (e > 1e-5 || getenv("SLT_TEST_VERBOSE"))
    printf("\n  merge %s N=%d M=%d R=%d B=%d: rel err %.2e", kind_name(kind), in, out, rank, nb, e);
  CU_ASSERT(e <= 1e-5);
  slt_tensor_free(x);
  slt_tensor_free(w);
  slt_ctx_free(&c);
  slt_params_free(&y.p);
}

static void test_merge(void) {
  const int shapes[][2] = {{64, 96}, {96, 64}, {48, 48}, {32, 128}};
  for (int s = 0; s < 4; s++) {
    int N = shapes[s][0], M = shapes[s][1];
    check_merge(SLT_LIN_LOWRANK, N, M, 16, 0);
    check_merge(SLT_LIN_BLOCKDENSE, N, M, 16, 2);
    check_merge(SLT_LIN_BLOCKDENSE, N, M, 32, 4);
    for (int B = 2; B <= 8; B *= 2) check_merge(SLT_LIN_BLOCKSHUFFLE, N, M, 0, B);
  }
}

/* The permutations matter: BlockShuffle's merged W must differ from the reference code's
 * unpermuted blockdiag(W2)·blockdiag(W1) (SPEC §2 says the reference omits them). */
static void test_shuffle_not_blockdiag(void) {
  layer y;
  CU_ASSERT_EQUAL_FATAL(layer_build(&y, spec_of(SLT_LIN_BLOCKSHUFFLE, 0, 2), 8, 8, false, 1.0f, 9), 0);
  float w[64];
  y.l.kind->merge(&y.l, w);
  /* blockdiag·blockdiag is block-diagonal: the off-diagonal (4×4) blocks would be zero. */
  double off = 0;
  for (int i = 0; i < 4; i++)
    for (int j = 4; j < 8; j++) off += fabs(w[i * 8 + j]);
  CU_ASSERT(off > 0.1);
  slt_params_free(&y.p);
}

/* ---- parameter accounting against SPEC's formulas ---- */

static int64_t weight_params(const layer *y) {
  int64_t n = 0;
  for (int i = 0; i < y->p.count; i++)
    if (!strstr(y->p.items[i]->name, "bias")) n += y->p.items[i]->t.numel;
  return n;
}

static void test_param_counts(void) {
  const int shapes[][2] = {{768, 3072}, {3072, 768}, {64, 48}};
  for (int s = 0; s < 3; s++) {
    int64_t N = shapes[s][0], M = shapes[s][1];
    struct {
      slt_lin_spec spec;
      int64_t formula;
    } cases[] = {
        {spec_of(SLT_LIN_LOWRANK, 16, 0), (N + M) * 16},
        {spec_of(SLT_LIN_BLOCKDENSE, 32, 4), 32 * (M + N / 4)},
        {spec_of(SLT_LIN_BLOCKSHUFFLE, 0, 4), (N < M ? N : M) * (N + M) / 4},
    };
    for (int k = 0; k < 3; k++) {
      layer y;
      slt_params_init(&y.p);
      CU_ASSERT_EQUAL_FATAL(slt_lin_declare_spec(&y.l, &y.p, "fc", N, M, true, &cases[k].spec), 0);
      CU_ASSERT_EQUAL(weight_params(&y), cases[k].formula);
      CU_ASSERT_EQUAL(slt_lin_spec_params(&cases[k].spec, N, M), cases[k].formula);
      slt_params_free(&y.p);
    }
  }
}

/* ---- shape validation ---- */

static void expect_error(slt_lin_spec spec, int in, int out, const char *needle) {
  layer y;
  slt_params_init(&y.p);
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_lin_declare_spec(&y.l, &y.p, "blocks.1.ffn.fc1", in, out, true, &spec), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), needle));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "blocks.1.ffn.fc1"));
  slt_params_free(&y.p);
}

static void test_shape_errors(void) {
  expect_error(spec_of(SLT_LIN_LOWRANK, 0, 0), 8, 12, "rank 0");
  expect_error(spec_of(SLT_LIN_LOWRANK, 9, 0), 8, 12, "rank 9");
  expect_error(spec_of(SLT_LIN_BLOCKDENSE, 4, 3), 8, 12, "blocks 3");  /* N % B */
  expect_error(spec_of(SLT_LIN_BLOCKDENSE, 6, 4), 8, 12, "rank 6");    /* R % B */
  expect_error(spec_of(SLT_LIN_BLOCKSHUFFLE, 0, 5), 10, 12, "got 5"); /* M % B */
  expect_error(spec_of(SLT_LIN_BLOCKSHUFFLE, 0, 0), 8, 12, "got 0");
  expect_error((slt_lin_spec){SLT_LIN_BLOCKDENSE, 4, 2, SLT_LIN_INIT_SVD}, 8, 12, "svd");
}

/* ---- init ---- */

/* svd: U·V is the best rank-R approximation of a N(0, std) draw, so its singular values are the
 * top R of that draw: check UᵀU = VVᵀ (balanced √S split) and ortho blocks are semi-orthogonal. */
static void test_init(void) {
  layer y;
  slt_lin_spec lr = {SLT_LIN_LOWRANK, 4, 0, SLT_LIN_INIT_SVD};
  slt_params_init(&y.p);
  CU_ASSERT_EQUAL_FATAL(slt_lin_declare_spec(&y.l, &y.p, "fc", 24, 16, false, &lr), 0);
  slt_params_alloc(&y.p);
  slt_rng rng;
  slt_rng_seed(&rng, 1);
  slt_lin_init(&y.l, &rng, 0.02f);
  const float *v = y.l.factor[0]->data, *u = y.l.factor[1]->data; /* v (4, 24), u (16, 4) */
  double worst = 0, diag = 0;
  for (int a = 0; a < 4; a++)
    for (int b = 0; b < 4; b++) {
      double utu = 0, vvt = 0;
      for (int i = 0; i < 16; i++) utu += u[i * 4 + a] * u[i * 4 + b];
      for (int j = 0; j < 24; j++) vvt += v[a * 24 + j] * v[b * 24 + j];
      worst = fmax(worst, fabs(utu - vvt));
      if (a == b) diag += utu;
    }
  CU_ASSERT(worst < 1e-6 && diag > 0);
  slt_params_free(&y.p);

  slt_lin_spec bd = {SLT_LIN_BLOCKDENSE, 8, 2, SLT_LIN_INIT_ORTHO};
  slt_params_init(&y.p);
  CU_ASSERT_EQUAL_FATAL(slt_lin_declare_spec(&y.l, &y.p, "fc", 16, 12, false, &bd), 0);
  slt_params_alloc(&y.p);
  slt_lin_init(&y.l, &rng, 0.02f);
  const float *blk = y.l.factor[0]->data; /* (2, 4, 8): rows orthonormal */
  worst = 0;
  for (int b = 0; b < 2; b++)
    for (int i = 0; i < 4; i++)
      for (int k = 0; k < 4; k++) {
        double d = 0;
        for (int j = 0; j < 8; j++) d += blk[(b * 4 + i) * 8 + j] * blk[(b * 4 + k) * 8 + j];
        worst = fmax(worst, fabs(d - (i == k)));
      }
  CU_ASSERT(worst < 1e-5);
  slt_params_free(&y.p);
}

/* ---- parity with the PyTorch reference ---- */

static int read_f32(hid_t f, const char *name, float *out, int64_t n) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
  hid_t d = H5Dopen(f, name, H5P_DEFAULT), s = H5Dget_space(d);
  int rc = H5Sget_simple_extent_npoints(s) == n &&
                   H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0
               ? 0
               : -1;
  H5Sclose(s);
  H5Dclose(d);
  return rc;
}

static void expect_close(const char *fx, const char *what, const float *got, const float *ref,
                         int64_t n, double tol) {
  double e = test_rel_err(got, ref, n);
  if (e > tol || getenv("SLT_TEST_VERBOSE")) printf("\n  [%s] %s rel err %.2e", fx, what, e);
  CU_ASSERT(e <= tol);
}

/* Forward, the gradient of every parameter and of x for the fixture's upstream gradient. */
static void check_forward_backward(hid_t f, const char *fx, layer *y, int in, int out) {
  slt_ctx c;
  slt_ctx_init(&c);
  int rows = 6;
  slt_tensor *x = slt_tensor_new(3, (int[]){2, 3, in});
  slt_tensor_alloc_grad(x);
  x->requires_grad = true;
  float *ref = malloc(sizeof(float) * (rows * (in > out ? in : out) + in * out * 4));
  CU_ASSERT_EQUAL_FATAL(read_f32(f, "x", x->data, x->numel), 0);
  slt_tensor *yt = slt_lin_forward(&y->l, &c, x);
  CU_ASSERT_PTR_NOT_NULL_FATAL(yt);
  CU_ASSERT_EQUAL_FATAL(read_f32(f, "y", ref, rows * out), 0);
  expect_close(fx, "y", yt->data, ref, rows * out, 1e-5);
  CU_ASSERT_EQUAL_FATAL(read_f32(f, "dy", ref, rows * out), 0);
  slt_params_zero_grad(&y->p);
  CU_ASSERT_EQUAL_FATAL(slt_backward_seed(&c, yt, ref), 0);
  CU_ASSERT_EQUAL_FATAL(read_f32(f, "grads/x", ref, x->numel), 0);
  expect_close(fx, "grad x", x->grad, ref, x->numel, 1e-5);
  for (int i = 0; i < y->p.count; i++) {
    const slt_param *q = y->p.items[i];
    char path[128];
    snprintf(path, sizeof path, "grads/%s", q->name + 3); /* drop "fc." */
    CU_ASSERT_EQUAL_FATAL(read_f32(f, path, ref, q->t.numel), 0);
    expect_close(fx, path, q->t.grad, ref, q->t.numel, 1e-5);
  }
  free(ref);
  slt_tensor_free(x);
  slt_ctx_free(&c);
}

/* 5 AdamW steps on mean((y - target)²), weight decay on every parameter, as the fixture. */
static void check_adamw(hid_t f, const char *fx, layer *y, int in, int out) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *x = slt_tensor_new(3, (int[]){2, 3, in}), *t = slt_tensor_new(3, (int[]){2, 3, out});
  CU_ASSERT_EQUAL_FATAL(read_f32(f, "x", x->data, x->numel) || read_f32(f, "target", t->data, t->numel), 0);
  double ref[6], betas[2];
  hid_t d = H5Dopen(f, "adamw_losses", H5P_DEFAULT), ds = d >= 0 ? H5Dget_space(d) : -1;
  /* Unread fixture values would compare garbage: a missing or short one is an error. */
  CU_ASSERT_FATAL(ds >= 0 && H5Sget_simple_extent_npoints(ds) == 6 &&
                  H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, ref) >= 0);
  H5Sclose(ds);
  H5Dclose(d);
  hid_t a = H5Aopen(f, "adamw_betas", H5P_DEFAULT), as = a >= 0 ? H5Aget_space(a) : -1;
  CU_ASSERT_FATAL(as >= 0 && H5Sget_simple_extent_npoints(as) == 2 &&
                  H5Aread(a, H5T_NATIVE_DOUBLE, betas) >= 0);
  H5Sclose(as);
  H5Aclose(a);
  float *wd = malloc(sizeof(float) * y->p.count);
  for (int i = 0; i < y->p.count; i++) wd[i] = (float)test_h5_attr_req(f, "adamw_weight_decay");
  slt_adamw opt;
  CU_ASSERT_EQUAL_FATAL(slt_adamw_init(&opt, &y->p, (float)betas[0], (float)betas[1],
                                       (float)test_h5_attr_req(f, "adamw_eps")), 0);
  for (int step = 0; step <= 5; step++) {
    slt_params_zero_grad(&y->p);
    slt_tensor *diff = slt_sub(&c, slt_lin_forward(&y->l, &c, x), t);
    slt_tensor *loss = slt_mean(&c, slt_mul(&c, diff, diff));
    CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
    double e = fabs(loss->data[0] - ref[step]) / ref[step];
    if (e > 1e-4 || getenv("SLT_TEST_VERBOSE"))
      printf("\n  [%s] adamw step %d loss %.7f vs %.7f (rel %.1e)", fx, step, loss->data[0], ref[step], e);
    CU_ASSERT(e <= 1e-4);
    if (step < 5) {
      CU_ASSERT_EQUAL(slt_backward(&c, loss), 0);
      slt_adamw_step(&opt, &y->p, (float)test_h5_attr_req(f, "adamw_lr"), 1.0f, wd, NULL);
    }
    slt_ctx_reset(&c);
  }
  slt_adamw_free(&opt);
  free(wd);
  slt_tensor_free(x);
  slt_tensor_free(t);
  slt_ctx_free(&c);
}

static void check_fixture(const char *name, slt_lin_struct kind) {
  char path[512];
  snprintf(path, sizeof path, "%s/structured_%s.h5", SLT_FIXTURES, name);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  int in = (int)test_h5_attr_req(f, "n"), out = (int)test_h5_attr_req(f, "m");
  layer y;
  slt_params_init(&y.p);
  slt_lin_spec spec = spec_of(kind, (int)test_h5_attr_req(f, "rank"), (int)test_h5_attr_req(f, "nblocks"));
  CU_ASSERT_EQUAL_FATAL(slt_lin_declare_spec(&y.l, &y.p, "fc", in, out, true, &spec), 0);
  CU_ASSERT_EQUAL_FATAL(slt_params_alloc(&y.p), 0);
  for (int i = 0; i < y.p.count; i++) {
    slt_param *q = y.p.items[i];
    snprintf(path, sizeof path, "params/%s", q->name + 3);
    CU_ASSERT_EQUAL_FATAL(read_f32(f, path, q->t.data, q->t.numel), 0);
  }
  check_forward_backward(f, name, &y, in, out);
  check_adamw(f, name, &y, in, out);
  slt_params_free(&y.p);
  H5Fclose(f);
}

static void test_parity(void) {
  check_fixture("lowrank_up", SLT_LIN_LOWRANK);
  check_fixture("lowrank_down", SLT_LIN_LOWRANK);
  check_fixture("blockdense_up", SLT_LIN_BLOCKDENSE);
  check_fixture("blockdense_down", SLT_LIN_BLOCKDENSE);
  check_fixture("blockshuffle_up", SLT_LIN_BLOCKSHUFFLE);
  check_fixture("blockshuffle_down", SLT_LIN_BLOCKSHUFFLE);
}

/* ---- in the model: fc1/fc2 take the configured kind, layer 0 stays dense ---- */

static void test_gpt_ffn(void) {
  slt_model_config g = {.vocab_size = 32, .seq_len = 8, .layers = 2, .d_model = 16, .heads = 2,
                      .kv_heads = 2, .ffn_dim = 64, .norm = SLT_NORM_LAYERNORM, .norm_eps = 1e-5f,
                      .pos = SLT_POS_ROPE, .rope_base = 10000.0f, .act = SLT_ACT_GELU_TANH,
                      .bias = true, .tie_embeddings = true, .init_std = 0.02f,
                      .ffn = {SLT_LIN_BLOCKSHUFFLE, 0, 4, SLT_LIN_INIT_AUTO, true}};
  slt_gpt m;
  CU_ASSERT_EQUAL_FATAL(slt_gpt_build(&m, &g), 0);
  CU_ASSERT_PTR_NOT_NULL(slt_params_find(&m.params, "blocks.0.ffn.fc1.weight"));
  CU_ASSERT_PTR_NOT_NULL(slt_params_find(&m.params, "blocks.1.ffn.fc1.w1"));
  CU_ASSERT_PTR_NOT_NULL(slt_params_find(&m.params, "blocks.1.ffn.fc2.w2"));
  CU_ASSERT_PTR_NULL(slt_params_find(&m.params, "blocks.1.ffn.fc1.weight"));
  slt_gpt_init_weights(&m, 1);
  int32_t x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8] = {2, 3, 4, 5, 6, 7, 8, 9};
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *loss = slt_gpt_loss(&m, &c, x, y, 1, 8);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  CU_ASSERT(isfinite(loss->data[0]) && fabs(loss->data[0] - log(32.0)) < 0.5);
  CU_ASSERT_EQUAL(slt_backward(&c, loss), 0);
  slt_ctx_free(&c);
  slt_gpt_free(&m);
  g.ffn = (slt_ffn_config){SLT_LIN_BLOCKDENSE, 6, 4, SLT_LIN_INIT_AUTO, false};
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_gpt_build(&m, &g), -1); /* rank 6 % 4 */
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "blocks.0.ffn.fc1"));
  slt_gpt_free(&m);
}

int register_structured_suite(void) {
  CU_pSuite s = CU_add_suite("structured", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "gradcheck lowrank", test_grad_lowrank) ||
         !CU_add_test(s, "gradcheck blockdense", test_grad_blockdense) ||
         !CU_add_test(s, "gradcheck blockshuffle", test_grad_blockshuffle) ||
         !CU_add_test(s, "gradcheck and forward of slt_blockdiag", test_grad_blockdiag) ||
         !CU_add_test(s, "gradcheck and forward of slt_interleave", test_grad_interleave) ||
         !CU_add_test(s, "pre-merge matches factored", test_merge) ||
         !CU_add_test(s, "blockshuffle permutations", test_shuffle_not_blockdiag) ||
         !CU_add_test(s, "parameter counts", test_param_counts) ||
         !CU_add_test(s, "shape errors", test_shape_errors) ||
         !CU_add_test(s, "svd and ortho init", test_init) ||
         !CU_add_test(s, "parity with PyTorch", test_parity) ||
         !CU_add_test(s, "structured FFN in the GPT", test_gpt_ffn);
}
