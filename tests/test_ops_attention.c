/* Fused causal attention: gradchecks (GQA, several query blocks, partial blocks), forward and
 * backward against a double-precision reference, the exp's precision, causality, shape errors,
 * determinism. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static slt_tensor *f_attention(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_attention(c, in[0], in[1], in[2]);
}

/* Gradcheck q, k, v of shape q (B, H, T, D), k, v (B, Hkv, T, D); `which` selects the inputs
 * that require grad (bit 0 q, 1 k, 2 v), so the paths that skip dS or dQ run too. */
static void check_grads(int B, int H, int Hkv, int T, int D, int which) {
  slt_tensor *in[3] = {test_randn(21, 4, (int[]){B, H, T, D}, 1.0f, true),
                       test_randn(22, 4, (int[]){B, Hkv, T, D}, 1.0f, true),
                       test_randn(23, 4, (int[]){B, Hkv, T, D}, 1.0f, true)};
  for (int i = 0; i < 3; i++) in[i]->requires_grad = (which >> i) & 1;
  char label[96];
  snprintf(label, sizeof label, "attention B=%d H=%d Hkv=%d T=%d D=%d grads %s%s%s", B, H, Hkv, T,
           D, which & 1 ? "q" : "", which & 2 ? "k" : "", which & 4 ? "v" : "");
  test_gradcheck(label, f_attention, 3, in, NULL, 1e-2);
  for (int i = 0; i < 3; i++) slt_tensor_free(in[i]);
}

static void test_gradcheck_small(void) {
  check_grads(1, 2, 2, 5, 4, 7); /* one partial block */
  check_grads(2, 3, 1, 9, 3, 7); /* multi-query (Hkv = 1), B > 1 */
}

/* T larger than a query block and not a multiple of it: the blocked paths and the last
 * partial block; GQA with two query heads per kv head accumulating into one dK, dV. */
static void test_gradcheck_blocked(void) {
  check_grads(1, 4, 2, 150, 2, 7);
  check_grads(1, 2, 1, 70, 3, 4); /* only v: dS is skipped */
  check_grads(1, 2, 1, 70, 3, 3); /* q and k, no v */
}

/* Double-precision reference: out (B, H, T, D); with dout, also dq, dk, dv (zeroed here). */
static void reference(const slt_tensor *q, const slt_tensor *k, const slt_tensor *v,
                      const float *dout, double *out, double *dq, double *dk, double *dv) {
  int B = q->shape[0], H = q->shape[1], Hkv = k->shape[1], T = q->shape[2], D = q->shape[3];
  double scale = 1.0 / sqrt(D);
  double *p = malloc(sizeof(double) * T), *dp = malloc(sizeof(double) * T);
  if (dout) {
    memset(dq, 0, sizeof(double) * q->numel);
    memset(dk, 0, sizeof(double) * k->numel);
    memset(dv, 0, sizeof(double) * k->numel);
  }
  for (int b = 0; b < B; b++)
    for (int h = 0; h < H; h++)
      for (int i = 0; i < T; i++) {
        int64_t qi = (((int64_t)b * H + h) * T + i) * D,
                kv = ((int64_t)b * Hkv + h / (H / Hkv)) * T * D;
        double m = -INFINITY, sum = 0;
        for (int j = 0; j <= i; j++) {
          double s = 0;
          for (int d = 0; d < D; d++) s += (double)q->data[qi + d] * k->data[kv + j * D + d];
          p[j] = s * scale;
          m = fmax(m, p[j]);
        }
        for (int j = 0; j <= i; j++) sum += p[j] = exp(p[j] - m);
        for (int d = 0; d < D; d++) {
          double o = 0;
          for (int j = 0; j <= i; j++) o += p[j] / sum * v->data[kv + j * D + d];
          out[qi + d] = o;
        }
        if (!dout) continue;
        double delta = 0;
        for (int j = 0; j <= i; j++) {
          p[j] /= sum;
          dp[j] = 0;
          for (int d = 0; d < D; d++) dp[j] += (double)dout[qi + d] * v->data[kv + j * D + d];
          delta += p[j] * dp[j];
        }
        for (int j = 0; j <= i; j++) {
          double ds = p[j] * (dp[j] - delta) * scale;
          for (int d = 0; d < D; d++) {
            dq[qi + d] += ds * k->data[kv + j * D + d];
            dk[kv + j * D + d] += ds * q->data[qi + d];
            dv[kv + j * D + d] += p[j] * dout[qi + d];
          }
        }
      }
  free(p);
  free(dp);
}

