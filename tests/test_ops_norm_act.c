/* Norms, activations, softmax and rope: gradchecks, forward against naive double references,
 * thread-count independence of the gain/bias gradients, and shape errors. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-5f

/* ---- norms ---- */

typedef struct {
  bool gain, bias, rms;
} norm_cfg;

/* in = {x, gain?, bias?} packed in that order */
static slt_tensor *f_norm(slt_ctx *c, slt_tensor *const *in, const void *u) {
  const norm_cfg *k = u;
  int i = 1;
  slt_tensor *g = k->gain ? in[i++] : NULL, *b = k->bias ? in[i++] : NULL;
  return k->rms ? slt_rmsnorm(c, in[0], g, EPS) : slt_layernorm(c, in[0], g, b, EPS);
}

static void test_norm_gradcheck(void) {
  /* (2, 67) has rows longer than the 64 lanes plus a tail. (300, 4) has more rows than the 256
   * row pieces, so some pieces sum two rows: checked for gain and bias only (dx is per row and
   * covered above; checking it here would cost 4800 forward passes). */
  int shapes[3][3] = {{2, 3, 5}, {2, 67, 0}, {300, 4, 0}};
  int ndims[3] = {3, 2, 2};
  for (int s = 0; s < 3; s++)
    for (int v = 0; v < 6; v++) {
      norm_cfg k = {.gain = v & 1, .bias = (v & 2) != 0, .rms = v >= 4};
      if ((k.rms && k.bias) || (s == 2 && !k.gain && !k.bias)) continue;
      int C = shapes[s][ndims[s] - 1];
      slt_tensor *x = test_randn(21, ndims[s], shapes[s], 1.0f, s < 2);
      slt_tensor *g = test_randn(22, 1, &C, 1.0f, true), *b = test_randn(23, 1, &C, 1.0f, true);
      slt_tensor *in[3] = {x};
      int nin = 1;
      if (k.gain) in[nin++] = g;
      if (k.bias) in[nin++] = b;
      char label[80];
      snprintf(label, sizeof label, "%s gain=%d bias=%d shape %d", k.rms ? "rmsnorm" : "layernorm",
               k.gain, k.bias, s);
      test_gradcheck(label, f_norm, nin, in, &k, 1e-2);
      slt_tensor_free(x);
      slt_tensor_free(g);
      slt_tensor_free(b);
    }
}

/* Double-precision norm forward and backward (seeded with dy); rows of x (rows, C). */
static void ref_norm(const float *x, const float *g, const float *b, const float *dy, int rows,
                     int C, bool centre, float *y, float *dx, double *dg, double *db) {
  for (int j = 0; j < C; j++) dg[j] = db[j] = 0;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (int64_t)r * C, *dyr = dy ? dy + (int64_t)r * C : NULL;
    double m = 0, v = 0, a = 0, k = 0;
    for (int j = 0; j < C; j++) m += centre ? xr[j] / (double)C : 0;
    for (int j = 0; j < C; j++) v += (xr[j] - m) * (xr[j] - m) / C;
    double rs = 1 / sqrt(v + EPS);
    for (int j = 0; j < C; j++) {
      double xh = (xr[j] - m) * rs;
      y[(int64_t)r * C + j] = (float)(xh * (g ? g[j] : 1) + (b ? b[j] : 0));
      if (!dyr) continue;
      double d = dyr[j] * (g ? g[j] : 1.0);
      a += centre ? d / C : 0;
      k += d * xh / C;
      dg[j] += dyr[j] * xh;
      db[j] += dyr[j];
    }
    for (int j = 0; dyr && j < C; j++)
      dx[(int64_t)r * C + j] = (float)(rs * (dyr[j] * (g ? g[j] : 1.0) - a - (xr[j] - m) * rs * k));
  }
}

