/* The engine itself: arena, tape, no-grad, accumulation, the parameter store, determinism. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "autograd/params.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static void test_arena_steady_state(void) {
  slt_arena a = {0};
  void *first[5] = {0};
  for (int step = 0; step < 4; step++) {
    /* More than one chunk's worth in the first step forces growth... */
    for (int i = 0; i < 5; i++) {
      float *p = slt_arena_alloc(&a, 30u << 20);
      CU_ASSERT_PTR_NOT_NULL_FATAL(p);
      CU_ASSERT_EQUAL((uintptr_t)p % 64, 0);
      p[0] = 1.0f; /* touch */
      if (!step) first[i] = p;
      else CU_ASSERT_PTR_EQUAL(p, first[i]); /* ...later steps land on the same, touched pages */
    }
    if (step == 0) CU_ASSERT_EQUAL(a.mallocs, 3); /* 64 MiB chunks: 30+30, 30+30, 30 */
    slt_arena_reset(&a);
  }
  /* ...after which every step fits the chunks it has: no more mallocs. */
  CU_ASSERT_EQUAL(a.mallocs, 3);
  CU_ASSERT(a.peak >= 150u << 20);
  slt_arena_free(&a);
}

static void test_no_grad_records_nothing(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *w = test_randn(1, 2, (int[]){3, 3}, 1.0f, true);
  slt_ctx_set_no_grad(&c, true);
  slt_tensor *y = slt_matmul(&c, w, w, false, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_EQUAL(c.nodes, 0);
  CU_ASSERT_FALSE(y->requires_grad);
  slt_ctx_set_no_grad(&c, false);
  y = slt_matmul(&c, w, w, false, false);
  CU_ASSERT_EQUAL(c.nodes, 1);
  CU_ASSERT_TRUE(y->requires_grad);
  /* Inputs that need no grad record nothing either. */
  slt_tensor *x = test_randn(2, 2, (int[]){3, 3}, 1.0f, false);
  slt_add(&c, x, x);
  CU_ASSERT_EQUAL(c.nodes, 1);
  slt_tensor_free(w);
  slt_tensor_free(x);
  slt_ctx_free(&c);
}

static void test_backward_accumulates_and_shares(void) {
  /* L = mean(w ⊙ w) + sum(w): w used twice, gradient 2w/n + 1; a second backward adds again. */
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *w = test_randn(3, 2, (int[]){2, 5}, 1.0f, true);
  for (int pass = 1; pass <= 2; pass++) {
    slt_tensor *l = slt_add(&c, slt_mean(&c, slt_mul(&c, w, w)), slt_sum(&c, w));
    CU_ASSERT_EQUAL_FATAL(slt_backward(&c, l), 0);
    for (int i = 0; i < 10; i++)
      CU_ASSERT_DOUBLE_EQUAL(w->grad[i], pass * (2.0 * w->data[i] / 10 + 1.0), 1e-6);
    slt_ctx_reset(&c);
  }
  slt_tensor_free(w);
  slt_ctx_free(&c);
}

static float gelu_tanh_grad(float x) {
  const double k = 0.7978845608028654, a = 0.044715;
  double t = tanh(k * (x + a * x * x * x));
  return (float)(0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * a * x * x));
}

/* sum of one consumer of h: 0 gelu(h), 1 h ⊙ h, 2 columns 0-1 of h, 3 columns 2-3 of h. */
static slt_tensor *consumer(slt_ctx *c, slt_tensor *h, int k) {
  switch (k) {
  case 0: return slt_sum(c, slt_gelu_tanh(c, h));
  case 1: return slt_sum(c, slt_mul(c, h, h));
  default: return slt_sum(c, slt_split_heads_at(c, h, 2 * (k - 2), 1, 2));
  }
}

