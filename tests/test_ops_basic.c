/* Gradchecks and shape errors for matmul, linear, pointwise ops, reductions and head layouts. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"

#include <string.h>

typedef struct {
  bool ta, tb;
} trans_flags;

static slt_tensor *f_matmul(slt_ctx *c, slt_tensor *const *in, const void *u) {
  const trans_flags *t = u;
  return slt_matmul(c, in[0], in[1], t->ta, t->tb);
}

/* Shape of an operand: (M, K), transposed to (K, M) when trans; batch dims in front. */
static void operand_shape(int *shape, int nbatch, const int *batch, int r, int k, bool trans) {
  for (int i = 0; i < nbatch; i++) shape[i] = batch[i];
  shape[nbatch] = trans ? k : r;
  shape[nbatch + 1] = trans ? r : k;
}

static void check_matmul(int M, int N, int K, int nba, const int *ba, int nbb, const int *bb) {
  for (int ta = 0; ta < 2; ta++)
    for (int tb = 0; tb < 2; tb++) {
      int sa[4], sb[4];
      operand_shape(sa, nba, ba, M, K, ta);
      operand_shape(sb, nbb, bb, K, N, false);
      if (tb) operand_shape(sb, nbb, bb, N, K, false); /* B stored (N, K) */
      slt_tensor *a = test_randn(1, nba + 2, sa, 1.0f, true);
      slt_tensor *b = test_randn(2, nbb + 2, sb, 1.0f, true);
      trans_flags t = {ta, tb};
      char label[64];
      snprintf(label, sizeof label, "matmul ta=%d tb=%d batch %d/%d", ta, tb, nba, nbb);
      test_gradcheck(label, f_matmul, 2, (slt_tensor *[]){a, b}, &t, 1e-2);
      slt_tensor_free(a);
      slt_tensor_free(b);
    }
}

static void test_matmul_2d(void) { check_matmul(3, 4, 5, 0, NULL, 0, NULL); }
static void test_matmul_folded(void) { check_matmul(3, 4, 5, 1, (int[]){2}, 0, NULL); }
static void test_matmul_batched(void) {
  check_matmul(3, 2, 4, 2, (int[]){2, 2}, 2, (int[]){2, 2});
  check_matmul(2, 3, 4, 0, NULL, 1, (int[]){3}); /* A broadcast over B's batch */
}

static void test_matmul_matches_naive(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *a = test_randn(3, 2, (int[]){7, 5}, 1.0f, false);
  slt_tensor *b = test_randn(4, 2, (int[]){5, 6}, 1.0f, false);
  slt_tensor *y = slt_matmul(&c, a, b, false, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT(y->ndim == 2 && y->shape[0] == 7 && y->shape[1] == 6);
  float ref[42];
  for (int i = 0; i < 7; i++)
    for (int j = 0; j < 6; j++) {
      double s = 0;
      for (int k = 0; k < 5; k++) s += (double)a->data[i * 5 + k] * b->data[k * 6 + j];
      ref[i * 6 + j] = (float)s;
    }
  CU_ASSERT(test_rel_err(y->data, ref, 42) < 1e-6);
  slt_tensor_free(a);
  slt_tensor_free(b);
  slt_ctx_free(&c);
}

static void test_matmul_shape_error(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *a = test_randn(3, 2, (int[]){3, 4}, 1.0f, false);
  slt_tensor *b = test_randn(4, 2, (int[]){5, 6}, 1.0f, false);
  slt_err_clear();
  CU_ASSERT_PTR_NULL(slt_matmul(&c, a, b, false, false));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "inner dimensions differ"));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "(3, 4)"));
  CU_ASSERT_PTR_NULL(slt_add(&c, a, b));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "add:"));
  CU_ASSERT_PTR_NULL(slt_matmul(&c, NULL, b, false, false)); /* NULL propagates */
  slt_tensor_free(a);
  slt_tensor_free(b);
  slt_ctx_free(&c);
}

static slt_tensor *f_linear(slt_ctx *c, slt_tensor *const *in, const void *u) {
  return slt_linear(c, in[0], in[1], u ? in[2] : NULL);
}

static void test_linear(void) {
  slt_tensor *x = test_randn(5, 3, (int[]){2, 3, 6}, 1.0f, true);
  slt_tensor *w = test_randn(6, 2, (int[]){4, 6}, 1.0f, true);
  slt_tensor *b = test_randn(7, 1, (int[]){4}, 1.0f, true);
  test_gradcheck("linear+bias", f_linear, 3, (slt_tensor *[]){x, w, b}, "bias", 1e-2);
  test_gradcheck("linear", f_linear, 2, (slt_tensor *[]){x, w}, NULL, 1e-2);
  slt_tensor_free(x);
  slt_tensor_free(w);
  slt_tensor_free(b);
}

typedef slt_tensor *(*binary_op)(slt_ctx *, slt_tensor *, slt_tensor *);
static slt_tensor *f_binary(slt_ctx *c, slt_tensor *const *in, const void *u) {
  return (*(const binary_op *)u)(c, in[0], in[1]);
}

static void test_pointwise(void) {
  binary_op ops[3] = {slt_add, slt_sub, slt_mul};
  const char *names[3] = {"add", "sub", "mul"};
  int shapes[2][3] = {{2, 3, 5}, {4, 7, 3}};
  for (int s = 0; s < 2; s++)
    for (int k = 0; k < 3; k++) {
      slt_tensor *a = test_randn(8, 3, shapes[s], 1.0f, true);
      slt_tensor *b = test_randn(9, 3, shapes[s], 1.0f, true);
      slt_tensor *row = test_randn(10, 1, &shapes[s][2], 1.0f, true);
      char label[64];
      snprintf(label, sizeof label, "%s same shape", names[k]);
      test_gradcheck(label, f_binary, 2, (slt_tensor *[]){a, b}, &ops[k], 1e-2);
      snprintf(label, sizeof label, "%s row broadcast", names[k]);
      test_gradcheck(label, f_binary, 2, (slt_tensor *[]){a, row}, &ops[k], 1e-2);
      slt_tensor_free(a);
      slt_tensor_free(b);
      slt_tensor_free(row);
    }
}

