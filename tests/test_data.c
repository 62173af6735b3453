#include "suites.h"
#include "test_util.h"

int register_data_suite(void) {
  CU_pSuite s = CU_add_suite("data", NULL, NULL);
  return s ? 0 : -1;
}
