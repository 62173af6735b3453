/* Embedding and cross-entropy: gradchecks, forward and backward against naive double references,
 * stability at large logits, ignore_index, errors, and bitwise determinism across thread counts. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const int32_t *ids;
  int B, T;
} emb_args;

/* embedding squared: nonlinear in the table, so the check depends on which rows were read */
static slt_tensor *f_embedding(slt_ctx *c, slt_tensor *const *in, const void *u) {
  const emb_args *a = u;
  slt_tensor *e = slt_embedding(c, in[0], a->ids, a->B, a->T);
  return slt_mul(c, e, e);
}

static void test_embedding_gradcheck(void) {
  /* repeated ids; the second shape has C > 16, so more than one column piece in backward */
  static const int32_t ids1[] = {0, 3, 3, 1, 4, 0, 3, 2};
  static const int32_t ids2[] = {6, 1, 1, 1, 0, 5, 6, 2, 2, 3, 6, 1, 4, 0, 0};
  struct {
    int V, C;
    emb_args a;
  } cases[2] = {{5, 3, {ids1, 2, 4}}, {7, 37, {ids2, 3, 5}}};
  for (int k = 0; k < 2; k++) {
    slt_tensor *table = test_randn(20 + k, 2, (int[]){cases[k].V, cases[k].C}, 1.0f, true);
    test_gradcheck(k ? "embedding (7, 37)" : "embedding (5, 3)", f_embedding, 1, &table,
                   &cases[k].a, 1e-2);
    slt_tensor_free(table);
  }
}

