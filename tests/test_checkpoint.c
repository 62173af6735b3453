#include "suites.h"
#include "test_util.h"

int register_checkpoint_suite(void) {
  CU_pSuite s = CU_add_suite("checkpoint", NULL, NULL);
  return s ? 0 : -1;
}
