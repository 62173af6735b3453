#include "suites.h"
#include "test_util.h"

int register_ops_norm_act_suite(void) {
  CU_pSuite s = CU_add_suite("ops_norm_act", NULL, NULL);
  return s ? 0 : -1;
}
