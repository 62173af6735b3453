/* slt export --packed CKPT OUT
 * A ternary model for low-bit inference: every ternary block linear as the packed kernels' 2-bit
 * codes plus γ per shard (ckpt/checkpoint_packed.c documents the HDF5 layout; the README shows
 * how to unpack it with h5py), everything else float32. slt eval and slt generate run such a
 * file with the packed kernels (layers/packed_linear.h). */
#include "cli.h"

#include "autograd/error.h"
#include "ckpt/checkpoint.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f, "usage: slt export --packed CKPT OUT\n\n"
             "Write OUT, CKPT's ternary model (model.quant.weight.kind: ternary) with every\n"
             "ternary block linear stored as 2-bit codes (uint8 /packed/<param>/qs, 4 weights a\n"
             "byte, the kernels' layout) and gamma per shard; everything else float32. slt eval\n"
             "and slt generate run OUT with the packed int8 kernels. Optimizer state is not\n"
             "kept. OUT must not exist.\n");
}

/* CKPT -> OUT; the summary into msg. 0 or -1 (error recorded). */
static int export_packed(const char *in, const char *out, char *msg, size_t len) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, in)) return -1;
  slt_model *m = slt_ckpt_model(&ck);
  int rc = m ? 0 : -1, count = 0;
  int64_t bytes = 0;
  slt_ckpt_data d = {.cfg = &ck.cfg,
                     .params = m ? m->params : NULL,
                     .optim = {.name = "none", .step = 0, .nslots = 0},
                     .state = ck.state};
  if (!rc && slt_ckpt_write_packed(out, &d, m, &count, &bytes)) {
    char why[1024];
    snprintf(why, sizeof why, "%s", slt_err_msg());
    slt_err_set("%s: %s", in, why);
    rc = -1;
  }
  if (!rc)
    snprintf(msg, len, "%s -> %s: %d ternary or {±1, ±i} weight tensors packed at 2 bits (%.2f MB), the rest "
                       "float32; step %lld, no optimizer state",
             in, out, count, bytes / 1e6, (long long)ck.state.step);
  slt_model_free(m);
  slt_ckpt_close(&ck);
  return rc;
}

int slt_cmd_export_packed(int argc, char **argv) {
  return slt_cli_export(argc, argv, "--packed", usage, export_packed);
}
