/* The Linear transform seam (layers/linear.h): every kind routes its input through the
 * activation transform and every weight factor through the weight transform, merge merges the
 * transformed factors, and gradcheck's STE mode checks a rounding transform's backward exactly. */
#include "suites.h"
#include "test_util.h"

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "layers/structured.h"

#include <CUnit/CUnit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ×2: exact in floating point, so a transformed forward equals a forward on doubled data. */
static slt_tensor *twice(const slt_lin_transform *t, slt_ctx *c, slt_tensor *x) {
  (void)t;
  return slt_scale(c, x, 2.0f);
}
static const slt_lin_transform twice_t = {"twice", twice, NULL};

enum { IN = 16, OUT = 24, ROWS = 5 };

typedef struct {
  slt_params p;
  slt_lin l;
} one_linear;

static void build(one_linear *o, slt_lin_struct kind) {
  slt_params_init(&o->p);
  slt_lin_spec spec = {kind, 8, 2, SLT_LIN_INIT_NORMAL};
  CU_ASSERT_EQUAL_FATAL(slt_lin_declare_spec(&o->l, &o->p, "fc", IN, OUT, true, &spec), 0);
  CU_ASSERT_EQUAL_FATAL(slt_params_alloc(&o->p), 0);
  slt_rng rng;
  slt_rng_seed(&rng, 11);
  slt_lin_init(&o->l, &rng, 0.3f);
  if (o->l.bias) slt_rng_fill_normal(&rng, o->l.bias->data, o->l.bias->numel, 0.0f, 0.1f);
}

static float *forward_copy(one_linear *o, slt_ctx *c, float *xs) {
  slt_tensor *x = slt_wrap(c, xs, 2, (int[]){ROWS, IN});
  slt_tensor *y = slt_lin_forward(&o->l, c, x);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  float *out = malloc(sizeof(float) * ROWS * OUT);
  memcpy(out, y->data, sizeof(float) * ROWS * OUT);
  return out;
}

static void double_factors(one_linear *o) {
  slt_tensor *ts[SLT_LIN_MAX_FACTORS + 1] = {o->l.weight};
  memcpy(ts + 1, o->l.factor, sizeof o->l.factor);
  for (int k = 0; k <= SLT_LIN_MAX_FACTORS; k++)
    for (int64_t i = 0; ts[k] && i < ts[k]->numel; i++) ts[k]->data[i] *= 2.0f;
}

/* For one kind: weight transform = doubled factors, activation transform = doubled input, and
 * merge of the transformed factors = merge of doubled factors; all bitwise. */
static void check_kind(slt_lin_struct kind) {
  one_linear o;
  build(&o, kind);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  float xs[ROWS * IN], x2[ROWS * IN];
  slt_rng rng;
  slt_rng_seed(&rng, 5);
  slt_rng_fill_normal(&rng, xs, ROWS * IN, 0.0f, 1.0f);
  for (int i = 0; i < ROWS * IN; i++) x2[i] = 2.0f * xs[i];
  float *plain = forward_copy(&o, &c, xs);
  o.l.at = &twice_t;
  float *act = forward_copy(&o, &c, xs);
  o.l.at = NULL;
  float *act_ref = forward_copy(&o, &c, x2);
  o.l.wt = &twice_t;
  float *wt = forward_copy(&o, &c, xs), *merged = malloc(sizeof(float) * OUT * IN);
  CU_ASSERT_EQUAL(slt_lin_merge(&o.l, merged), 0);
  o.l.wt = NULL;
  double_factors(&o);
  float *wt_ref = forward_copy(&o, &c, xs), *merged_ref = malloc(sizeof(float) * OUT * IN);
  CU_ASSERT_EQUAL(slt_lin_merge(&o.l, merged_ref), 0);
  CU_ASSERT(memcmp(act, act_ref, sizeof(float) * ROWS * OUT) == 0);
  CU_ASSERT(memcmp(wt, wt_ref, sizeof(float) * ROWS * OUT) == 0);
  CU_ASSERT(memcmp(merged, merged_ref, sizeof(float) * OUT * IN) == 0);
  CU_ASSERT(memcmp(plain, wt, sizeof(float) * ROWS * OUT) != 0); /* the transform did act */
  free(plain), free(act), free(act_ref), free(wt), free(wt_ref), free(merged), free(merged_ref);
  slt_ctx_free(&c);
  slt_params_free(&o.p);
}

static void test_every_kind_routes(void) {
  check_kind(SLT_LIN_DENSE);
  check_kind(SLT_LIN_LOWRANK);
  check_kind(SLT_LIN_BLOCKDENSE);
  check_kind(SLT_LIN_BLOCKSHUFFLE);
}

/* ---- a rounding transform and gradcheck's STE mode ---- */

/* sign(x) forward; backward dy where |x| <= 1 (the clipped STE), 0 elsewhere. */
static void sign_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const float *x = n->in[0]->data, *dy = n->out->grad;
  float *dx = n->in[0]->grad;
  for (int64_t i = 0; i < n->in[0]->numel; i++) dx[i] += fabsf(x[i]) <= 1.0f ? dy[i] : 0.0f;
}

/* A deliberately wrong backward (the plain STE, no clipping): the check must catch it. */
static void sign_backward_unclipped(slt_ctx *c, slt_node *n) {
  (void)c;
  for (int64_t i = 0; i < n->in[0]->numel; i++) n->in[0]->grad[i] += n->out->grad[i];
}

static slt_tensor *sign_op(slt_ctx *c, slt_tensor *const *in, const void *user) {
  slt_tensor *x = in[0], *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  for (int64_t i = 0; i < x->numel; i++) y->data[i] = x->data[i] >= 0 ? 1.0f : -1.0f;
  slt_backward_fn fn = user ? sign_backward_unclipped : sign_backward;
  if (slt_needs_grad(c, 1, &x) && !slt_record(c, "sign", fn, y, 1, &x, 0)) return NULL;
  return y;
}

static void test_ste_mode(void) {
  slt_tensor *x = slt_tensor_new(2, (int[]){7, 9});
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  CU_ASSERT_EQUAL_FATAL(slt_tensor_alloc_grad(x), 0);
  x->requires_grad = true;
  slt_rng rng;
  slt_rng_seed(&rng, 3);
  slt_rng_fill_normal(&rng, x->data, x->numel, 0.0f, 1.5f);
  float *mask = malloc(sizeof(float) * x->numel);
  int64_t clipped = 0;
  for (int64_t i = 0; i < x->numel; i++) {
    mask[i] = fabsf(x->data[i]) <= 1.0f ? 1.0f : 0.0f;
    clipped += mask[i] == 0.0f;
  }
  CU_ASSERT(clipped > 0 && clipped < x->numel); /* both sides of the clip are exercised */
  CU_ASSERT_EQUAL(slt_gradcheck_ste(sign_op, x, NULL, mask, 9), 0);
  CU_ASSERT_EQUAL(slt_gradcheck_ste(sign_op, x, "unclipped", mask, 9), clipped);
  free(mask);
  slt_tensor_free(x);
}

int register_transform_suite(void) {
  CU_pSuite s = CU_add_suite("transform", NULL, NULL);
  return !s || !CU_add_test(s, "every kind routes through the transforms", test_every_kind_routes) ||
                 !CU_add_test(s, "gradcheck STE mode", test_ste_mode)
             ? -1
             : 0;
}
