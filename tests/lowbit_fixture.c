/* Fixture access and exact checks shared by the lowbit_ops suite's files. */
#include "lowbit_fixture.h"

#include <stdlib.h>
#include <string.h>

hid_t lb_open(void) {
  hid_t f = H5Fopen(SLT_FIXTURES "/lowbit_ops.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) printf("\n  cannot open %s\n", SLT_FIXTURES "/lowbit_ops.h5");
  return f;
}

/* Dataset name of the fixture as a heap tensor of its own shape (grad buffer when asked). */
slt_tensor *lb_rd(hid_t f, const char *name, bool grad) {
  hid_t d = H5Dopen(f, name, H5P_DEFAULT), s = H5Dget_space(d);
  hsize_t dims[SLT_MAX_DIMS];
  int nd = H5Sget_simple_extent_ndims(s), shape[SLT_MAX_DIMS];
  slt_tensor *t = NULL;
  if (nd >= 1 && nd <= SLT_MAX_DIMS && H5Sget_simple_extent_dims(s, dims, NULL) == nd) {
    for (int i = 0; i < nd; i++) shape[i] = (int)dims[i];
    t = slt_tensor_new(nd, shape);
    if (t && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t->data) < 0)
      slt_tensor_free(t), t = NULL;
    if (t && grad) slt_tensor_alloc_grad(t), t->requires_grad = true;
  }
  H5Sclose(s);
  H5Dclose(d);
  if (!t) printf("\n  fixture dataset %s unreadable\n", name);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  return t;
}

/* Dataset read as `type` into out (n elements expected). */
void lb_rd_raw(hid_t f, const char *name, hid_t type, void *out, int64_t n) {
  hid_t d = H5Dopen(f, name, H5P_DEFAULT), s = H5Dget_space(d);
  bool ok = H5Sget_simple_extent_npoints(s) == n &&
            H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
  H5Sclose(s);
  H5Dclose(d);
  if (!ok) printf("\n  fixture dataset %s: expected %lld elements\n", name, (long long)n);
  CU_ASSERT_FATAL(ok);
}

/* got equals the fixture's dataset exactly (as numbers: −0 == 0). */
void lb_expect_exact(hid_t f, const char *name, const float *got, int64_t n) {
  float *ref = malloc(n * sizeof(float));
  lb_rd_raw(f, name, H5T_NATIVE_FLOAT, ref, n);
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++)
    if (got[i] != ref[i] && bad++ == 0) first = i;
  if (bad)
    printf("\n  [%s] %lld of %lld differ, first at %lld: %.9g vs %.9g", name, (long long)bad,
           (long long)n, (long long)first, got[first], ref[first]);
  CU_ASSERT_EQUAL(bad, 0);
  free(ref);
}

/* ‖got − ref‖/‖ref‖ ≤ tol against the fixture's dataset. */
void lb_expect_close(hid_t f, const char *name, const float *got, int64_t n, double tol) {
  float *ref = malloc(n * sizeof(float));
  lb_rd_raw(f, name, H5T_NATIVE_FLOAT, ref, n);
  double e = test_rel_err(got, ref, n);
  if (e > tol || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] rel err %.2e (tol %.0e)", name, e, tol);
  CU_ASSERT(e <= tol);
  free(ref);
}

/* Exact STE check: after backward from y with a random dy, x's grad is mask ⊙ dy bit for bit,
 * mask built by the test (all ones: the quantizers' STE is the identity); a second backward
 * adds the same again. x's grad must be zero on entry. */
void lb_expect_ste(slt_ctx *c, slt_tensor *x, slt_tensor *y, const char *label) {
  slt_tensor *dy = test_randn(777, y->ndim, y->shape, 1.0f, false);
  float *mask = malloc(x->numel * sizeof(float));
  for (int64_t i = 0; i < x->numel; i++) mask[i] = 1.0f;
  bool same = true, twice = true;
  CU_ASSERT_EQUAL_FATAL(slt_backward_seed(c, y, dy->data), 0);
  for (int64_t i = 0; i < x->numel; i++) same &= x->grad[i] == mask[i] * dy->data[i];
  memset(y->grad, 0, y->numel * sizeof(float)); /* the seed adds to y's gradient */
  CU_ASSERT_EQUAL_FATAL(slt_backward_seed(c, y, dy->data), 0);
  for (int64_t i = 0; i < x->numel; i++) twice &= x->grad[i] == 2.0f * mask[i] * dy->data[i];
  if (!same || !twice)
    printf("\n  [%s] STE gradient is not mask * dy (accumulated: %d)", label, same);
  CU_ASSERT(same && twice);
  free(mask);
  slt_tensor_free(dy);
}

void lb_zero_grad(slt_tensor *t) {
  memset(t->grad, 0, t->numel * sizeof(float));
}