static slt_tensor *f_scale(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_scale(c, in[0], -1.7f);
}
static slt_tensor *f_sum(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_sum(c, in[0]);
}
static slt_tensor *f_mean(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  return slt_mean(c, in[0]);
}

static void test_scale_and_reductions(void) {
  int shapes[2][2] = {{3, 4}, {5, 9}};
  for (int s = 0; s < 2; s++) {
    slt_tensor *a = test_randn(11, 2, shapes[s], 1.0f, true);
    test_gradcheck("scale", f_scale, 1, &a, NULL, 1e-2);
    test_gradcheck("sum", f_sum, 1, &a, NULL, 1e-2);
    test_gradcheck("mean", f_mean, 1, &a, NULL, 1e-2);
    slt_tensor_free(a);
  }
}

static slt_tensor *f_reshape(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  slt_tensor *r = slt_reshape(c, in[0], 2, (int[]){2, (int)(in[0]->numel / 2)});
  return slt_mul(c, r, r); /* nonlinear after, so the gradient depends on the mapping */
}
static slt_tensor *f_split(slt_ctx *c, slt_tensor *const *in, const void *u) {
  slt_tensor *h = slt_split_heads(c, in[0], *(const int *)u);
  return slt_mul(c, h, in[1]); /* in[1] in (B, H, T, D): checks the permutation */
}
static slt_tensor *f_merge(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  slt_tensor *m = slt_merge_heads(c, in[0]);
  return slt_mul(c, m, in[1]);
}

static slt_tensor *f_split_at(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  slt_tensor *k = slt_split_heads_at(c, in[0], 3, 2, 2); /* columns 3..6 of 9 */
  return slt_mul(c, k, in[1]);
}

static void test_split_heads_at(void) {
  slt_tensor *x = test_randn(16, 3, (int[]){2, 3, 9}, 1.0f, true);
  slt_tensor *w = test_randn(17, 4, (int[]){2, 2, 3, 2}, 1.0f, true);
  test_gradcheck("split_heads_at", f_split_at, 2, (slt_tensor *[]){x, w}, NULL, 1e-2);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *k = slt_split_heads_at(&c, x, 3, 2, 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(k);
  /* (b=1, h=1, t=2, d=1) comes from x[1, 2, 3 + 1·2 + 1] */
  CU_ASSERT_EQUAL(k->data[((1 * 2 + 1) * 3 + 2) * 2 + 1], x->data[(1 * 3 + 2) * 9 + 6]);
  CU_ASSERT_PTR_NULL(slt_split_heads_at(&c, x, 6, 2, 2)); /* runs past the last column */
  slt_ctx_free(&c);
  slt_tensor_free(x);
  slt_tensor_free(w);
}

static void test_shapes(void) {
  int dims[2][4] = {{2, 3, 2, 4}, {1, 5, 4, 2}}; /* B, T, H, D */
  for (int s = 0; s < 2; s++) {
    int B = dims[s][0], T = dims[s][1], H = dims[s][2], D = dims[s][3];
    slt_tensor *x = test_randn(12, 3, (int[]){B, T, H * D}, 1.0f, true);
    slt_tensor *w4 = test_randn(13, 4, (int[]){B, H, T, D}, 1.0f, true);
    slt_tensor *x4 = test_randn(14, 4, (int[]){B, H, T, D}, 1.0f, true);
    slt_tensor *w3 = test_randn(15, 3, (int[]){B, T, H * D}, 1.0f, true);
    test_gradcheck("reshape", f_reshape, 1, &x, NULL, 1e-2);
    test_gradcheck("split_heads", f_split, 2, (slt_tensor *[]){x, w4}, &H, 1e-2);
    test_gradcheck("merge_heads", f_merge, 2, (slt_tensor *[]){x4, w3}, NULL, 1e-2);
    /* merge(split(x)) is the identity */
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *round = slt_merge_heads(&c, slt_split_heads(&c, x, H));
    CU_ASSERT_PTR_NOT_NULL_FATAL(round);
    CU_ASSERT(memcmp(round->data, x->data, x->numel * sizeof(float)) == 0);
    slt_ctx_free(&c);
    slt_tensor_free(x);
    slt_tensor_free(w4);
    slt_tensor_free(x4);
    slt_tensor_free(w3);
  }
}

int register_ops_basic_suite(void) {
  CU_pSuite s = CU_add_suite("ops_basic", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "matmul 2-D, every transpose", test_matmul_2d) ||
         !CU_add_test(s, "matmul folded batch", test_matmul_folded) ||
         !CU_add_test(s, "matmul batched and broadcast", test_matmul_batched) ||
         !CU_add_test(s, "matmul matches a naive product", test_matmul_matches_naive) ||
         !CU_add_test(s, "shape errors are reported", test_matmul_shape_error) ||
         !CU_add_test(s, "linear", test_linear) ||
         !CU_add_test(s, "add/sub/mul and row broadcast", test_pointwise) ||
         !CU_add_test(s, "scale, sum, mean", test_scale_and_reductions) ||
         !CU_add_test(s, "reshape and head layouts", test_shapes) ||
         !CU_add_test(s, "heads from a fused projection", test_split_heads_at);
}
