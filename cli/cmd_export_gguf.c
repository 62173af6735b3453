/* slt export --gguf CKPT OUT [--type f32|f16|tq2_0] [--tokenizer bytes|gpt2] [--tokenizer-dir DIR]
 * A LLaMA-shaped checkpoint as a GGUF v3 file that llama.cpp runs (SPEC §8, ckpt/gguf_llama.h). */
#include "cli.h"

#include "autograd/error.h"
#include "ckpt/gguf_llama.h"
#include "ckpt/checkpoint.h"

#include <stdio.h>
#include <string.h>

typedef struct {
  const char *in, *out, *type, *tokenizer, *tokenizer_dir;
} args;

static void usage(FILE *f) {
  fprintf(
      f, "usage: slt export --gguf CKPT OUT [--type f32|f16|tq2_0] [--tokenizer bytes|gpt2]\n"
         "                  [--tokenizer-dir DIR]\n\n"
         "Write OUT, CKPT's model as a GGUF v3 file of llama.cpp's \"llama\" architecture.\n"
         "Only a model with model.norm rmsnorm, model.act swiglu, model.pos rope, model.bias\n"
         "false and dense FFNs can be exported (run slt export --merge first for structured\n"
         "FFNs). The q and k rows are permuted for llama.cpp's pairwise RoPE; the logits match.\n\n"
         "  --type T           f32 (default), f16 (every matrix), or tq2_0: the block linears\n"
         "                     as ternary TQ2_0 (weights must be {-g, 0, g} per block of 256 and\n"
         "                     d_model and ffn_dim multiples of 256); embedding and head f32\n"
         "  --tokenizer NAME   the vocabulary written: gpt2 (default when model.vocab_size >=\n"
         "                     50257; needs --tokenizer-dir) or bytes (ids < 256 are bytes, 256\n"
         "                     is <|endoftext|>, the rest padding; default for smaller models)\n"
         "  --tokenizer-dir DIR  holds encoder.json + vocab.bpe or vocab.json + merges.txt\n"
         "OUT must not exist.\n");
}

/* The options above in any order; 0 or 2 (said). */
static int parse(int argc, char **argv, args *a) {
  slt_cli_seen seen = {0};
  const char *pos[2];
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], **dst = !strcmp(o, "--type")            ? &a->type
                                     : !strcmp(o, "--tokenizer")     ? &a->tokenizer
                                     : !strcmp(o, "--tokenizer-dir") ? &a->tokenizer_dir
                                                                     : NULL;
    if (!strcmp(o, "--gguf")) continue;
    if (!strcmp(o, "--merge"))
      return slt_cli_usage_error("export",
                                 "--merge and --gguf are two exports: run one, then the other");
    if (dst) {
      if (slt_cli_once("export", &seen, o) || !(*dst = slt_cli_value("export", argc, argv, &i)))
        return 2;
    } else if (slt_cli_is_option(o)) {
      return slt_cli_usage_error("export", "unknown option '%s'", o);
    } else if (!*o) {
      return slt_cli_usage_error("export", "%s is an empty string", npos ? "OUT" : "CKPT");
    } else if (npos < 2) {
      pos[npos++] = o;
    } else {
      return slt_cli_usage_error("export", "unexpected argument '%s'", o);
    }
  }
  if (npos != 2) return slt_cli_usage_error("export", "--gguf expects CKPT and OUT");
  a->in = pos[0];
  a->out = pos[1];
  if (!a->type) a->type = "f32";
  if (strcmp(a->type, "f32") && strcmp(a->type, "f16") && strcmp(a->type, "tq2_0"))
    return slt_cli_usage_error("export", "--type needs f32, f16 or tq2_0, got '%s'", a->type);
  if (a->tokenizer && strcmp(a->tokenizer, "gpt2") && strcmp(a->tokenizer, "bytes"))
    return slt_cli_usage_error("export", "--tokenizer needs gpt2 or bytes, got '%s'", a->tokenizer);
  if (a->tokenizer_dir && a->tokenizer && !strcmp(a->tokenizer, "bytes"))
    return slt_cli_usage_error("export", "--tokenizer-dir goes with --tokenizer gpt2, not bytes");
  return 0;
}

/* The vocabulary the flags (or the model's size) ask for. 0 or -1 (error recorded). */
static int make_vocab(const args *a, int vocab_size, slt_gguf_vocab *v) {
  const char *name = a->tokenizer                              ? a->tokenizer
                     : a->tokenizer_dir || vocab_size >= 50257 ? "gpt2"
                                                               : "bytes";
  if (!strcmp(name, "bytes")) return slt_gguf_vocab_bytes(v, vocab_size);
  if (!a->tokenizer_dir) {
    slt_err_set("the GPT-2 tokenizer metadata needs --tokenizer-dir DIR (model.vocab_size %d; "
                "--tokenizer bytes writes a bytes vocabulary instead)",
                vocab_size);
    return -1;
  }
  return slt_gguf_vocab_gpt2(v, a->tokenizer_dir, vocab_size);
}

static int run(const args *a, char *msg, size_t len) {
  slt_config cfg;
  slt_model *m = slt_ckpt_load_model(a->in, &cfg);
  if (!m) return -1;
  slt_gguf_out_type type = !strcmp(a->type, "f16")     ? SLT_GGUF_OUT_F16
                           : !strcmp(a->type, "tq2_0") ? SLT_GGUF_OUT_TQ2_0
                                                       : SLT_GGUF_OUT_F32;
  slt_gguf_vocab v = {0};
  const char *base = strrchr(a->in, '/');
  int rc = slt_gguf_llama_check(m) || make_vocab(a, cfg.model.vocab_size, &v) ||
                   slt_gguf_llama_write(m, &v, type, base ? base + 1 : a->in, a->out)
               ? -1
               : 0;
  if (rc) {
    char why[1024];
    snprintf(why, sizeof why, "%s", slt_err_msg());
    slt_err_set("%s: %s", a->in, why);
  } else {
    snprintf(msg, len, "%s -> %s: llama, %s, %d layers, d_model %d, vocab %d (%lld merges)", a->in,
             a->out, a->type, cfg.model.layers, cfg.model.d_model, cfg.model.vocab_size, (long long)v.n_merges);
  }
  slt_gguf_vocab_free(&v);
  slt_model_free(m);
  return rc;
}

int slt_cmd_export_gguf(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  args a = {0};
  int bad = parse(argc, argv, &a);
  if (bad) return bad;
  if (slt_cli_new_output("export", a.out, "OUT")) return 1;
  char msg[1024];
  if (run(&a, msg, sizeof msg)) {
    fprintf(stderr, "slt export: %s\n", slt_err_msg());
    return 1;
  }
  printf("exported %s\n", msg);
  return 0;
}
