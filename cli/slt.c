/* The slt program: dispatches to subcommands. */
#include "cli.h"

#include <stdio.h>
#include <string.h>

static const slt_command commands[] = {
    {"train", "train a GPT from a YAML config: slt train CONFIG.yaml [key=value ...]", slt_cmd_train},
    {"tokenize", "encode a file, count its tokens, optionally write a shard", slt_cmd_tokenize},
    {"prepare", "documents (text, jsonl, parquet) -> train/val token shards", slt_cmd_prepare},
    {"info", "show a checkpoint: step, tokens, parameters by group, config", slt_cmd_info},
    {"eval", "validation loss of a checkpoint on shards: slt eval --ckpt PATH --data GLOB", slt_cmd_eval},
    {"generate", "sample tokens from a checkpoint (KV cache): slt generate --ckpt PATH ...", slt_cmd_generate},
    {"export", "dense-FFN copy of a structured checkpoint: slt export --merge CKPT OUT", slt_cmd_export},
    {"sweep", "train a sweep file's runs (resumable; --jobs, --slurm, --dry-run, --collect)", slt_cmd_sweep},
    {"convert", "real LLaMA-style GPT -> complex widely-linear model: slt convert --fairy2i CKPT OUT", slt_cmd_convert},
    {"fit", "scaling-law fits with bootstrap intervals: slt fit RESULTS [--law ...] [--by KEY]", slt_cmd_fit},
};

bool slt_cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) return true;
  return false;
}

static void usage(FILE *f) {
  fprintf(f, "usage: slt <command> [options]\n\ncommands:\n");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
  fprintf(f, "\n'slt <command> --help' describes a command.\n");
}

/* The one line for a missing command: what there is, and where help is. */
static void missing_command(void) {
  fprintf(stderr, "slt: missing command: usage: slt <command> [options], <command> one of");
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    fprintf(stderr, "%s %s", i ? "," : "", commands[i].name);
  fprintf(stderr, " (see 'slt --help')\n");
}

int main(int argc, char **argv) {
  if (argc < 2) {
    missing_command();
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  for (size_t i = 0; i < sizeof commands / sizeof *commands; i++)
    if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
  fprintf(stderr, "slt: unknown command '%s' (see 'slt --help')\n", argv[1]);
  return 2;
}
