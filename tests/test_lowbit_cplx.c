/* The complex building blocks of SPEC §6 (part of the lowbit_ops suite): a gradcheck of each
 * op and of the attention path, PyTorch parity (≤ 1e-5 relative) of outputs and gradients, the
 * quantized ComplexLinear (8-bit activations, PhaseQuant weights, STE) against PyTorch, errors. */
#include "lowbit_fixture.h"

#include "autograd/complex.h"
#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EPS 1e-5f
#define TOL 1e-5

/* ---- op wrappers for the gradcheck harness ---- */

static slt_tensor *f_cnorm(slt_ctx *c, slt_tensor *const *in, const void *u) {
  return slt_cplx_rmsnorm(c, in[0], *(const bool *)u ? in[1] : NULL, EPS);
}
static slt_tensor *f_block(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_cplx_block_weight(c, in[0], in[1]);
}
static slt_tensor *f_linear(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_cplx_linear(c, in[0], in[1], in[2]);
}
static slt_tensor *f_relu2(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_cplx_relu2(c, in[0]);
}
static slt_tensor *f_conj_mul(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_cplx_conj_mul(c, in[0], in[1]);
}
/* user: {col0, heads, head_dim} */
static slt_tensor *f_split(slt_ctx *c, slt_tensor *const *in, const void *u) {
  const int *k = u;
  return slt_cplx_split_heads(c, in[0], k[0], k[1], k[2]);
}
static slt_tensor *f_merge(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_cplx_merge_heads(c, in[0]);
}
static slt_tensor *f_rope(slt_ctx *c, slt_tensor *const *in, const void *u) {
  return slt_cplx_rope(c, in[0], *(const int *)u, 10000.0f);
}
static slt_tensor *f_attn(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_cplx_attention(c, in[0], in[1], in[2]);
}

/* The attention path of the model: qkv (B, T, 6C) = [q k v re | q k v im] -> split, RoPE on q
 * and k, causal attention, merge -> (B, T, 2C). user: {heads, head_dim, pos0}. */
static slt_tensor *f_attn_path(slt_ctx *c, slt_tensor *const *in, const void *u) {
  const int *k = u;
  int C = k[0] * k[1];
  slt_tensor *q = slt_cplx_split_heads(c, in[0], 0, k[0], k[1]);
  slt_tensor *kk = slt_cplx_split_heads(c, in[0], C, k[0], k[1]);
  slt_tensor *v = slt_cplx_split_heads(c, in[0], 2 * C, k[0], k[1]);
  q = slt_cplx_rope(c, q, k[2], 10000.0f);
  kk = slt_cplx_rope(c, kk, k[2], 10000.0f);
  return slt_cplx_merge_heads(c, slt_cplx_attention(c, q, kk, v));
}

static void free_all(slt_tensor **t, int n) {
  for (int i = 0; i < n; i++) slt_tensor_free(t[i]);
}

/* ---- gradchecks ---- */

static void test_gradcheck_norm_linear(void) {
  int shapes[2][3] = {{2, 3, 10}, {2, 80, 0}}; /* 80 > the 64 lanes of the row sum */
  for (int s = 0; s < 2; s++)
    for (int gain = 0; gain < 2; gain++) {
      int nd = s ? 2 : 3, C = shapes[s][nd - 1];
      slt_tensor *in[2] = {test_randn(31 + s, nd, shapes[s], 1.0f, true),
                           test_randn(33, 1, &C, 1.0f, true)};
      bool g = gain;
      test_gradcheck(gain ? "cplx_rmsnorm gain" : "cplx_rmsnorm", f_cnorm, 1 + gain, in, &g, 1e-2);
      free_all(in, 2);
    }
  slt_tensor *w[2] = {test_randn(41, 2, (int[]){3, 4}, 1.0f, true),
                      test_randn(42, 2, (int[]){3, 4}, 1.0f, true)};
  test_gradcheck("cplx_block_weight", f_block, 2, w, NULL, 1e-2);
  slt_tensor *in[3] = {test_randn(43, 3, (int[]){2, 3, 8}, 1.0f, true), w[0], w[1]};
  test_gradcheck("cplx_linear", f_linear, 3, in, NULL, 1e-2);
  w[1]->requires_grad = false; /* the block's backward with one part frozen */
  test_gradcheck("cplx_linear, w_im frozen", f_linear, 3, in, NULL, 1e-2);
  free_all(w, 2);
  slt_tensor_free(in[0]);
}

