#include "suites.h"
#include "test_util.h"

int register_config_suite(void) {
  CU_pSuite s = CU_add_suite("config", NULL, NULL);
  return s ? 0 : -1;
}
