/* slt export --quantize CKPT OUT
 * A quantization-aware checkpoint with its quantized weights as integer codes plus scales
 * (ckpt/checkpoint_quant.c documents the HDF5 layout): int and lsq weights as int8 (int4 in
 * int8; wider or unsigned ranges in int16/uint8/uint16), fp and mx weights as their format's bit
 * patterns (uint8), ternary as int8 {-1, 0, 1} with γ per shard. slt eval, generate and info read
 * it as an ordinary checkpoint (the codes dequantized on load), with the same val loss as the
 * fake-quant model. */
#include "cli.h"

#include "autograd/error.h"
#include "ckpt/checkpoint.h"

#include <stdio.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f, "usage: slt export --quantize CKPT OUT\n\n"
             "Write OUT, CKPT's model (trained with model.quant weights) with every quantized\n"
             "weight stored as integer codes and scales under /quant instead of float32: int and\n"
             "lsq as int8 (int4 in int8), fp and mx as their format's codes (uint8), ternary as\n"
             "int8 {-1,0,1} with gamma. Biases, norms, embeddings and unquantized linears stay\n"
             "float32; activation transforms stay in the config. slt eval on OUT gives CKPT's\n"
             "fake-quant val loss exactly. Optimizer state is not kept. OUT must not exist.\n");
}

/* CKPT -> OUT; the summary into msg. 0 or -1 (error recorded). */
static int export_quantized(const char *in, const char *out, char *msg, size_t len) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, in)) return -1;
  slt_model *m = slt_ckpt_model(&ck);
  int rc = m ? 0 : -1, count = 0;
  int64_t bytes = 0;
  if (!rc && !slt_quant_config_uses(&ck.cfg.model.quant, SLT_QC_INT) &&
      !slt_quant_config_uses(&ck.cfg.model.quant, SLT_QC_LSQ) &&
      !slt_quant_config_uses(&ck.cfg.model.quant, SLT_QC_FP) &&
      !slt_quant_config_uses(&ck.cfg.model.quant, SLT_QC_MX) &&
      !slt_quant_config_uses(&ck.cfg.model.quant, SLT_QC_TERNARY)) {
    slt_err_set("%s: its model.quant quantizes no weights: nothing to export", in);
    rc = -1;
  }
  slt_ckpt_data d = {.cfg = &ck.cfg,
                     .params = m ? m->params : NULL,
                     .optim = {.name = "none", .step = 0, .nslots = 0},
                     .state = ck.state};
  if (!rc) rc = slt_ckpt_write_quantized(out, &d, m, &count, &bytes);
  if (!rc)
    snprintf(msg, len, "%s -> %s: %d quantized weight tensors as codes (%.2f MB), the rest "
                       "float32; step %lld, no optimizer state",
             in, out, count, bytes / 1e6, (long long)ck.state.step);
  slt_model_free(m);
  slt_ckpt_close(&ck);
  return rc;
}

int slt_cmd_export_quant(int argc, char **argv) {
  return slt_cli_export(argc, argv, "--quantize", usage, export_quantized);
}
