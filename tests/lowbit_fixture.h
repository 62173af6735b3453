/* Fixture access and exact checks shared by the lowbit_ops suite (test_lowbit_ops.c,
 * test_lowbit_cplx.c); the fixture is tests/fixtures/lowbit_ops.h5 from
 * tests/reference/lowbit_reference.py. */
#ifndef SLT_TEST_LOWBIT_FIXTURE_H
#define SLT_TEST_LOWBIT_FIXTURE_H

#include "test_util.h"

#include <hdf5.h>

/* The fixture file, or a negative id (message printed). */
hid_t lb_open(void);
/* A dataset as a heap tensor of its own shape (grad buffer and requires_grad when asked). */
slt_tensor *lb_rd(hid_t f, const char *name, bool grad);
/* A dataset read as `type` into out; asserts (fatal) it has n elements. */
void lb_rd_raw(hid_t f, const char *name, hid_t type, void *out, int64_t n);
/* got equals the dataset exactly (as numbers: −0 == 0). */
void lb_expect_exact(hid_t f, const char *name, const float *got, int64_t n);
/* ‖got − ref‖/‖ref‖ ≤ tol against the dataset. */
void lb_expect_close(hid_t f, const char *name, const float *got, int64_t n, double tol);
/* Exact STE check: backward from y with a random dy gives x.grad = mask ⊙ dy bit for bit (mask
 * of ones built here: the quantizers' STE is the identity), a second backward doubles it. x's
 * grad must be zero on entry. */
void lb_expect_ste(slt_ctx *c, slt_tensor *x, slt_tensor *y, const char *label);
/* Zero a heap tensor's grad. */
void lb_zero_grad(slt_tensor *t);
/* Adds the complex-op tests (test_lowbit_cplx.c) to the suite; 0 or -1. */
int lb_add_cplx_tests(CU_pSuite s);

#endif