static void test_norm_forward(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  int R = 5, C = 67;
  slt_tensor *x = test_randn(31, 2, (int[]){R, C}, 2.0f, false);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] += 3.0f; /* an offset the mean must remove */
  slt_tensor *g = test_randn(32, 1, &C, 1.0f, false), *b = test_randn(33, 1, &C, 1.0f, false);
  float ref[5 * 67];
  double dg[67], db[67];
  for (int v = 0; v < 6; v++) {
    bool rms = v >= 4, has_g = v & 1, has_b = (v & 2) != 0;
    if (rms && has_b) continue;
    slt_tensor *y = rms ? slt_rmsnorm(&c, x, has_g ? g : NULL, EPS)
                        : slt_layernorm(&c, x, has_g ? g : NULL, has_b ? b : NULL, EPS);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    ref_norm(x->data, has_g ? g->data : NULL, has_b ? b->data : NULL, NULL, R, C, !rms, ref, NULL,
             dg, db);
    double e = test_rel_err(y->data, ref, x->numel);
    if (e >= 1e-6) printf("\n  norm variant %d: forward rel err %.2e\n", v, e);
    CU_ASSERT(e < 1e-6);
  }
  CU_ASSERT_EQUAL(c.nodes, 0); /* nothing requires grad: nothing recorded */
  slt_tensor_free(x);
  slt_tensor_free(g);
  slt_tensor_free(b);
  slt_ctx_free(&c);
}

/* Forward + backward of a norm large enough to run threaded; grads copied into out. */
static void norm_grads(bool rms, int threads, slt_tensor *x, slt_tensor *g, slt_tensor *b,
                       const float *dy, float *out) {
  int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  slt_tensor *in[3] = {x, g, b};
  for (int i = 0; i < 3; i++) memset(in[i]->grad, 0, in[i]->numel * sizeof(float));
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *y = rms ? slt_rmsnorm(&c, x, g, EPS) : slt_layernorm(&c, x, g, b, EPS);
  CU_ASSERT_EQUAL(slt_backward_seed(&c, y, dy), 0);
  slt_ctx_free(&c);
  omp_set_num_threads(saved);
  for (int i = 0; i < 3; out += in[i]->numel, i++)
    memcpy(out, in[i]->grad, in[i]->numel * sizeof(float));
}

static void test_norm_threads(void) {
  int R = 300, C = 96; /* R·C above SLT_PAR_MIN; more rows than row pieces */
  slt_tensor *x = test_randn(41, 2, (int[]){R, C}, 1.5f, true);
  slt_tensor *g = test_randn(42, 1, &C, 1.0f, true), *b = test_randn(43, 1, &C, 1.0f, true);
  slt_tensor *dy = test_randn(44, 2, (int[]){R, C}, 1.0f, false);
  int64_t n = x->numel + 2 * C;
  float *g1 = malloc(n * sizeof(float)), *g3 = malloc(n * sizeof(float));
  float *ref = malloc(n * sizeof(float)), *y = malloc(x->numel * sizeof(float));
  double dg[96], db[96];
  for (int rms = 0; rms < 2; rms++) {
    norm_grads(rms, 1, x, g, b, dy->data, g1);
    norm_grads(rms, 3, x, g, b, dy->data, g3);
    CU_ASSERT(memcmp(g1, g3, (rms ? x->numel + C : n) * sizeof(float)) == 0);
    ref_norm(x->data, g->data, rms ? NULL : b->data, dy->data, R, C, !rms, y, ref, dg, db);
    for (int j = 0; j < C; j++) {
      ref[x->numel + j] = (float)dg[j];
      ref[x->numel + C + j] = (float)db[j];
    }
    double e_dx = test_rel_err(g3, ref, x->numel),
           e_dg = test_rel_err(g3 + x->numel, ref + x->numel, C);
    double e_db = rms ? 0 : test_rel_err(g3 + x->numel + C, ref + x->numel + C, C);
    if (e_dx >= 1e-5 || e_dg >= 1e-5 || e_db >= 1e-5)
      printf("\n  %s: dx %.2e, dgain %.2e, dbias %.2e\n", rms ? "rms" : "ln", e_dx, e_dg, e_db);
    CU_ASSERT(e_dx < 1e-5 && e_dg < 1e-5 && e_db < 1e-5);
  }
  free(g1), free(g3), free(ref), free(y);
  slt_tensor_free(x), slt_tensor_free(g), slt_tensor_free(b), slt_tensor_free(dy);
}

/* ---- activations ---- */

typedef slt_tensor *(*unary_op)(slt_ctx *, slt_tensor *);
static slt_tensor *f_unary(slt_ctx *c, slt_tensor *const *in, const void *u) {
  return (*(const unary_op *)u)(c, in[0]);
}

