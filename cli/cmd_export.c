/* slt export --merge CKPT OUT
 * Pre-merge for inference (SPEC §2): OUT gets CKPT's model with every structured FFN linear
 * replaced by its merged dense weight (layers/gpt_merge.c) and the config's model.ffn made dense,
 * so slt eval, generate and info, or any HDF5 reader, see a plain dense GPT. Training state
 * (step, tokens, data cursors, RNGs) is kept for the record; optimizer state is not. */
#include "cli.h"

#include "autograd/error.h"
#include "layers/model.h"
#include "ckpt/checkpoint.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f, "usage: slt export --merge CKPT OUT\n\n"
             "Write OUT, a checkpoint of CKPT's model with dense FFNs: each structured fc1/fc2\n"
             "(lowrank, blockdense, blockshuffle) becomes its merged dense weight, every other\n"
             "parameter is copied, and the config says model.ffn.kind: dense. The logits are\n"
             "the same up to float rounding. Step and tokens are kept; optimizer state is not,\n"
             "so OUT is for slt eval / generate / info, not for resuming training.\n"
             "OUT must not exist. A checkpoint whose FFNs are already dense is refused.\n"
             "GGUF for llama.cpp: see 'slt export --gguf --help'.\n"
             "Integer codes of a quantized model: see 'slt export --quantize --help'.\n"
             "2-bit packed ternary weights: see 'slt export --packed --help'.\n");
}

/* CKPT -> OUT as above, the summary line into msg. 0 or -1 (error recorded). */
static int export_merged(const char *in, const char *out, char *msg, size_t len) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, in)) return -1;
  slt_model *m = slt_ckpt_model(&ck), *twin = NULL;
  int rc = m ? 0 : -1;
  if (!rc && !(twin = slt_model_merged(m))) {
    char why[1024];
    snprintf(why, sizeof why, "%s", slt_err_msg());
    slt_err_set("%s: %s", in, why);
    rc = -1;
  }
  if (!rc) {
    slt_config dense = ck.cfg; /* the same run with dense FFNs */
    dense.model = slt_model_dense_config(&ck.cfg.model);
    rc = slt_ckpt_write_export(out, &ck, &dense, twin->params);
  }
  if (!rc) {
    slt_model_counts a = slt_model_count(m), b = slt_model_count(twin);
    snprintf(msg, len,
             "%s -> %s: %s FFNs merged to dense (FFN parameters %.2fM -> %.2fM, total "
             "%.2fM -> %.2fM); step %lld, no optimizer state",
             in, out, slt_lin_struct_names[ck.cfg.model.ffn.kind], a.ffn / 1e6, b.ffn / 1e6,
             a.total / 1e6, b.total / 1e6, (long long)ck.state.step);
  }
  slt_model_free(twin);
  slt_model_free(m);
  slt_ckpt_close(&ck);
  return rc;
}

int slt_cmd_export_gguf(int argc, char **argv);  /* cli/cmd_export_gguf.c */
int slt_cmd_export_quant(int argc, char **argv); /* cli/cmd_export_quant.c */
int slt_cmd_export_packed(int argc, char **argv); /* cli/cmd_export_packed.c */

int slt_cmd_export(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--gguf")) return slt_cmd_export_gguf(argc, argv);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--quantize")) return slt_cmd_export_quant(argc, argv);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--packed")) return slt_cmd_export_packed(argc, argv);
  bool merge = slt_cli_wants_help(argc, argv);
  for (int i = 1; i < argc; i++) merge = merge || !strcmp(argv[i], "--merge");
  if (!merge)
    return slt_cli_usage_error("export", "--merge is required (or --gguf, --quantize, --packed) "
                                         "(usage: slt export --merge CKPT OUT)");
  return slt_cli_export(argc, argv, "--merge", usage, export_merged);
}
