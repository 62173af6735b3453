#include "suites.h"
#include "test_util.h"

int register_tokenizer_suite(void) {
  CU_pSuite s = CU_add_suite("tokenizer", NULL, NULL);
  return s ? 0 : -1;
}
