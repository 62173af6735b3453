#include "suites.h"
#include "test_util.h"

int register_ops_attention_suite(void) {
  CU_pSuite s = CU_add_suite("ops_attention", NULL, NULL);
  return s ? 0 : -1;
}
