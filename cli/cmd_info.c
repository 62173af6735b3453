/* slt info CKPT: what a checkpoint holds, from its tensors, and the model its config declares
 * (names and shapes only, no weights) with the seam's parameter counts. */
#include "cli.h"

#include "autograd/error.h"
#include "ckpt/checkpoint.h"
#include "layers/model.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { EMBEDDINGS, ATTENTION, FFN, NORMS, HEAD, OTHER, GROUPS };
static const char *const group_names[GROUPS] = {"embeddings", "attention", "ffn",
                                                "norms",      "head",      "other"};

typedef struct {
  int64_t numel[GROUPS], tensors[GROUPS], total;
} counts;

/* The group of a parameter, from its PyTorch-style name (GPT's wte/ln/ffn, the complex
 * models' embed/norm/mlp). */
static int group_of(const char *name) {
  if (!strncmp(name, "wte.", 4) || !strncmp(name, "wpe.", 4) || !strncmp(name, "embed.", 6))
    return EMBEDDINGS;
  if (!strncmp(name, "lm_head.", 8)) return HEAD;
  if (!strncmp(name, "ln", 2) || strstr(name, ".ln") || strstr(name, "norm.")) return NORMS;
  if (strstr(name, ".attn.")) return ATTENTION;
  if (strstr(name, ".ffn.") || strstr(name, ".mlp.")) return FFN;
  return OTHER;
}

static int count(const char *name, int ndim, const int64_t *shape, void *user) {
  counts *c = user;
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  int g = group_of(name);
  c->numel[g] += n;
  c->tensors[g]++;
  c->total += n;
  return 0;
}

static void human_bytes(double b, char *buf, size_t len) {
  const char *unit[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (b >= 1000 && u < 4) b /= 1000, u++;
  snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", b, unit[u]);
}

static void usage(FILE *f) {
  fprintf(f, "usage: slt info [--verify] CKPT\n"
             "       slt info --model CONFIG.yaml [key=value ...]\n\n"
             "Show a checkpoint's step, tokens seen, optimizer, parameter count by group, file\n"
             "size and the resolved config it was trained with; for a quantized model\n"
             "(model.quant), each distinct transform and the -1/0/+1 shares of ternary weights.\n"
             "With --model: the parameter counts (total, non-embedding, FFN, FFN if dense) and\n"
             "training FLOPs per token of the model a config describes, as key=value lines,\n"
             "without allocating it.\n\n"
             "  --verify   also read every tensor and check its xxh3_64 checksum (exit 1 on\n"
             "             the first bad one)\n");
}

/* The model the stored config declares, and the seam's counts of it (real numbers: a complex
 * weight counts its two parts). */
static void print_model(const slt_ckpt *ck) {
  slt_model *m = slt_model_build(&ck->cfg.model, SLT_MODEL_DECLARE);
  if (!m) {
    printf("model: the stored config does not build: %s\n", slt_err_msg());
    return;
  }
  char what[256];
  slt_model_describe(m, what, sizeof what);
  slt_model_counts n = slt_model_count(m);
  printf("model: %s\n  %lld real parameters (%.2fM; %.2fM non-embedding, FFN %.2fM)\n", what,
         (long long)n.total, n.total / 1e6, (n.total - n.embedding) / 1e6, n.ffn / 1e6);
  slt_model_free(m);
}

static void print_info(const slt_ckpt *ck, const counts *c) {
  char size[32];
  human_bytes((double)ck->file_bytes, size, sizeof size);
  printf("checkpoint: %s (%s, format version %d)\n", ck->path, size, ck->format_version);
  printf("step: %lld\ntokens: %lld\nworld: %d rank%s\n", (long long)ck->state.step,
         (long long)ck->state.tokens, ck->state.world, ck->state.world > 1 ? "s" : "");
  printf("optimizer: %s (step %lld)\n", ck->optim_name, (long long)ck->optim_step);
  printf("parameters: %lld (%.2fM)\n", (long long)c->total, c->total / 1e6);
  for (int g = 0; g < GROUPS; g++) {
    if (g == OTHER && !c->tensors[g]) continue;
    printf("  %-11s %12lld  %6.2f%%  (%lld tensors)%s\n", group_names[g], (long long)c->numel[g],
           c->total ? 100.0 * c->numel[g] / c->total : 0.0, (long long)c->tensors[g],
           g == HEAD && !c->tensors[g] && ck->cfg.model.tie_embeddings ? " tied to wte" : "");
  }
  print_model(ck);
  printf("config:\n");
  slt_config_write(&ck->cfg, stdout);
}

/* A quantized model's transforms and its ternary linears' code shares: this needs the weights,
 * so the model is built and read (only when model.quant is set). 0 or -1. */
static int print_quant(const slt_ckpt *ck) {
  if (!slt_quant_config_active(&ck->cfg.model.quant)) return 0;
  slt_model *m = slt_ckpt_model(ck);
  int rc = m ? 0 : -1;
  char buf[8192];
  if (!rc && slt_model_describe_quant(m, true, buf, sizeof buf)) printf("quant:\n");
  for (char *line = buf, *nl; !rc && (nl = strchr(line, '\n')); line = nl + 1)
    printf("  %.*s\n", (int)(nl - line), line);
  slt_model_free(m);
  return rc;
}

/* The one CKPT argument; 0, or 2 after a message. */
static int parse(int argc, char **argv, const char **path, bool *verify) {
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--verify")) {
      *verify = true;
      continue;
    }
    if (slt_cli_is_option(argv[i]))
      return slt_cli_usage_error("info", "unknown option '%s'", argv[i]);
    if (*path)
      return slt_cli_usage_error("info", "one CKPT only, got '%s' and '%s'", *path, argv[i]);
    *path = argv[i];
  }
  if (!*path) return slt_cli_usage_error("info", "missing CKPT; usage: slt info CKPT");
  if (!**path) return slt_cli_usage_error("info", "CKPT is an empty string");
  return 0;
}

int slt_cmd_info(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  if (argc > 1 && !strcmp(argv[1], "--model")) return slt_info_model(argc - 1, argv + 1);
  const char *path = NULL;
  bool verify = false;
  int bad = parse(argc, argv, &path, &verify);
  if (bad) return bad;
  slt_ckpt ck;
  counts c = {0};
  if (slt_ckpt_open(&ck, path)) {
    fprintf(stderr, "slt info: %s\n", slt_err_msg());
    return 1;
  }
  slt_ckpt_verified v;
  int rc = slt_ckpt_each_tensor(&ck, count, &c) || (verify && slt_ckpt_verify(&ck, &v));
  if (rc)
    fprintf(stderr, "slt info: %s\n", slt_err_msg());
  else
    print_info(&ck, &c);
  if (!rc && (rc = print_quant(&ck))) fprintf(stderr, "slt info: %s\n", slt_err_msg());
  if (!rc && verify)
    printf("verified: %lld tensors (%.2f MB), every checksum matches\n", (long long)v.tensors,
           v.bytes / 1e6);
  slt_ckpt_close(&ck);
  return rc ? 1 : 0;
}