static void test_act_gradcheck(void) {
  unary_op ops[5] = {slt_gelu_tanh, slt_silu, slt_relu2, slt_swiglu, slt_softmax};
  const char *names[5] = {"gelu_tanh", "silu", "relu2", "swiglu", "softmax"};
  int shapes[2][3] = {{3, 4, 6}, {2, 7, 10}};
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 5; k++) {
      slt_tensor *x = test_randn(51 + s, 3, shapes[s], 2.0f, true);
      /* relu² has a jump in its second derivative at 0: a difference stencil reaching across
       * 0 is off by up to h/3 there whatever the backward does (at x = 0 it gives h/3 for
       * f' = 0). Keep |x| ≥ 0.05, beyond the stencil's reach of 2h = 0.02. */
      for (int64_t i = 0; k == 2 && i < x->numel; i++)
        x->data[i] += x->data[i] < 0 ? -0.05f : 0.05f;
      char label[64];
      snprintf(label, sizeof label, "%s shape %d", names[k], s);
      test_gradcheck(label, f_unary, 1, &x, &ops[k], 1e-2);
      slt_tensor_free(x);
    }
}

/* gelu_tanh in double as x·σ(2u): equal to 0.5·x·(1 + tanh(u)), but 1 + tanh(u) cancels for
 * x < −5 even in double, which would make the reference the least accurate party.
 * silu is x·σ(x): both are x·σ(z) with z = 2u or x. */
static double ref_act(int k, double x) {
  double u = sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
  if (k == 0) return x / (1 + exp(-2 * u));
  if (k == 1) return x / (1 + exp(-x));
  return x > 0 ? x * x : 0;
}
static double ref_act_grad(int k, double x) {
  double z = k ? x : 2 * sqrt(2 / M_PI) * (x + 0.044715 * x * x * x);
  double dz = k ? 1 : 2 * sqrt(2 / M_PI) * (1 + 3 * 0.044715 * x * x);
  double e = exp(-z), s = 1 / (1 + e); /* 1 − σ = e·σ, without cancellation */
  return k == 2 ? (x > 0 ? 2 * x : 0) : s + x * s * (e * s) * dz;
}

/* Forward and derivative over [−12, 12] and a few far points, against double. The forward is
 * held to 1e-6·(|f| + |x·f'|): relative, widened by the condition number where f is
 * ill-conditioned (gelu's far negative tail, f ≈ x·exp(−0.07x³), where a 1e-6 relative change of
 * x alone moves f by 1e-6·|x·f'| ≫ 1e-6·|f|); 1e-30 absolute, below which both are 0 in all but
 * name. The derivative, a difference of O(1) terms that crosses 0, is held to 1e-6·(1 + |f'|). */
