/* Finite-difference gradient checking for ops.
 *
 * For a function f of some input tensors, the harness compares the analytic gradient of the
 * scalar L = Σ f(x) ⊙ R (R a fixed random tensor) with a fourth-order central difference
 *   dL/dx ≈ (8(L(x+h) − L(x−h)) − (L(x+2h) − L(x−2h))) / 12h
 * computed with L summed in double. The metric is, per input, the relative error in norm
 *   e = ‖g_analytic − g_numeric‖ / ‖g_numeric‖.
 * Why the tolerance catches a 1% error: if a backward is wrong by δ with ‖δ‖ ≥ 0.01‖g‖, the
 * triangle inequality gives e ≥ 0.01 − e_fd, where e_fd is the finite-difference noise. Every
 * test asserts e_fd < SLT_GRADCHECK_TOL = 1e-3, so a 1% error shows as e ≥ 0.009 > tol. The
 * harness also reports the error with the analytic gradient scaled by 1.01, which each test
 * asserts fails, and a test with a deliberately wrong backward checks the whole path. */
#ifndef SLT_GRADCHECK_H
#define SLT_GRADCHECK_H

#include "tape.h"

#define SLT_GRADCHECK_TOL 1e-3
#define SLT_GC_MAX_IN 8

/* Builds the output from the inputs (in the same order each call); user carries fixed extras
 * such as token ids. Must be deterministic. */
typedef slt_tensor *(*slt_gc_fn)(slt_ctx *c, slt_tensor *const *inputs, const void *user);

typedef struct slt_gc_result {
  double rel_err[SLT_GC_MAX_IN];     /* per input; 0 for inputs that do not require grad */
  double injected_err[SLT_GC_MAX_IN]; /* the same with the analytic gradient scaled by 1.01 */
  double accum_err[SLT_GC_MAX_IN];   /* a second backward must exactly double the gradient */
  double max_rel_err, min_injected_err, max_accum_err;
} slt_gc_result;

/* inputs: heap tensors (slt_tensor_new); those with requires_grad set (and a grad buffer)
 * are checked. h is the finite-difference step (1e-2 suits inputs of unit scale).
 * Returns 0, or -1 with the error recorded if f fails. */
int slt_gradcheck(slt_gc_fn f, int nin, slt_tensor *const *inputs, const void *user, double h,
                  uint64_t seed, slt_gc_result *res);

/* STE mode, for ops that round (no finite difference applies): with L = Σ f(x) ⊙ R, R random,
 * the backward must give x.grad == mask ⊙ R exactly. f maps x to an output of x's shape.
 * Returns the number of elements that differ bitwise, or -1 with the error recorded. */
int64_t slt_gradcheck_ste(slt_gc_fn f, slt_tensor *x, const void *user, const float *mask,
                          uint64_t seed);

#endif
