/* slt prepare: documents (text, JSONL, parquet) -> train/val token shards. */
#include "autograd/sys.h"
#include "cli.h"

#include "autograd/error.h"
#include "data/prepare.h"
#include "train/metrics.h"
#include "train/run_lock.h"

#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: slt prepare --input PATH... --format text|jsonl|parquet --out DIR\n"
          "                   [--field NAME] [--tokenizer gpt2|bytes] [--tokenizer-dir DIR]\n"
          "                   [--val-fraction F] [--shard-tokens N] [--skip-bad] [--threads N]\n"
          "                   [--seed S]\n\n"
          "Tokenize documents into llm.c-format shards DIR/train_NNNNNN.bin and DIR/val_NNNNNN.bin\n"
          "(uint16 tokens, uint32 when the vocabulary needs it), EOT before each document.\n"
          "  text: each file is one document; jsonl: the --field of each line (default content);\n"
          "  parquet: the --field column (default content), e.g. RefinedWeb shards.\n"
          "A document goes to val with probability --val-fraction (default 0.01), decided by a hash\n"
          "of its index: the split and the shards do not depend on the format or thread count.\n"
          "Invalid UTF-8 is encoded as raw bytes, as GPT-2 does. --skip-bad skips and counts JSONL\n"
          "lines that are malformed or lack the field. --shard-tokens defaults to 100000000.\n");
}

typedef struct {
  double t0, last_print;
  bool tty;
} progress_state;

static void show_progress(const slt_prepare_stats *s, void *user) {
  progress_state *p = user;
  double now = slt_now(), dt = now - p->t0;
  if (!p->tty && now - p->last_print < 5.0) return; /* piped: a line every 5 s */
  p->last_print = now;
  double frac = s->input_total > 0 ? (double)s->input_done / s->input_total : 0;
  double mb = s->text_bytes / 1e6, eta = frac > 0 ? dt * (1 - frac) / frac : 0;
  char bar[31];
  int fill = (int)(frac * 30);
  for (int i = 0; i < 30; i++) bar[i] = i < fill ? '=' : ' ';
  bar[30] = '\0';
  printf("%s[%s] %3.0f%% | %lld docs | %.1f MB | %.1f MB/s | ETA %.0fs%s", p->tty ? "\r" : "", bar,
         100 * frac, (long long)s->docs, mb, dt > 0 ? mb / dt : 0, eta, p->tty ? "" : "\n");
  fflush(stdout);
}

typedef struct {
  const char **inputs;
  int ninputs;
  const char *format, *field, *tokenizer, *tokenizer_dir;
  slt_prepare_opts opts;
  bool skip_bad;
  int threads;
} prepare_args;

/* The paths after --input (argv[*i], advancing *i) up to the next option; 0, or 2 after a
 * message. */
static int parse_inputs(int argc, char **argv, int *i, prepare_args *a) {
  int first = a->ninputs;
  while (*i + 1 < argc && argv[*i + 1][0] != '-') {
    if (!*argv[*i + 1])
      return slt_cli_usage_error("prepare", "--input needs paths, got an empty string");
    a->inputs[a->ninputs++] = argv[++*i];
  }
  return a->ninputs > first ? 0 : slt_cli_usage_error("prepare", "--input needs at least one PATH");
}

/* The string option's slot, or NULL when it takes something else. */
static const char **string_slot(prepare_args *a, const char *o) {
  return !strcmp(o, "--format")          ? &a->format
         : !strcmp(o, "--field")         ? &a->field
         : !strcmp(o, "--tokenizer")     ? &a->tokenizer
         : !strcmp(o, "--tokenizer-dir") ? &a->tokenizer_dir
         : !strcmp(o, "--out")           ? &a->opts.out_dir
                                         : NULL;
}

/* The value of one of the is_number_option options; 0, or 2 after a message. */
static int parse_number(prepare_args *a, const char *o, const char *v) {
  long n;
  unsigned long long seed;
  if (!strcmp(o, "--val-fraction"))
    return slt_cli_double("prepare", o, v, 0, nextafter(1.0, 0.0), "a number in [0, 1)",
                          &a->opts.val_fraction);
  if (!strcmp(o, "--seed")) {
    int bad = slt_cli_u64("prepare", o, v, &seed);
    if (!bad) a->opts.split_seed = seed;
    return bad;
  }
  bool threads = !strcmp(o, "--threads");
  /* A shard's header holds its token count as an int32. */
  int bad = slt_cli_long("prepare", o, v, 1, threads ? SLT_CLI_MAX_THREADS : INT32_MAX, &n);
  if (!bad && threads) a->threads = (int)n;
  if (!bad && !threads) a->opts.shard_tokens = n;
  return bad;
}