static void test_act_forward(void) {
  unary_op ops[3] = {slt_gelu_tanh, slt_silu, slt_relu2};
  enum { N = 1009 };
  float specials[8] = {-100, -30, -0.0f, 0, 1e-20f, 30, 100, 1e-4f};
  slt_tensor *x = slt_tensor_new(1, (int[]){N});
  slt_tensor_alloc_grad(x);
  for (int i = 0; i < N; i++) x->data[i] = i < 1001 ? -12.0f + 0.024f * i : specials[i - 1001];
  float ones[N];
  for (int i = 0; i < N; i++) ones[i] = 1;
  for (int k = 0; k < 3; k++) {
    memset(x->grad, 0, sizeof ones);
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *y = ops[k](&c, x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_EQUAL(slt_backward_seed(&c, y, ones), 0);
    double worst = 0, worst_g = 0;
    for (int i = 0; i < N; i++) {
      double xi = x->data[i], r = ref_act(k, xi), rg = ref_act_grad(k, xi);
      worst = fmax(worst, fabs(y->data[i] - r) / (fabs(r) + fabs(xi * rg) + 1e-30));
      worst_g = fmax(worst_g, fabs(x->grad[i] - rg) / (1 + fabs(rg)));
    }
    if (worst >= 1e-6 || worst_g >= 1e-6 || getenv("SLT_TEST_VERBOSE"))
      printf("\n  act %d: forward err %.2e, derivative err %.2e\n", k, worst, worst_g);
    CU_ASSERT(worst < 1e-6);
    CU_ASSERT(worst_g < 1e-6);
    slt_ctx_free(&c);
  }
  slt_tensor_free(x);
}

static void test_swiglu_forward(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *x = test_randn(61, 3, (int[]){2, 3, 2 * 21}, 3.0f, false);
  slt_tensor *y = slt_swiglu(&c, x);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT(y->ndim == 3 && y->shape[0] == 2 && y->shape[1] == 3 && y->shape[2] == 21);
  float ref[6 * 21];
  for (int r = 0; r < 6; r++)
    for (int j = 0; j < 21; j++) {
      double a = x->data[r * 42 + j], u = x->data[r * 42 + 21 + j]; /* a: first half */
      ref[r * 21 + j] = (float)(a / (1 + exp(-a)) * u);
    }
  CU_ASSERT(test_rel_err(y->data, ref, 6 * 21) < 1e-6);
  slt_tensor_free(x);
  slt_ctx_free(&c);
}

/* ---- softmax ---- */

static void test_softmax_forward(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  int R = 4, C = 37;
  slt_tensor *x = test_randn(71, 2, (int[]){R, C}, 5.0f, false);
  for (int j = 0; j < C; j++) x->data[j] += 1000.0f; /* overflows without the max subtracted */
  for (int j = 0; j < C; j += 3) x->data[C + j] = -INFINITY; /* a masked row */
  slt_tensor *y = slt_softmax(&c, x);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  float ref[4 * 37];
  for (int r = 0; r < R; r++) {
    const float *xr = x->data + r * C;
    double m = -INFINITY, s = 0;
    for (int j = 0; j < C; j++) m = fmax(m, xr[j]);
    for (int j = 0; j < C; j++) s += exp(xr[j] - m);
    for (int j = 0; j < C; j++) ref[r * C + j] = (float)(exp(xr[j] - m) / s);
  }
  CU_ASSERT(test_rel_err(y->data, ref, R * C) < 1e-6);
  for (int j = 0; j < C; j += 3) CU_ASSERT(y->data[C + j] == 0.0f); /* masked: exactly 0 */
  slt_tensor_free(x);
  slt_ctx_free(&c);
}

/* ---- rope ---- */

/* user: the pos0 */
static slt_tensor *f_rope(slt_ctx *c, slt_tensor *const *in, const void *u) {
  return slt_rope(c, in[0], *(const int *)u, 10000.0f);
}

static void test_rope_gradcheck(void) {
  int shapes[2][4] = {{1, 2, 3, 4}, {2, 1, 5, 8}}, pos0[2] = {0, 7};
  for (int s = 0; s < 2; s++) {
    slt_tensor *x = test_randn(81 + s, 4, shapes[s], 1.0f, true);
    test_gradcheck(s ? "rope pos0=7" : "rope pos0=0", f_rope, 1, &x, &pos0[s], 1e-2);
    slt_tensor_free(x);
  }
}

/* Rotate halves with PyTorch's float32 angles (SPEC §1); x (B, H, T, D). */
static void ref_rope(const float *x, int rows, int T, int D, int pos0, float base, float *y) {
  for (int r = 0; r < rows; r++)
    for (int i = 0; i < D / 2; i++) {
      float inv = 1.0f / powf(base, (float)(2 * i) / (float)D);
      double th = (float)(pos0 + r % T) * inv;
      double x1 = x[r * D + i], x2 = x[r * D + i + D / 2];
      y[r * D + i] = (float)(x1 * cos(th) - x2 * sin(th));
      y[r * D + i + D / 2] = (float)(x2 * cos(th) + x1 * sin(th));
    }
}

static void test_rope_forward(void) {
  int dims[2][4] = {{2, 3, 5, 8}, {1, 2, 4, 64}}, pos0[2] = {3, 3000};
  for (int s = 0; s < 2; s++) {
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *x = test_randn(91, 4, dims[s], 1.0f, false);
    int rows = dims[s][0] * dims[s][1] * dims[s][2], T = dims[s][2], D = dims[s][3];
    slt_tensor *y = slt_rope(&c, x, pos0[s], 10000.0f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    float *ref = malloc(x->numel * sizeof(float));
    ref_rope(x->data, rows, T, D, pos0[s], 10000.0f, ref);
    double e = test_rel_err(y->data, ref, x->numel);
    if (e >= 1e-6) printf("\n  rope pos0=%d: rel err %.2e\n", pos0[s], e);
    CU_ASSERT(e < 1e-6);
    /* Positions t ≥ 2 of a sequence equal a sequence starting at pos0+2 (generation with a
     * cache relies on it): rope of the tail slice with the shifted pos0, bitwise. */
    int tail[4] = {dims[s][0], dims[s][1], T - 2, D};
    slt_tensor *xt = slt_tensor_new(4, tail);
    for (int r = 0, o = 0; r < rows; r++)
      if (r % T >= 2) memcpy(xt->data + (int64_t)o++ * D, x->data + (int64_t)r * D, D * 4);
    slt_tensor *yt = slt_rope(&c, xt, pos0[s] + 2, 10000.0f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(yt);
    bool same = true;
    for (int r = 0, o = 0; r < rows; r++)
      if (r % T >= 2) same &= !memcmp(yt->data + (int64_t)o++ * D, y->data + (int64_t)r * D, D * 4);
    CU_ASSERT(same);
    free(ref);
    slt_tensor_free(x);
    slt_tensor_free(xt);
    slt_ctx_free(&c);
  }
}

/* ---- errors ---- */

#define EXPECT_ERR(call, text)                                                                     \
  do {                                                                                             \
    slt_err_clear();                                                                               \
    CU_ASSERT_PTR_NULL(call);                                                                      \
    if (!strstr(slt_err_msg(), text)) printf("\n  expected '%s' in '%s'\n", text, slt_err_msg());  \
    CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), text));                                           \
  } while (0)