static void test_gradcheck_mlp(void) {
  slt_tensor *in[2] = {test_randn(51, 3, (int[]){2, 3, 12}, 1.0f, true),
                       test_randn(52, 3, (int[]){2, 3, 12}, 1.0f, true)};
  /* The gate jumps where a part crosses 0 with the other negative: keep every part ≥ 0.05 from
   * 0, beyond the stencil's reach of 2h = 0.02. Both-negative pairs stay (about a quarter). */
  for (int64_t i = 0; i < in[0]->numel; i++) in[0]->data[i] += in[0]->data[i] < 0 ? -0.05f : 0.05f;
  test_gradcheck("cplx_relu2", f_relu2, 1, in, NULL, 1e-2);
  test_gradcheck("cplx_conj_mul", f_conj_mul, 2, in, NULL, 1e-2);
  free_all(in, 2);
}

static void test_gradcheck_attention(void) {
  int split[3] = {2, 2, 3}; /* col0 2, 2 heads of 3 complex dims out of C = 10 */
  slt_tensor *x = test_randn(61, 3, (int[]){2, 3, 20}, 1.0f, true);
  test_gradcheck("cplx_split_heads", f_split, 1, &x, split, 1e-2);
  slt_tensor *h = test_randn(62, 4, (int[]){2, 2, 3, 6}, 1.0f, true);
  test_gradcheck("cplx_merge_heads", f_merge, 1, &h, NULL, 1e-2);
  int pos0 = 5;
  slt_tensor *r = test_randn(63, 4, (int[]){1, 2, 4, 8}, 1.0f, true);
  test_gradcheck("cplx_rope", f_rope, 1, &r, &pos0, 1e-2);
  slt_tensor *qkv[3] = {test_randn(64, 4, (int[]){1, 2, 5, 8}, 1.0f, true),
                        test_randn(65, 4, (int[]){1, 1, 5, 8}, 1.0f, true),
                        test_randn(66, 4, (int[]){1, 1, 5, 8}, 1.0f, true)};
  test_gradcheck("cplx_attention (GQA)", f_attn, 3, qkv, NULL, 1e-2);
  int path[3] = {2, 2, 3};
  slt_tensor *p = test_randn(67, 3, (int[]){1, 4, 24}, 1.0f, true);
  test_gradcheck("split/rope/attention/merge", f_attn_path, 1, &p, path, 1e-2);
  slt_tensor_free(x), slt_tensor_free(h), slt_tensor_free(r), slt_tensor_free(p);
  free_all(qkv, 3);
}

/* ---- PyTorch parity ---- */

/* Runs f on the fixture's inputs (names), seeds the fixture's dy, compares the output and each
 * input's gradient (dataset grads[i]) with the fixture. */
static void parity(hid_t f, slt_gc_fn fn, const void *user, int nin, const char *const *names,
                   const char *y_name, const char *dy_name, const char *const *grads) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *in[4];
  for (int i = 0; i < nin; i++) in[i] = lb_rd(f, names[i], true);
  slt_tensor *y = fn(&c, in, user), *dy = lb_rd(f, dy_name, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_EQUAL_FATAL(dy->numel, y->numel);
  lb_expect_close(f, y_name, y->data, y->numel, TOL);
  CU_ASSERT_EQUAL_FATAL(slt_backward_seed(&c, y, dy->data), 0);
  for (int i = 0; i < nin; i++)
    if (grads[i]) lb_expect_close(f, grads[i], in[i]->grad, in[i]->numel, TOL);
  free_all(in, nin);
  slt_tensor_free(dy);
  slt_ctx_free(&c);
}

/* x -> 8-bit complex activations, W -> PhaseQuant (user: stages), then ComplexLinear. */
static slt_tensor *f_linear_q(slt_ctx *c, slt_tensor *const *in, const void *u) {
  slt_tensor *qr, *qi;
  if (slt_phasequant(c, in[1], in[2], *(const int *)u, &qr, &qi)) return NULL;
  return slt_cplx_linear(c, slt_cplx_act_quant8(c, in[0]), qr, qi);
}

