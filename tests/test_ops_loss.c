#include "suites.h"
#include "test_util.h"

int register_ops_loss_suite(void) {
  CU_pSuite s = CU_add_suite("ops_loss", NULL, NULL);
  return s ? 0 : -1;
}