/* True for the options parse_number takes. */
static bool is_number_option(const char *o) {
  return !strcmp(o, "--val-fraction") || !strcmp(o, "--seed") || !strcmp(o, "--threads") ||
         !strcmp(o, "--shard-tokens");
}

/* One option (argv[*i], advancing *i past its values), each but --input and --skip-bad once;
 * 0, or 2 after a message. */
static int parse_one(int argc, char **argv, int *i, prepare_args *a, slt_cli_seen *seen) {
  const char *o = argv[*i], **slot = string_slot(a, o), *v;
  if (!strcmp(o, "--input")) return parse_inputs(argc, argv, i, a);
  if (!strcmp(o, "--skip-bad")) {
    a->skip_bad = true;
    return 0;
  }
  if (!slot && !is_number_option(o))
    return slt_cli_is_option(o) ? slt_cli_usage_error("prepare", "unknown option '%s'", o)
                                : slt_cli_usage_error("prepare", "unexpected argument '%s'", o);
  if (slt_cli_once("prepare", seen, o) || !(v = slt_cli_value("prepare", argc, argv, i))) return 2;
  if (!slot) return parse_number(a, o, v);
  *slot = v;
  return 0;
}

/* 0 ok, 2 bad usage (message printed). */
static int parse_args(int argc, char **argv, prepare_args *a) {
  slt_cli_seen seen = {0};
  for (int i = 1; i < argc; i++) {
    int bad = parse_one(argc, argv, &i, a, &seen);
    if (bad) return bad;
  }
  const char *missing = !a->ninputs        ? "--input"
                        : !a->format       ? "--format"
                        : !a->opts.out_dir ? "--out"
                                           : NULL;
  if (missing) return slt_cli_usage_error("prepare", "%s is required", missing);
  if (slt_doc_format_parse(a->format) < 0)
    return slt_cli_usage_error("prepare", "--format must be text, jsonl or parquet, got '%s'",
                               a->format);
  return 0;
}

int slt_cmd_prepare(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *inputs[argc];
  prepare_args a = {.inputs = inputs, .field = "content", .tokenizer = "gpt2",
                    .opts = {.val_fraction = 0.01, .shard_tokens = 100000000, .batch_docs = 256}};
  int rc = parse_args(argc, argv, &a);
  if (rc) return rc;
  if (a.threads > 0) omp_set_num_threads(a.threads);
  slt_tokenizer *tok = slt_tokenizer_open(a.tokenizer, a.tokenizer_dir);
  slt_docsource *src = tok ? slt_docsource_open(slt_doc_format_parse(a.format), inputs, a.ninputs,
                                                a.field, a.skip_bad)
                           : NULL;
  slt_prepare_stats st;
  progress_state ps = {slt_now(), 0, isatty(STDOUT_FILENO)};
  /* One writer per output directory (train/run_lock.h), held until the shards are published. */
  rc = src && !slt_run_lock(a.opts.out_dir, "--out", &a)
           ? slt_prepare_run(src, tok, &a.opts, show_progress, &ps, &st)
           : -1;
  slt_run_unlock(&a);
  if (ps.tty) printf("\n");
  if (rc) {
    fprintf(stderr, "slt prepare: %s\n", slt_err_msg());
  } else {
    double dt = slt_now() - ps.t0;
    printf("prepared %lld documents (%lld val), %lld tokens (%lld val), %d train + %d val shards "
           "in %.2f s: %.1f MB of text at %.1f MB/s, %d threads\n",
           (long long)st.docs, (long long)st.val_docs, (long long)st.tokens,
           (long long)st.val_tokens, st.train_shards, st.val_shards, dt, st.text_bytes / 1e6,
           st.text_bytes / 1e6 / dt, omp_get_max_threads());
    if (st.skipped) printf("skipped %lld bad JSONL lines (--skip-bad)\n", (long long)st.skipped);
    if (a.opts.val_fraction > 0 && st.val_docs == 0)
      printf("warning: no document fell in the val split; raise --val-fraction\n");
  }
  slt_docsource_close(src);
  slt_tokenizer_free(tok);
  return rc ? 1 : 0;
}
