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

/* The run config with dense FFNs: a dense kind takes no rank or blocks, and no self-guidance. */
static slt_config dense_config(const slt_config *cfg) {
  slt_config d = *cfg;
  d.model = slt_model_dense_config(&cfg->model);
  d.sgt.enabled = false;
  return d;
}

/* Build the checkpoint's model from its open handle. NULL on error. */
static slt_model *load_model(const slt_ckpt *ck) {
  slt_model *m = slt_model_build(&ck->cfg.model, SLT_MODEL_ALLOC);
  if (!m) { /* the layers' own checks name the key, not the file */
    char why[1024];
    snprintf(why, sizeof why, "%s", slt_err_msg());
    slt_err_set("%s: the stored config: %s", ck->path, why);
    return NULL;
  }
  if (!slt_ckpt_read_params(ck, m->params)) return m;
  slt_model_free(m);
  return NULL;
}

/* Where the source run stood (step, tokens, cursors, RNGs), and nothing of self-guidance: the
 * export has no guides. Its config has SGT off, so a cursor that fixedflop moved back to re-read
 * the first steps is recorded at the step itself (cursors: world entries to fill). */
static slt_ckpt_state record_of(const slt_ckpt_state *s, slt_loader_cursor *cursors) {
  slt_ckpt_state r = {.step = s->step,
                      .tokens = s->tokens,
                      .world = s->world,
                      .cursors = cursors,
                      .nrngs = s->nrngs};
  for (int i = 0; i < s->world; i++) {
    cursors[i] = s->cursors[i];
    cursors[i].step = s->step;
  }
  for (int i = 0; i < s->nrngs; i++) {
    r.rng_names[i] = s->rng_names[i];
    r.rngs[i] = s->rngs[i];
  }
  return r;
}

/* Write the merged twin with ck's record and no optimizer slots. 0 or -1. */
static int write_merged(const slt_ckpt *ck, const slt_model *twin, const char *out) {
  slt_config cfg = dense_config(&ck->cfg);
  slt_loader_cursor *cursors = calloc((size_t)ck->state.world, sizeof *cursors);
  if (!cursors) {
    slt_err_set("out of memory");
    return -1;
  }
  slt_ckpt_data d = {.cfg = &cfg,
                     .params = twin->params,
                     .optim = {.name = "none", .step = 0, .nslots = 0},
                     .state = record_of(&ck->state, cursors)};
  int rc = slt_config_validate(&cfg) || slt_ckpt_write(out, &d) ? -1 : 0;
  free(cursors);
  return rc;
}

/* CKPT -> OUT as above, the summary line into msg. 0 or -1 (error recorded). */
static int export_merged(const char *in, const char *out, char *msg, size_t len) {
  slt_ckpt ck;
  if (slt_ckpt_open(&ck, in)) return -1;
  slt_model *m = load_model(&ck), *twin = NULL;
  int rc = m ? 0 : -1;
  if (!rc && !(twin = slt_model_merged(m))) {
    char why[1024];
    snprintf(why, sizeof why, "%s", slt_err_msg());
    slt_err_set("%s: %s", in, why);
    rc = -1;
  }
  if (!rc) rc = write_merged(&ck, twin, out);
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