static void test_embedding_forward(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *table = test_randn(22, 2, (int[]){6, 5}, 1.0f, false);
  int32_t ids[6] = {5, 0, 2, 2, 4, 1};
  slt_tensor *e = slt_embedding(&c, table, ids, 2, 3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  CU_ASSERT(e->ndim == 3 && e->shape[0] == 2 && e->shape[1] == 3 && e->shape[2] == 5);
  for (int i = 0; i < 6; i++)
    CU_ASSERT(memcmp(e->data + i * 5, table->data + ids[i] * 5, 5 * sizeof(float)) == 0);
  slt_tensor_free(table);
  slt_ctx_free(&c);
}

/* The node must own its ids: changing the caller's buffer before backward changes nothing. */
static void test_embedding_copies_ids(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *table = test_randn(23, 2, (int[]){4, 3}, 1.0f, true);
  int32_t ids[3] = {1, 1, 3};
  slt_tensor *e = slt_embedding(&c, table, ids, 1, 3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(e);
  ids[0] = ids[1] = ids[2] = 0;
  float ones[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
  CU_ASSERT_EQUAL_FATAL(slt_backward_seed(&c, e, ones), 0);
  float want[12] = {0, 0, 0, 2, 2, 2, 0, 0, 0, 1, 1, 1};
  CU_ASSERT(memcmp(table->grad, want, sizeof want) == 0);
  slt_tensor_free(table);
  slt_ctx_free(&c);
}

typedef struct {
  const int32_t *targets;
  int32_t ignore;
} xent_args;

static slt_tensor *f_xent(slt_ctx *c, slt_tensor *const *in, const void *u) {
  const xent_args *a = u;
  return slt_cross_entropy(c, in[0], a->targets, a->ignore);
}

static void test_xent_gradcheck(void) {
  static const int32_t t1[] = {2, 0, 6, 3};
  static const int32_t t2[] = {4, -100, 0, 36, -100, 17}; /* two ignored rows; V = 37: tail */
  slt_tensor *a = test_randn(30, 2, (int[]){4, 7}, 2.0f, true);
  slt_tensor *b = test_randn(31, 3, (int[]){2, 3, 37}, 2.0f, true);
  slt_tensor *d = test_randn(32, 2, (int[]){3, 5}, 1.0f, true);
  test_gradcheck("cross_entropy (4, 7)", f_xent, 1, &a, &(xent_args){t1, -100}, 1e-2);
  /* the loss is one float: a larger step keeps its rounding (~1e-7·loss/h) far below tol */
  test_gradcheck("cross_entropy (2, 3, 37) ignored rows", f_xent, 1, &b, &(xent_args){t2, -100},
                 4e-2);
  /* ignore 1 with target 1 in every row but one: the mean is over that row alone */
  static const int32_t t4[] = {1, 4, 1};
  test_gradcheck("cross_entropy ignore_index in range", f_xent, 1, &d, &(xent_args){t4, 1}, 1e-2);
  slt_tensor_free(a);
  slt_tensor_free(b);
  slt_tensor_free(d);
}

/* Naive double reference: loss, and dlogits = (softmax − onehot)/n for g = 1. */
static double ref_xent(const float *x, const int32_t *t, int rows, int V, int32_t ignore,
                       double *dx) {
  double total = 0;
  int n = 0;
  for (int r = 0; r < rows; r++) n += t[r] != ignore;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (int64_t)r * V;
    double m = -INFINITY, s = 0;
    for (int j = 0; j < V; j++) m = fmax(m, xr[j]);
    for (int j = 0; j < V; j++) s += exp(xr[j] - m);
    double lse = m + log(s);
    for (int j = 0; j < V; j++)
      dx[(int64_t)r * V + j] = t[r] == ignore ? 0 : (exp(xr[j] - lse) - (j == t[r])) / n;
    if (t[r] != ignore) total += lse - xr[t[r]];
  }
  return n ? total / n : 0;
}

/* Forward and backward vs the reference: random logits of scale 3, a row of ±80 (exp would
 * overflow without the max shift), a row of -80 with the target at the max, ignored rows. */
static void test_xent_matches_reference(void) {
  enum { ROWS = 6, V = 1003 };
  slt_tensor *x = test_randn(33, 2, (int[]){ROWS, V}, 3.0f, true);
  for (int j = 0; j < V; j++) x->data[1 * V + j] = j % 2 ? 80.0f : -80.0f;
  for (int j = 0; j < V; j++) x->data[4 * V + j] = j == 7 ? 80.0f : -80.0f;
  int32_t t[ROWS] = {5, 2, -1, 999, 7, -1}; /* row 1 targets a -80 logit: loss ≈ 160 */
  double *ref_dx = malloc(sizeof(double) * ROWS * V);
  float *ref_f = malloc(sizeof(float) * ROWS * V);
  double ref = ref_xent(x->data, t, ROWS, V, -1, ref_dx);
  for (int i = 0; i < ROWS * V; i++) ref_f[i] = (float)ref_dx[i];
  slt_ctx c;
  slt_ctx_init(&c);
  memset(x->grad, 0, sizeof(float) * ROWS * V);
  slt_tensor *loss = slt_cross_entropy(&c, x, t, -1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  CU_ASSERT(loss->ndim == 1 && loss->shape[0] == 1);
  CU_ASSERT(isfinite(loss->data[0]));
  CU_ASSERT(fabs(loss->data[0] - ref) < 2e-6 * fabs(ref));
  CU_ASSERT_EQUAL_FATAL(slt_backward(&c, loss), 0);
  double e = test_rel_err(x->grad, ref_f, (int64_t)ROWS * V);
  CU_ASSERT(e < 1e-6); /* float rounding is ~1e-7: exp must be that accurate too */
  for (int j = 0; j < V; j++) CU_ASSERT(x->grad[2 * V + j] == 0.0f && x->grad[5 * V + j] == 0.0f);
  if (getenv("SLT_TEST_VERBOSE"))
    printf("\n  [xent vs reference] loss %.7g ref %.7g, grad rel err %.2e\n", loss->data[0], ref,
           e);
  slt_ctx_free(&c);
  free(ref_dx);
  free(ref_f);
  slt_tensor_free(x);
}

/* Equal logits over V classes: every class has probability 1/V, so the loss is log V. */
static void test_xent_uniform(void) {
  enum { ROWS = 3, V = 50257 };
  slt_tensor *x = slt_tensor_new(2, (int[]){ROWS, V});
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  for (int64_t i = 0; i < x->numel; i++) x->data[i] = 4.25f;
  int32_t t[ROWS] = {0, 12345, V - 1};
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *loss = slt_cross_entropy(&c, x, t, -100);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  CU_ASSERT(fabs(loss->data[0] - log((double)V)) < 1e-6 * log((double)V));
  slt_ctx_free(&c);
  slt_tensor_free(x);
}

/* Every row ignored: loss 0 and zero gradient (documented in ops_xent.c), not NaN. */
static void test_xent_all_ignored(void) {
  slt_tensor *x = test_randn(34, 2, (int[]){3, 9}, 1.0f, true);
  int32_t t[3] = {-100, -100, -100};
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *loss = slt_cross_entropy(&c, x, t, -100);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  CU_ASSERT(loss->data[0] == 0.0f);
  CU_ASSERT_EQUAL_FATAL(slt_backward(&c, loss), 0);
  for (int i = 0; i < 27; i++) CU_ASSERT(x->grad[i] == 0.0f);
  slt_ctx_free(&c);
  slt_tensor_free(x);
}

/* A NaN logit that is neither the max nor the target must still reach the loss. */
static void test_xent_nan(void) {
  slt_tensor *x = test_randn(40, 2, (int[]){2, 40}, 1.0f, false);
  x->data[40 + 33] = NAN;
  int32_t t[2] = {3, 5};
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *loss = slt_cross_entropy(&c, x, t, -100);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  CU_ASSERT(isnan(loss->data[0]));
  slt_ctx_free(&c);
  slt_tensor_free(x);
}

/* The call must return NULL with a message containing every one of want[]. */
static void expect_error(slt_tensor *got, const char *const *want, int nwant) {
  CU_ASSERT_PTR_NULL(got);
  for (int i = 0; i < nwant; i++) {
    bool ok = strstr(slt_err_msg(), want[i]) != NULL;
    if (!ok) printf("\n  message '%s' lacks '%s'\n", slt_err_msg(), want[i]);
    CU_ASSERT(ok);
  }
  slt_err_clear();
}

static void test_errors(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *table = test_randn(35, 2, (int[]){10, 4}, 1.0f, false);
  slt_tensor *t3 = test_randn(36, 3, (int[]){2, 5, 4}, 1.0f, false);
  int32_t ids[6] = {0, 1, 2, 3, 10, 5}; /* position 4 = (batch 1, time 1) when T = 3 */
  slt_err_clear();
  expect_error(slt_embedding(&c, table, ids, 2, 3),
               (const char *[]){"embedding", "id 10", "position 4", "[0, 10)"}, 4);
  ids[4] = -3;
  expect_error(slt_embedding(&c, table, ids, 2, 3), (const char *[]){"embedding", "id -3"}, 2);
  ids[4] = 4;
  expect_error(slt_embedding(&c, t3, ids, 2, 3), (const char *[]){"embedding", "(2, 5, 4)"}, 2);
  expect_error(slt_embedding(&c, table, ids, 0, 3), (const char *[]){"embedding", "B 0"}, 2);
  expect_error(slt_embedding(&c, table, NULL, 2, 3), (const char *[]){"embedding", "NULL"}, 2);
  CU_ASSERT_PTR_NOT_NULL(slt_embedding(&c, table, ids, 2, 3)); /* fixed ids are accepted */

  slt_tensor *logits = test_randn(37, 3, (int[]){2, 5, 4}, 1.0f, false); /* 10 rows, V = 4 */
  int32_t t[10] = {0, 1, 2, 3, -100, 0, 4, 1, 2, 3};
  expect_error(slt_cross_entropy(&c, logits, t, -100),
               (const char *[]){"cross_entropy", "target 4", "row 6", "[0, 4)"}, 4);
  t[6] = -7;
  expect_error(slt_cross_entropy(&c, logits, t, -100),
               (const char *[]){"cross_entropy", "target -7", "row 6"}, 3);
  expect_error(slt_cross_entropy(&c, logits, NULL, -100), (const char *[]){"cross_entropy"}, 1);
  t[6] = -100;
  CU_ASSERT_PTR_NOT_NULL(slt_cross_entropy(&c, logits, t, -100));
  /* a failed forward propagates as NULL without a new message */
  slt_err_set("earlier failure");
  CU_ASSERT_PTR_NULL(slt_cross_entropy(&c, NULL, t, -100));
  CU_ASSERT_PTR_NULL(slt_embedding(&c, NULL, ids, 2, 3));
  CU_ASSERT_STRING_EQUAL(slt_err_msg(), "earlier failure");
  slt_err_clear();
  slt_tensor_free(table);
  slt_tensor_free(t3);
  slt_tensor_free(logits);
  slt_ctx_free(&c);
}

/* loss = CE(embedding(table, ids)) with the embedding width as the class count, forward and
 * backward at a given thread count; sizes large enough that both ops take their parallel paths
 * (and no BLAS call, whose blocking is not ours to vouch for). */
enum { DET_VOCAB = 300, DET_C = 1000, DET_B = 4, DET_T = 64 };

static float run_pipeline(int threads, const slt_tensor *table0, float *dtable) {
  static int32_t ids[DET_B * DET_T], tg[DET_B * DET_T];
  for (int i = 0; i < DET_B * DET_T; i++) {
    ids[i] = (int32_t)((i * 7919u) % DET_VOCAB); /* repeats: 256 tokens over 300 ids mod 7919 */
    tg[i] = i % 9 == 0 ? -100 : (int32_t)((i * 104729u) % DET_C);
  }
  int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *table = slt_wrap(&c, table0->data, 2, table0->shape);
  table->requires_grad = true;
  table->grad = dtable;
  memset(dtable, 0, sizeof(float) * table0->numel);
  slt_tensor *loss = slt_cross_entropy(&c, slt_embedding(&c, table, ids, DET_B, DET_T), tg, -100);
  float l = loss && slt_backward(&c, loss) == 0 ? loss->data[0] : NAN;
  slt_ctx_free(&c);
  omp_set_num_threads(saved);
  return l;
}

static void test_determinism(void) {
  slt_tensor *table = test_randn(38, 2, (int[]){DET_VOCAB, DET_C}, 2.0f, false);
  float *g[3], l[3];
  int threads[3] = {1, 3, 3};
  for (int k = 0; k < 3; k++) {
    g[k] = malloc(sizeof(float) * table->numel);
    l[k] = run_pipeline(threads[k], table, g[k]);
  }
  CU_ASSERT(isfinite(l[0]) && l[0] > 0);
  for (int k = 1; k < 3; k++) {
    CU_ASSERT(memcmp(&l[0], &l[k], sizeof(float)) == 0);
    CU_ASSERT(memcmp(g[0], g[k], sizeof(float) * table->numel) == 0);
  }
  for (int k = 0; k < 3; k++) free(g[k]);
  slt_tensor_free(table);
}

int register_ops_loss_suite(void) {
  CU_pSuite s = CU_add_suite("ops_loss", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "embedding gradcheck, repeated ids", test_embedding_gradcheck) ||
         !CU_add_test(s, "embedding forward picks rows", test_embedding_forward) ||
         !CU_add_test(s, "embedding owns its ids", test_embedding_copies_ids) ||
         !CU_add_test(s, "cross_entropy gradcheck, ignored rows", test_xent_gradcheck) ||
         !CU_add_test(s, "cross_entropy matches a double reference", test_xent_matches_reference) ||
         !CU_add_test(s, "cross_entropy of uniform logits is log V", test_xent_uniform) ||
         !CU_add_test(s, "cross_entropy with every row ignored", test_xent_all_ignored) ||
         !CU_add_test(s, "cross_entropy lets a NaN logit through", test_xent_nan) ||
         !CU_add_test(s, "errors name the op and the bad value", test_errors) ||
         !CU_add_test(s, "bitwise determinism across thread counts", test_determinism);
}
