#include "cli.h"

#include <stdio.h>

int slt_cmd_demo(int argc, char **argv) {
  (void)argc;
  (void)argv;
  fprintf(stderr, "slt demo: not yet implemented\n");
  return 1;
}
