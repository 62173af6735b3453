/* Shared helpers for the CUnit suites. */
#ifndef SLT_TEST_UTIL_H
#define SLT_TEST_UTIL_H

#include "autograd/gradcheck.h"
#include "autograd/ops.h"
#include "autograd/rng.h"

#include <CUnit/CUnit.h>

/* A heap tensor N(0, std²) from a seed; with_grad gives it a grad buffer and requires_grad. */
slt_tensor *test_randn(uint64_t seed, int ndim, const int *shape, float std, bool with_grad);

/* Run the gradcheck harness and assert: error below tolerance, a 1% injected error caught, and
 * gradients that accumulate. Prints the figures with the label on failure. */
void test_gradcheck(const char *label, slt_gc_fn f, int nin, slt_tensor *const *inputs,
                    const void *user, double h);

/* "step loss val_loss" per record of dir/metrics.jsonl: the numbers without the timings, to
 * compare two runs' logs. Malloc'd. */
char *test_loss_log(const char *dir);

/* Standard output off (true) and back on (false), so a trainer's output does not flood the
 * test log. */
void test_quiet(bool off);

/* Directory of the shared test data (SLT_TEST_DATA or the default), or NULL (with a loud SKIPPED
 * line naming the test and the missing path) when it is missing. */
const char *test_data_dir(const char *test_name);

/* Count and print a skipped check; the runner reports the total. Under CI (CI set, not "false"
 * or "0") the skip fails the current test instead, with one line naming test and reason. */
void test_skip(const char *test_name, const char *why);
/* True when CI is set (CI=true): missing data or tools are then failures, not skips. */
bool test_in_ci(void);
int test_skipped_count(void);

/* A suite's scratch directory: a fresh mkdtemp "/tmp/slt_<prefix>_XXXXXX" (suite init), and its
 * removal with everything in it (suite cleanup). One at a time: suites run one after another. */
int test_tmpdir_init(const char *prefix);
int test_tmpdir_cleanup(void);
/* The scratch directory itself, and tmpdir/name in a rotating set of 8 buffers. */
const char *test_tmpdir(void);
const char *test_tpath(const char *name);

/* The last error is one line mentioning a (and b when given); prints it when not. */
bool test_err_has(const char *a, const char *b);

/* A numeric attribute of an HDF5 object (first element), or dflt when it is missing. */
double test_h5_attr_num(long long obj, const char *name, double dflt);
/* A fixture's numeric attribute that must be there: a missing one fails the test (NAN). */
double test_h5_attr_req(long long obj, const char *name);
/* A fixture's string attribute that must be there and non-empty, or the test fails. */
void test_h5_attr_str_req(long long obj, const char *name, char *out, size_t len);
/* A fixed-length string attribute into out ("" when missing). */
void test_h5_attr_str(long long obj, const char *name, char *out, size_t len);

/* Relative error in norm: ‖a − b‖ / ‖b‖. */
double test_rel_err(const float *a, const float *b, int64_t n);

#endif
