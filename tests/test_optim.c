#include "suites.h"
#include "test_util.h"

int register_optim_suite(void) {
  CU_pSuite s = CU_add_suite("optim", NULL, NULL);
  return s ? 0 : -1;
}