static double rel_err_d(const float *a, const double *ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    num += (a[i] - ref[i]) * (a[i] - ref[i]);
    den += ref[i] * ref[i];
  }
  return sqrt(num) / fmax(sqrt(den), 1e-300);
}

/* T = 300 (four full blocks and a partial one), D = 64, GQA: forward and all three gradients
 * against the double reference; std 2 makes the softmax peaked, as trained attention is. */
static void test_matches_reference(void) {
  int B = 2, H = 4, Hkv = 2, T = 300, D = 64;
  slt_tensor *q = test_randn(31, 4, (int[]){B, H, T, D}, 2.0f, true);
  slt_tensor *k = test_randn(32, 4, (int[]){B, Hkv, T, D}, 1.0f, true);
  slt_tensor *v = test_randn(33, 4, (int[]){B, Hkv, T, D}, 1.0f, true);
  slt_tensor *dout = test_randn(34, 4, (int[]){B, H, T, D}, 1.0f, false);
  double *ref = malloc(sizeof(double) * (2 * q->numel + 2 * k->numel));
  double *dq = ref + q->numel, *dk = dq + q->numel, *dv = dk + k->numel;
  reference(q, k, v, dout->data, ref, dq, dk, dv);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *out = slt_attention(&c, q, k, v);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT(out->ndim == 4 && slt_tensor_same_shape(out, q));
  CU_ASSERT_EQUAL_FATAL(slt_backward_seed(&c, out, dout->data), 0);
  double e[4] = {rel_err_d(out->data, ref, q->numel), rel_err_d(q->grad, dq, q->numel),
                 rel_err_d(k->grad, dk, k->numel), rel_err_d(v->grad, dv, v->numel)};
  if (getenv("SLT_TEST_VERBOSE"))
    printf("\n  [attention vs double] out %.2e, dq %.2e, dk %.2e, dv %.2e\n", e[0], e[1], e[2],
           e[3]);
  CU_ASSERT(e[0] < 1e-5);
  for (int i = 1; i < 4; i++) CU_ASSERT(e[i] < 1e-5);
  slt_ctx_free(&c);
  free(ref);
  slt_tensor_free(q);
  slt_tensor_free(k);
  slt_tensor_free(v);
  slt_tensor_free(dout);
}

/* With T = 2, D = 1, k = (0, 1), v = (0, 1), row 1 of head h is σ(q[h, 1]) exactly: sweeping
 * q over [-86, 86] pins the op's exp to float precision, tails and saturation included. */
static void test_exp_precision(void) {
  enum { H = 689 };
  slt_tensor *q = slt_tensor_new(4, (int[]){1, H, 2, 1});
  slt_tensor *kv = slt_tensor_new(4, (int[]){1, 1, 2, 1});
  kv->data[1] = 1.0f;
  for (int h = 0; h < H; h++) q->data[2 * h + 1] = -86.0f + 0.25f * h;
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *out = slt_attention(&c, q, kv, kv);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  double worst = 0;
  bool row0 = true; /* row 0 sees only v[0] = 0 */
  for (int h = 0; h < H; h++) {
    double x = q->data[2 * h + 1], sig = 1.0 / (1.0 + exp(-x));
    worst = fmax(worst, fabs(out->data[2 * h + 1] - sig) / sig);
    row0 = row0 && out->data[2 * h] == 0.0f;
  }
  CU_ASSERT(row0);
  if (getenv("SLT_TEST_VERBOSE")) printf("\n  [attention exp] worst relative error %.2e\n", worst);
  CU_ASSERT(worst < 1e-6);
  slt_ctx_free(&c);
  slt_tensor_free(q);
  slt_tensor_free(kv);
}

