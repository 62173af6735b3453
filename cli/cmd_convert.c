/* slt convert --fairy2i CKPT OUT [--stages N] [--act-quant none|int8]
 * Fairy2i (SPEC §6, layers/fairy2i.h): OUT gets CKPT's real LLaMA-style GPT as the exactly
 * equivalent complex widely-linear model (model.arch: fairy2i), ready for QAT with residual
 * PhaseQuant through train.init_from. Step and tokens are kept for the record; optimizer state
 * is not. */
#include "cli.h"

#include "autograd/error.h"
#include "ckpt/checkpoint.h"
#include "layers/fairy2i.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: slt convert --fairy2i CKPT OUT [--stages N] [--act-quant none|int8]\n\n"
          "Write OUT, CKPT's real GPT as a complex widely-linear model (model.arch: fairy2i):\n"
          "each block linear A = [[A11, A12], [A21, A22]] becomes y = U·x + W·conj(x) with\n"
          "U = (A11 + A22)/2 + i(A21 - A12)/2, W = (A11 - A22)/2 + i(A12 + A21)/2; norms, RoPE\n"
          "and SwiGLU are the real model's in the [re | im] layout; embeddings and head are\n"
          "copied (a tied head is untied). Without quantization the logits are the real model's\n"
          "up to float rounding. CKPT must be LLaMA-style: model.norm rmsnorm, model.act swiglu,\n"
          "model.pos rope, no biases, no GQA, dense FFNs.\n"
          "  --stages N        model.phasequant.stages written to OUT's config (default 0: the\n"
          "                    exact model; 2 = Fairy2i's residual PhaseQuant)\n"
          "  --act-quant A     model.act_quant written to OUT's config (default none)\n"
          "Continue training with residual PhaseQuant from OUT:\n"
          "  slt train CONFIG.yaml model.arch=fairy2i ... model.phasequant.stages=2 "
          "train.init_from=OUT\n"
          "OUT must not exist. Optimizer state is not written.\n");
}

typedef struct {
  const char *in, *out;
  long stages;
  slt_act_quant_kind act;
} convert_args;

/* One option or positional argument at argv[*i]; 0 or 2 (said). */
static int parse_one(int argc, char **argv, int *i, convert_args *a, bool *fairy2i, int *npos) {
  const char *o = argv[*i], *v;
  if (!strcmp(o, "--fairy2i")) {
    *fairy2i = true;
  } else if (!strcmp(o, "--stages")) {
    if (!(v = slt_cli_value("convert", argc, argv, i))) return 2;
    return slt_cli_long("convert", "--stages", v, 0, 2, &a->stages);
  } else if (!strcmp(o, "--act-quant")) {
    if (!(v = slt_cli_value("convert", argc, argv, i))) return 2;
    if (strcmp(v, "none") && strcmp(v, "int8"))
      return slt_cli_usage_error("convert", "--act-quant: expected none or int8, got '%s'", v);
    a->act = strcmp(v, "int8") ? SLT_ACT_QUANT_NONE : SLT_ACT_QUANT_INT8;
  } else if (slt_cli_is_option(o)) {
    return slt_cli_usage_error("convert", "unknown option '%s'", o);
  } else if (!*o) {
    return slt_cli_usage_error("convert", "%s is an empty string", *npos ? "OUT" : "CKPT");
  } else if (*npos < 2) {
    *(*npos ? &a->out : &a->in) = o;
    ++*npos;
  } else {
    return slt_cli_usage_error("convert", "unexpected argument '%s'", o);
  }
  return 0;
}

static int parse(int argc, char **argv, convert_args *a) {
  *a = (convert_args){.stages = 0, .act = SLT_ACT_QUANT_NONE};
  bool fairy2i = false;
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    int bad = parse_one(argc, argv, &i, a, &fairy2i, &npos);
    if (bad) return bad;
  }
  if (!fairy2i) return slt_cli_usage_error("convert", "--fairy2i is required");
  if (npos != 2) return slt_cli_usage_error("convert", "expected CKPT and OUT");
  return 0;
}

/* The converted model f of ck written to out with the fairy2i config. 0 or -1. */
static int write_out(const slt_ckpt *ck, const slt_model *f, const char *out) {
  slt_config cfg = ck->cfg;
  cfg.model = *f->cfg;
  cfg.model.kv_heads = 0;
  return slt_ckpt_write_export(out, ck, &cfg, f->params);
}

static int convert(const convert_args *a, char *msg, size_t len) {
  slt_config cfg;
  slt_model *g = slt_ckpt_load_model(a->in, &cfg), *f = NULL;
  slt_model_config fc;
  slt_ckpt ck;
  int rc = !g || slt_fairy2i_config_from_gpt(g->cfg, (int)a->stages, a->act, &fc) ||
                   !(f = slt_model_build(&fc, SLT_MODEL_ALLOC)) || slt_fairy2i_convert(g, f)
               ? -1
               : 0;
  if (!rc && !(rc = slt_ckpt_open(&ck, a->in))) {
    rc = write_out(&ck, f, a->out);
    slt_ckpt_close(&ck);
  }
  if (!rc)
    snprintf(msg, len,
             "%s -> %s: fairy2i, d_model %d complex (%d real), ffn %d complex, %lld real "
             "parameters (source %lld); phasequant stages %ld; no optimizer state",
             a->in, a->out, fc.d_model, 2 * fc.d_model, fc.ffn_dim,
             (long long)slt_model_count(f).total, (long long)slt_model_count(g).total, a->stages);
  slt_model_free(f);
  slt_model_free(g);
  return rc;
}

int slt_cmd_convert(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  convert_args a;
  int bad = parse(argc, argv, &a);
  if (bad) return bad;
  if (slt_cli_new_output("convert", a.out, "OUT")) return 1;
  char msg[1024];
  if (convert(&a, msg, sizeof msg)) {
    fprintf(stderr, "slt convert: %s\n", slt_err_msg());
    return 1;
  }
  printf("%s\n", msg);
  return 0;
}
