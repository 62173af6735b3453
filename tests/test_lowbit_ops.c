/* Ternary and complex {±1, ±i} ops (SPEC §5, §6): rounding ops against the PyTorch fixture
 * bit for bit and in exact STE mode (dx = mask ⊙ dy, mask built here), PhaseQuant's sectors
 * against atan2 in double, thread-count independence of the scales, gradchecks of every smooth
 * complex op, PyTorch parity (≤ 1e-5 relative) of outputs and gradients, shape errors.
 * Fixture: tests/fixtures/lowbit_ops.h5 from tests/reference/lowbit_reference.py. */
#include "lowbit_fixture.h"
#include "suites.h"
#include "test_util.h"

#include "autograd/complex.h"
#include "autograd/error.h"
#include "autograd/ternary.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* ---- ternary ---- */

static void test_ternary_fixture(void) {
  hid_t f = lb_open();
  CU_ASSERT_FATAL(f >= 0);
  slt_tensor *w = lb_rd(f, "ternary/w", true);
  for (int shards = 1; shards <= 4; shards *= 4) {
    char name[64];
    slt_ctx c;
    slt_ctx_init(&c);
    lb_zero_grad(w);
    slt_tensor *y = slt_ternary_weight(&c, w, shards);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    snprintf(name, sizeof name, "ternary/y%d", shards);
    lb_expect_exact(f, name, y->data, y->numel);
    lb_expect_ste(&c, w, y, name);
    int8_t codes[16 * 24], ref_codes[16 * 24];
    float gam[4];
    int64_t ref_counts[3];
    slt_ternary_counts k;
    CU_ASSERT_EQUAL_FATAL(slt_ternary_codes(w, shards, codes, gam, &k), 0);
    snprintf(name, sizeof name, "ternary/codes%d", shards);
    lb_rd_raw(f, name, H5T_NATIVE_INT8, ref_codes, w->numel);
    CU_ASSERT(memcmp(codes, ref_codes, sizeof codes) == 0);
    snprintf(name, sizeof name, "ternary/gamma%d", shards);
    lb_expect_exact(f, name, gam, shards);
    snprintf(name, sizeof name, "ternary/counts%d", shards);
    lb_rd_raw(f, name, H5T_NATIVE_INT64, ref_counts, 3);
    CU_ASSERT(k.neg == ref_counts[0] && k.zero == ref_counts[1] && k.pos == ref_counts[2]);
    slt_ctx_free(&c);
  }
  /* w/γ = ±0.5 rounds to even (0); all weights far below the floor: γ = 1e-5, every code 0 */
  const char *xs[2] = {"ternary/w_ties", "ternary/w_tiny"},
             *ys[2] = {"ternary/y_ties", "ternary/y_tiny"};
  for (int k = 0; k < 2; k++) {
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *t = lb_rd(f, xs[k], false);
    slt_tensor *y = slt_ternary_weight(&c, t, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    lb_expect_exact(f, ys[k], y->data, y->numel);
    slt_tensor_free(t);
    slt_ctx_free(&c);
  }
  slt_tensor_free(w);
  H5Fclose(f);
}

static void test_act8_fixture(void) {
  hid_t f = lb_open();
  CU_ASSERT_FATAL(f >= 0);
  const char *xs[2] = {"act8/x", "act8/xc"}, *ys[2] = {"act8/y", "act8/yc"};
  for (int k = 0; k < 2; k++) {
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *x = lb_rd(f, xs[k], true);
    slt_tensor *y = k ? slt_cplx_act_quant8(&c, x) : slt_act_quant_absmax8(&c, x);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    lb_expect_exact(f, ys[k], y->data, y->numel);
    lb_expect_ste(&c, x, y, ys[k]);
    slt_tensor_free(x);
    slt_ctx_free(&c);
  }
  H5Fclose(f);
}

/* ---- PhaseQuant ---- */

static void test_pq_fixture(void) {
  hid_t f = lb_open();
  CU_ASSERT_FATAL(f >= 0);
  slt_tensor *wr = lb_rd(f, "pq/w_re", true), *wi = lb_rd(f, "pq/w_im", true);
  int64_t n = wr->numel;
  for (int stages = 1; stages <= 2; stages++) {
    char name[64];
    slt_ctx c;
    slt_ctx_init(&c);
    lb_zero_grad(wr), lb_zero_grad(wi);
    slt_tensor *qr, *qi;
    CU_ASSERT_EQUAL_FATAL(slt_phasequant(&c, wr, wi, stages, &qr, &qi), 0);
    snprintf(name, sizeof name, "pq/q%d_re", stages);
    lb_expect_exact(f, name, qr->data, n);
    lb_expect_ste(&c, wr, qr, name);
    snprintf(name, sizeof name, "pq/q%d_im", stages);
    lb_expect_exact(f, name, qi->data, n);
    lb_expect_ste(&c, wi, qi, name);
    uint8_t *codes = malloc(2 * n), *ref = malloc(2 * n);
    float scales[4];
    CU_ASSERT_EQUAL_FATAL(slt_phasequant_codes(wr, wi, stages, codes, scales), 0);
    snprintf(name, sizeof name, "pq/codes%d", stages);
    lb_rd_raw(f, name, H5T_NATIVE_UINT8, ref, stages * n);
    CU_ASSERT(memcmp(codes, ref, stages * n) == 0);
    snprintf(name, sizeof name, "pq/scales%d", stages);
    lb_expect_exact(f, name, scales, 2 * stages);
    free(codes), free(ref);
    slt_ctx_free(&c);
  }
  /* an empty ±i set: s_im is the floor, not NaN */
  slt_tensor *er = lb_rd(f, "pq/e_re", false), *ei = lb_rd(f, "pq/e_im", false);
  float scales[2];
  CU_ASSERT_EQUAL(slt_phasequant_codes(er, ei, 1, NULL, scales), 0);
  CU_ASSERT_EQUAL(scales[1], SLT_QUANT_FLOOR);
  lb_expect_exact(f, "pq/e_scales", scales, 2);
  slt_tensor_free(er), slt_tensor_free(ei), slt_tensor_free(wr), slt_tensor_free(wi);
  H5Fclose(f);
}

/* The SPEC's sector of φ = atan2(im, re) in double; 0..3 for +1, +i, −1, −i. */
static int sector_of(double re, double im) {
  if (re == 0 && im == 0) return 0;
  double phi = atan2(im, re);
  if (phi >= -M_PI / 4 && phi < M_PI / 4) return 0;
  if (phi >= M_PI / 4 && phi < 3 * M_PI / 4) return 1;
  if (phi >= -3 * M_PI / 4 && phi < -M_PI / 4) return 3;
  return 2;
}

/* Codes on the four diagonals (exact sector bounds), the axes, and 4000 directions with
 * magnitudes from 1e-30 to 1e3, against the double atan2 definition. */
static void test_pq_sectors(void) {
  enum { N = 4000 + 16 * 7 };
  float re[N], im[N];
  uint8_t codes[N];
  int n = 0;
  float mags[7] = {1e-30f, 1e-6f, 0.01f, 0.5f, 1, 7, 1e3f};
  for (int m = 0; m < 7; m++)
    for (int k = 0; k < 16; k++, n++) { /* multiples of π/8 */
      double a = k * M_PI / 8;
      float c = (float)(mags[m] * cos(a)), s = (float)(mags[m] * sin(a));
      if (k % 8 == 0)
        s = 0; /* real axis, exactly */
      else if (k % 4 == 0)
        c = 0; /* imaginary axis */
      else if (k % 4 == 2)
        s = copysignf(fabsf(c), s); /* diagonals: sector bounds, exactly */
      re[n] = c, im[n] = s;
    }
  slt_rng r;
  slt_rng_seed(&r, 5);
  for (; n < N; n++) {
    float u[2];
    slt_rng_fill_normal(&r, u, 2, 0.0f, 1.0f);
    re[n] = u[0] * mags[n % 7], im[n] = u[1] * mags[n % 7];
  }
  float scales[2];
  slt_phasequant_stage(re, im, N, codes, scales, NULL, NULL);
  int bad = 0;
  for (int i = 0; i < N; i++)
    if (codes[i] != sector_of(re[i], im[i]) && bad++ < 3)
      printf("\n  (%g, %g): code %d, SPEC sector %d", re[i], im[i], codes[i],
             sector_of(re[i], im[i]));
  CU_ASSERT_EQUAL(bad, 0);
}

/* Scales and values do not depend on the thread count (weights above the parallel threshold). */
static void test_threads(void) {
  int shape[2] = {300, 128};
  slt_tensor *wr = test_randn(11, 2, shape, 0.02f, false),
             *wi = test_randn(12, 2, shape, 0.02f, false);
  float *out[2];
  for (int run = 0; run < 2; run++) {
    int saved = omp_get_max_threads();
    omp_set_num_threads(run ? 3 : 1);
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *qr, *qi, *t = slt_ternary_weight(&c, wr, 3);
    CU_ASSERT_EQUAL_FATAL(slt_phasequant(&c, wr, wi, 2, &qr, &qi), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    out[run] = malloc(3 * wr->numel * sizeof(float));
    memcpy(out[run], t->data, wr->numel * sizeof(float));
    memcpy(out[run] + wr->numel, qr->data, wr->numel * sizeof(float));
    memcpy(out[run] + 2 * wr->numel, qi->data, wr->numel * sizeof(float));
    slt_ctx_free(&c);
    omp_set_num_threads(saved);
  }
  CU_ASSERT(memcmp(out[0], out[1], 3 * wr->numel * sizeof(float)) == 0);
  free(out[0]), free(out[1]);
  slt_tensor_free(wr), slt_tensor_free(wi);
}

/* ---- errors ---- */

static void test_errors(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *w = test_randn(1, 2, (int[]){6, 4}, 1.0f, false);
  slt_tensor *w2 = test_randn(2, 2, (int[]){4, 6}, 1.0f, false);
  slt_tensor *x = test_randn(3, 2, (int[]){2, 5}, 1.0f, false);
  slt_err_clear();
  CU_ASSERT_PTR_NULL(slt_ternary_weight(&c, w, 0));
  CU_ASSERT(test_err_has("ternary_weight: shards", "got 0"));
  CU_ASSERT_PTR_NULL(slt_ternary_weight(&c, w, 4)); /* 4 does not divide 6 rows */
  CU_ASSERT(test_err_has("ternary_weight", "divide dim 0 (6), got 4"));
  float g[4];
  CU_ASSERT_EQUAL(slt_ternary_codes(w, 5, NULL, g, NULL), -1);
  CU_ASSERT_PTR_NULL(slt_act_quant_absmax8_seg(&c, x, 2)); /* 5 columns, 2 segments */
  CU_ASSERT(test_err_has("act_quant_absmax8", "segments"));
  CU_ASSERT_PTR_NULL(slt_cplx_act_quant8(&c, x));
  CU_ASSERT(test_err_has("cplx_act_quant8", "even"));
  slt_tensor *qr = w, *qi = w;
  CU_ASSERT_EQUAL(slt_phasequant(&c, w, w2, 1, &qr, &qi), -1);
  CU_ASSERT(qr == NULL && qi == NULL);
  CU_ASSERT(test_err_has("phasequant", "same shape"));
  CU_ASSERT_EQUAL(slt_phasequant(&c, w, w, 3, &qr, &qi), -1);
  CU_ASSERT(test_err_has("phasequant", "stages must be 1 or 2, got 3"));
  CU_ASSERT_EQUAL(slt_phasequant(&c, NULL, w, 1, &qr, &qi), -1); /* NULL propagates */
  CU_ASSERT_PTR_NULL(slt_ternary_weight(&c, NULL, 1));
  CU_ASSERT_PTR_NULL(slt_act_quant_absmax8(&c, NULL));
  CU_ASSERT_PTR_NULL(slt_cplx_act_quant8(&c, NULL));
  slt_tensor_free(w), slt_tensor_free(w2), slt_tensor_free(x);
  slt_ctx_free(&c);
}

int register_lowbit_ops_suite(void) {
  CU_pSuite s = CU_add_suite("lowbit_ops", NULL, NULL);
  if (!s) return -1;
  if (!CU_add_test(s, "ternary weights (1 and 4 shards) match PyTorch bitwise, exact STE",
                   test_ternary_fixture) ||
      !CU_add_test(s, "8-bit absmax activations (real, complex) match PyTorch, exact STE",
                   test_act8_fixture) ||
      !CU_add_test(s, "PhaseQuant 1 and 2 stages match PyTorch bitwise, exact STE, empty set",
                   test_pq_fixture) ||
      !CU_add_test(s, "PhaseQuant sectors equal the atan2 definition", test_pq_sectors) ||
      !CU_add_test(s, "quantizers do not depend on the thread count", test_threads) ||
      !CU_add_test(s, "quantizer shape errors and NULL inputs", test_errors))
    return -1;
  return lb_add_cplx_tests(s);
}