static void test_errors(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *x = test_randn(1, 2, (int[]){3, 5}, 1.0f, false);
  slt_tensor *g4 = test_randn(2, 1, (int[]){4}, 1.0f, false),
             *g5 = test_randn(3, 1, (int[]){5}, 1.0f, false);
  slt_tensor *x4 = test_randn(4, 4, (int[]){1, 2, 3, 5}, 1.0f, false);
  EXPECT_ERR(slt_layernorm(&c, x, g4, NULL, EPS), "layernorm: gain");
  EXPECT_ERR(slt_layernorm(&c, x, g5, g4, EPS), "layernorm: bias");
  EXPECT_ERR(slt_layernorm(&c, x, NULL, NULL, -1.0f), "layernorm: eps");
  EXPECT_ERR(slt_rmsnorm(&c, x, g4, EPS), "rmsnorm: gain");
  EXPECT_ERR(slt_swiglu(&c, x), "swiglu: last dim must be even");
  EXPECT_ERR(slt_rope(&c, x4, 0, 10000.0f), "rope: expected x (B, H, T, D) with D even");
  EXPECT_ERR(slt_rope(&c, x, 0, 10000.0f), "rope: expected x (B, H, T, D)");
  slt_tensor *x4e = test_randn(5, 4, (int[]){1, 2, 3, 4}, 1.0f, false);
  EXPECT_ERR(slt_rope(&c, x4e, -1, 10000.0f), "rope: need pos0 >= 0");
  EXPECT_ERR(slt_rope(&c, x4e, 0, 0.0f), "rope: need pos0 >= 0 and a finite base > 0");
  slt_tensor_free(x4e);
  unary_op ops[5] = {slt_gelu_tanh, slt_silu, slt_relu2, slt_swiglu, slt_softmax};
  for (int k = 0; k < 5; k++) CU_ASSERT_PTR_NULL(ops[k](&c, NULL)); /* NULL propagates */
  CU_ASSERT_PTR_NULL(slt_layernorm(&c, NULL, g5, g5, EPS));
  CU_ASSERT_PTR_NULL(slt_rmsnorm(&c, NULL, g5, EPS));
  CU_ASSERT_PTR_NULL(slt_rope(&c, NULL, 0, 10000.0f));
  slt_tensor_free(x), slt_tensor_free(g4), slt_tensor_free(g5), slt_tensor_free(x4);
  slt_ctx_free(&c);
}

int register_ops_norm_act_suite(void) {
  CU_pSuite s = CU_add_suite("ops_norm_act", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "layernorm/rmsnorm gradcheck, with and without gain/bias",
                      test_norm_gradcheck) ||
         !CU_add_test(s, "norms match a double reference", test_norm_forward) ||
         !CU_add_test(s, "norm grads: thread-count independent, match reference",
                      test_norm_threads) ||
         !CU_add_test(s, "activations and softmax gradcheck", test_act_gradcheck) ||
         !CU_add_test(s, "gelu/silu/relu2 and derivatives match double", test_act_forward) ||
         !CU_add_test(s, "swiglu matches a double reference", test_swiglu_forward) ||
         !CU_add_test(s, "softmax: max subtracted, masked entries 0", test_softmax_forward) ||
         !CU_add_test(s, "rope gradcheck", test_rope_gradcheck) ||
         !CU_add_test(s, "rope matches PyTorch-style angles, shifts consistently",
                      test_rope_forward) ||
         !CU_add_test(s, "shape errors and NULL inputs", test_errors);
}
