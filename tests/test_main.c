/* CUnit runner: `slt_tests` runs every suite, `slt_tests --suite NAME` one of them.
 * The exit status is non-zero when any assertion failed. */
#include "suites.h"
#include "test_util.h"

#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--suite") == 0 && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: slt_tests [--suite NAME]\n");
      return 2;
    }
  }
  if (CU_initialize_registry() != CUE_SUCCESS) return 2;
  int found = 0;
#define X(name, fn)                                                                                \
  if (!only || strcmp(only, #name) == 0) {                                                         \
    found++;                                                                                       \
    if (fn()) {                                                                                    \
      fprintf(stderr, "could not register suite %s\n", #name);                                     \
      return 2;                                                                                    \
    }                                                                                              \
  }
  SLT_SUITES
#undef X
  if (!found) {
    fprintf(stderr, "no suite named '%s'\n", only);
    return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
  unsigned ran = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (test_skipped_count() && test_in_ci()) {
    fprintf(stderr, "slt_tests: %d check(s) skipped under CI: failures (see the 'CI:' lines)\n",
            test_skipped_count());
    return 1;
  }
  if (test_skipped_count()) printf("*** %d check(s) SKIPPED: see above ***\n", test_skipped_count());
  if (ran == 0) {
    fprintf(stderr, "no test ran\n");
    return 1;
  }
  return failures ? 1 : 0;
}