static void test_parity(void) {
  hid_t f = lb_open();
  CU_ASSERT_FATAL(f >= 0);
  bool gain = true;
  parity(f, f_cnorm, &gain, 2, (const char *[]){"cnorm/x", "cnorm/gain"}, "cnorm/y", "cnorm/dy",
         (const char *[]){"cnorm/dx", "cnorm/dgain"});
  parity(f, f_relu2, NULL, 1, (const char *[]){"mlp/a"}, "mlp/relu2", "mlp/dy",
         (const char *[]){"mlp/relu2_da"});
  parity(f, f_conj_mul, NULL, 2, (const char *[]){"mlp/a", "mlp/u"}, "mlp/h", "mlp/dy",
         (const char *[]){"mlp/h_da", "mlp/h_du"});
  hid_t g = H5Gopen(f, "attn", H5P_DEFAULT);
  int path[3] = {(int)test_h5_attr_num(g, "heads", 0), (int)test_h5_attr_num(g, "head_dim", 0),
                 (int)test_h5_attr_num(g, "pos0", 0)};
  H5Gclose(g);
  parity(f, f_attn_path, path, 1, (const char *[]){"attn/qkv"}, "attn/o", "attn/dy",
         (const char *[]){"attn/dqkv"});
  const char *lin[3] = {"clinear/x", "clinear/w_re", "clinear/w_im"};
  parity(f, f_linear, NULL, 3, lin, "clinear/y", "clinear/dy",
         (const char *[]){"clinear/dx", "clinear/dw_re", "clinear/dw_im"});
  int s1 = 1, s2 = 2;
  parity(f, f_linear_q, &s1, 3, lin, "clinear/yq1", "clinear/dy",
         (const char *[]){"clinear/dxq1", "clinear/dw_req1", "clinear/dw_imq1"});
  parity(f, f_linear_q, &s2, 3, lin, "clinear/yq2", "clinear/dy",
         (const char *[]){"clinear/dxq2", "clinear/dw_req2", "clinear/dw_imq2"});
  H5Fclose(f);
}

/* ---- errors ---- */

static void test_cplx_errors(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *w = test_randn(1, 2, (int[]){3, 4}, 1.0f, false);
  slt_tensor *w2 = test_randn(2, 2, (int[]){4, 3}, 1.0f, false);
  slt_tensor *x = test_randn(3, 3, (int[]){2, 3, 6}, 1.0f, false);
  slt_tensor *odd = test_randn(4, 2, (int[]){2, 5}, 1.0f, false);
  slt_tensor *g = test_randn(5, 1, (int[]){3}, 1.0f, false);
  CU_ASSERT_PTR_NULL(slt_cplx_block_weight(&c, w, w2));
  CU_ASSERT(test_err_has("cplx_block_weight", "(3, 4) and (4, 3)"));
  CU_ASSERT_PTR_NULL(slt_cplx_linear(&c, x, w, w)); /* needs 8 = 2·in columns */
  CU_ASSERT(test_err_has("cplx_linear", "2·in"));
  CU_ASSERT_PTR_NULL(slt_cplx_rmsnorm(&c, odd, NULL, EPS));
  CU_ASSERT(test_err_has("cplx_rmsnorm", "even"));
  CU_ASSERT_PTR_NULL(slt_cplx_rmsnorm(&c, x, g, EPS));
  CU_ASSERT(test_err_has("cplx_rmsnorm: gain", "(2, 3, 6) and (3)"));
  CU_ASSERT_PTR_NULL(slt_cplx_rmsnorm(&c, x, NULL, -1.0f));
  CU_ASSERT(test_err_has("cplx_rmsnorm: eps", NULL));
  CU_ASSERT_PTR_NULL(slt_cplx_relu2(&c, odd));
  CU_ASSERT(test_err_has("cplx_relu2", "even"));
  CU_ASSERT_PTR_NULL(slt_cplx_conj_mul(&c, x, odd));
  CU_ASSERT(test_err_has("cplx_conj_mul", "one shape"));
  CU_ASSERT_PTR_NULL(slt_cplx_split_heads(&c, x, 1, 1, 3)); /* columns 1..4 of 3 */
  CU_ASSERT(test_err_has("cplx_split_heads", "requested heads"));
  CU_ASSERT_PTR_NULL(slt_cplx_merge_heads(&c, x));
  CU_ASSERT(test_err_has("cplx_merge_heads", "(B, H, T, 2D)"));
  CU_ASSERT_PTR_NULL(slt_cplx_linear(&c, NULL, w, w));
  CU_ASSERT_PTR_NULL(slt_cplx_conj_mul(&c, x, NULL));
  CU_ASSERT_PTR_NULL(slt_cplx_rope(&c, NULL, 0, 10000.0f));
  slt_tensor_free(w), slt_tensor_free(w2), slt_tensor_free(x), slt_tensor_free(odd);
  slt_tensor_free(g);
  slt_ctx_free(&c);
}

int lb_add_cplx_tests(CU_pSuite s) {
  return !CU_add_test(s, "complex rmsnorm, block weight, linear gradcheck",
                      test_gradcheck_norm_linear) ||
                 !CU_add_test(s, "complex relu2 gate and conj(a)*u gradcheck",
                              test_gradcheck_mlp) ||
                 !CU_add_test(s, "complex heads, rope, attention gradcheck",
                              test_gradcheck_attention) ||
                 !CU_add_test(s, "complex ops and quantized ComplexLinear match PyTorch",
                              test_parity) ||
                 !CU_add_test(s, "complex shape errors and NULL inputs", test_cplx_errors)
             ? -1
             : 0;
}