static void test_first_writers_assign(void) {
  /* Ops that write an input gradient first assign instead of adding to a zero fill (tape.h,
   * slt_grad_take). Poison the arena with NaN first, so any op that adds into a gradient
   * buffer nobody zeroed, or leaves part of one unwritten, shows up. h = w ⊙ w (1, 2, 6) feeds
   * a plain sum, gelu, h ⊙ h and two head splits covering columns 0-3 only:
   * dL/dh = 1 + gelu'(h) + 2h + [col < 4], dL/dw = dL/dh · 2w. Backward visits consumers in
   * reverse order, so each variant records a different one last: that one writes first. */
  for (int first = 0; first < 4; first++) {
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *junk = slt_new(&c, 1, (int[]){1 << 16});
    CU_ASSERT_PTR_NOT_NULL_FATAL(junk);
    for (int i = 0; i < 1 << 16; i++) junk->data[i] = NAN;
    slt_ctx_reset(&c);
    slt_tensor *w = test_randn(5, 3, (int[]){1, 2, 6}, 1.0f, true);
    slt_tensor *h = slt_mul(&c, w, w);
    slt_tensor *l = slt_sum(&c, h);
    for (int k = 1; k <= 4; k++) l = slt_add(&c, l, consumer(&c, h, (first + k) % 4));
    CU_ASSERT_EQUAL_FATAL(slt_backward(&c, l), 0);
    for (int i = 0; i < 12; i++) {
      float hv = w->data[i] * w->data[i];
      double dh = 1.0 + gelu_tanh_grad(hv) + 2.0 * hv + (i % 6 < 4);
      CU_ASSERT_DOUBLE_EQUAL(w->grad[i], dh * 2.0 * w->data[i], 1e-5 * (1 + fabs(dh)));
    }
    slt_tensor_free(w);
    slt_ctx_free(&c);
  }
}

static void test_backward_errors(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *w = test_randn(4, 2, (int[]){2, 2}, 1.0f, true);
  slt_tensor *y = slt_mul(&c, w, w);
  CU_ASSERT_EQUAL(slt_backward(&c, y), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "scalar"));
  slt_tensor *x = test_randn(5, 1, (int[]){1}, 1.0f, false);
  CU_ASSERT_EQUAL(slt_backward(&c, x), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "requires grad"));
  CU_ASSERT_EQUAL(slt_backward(&c, NULL), -1);
  slt_tensor_free(w);
  slt_tensor_free(x);
  slt_ctx_free(&c);
}

static void test_params_store(void) {
  slt_params p;
  slt_params_init(&p);
  slt_tensor *a = slt_params_add(&p, "blocks.0.ffn.fc1.weight", 2, (int[]){8, 3});
  slt_tensor *b = slt_params_add(&p, "blocks.0.ffn.fc1.bias", 1, (int[]){8});
  CU_ASSERT_PTR_NOT_NULL_FATAL(a);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_PTR_NULL(slt_params_add(&p, "blocks.0.ffn.fc1.bias", 1, (int[]){8}));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "duplicate"));
  CU_ASSERT_PTR_NULL(slt_params_add(&p, "bad", 2, (int[]){0, 3}));
  CU_ASSERT_EQUAL_FATAL(slt_params_alloc(&p), 0);
  CU_ASSERT_PTR_NULL(slt_params_add(&p, "late", 1, (int[]){1}));
  /* Views are disjoint slices of the flat buffers, 64-byte aligned. */
  CU_ASSERT(a->data == p.data && a->grad == p.grad);
  CU_ASSERT(b->data >= a->data + a->numel);
  CU_ASSERT_EQUAL((uintptr_t)b->data % 64, 0);
  CU_ASSERT(a->shape[0] == 8 && a->shape[1] == 3 && a->requires_grad);
  CU_ASSERT_PTR_EQUAL(&slt_params_find(&p, "blocks.0.ffn.fc1.bias")->t, b);
  CU_ASSERT_PTR_NULL(slt_params_find(&p, "nope"));
  b->grad[0] = 3;
  slt_params_zero_grad(&p);
  CU_ASSERT_EQUAL(b->grad[0], 0.0f);
  slt_params_free(&p);
}