/* Changing k and v at position t0 leaves every output row before t0 bitwise unchanged and
 * changes row t0; a gradient seeded only on rows before t0 gives zero dK, dV from t0 on. */
static void test_causal(void) {
  int B = 1, H = 2, Hkv = 1, T = 150, D = 8, t0 = 97;
  slt_tensor *q = test_randn(41, 4, (int[]){B, H, T, D}, 1.0f, true);
  slt_tensor *k = test_randn(42, 4, (int[]){B, Hkv, T, D}, 1.0f, true);
  slt_tensor *v = test_randn(43, 4, (int[]){B, Hkv, T, D}, 1.0f, true);
  slt_tensor *seed = test_randn(44, 4, (int[]){B, H, T, D}, 1.0f, false);
  for (int h = 0; h < H; h++) memset(seed->data + ((int64_t)h * T + t0) * D, 0, (T - t0) * D * 4);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *before = slt_attention(&c, q, k, v);
  CU_ASSERT_PTR_NOT_NULL_FATAL(before);
  CU_ASSERT_EQUAL_FATAL(slt_backward_seed(&c, before, seed->data), 0);
  bool zero = true, nonzero = false;
  for (int i = 0; i < T * D; i++) {
    if (i >= t0 * D)
      zero = zero && k->grad[i] == 0 && v->grad[i] == 0;
    else
      nonzero = nonzero || k->grad[i] != 0;
  }
  CU_ASSERT(zero);
  CU_ASSERT(nonzero);
  for (int d = 0; d < D; d++) k->data[t0 * D + d] += 1.0f, v->data[t0 * D + d] -= 1.0f;
  slt_tensor *after = slt_attention(&c, q, k, v);
  CU_ASSERT_PTR_NOT_NULL_FATAL(after);
  for (int h = 0; h < H; h++) {
    const float *a = before->data + (int64_t)h * T * D, *b = after->data + (int64_t)h * T * D;
    CU_ASSERT(memcmp(a, b, (size_t)t0 * D * sizeof(float)) == 0);
    CU_ASSERT(memcmp(a + t0 * D, b + t0 * D, D * sizeof(float)) != 0);
  }
  slt_ctx_free(&c);
  slt_tensor_free(q);
  slt_tensor_free(k);
  slt_tensor_free(v);
  slt_tensor_free(seed);
}

/* Expect NULL and a message naming the op and the problem. */
static void expect_error(slt_ctx *c, slt_tensor *q, slt_tensor *k, slt_tensor *v,
                         const char *what) {
  slt_err_clear();
  CU_ASSERT_PTR_NULL(slt_attention(c, q, k, v));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "attention:"));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), what));
  if (!strstr(slt_err_msg(), what)) printf("\n  unexpected message: %s\n", slt_err_msg());
}

static void test_shape_errors(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *q = test_randn(1, 4, (int[]){2, 3, 5, 4}, 1.0f, false);
  slt_tensor *k2 = test_randn(2, 4, (int[]){2, 2, 5, 4}, 1.0f, false); /* 3 % 2 != 0 */
  slt_tensor *k1 = test_randn(3, 4, (int[]){2, 1, 5, 4}, 1.0f, false); /* valid kv */
  slt_tensor *kT = test_randn(4, 4, (int[]){2, 1, 6, 4}, 1.0f, false); /* T differs */
  slt_tensor *kD = test_randn(5, 4, (int[]){2, 1, 5, 3}, 1.0f, false); /* D differs */
  slt_tensor *kB = test_randn(6, 4, (int[]){1, 1, 5, 4}, 1.0f, false); /* B differs */
  slt_tensor *k3 = test_randn(7, 3, (int[]){2, 5, 4}, 1.0f, false);    /* rank 3 */
  expect_error(&c, q, k2, k2, "multiple of kv heads");
  expect_error(&c, q, kT, kT, "agree in B, T and D");
  expect_error(&c, q, kD, kD, "agree in B, T and D");
  expect_error(&c, q, kB, kB, "agree in B, T and D");
  expect_error(&c, q, k3, k3, "4-D");
  expect_error(&c, k3, k1, k1, "4-D");
  expect_error(&c, q, k1, kT, "same shape");
  expect_error(&c, q, k1, k2, "(2, 2, 5, 4)"); /* the message shows the shapes */
  slt_err_clear();
  CU_ASSERT_PTR_NULL(slt_attention(&c, q, NULL, k1)); /* NULL propagates */
  CU_ASSERT_PTR_NOT_NULL(slt_attention(&c, q, k1, k1));
  slt_ctx_free(&c);
  slt_tensor *all[] = {q, k2, k1, kT, kD, kB, k3};
  for (int i = 0; i < 7; i++) slt_tensor_free(all[i]);
}

