/* Compare the parameters of two checkpoints of the same model, for the MPI tests.
 * usage: slt_ckpt_cmp A.h5 B.h5 [REL_TOL]
 * Prints the relative L2 difference ||a - b|| / ||b||, the largest absolute difference and the
 * number of differing floats; exits 0 when both differences are at most REL_TOL (default 0:
 * bitwise identical), 1 when they are not, 2 on error. */
#include "autograd/error.h"
#include "layers/model.h"
#include "ckpt/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 3 || argc > 4) {
    fprintf(stderr, "usage: slt_ckpt_cmp A.h5 B.h5 [REL_TOL]\n");
    return 2;
  }
  double tol = argc == 4 ? atof(argv[3]) : 0;
  slt_config ca, cb;
  slt_model *ma = slt_ckpt_load_model(argv[1], &ca), *mb = ma ? slt_ckpt_load_model(argv[2], &cb) : NULL;
  if (!ma || !mb) {
    fprintf(stderr, "slt_ckpt_cmp: %s\n", slt_err_msg());
    return 2;
  }
  const slt_params a = *ma->params, b = *mb->params;
  if (a.numel != b.numel) {
    fprintf(stderr, "slt_ckpt_cmp: %lld vs %lld parameters\n", (long long)a.numel,
            (long long)b.numel);
    return 2;
  }
  double diff2 = 0, ref2 = 0, maxabs = 0;
  int64_t differ = 0;
  for (int64_t i = 0; i < a.numel; i++) {
    double x = a.data[i], y = b.data[i], d = fabs(x - y);
    diff2 += d * d;
    ref2 += y * y;
    if (d > maxabs) maxabs = d;
    differ += memcmp(&a.data[i], &b.data[i], sizeof(float)) != 0;
  }
  double rel = ref2 > 0 ? sqrt(diff2 / ref2) : sqrt(diff2);
  printf("params: %lld floats, %lld differ; relative L2 difference %.3g, max abs difference %.3g\n",
         (long long)a.numel, (long long)differ, rel, maxabs);
  slt_model_free(ma);
  slt_model_free(mb);
  /* Within tol both ways: relative to the whole (L2) and float by float (absolute). */
  return (tol == 0 ? differ == 0 : rel <= tol && maxabs <= tol) ? 0 : 1;
}
