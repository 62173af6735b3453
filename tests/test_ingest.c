#include "suites.h"
#include "test_util.h"

int register_ingest_suite(void) {
  CU_pSuite s = CU_add_suite("ingest", NULL, NULL);
  return s ? 0 : -1;
}
