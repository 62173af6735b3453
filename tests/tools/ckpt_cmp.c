/* Compare two checkpoints of the same model, for the MPI, crash and resume tests.
 * usage: slt_ckpt_cmp [--optim] A.h5 B.h5 [REL_TOL]
 * Prints the relative L2 difference ||a - b|| / ||b||, the largest absolute difference and the
 * number of differing floats over the parameters (with --optim: also every optimizer slot, such
 * as AdamW's moments, and the optimizer's step); exits 0 when both differences are at most
 * REL_TOL (default 0: bitwise identical), 1 when they are not, 2 on error. */
#include "ckpt_diff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  bool optim = argc > 1 && !strcmp(argv[1], "--optim");
  argc -= optim, argv += optim;
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: slt_ckpt_cmp [--optim] A.h5 B.h5 [REL_TOL]\n");
    return 2;
  }
  double tol = argc == 4 ? atof(argv[3]) : 0;
  ckpt_diff_result r;
  if (ckpt_diff(argv[1], argv[2], optim, &r)) {
    fprintf(stderr, "slt_ckpt_cmp: %s\n", r.first);
    return 2;
  }
  printf("%s: %lld floats in %d tensors, %lld differ%s%s; relative L2 difference %.3g, max abs "
         "difference %.3g\n",
         optim ? "params+optim" : "params", (long long)r.floats, r.tensors, (long long)r.differ,
         r.differ ? ", first in " : "", r.first, r.rel, r.maxabs);
  return ckpt_diff_within(&r, tol) ? 0 : 1;
}