/* Forward and backward twice from fresh grads: bitwise equal outputs and gradients; under
 * no-grad the output is the same and nothing is recorded. */
static void run_once(slt_tensor *const *in, const float *seed, float *out_copy, float **grads) {
  slt_ctx c;
  slt_ctx_init(&c);
  for (int i = 0; i < 3; i++) memset(in[i]->grad, 0, in[i]->numel * sizeof(float));
  slt_tensor *out = slt_attention(&c, in[0], in[1], in[2]);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT_EQUAL(slt_backward_seed(&c, out, seed), 0);
  memcpy(out_copy, out->data, out->numel * sizeof(float));
  for (int i = 0; i < 3; i++) memcpy(grads[i], in[i]->grad, in[i]->numel * sizeof(float));
  slt_ctx_free(&c);
}

static void test_deterministic(void) {
  int B = 2, H = 4, Hkv = 2, T = 200, D = 16;
  slt_tensor *in[3] = {test_randn(51, 4, (int[]){B, H, T, D}, 1.0f, true),
                       test_randn(52, 4, (int[]){B, Hkv, T, D}, 1.0f, true),
                       test_randn(53, 4, (int[]){B, Hkv, T, D}, 1.0f, true)};
  slt_tensor *seed = test_randn(54, 4, (int[]){B, H, T, D}, 1.0f, false);
  int64_t nq = in[0]->numel, nk = in[1]->numel;
  float *buf = malloc(sizeof(float) * 2 * (2 * nq + 2 * nk));
  float *out1 = buf, *out2 = out1 + nq;
  float *g1[3] = {out2 + nq, out2 + 2 * nq, out2 + 2 * nq + nk};
  float *g2[3] = {g1[2] + nk, g1[2] + nk + nq, g1[2] + 2 * nk + nq};
  run_once(in, seed->data, out1, g1);
  run_once(in, seed->data, out2, g2);
  CU_ASSERT(memcmp(out1, out2, nq * sizeof(float)) == 0);
  for (int i = 0; i < 3; i++) CU_ASSERT(memcmp(g1[i], g2[i], in[i]->numel * sizeof(float)) == 0);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  slt_tensor *out = slt_attention(&c, in[0], in[1], in[2]);
  CU_ASSERT_PTR_NOT_NULL_FATAL(out);
  CU_ASSERT(memcmp(out->data, out1, nq * sizeof(float)) == 0);
  CU_ASSERT(c.nodes == 0 && !out->requires_grad);
  slt_ctx_free(&c);
  free(buf);
  for (int i = 0; i < 3; i++) slt_tensor_free(in[i]);
  slt_tensor_free(seed);
}

int register_ops_attention_suite(void) {
  CU_pSuite s = CU_add_suite("ops_attention", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "gradcheck q, k, v: small, GQA, multi-query", test_gradcheck_small) ||
         !CU_add_test(s, "gradcheck q, k, v: several query blocks", test_gradcheck_blocked) ||
         !CU_add_test(s, "forward and backward match a double reference", test_matches_reference) ||
         !CU_add_test(s, "exp to float precision over scores in [-86, 86]", test_exp_precision) ||
         !CU_add_test(s, "causal: no output or gradient reaches the past", test_causal) ||
         !CU_add_test(s, "shape errors are reported", test_shape_errors) ||
         !CU_add_test(s, "deterministic; no-grad records nothing", test_deterministic);
}