/* A small composite of many ops, forward and backward; returns loss and copies the grads. */
static float run_composite(float *grads, int64_t *ngrad) {
  slt_params p;
  slt_params_init(&p);
  slt_tensor *w = slt_params_add(&p, "w", 2, (int[]){96, 64});
  slt_tensor *b = slt_params_add(&p, "b", 1, (int[]){96});
  slt_params_alloc(&p);
  slt_rng r;
  slt_rng_seed(&r, 42);
  slt_rng_fill_normal(&r, p.data, p.numel, 0.0f, 0.02f);
  slt_tensor *x = test_randn(43, 3, (int[]){8, 64, 64}, 1.0f, false);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *h = slt_linear(&c, x, w, b);
  slt_tensor *l = slt_mean(&c, slt_mul(&c, h, h));
  float loss = l ? l->data[0] : -1.0f;
  slt_backward(&c, l);
  memcpy(grads, p.grad, p.numel * sizeof(float));
  *ngrad = p.numel;
  slt_ctx_free(&c);
  slt_tensor_free(x);
  slt_params_free(&p);
  return loss;
}

static void test_determinism(void) {
  static float g1[96 * 64 + 128], g2[96 * 64 + 128];
  int64_t n1, n2;
  float l1 = run_composite(g1, &n1), l2 = run_composite(g2, &n2);
  CU_ASSERT(l1 > 0);
  CU_ASSERT_EQUAL(memcmp(&l1, &l2, sizeof l1), 0);
  CU_ASSERT_EQUAL_FATAL(n1, n2);
  CU_ASSERT_EQUAL(memcmp(g1, g2, n1 * sizeof(float)), 0);
}

/* An op whose backward is deliberately 1% wrong: the gradcheck harness must reject it. */
static void wrong_scale_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  for (int64_t i = 0; i < n->in[0]->numel; i++) n->in[0]->grad[i] += 2.0f * 1.01f * n->out->grad[i];
}

static slt_tensor *f_wrong_scale(slt_ctx *c, slt_tensor *const *in, const void *u) {
  (void)u;
  slt_tensor *x = in[0], *y = slt_new(c, x->ndim, x->shape);
  for (int64_t i = 0; i < x->numel; i++) y->data[i] = 2.0f * x->data[i];
  if (slt_needs_grad(c, 1, &x)) slt_record(c, "wrong_scale", wrong_scale_backward, y, 1, &x, 0);
  return y;
}

static void test_gradcheck_catches_injected_error(void) {
  slt_tensor *x = test_randn(7, 2, (int[]){4, 5}, 1.0f, true);
  slt_gc_result r;
  CU_ASSERT_EQUAL_FATAL(slt_gradcheck(f_wrong_scale, 1, &x, NULL, 1e-2, 5, &r), 0);
  /* The numerical gradient is exact here; the 1% error must show as ~1e-2 > tolerance. */
  CU_ASSERT(r.max_rel_err > SLT_GRADCHECK_TOL);
  CU_ASSERT(fabs(r.max_rel_err - 0.01) < 1e-3);
  slt_tensor_free(x);
}

int register_engine_suite(void) {
  CU_pSuite s = CU_add_suite("engine", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "arena: no malloc in steady state", test_arena_steady_state) ||
         !CU_add_test(s, "no-grad records nothing", test_no_grad_records_nothing) ||
         !CU_add_test(s, "backward accumulates, shared inputs", test_backward_accumulates_and_shares) ||
         !CU_add_test(s, "first gradient writers assign, over a poisoned arena",
                      test_first_writers_assign) ||
         !CU_add_test(s, "backward errors", test_backward_errors) ||
         !CU_add_test(s, "parameter store", test_params_store) ||
         !CU_add_test(s, "bitwise determinism", test_determinism) ||
         !CU_add_test(s, "gradcheck rejects a 1% wrong backward", test_gradcheck_catches_injected_error);
}
