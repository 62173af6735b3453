/* slt tokenize --tokenizer gpt2|bytes [--tokenizer-dir DIR] FILE [--out SHARD] */
#include "autograd/sys.h"
#include "cli.h"

#include "autograd/error.h"
#include "data/shard.h"
#include "data/tokenizer.h"
#include "train/metrics.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
  fprintf(f,
          "usage: slt tokenize --tokenizer gpt2|bytes [--tokenizer-dir DIR] FILE [--out SHARD]\n\n"
          "Encode FILE (any bytes) as one document, with no EOT added, and print the token count\n"
          "and the speed. With --out, write the tokens as one llm.c-format shard.\n\n"
          "options:\n"
          "  --tokenizer NAME      gpt2 (byte-level BPE) or bytes (one token per byte)\n"
          "  --tokenizer-dir DIR   for gpt2: holds encoder.json + vocab.bpe or vocab.json +\n"
          "                        merges.txt\n"
          "  --out SHARD           write the tokens here (uint16 when the vocabulary fits)\n"
          "  --help                this text\n");
}

/* The whole file in memory, or NULL with the error recorded. */
static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    slt_err_set("cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 20, len = 0;
  char *buf = malloc(cap);
  for (size_t got = 1; buf && got;) {
    if (len == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) free(buf);
      buf = nb;
      if (!buf) break;
    }
    got = fread(buf + len, 1, cap - len, f);
    len += got;
  }
  if (!buf || ferror(f)) {
    slt_err_set("cannot read %s: %s", path, buf ? strerror(errno) : "out of memory");
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *n = len;
  return buf;
}

/* Parse the flags; 0, or 2 (message printed) on bad usage, 1 when --out exists. */
static int parse(int argc, char **argv, const char **name, const char **dir, const char **file,
                 const char **out) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char **slot = !strcmp(a, "--tokenizer")       ? name
                        : !strcmp(a, "--tokenizer-dir") ? dir
                        : !strcmp(a, "--out")           ? out
                                                        : NULL;
    if (slot) {
      if (*slot) return slt_cli_usage_error("tokenize", "%s given more than once", a);
      if (!(*slot = slt_cli_value("tokenize", argc, argv, &i))) return 2;
    } else if (slt_cli_is_option(a)) {
      return slt_cli_usage_error("tokenize", "unknown option '%s'", a);
    } else if (*file) {
      fprintf(stderr, "slt tokenize: one FILE only, got '%s' and '%s'\n", *file, a);
      return 2;
    } else if (!*a) {
      return slt_cli_usage_error("tokenize", "FILE is an empty string");
    } else {
      *file = a;
    }
  }
  if (!*name || !*file) {
    fprintf(stderr, "slt tokenize: %s (see 'slt tokenize --help')\n",
            !*name ? "--tokenizer gpt2|bytes is required" : "no FILE given");
    return 2;
  }
  if (!strcmp(*name, "gpt2") && !*dir) {
    fprintf(stderr, "slt tokenize: --tokenizer gpt2 needs --tokenizer-dir DIR (a directory with "
                    "encoder.json + vocab.bpe or vocab.json + merges.txt)\n");
    return 2;
  }
  if (strcmp(*name, "gpt2") && strcmp(*name, "bytes")) {
    fprintf(stderr, "slt tokenize: unknown tokenizer '%s' (expected gpt2 or bytes)\n", *name);
    return 2;
  }
  return *out ? slt_cli_new_output("tokenize", *out, "--out SHARD") : 0;
}

int slt_cmd_tokenize(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *name = NULL, *dir = NULL, *file = NULL, *out = NULL;
  int rc = parse(argc, argv, &name, &dir, &file, &out);
  if (rc) return rc;
  slt_tokenizer *t = slt_tokenizer_open(name, dir);
  slt_tokenizer_state *st = t ? slt_tokenizer_state_new(t) : NULL;
  size_t n = 0;
  char *text = st ? read_file(file, &n) : NULL;
  slt_tokens ids = {0};
  rc = text ? 0 : -1;
  double t0 = slt_now(), secs = 0;
  if (!rc) rc = slt_tokenizer_encode(t, st, text, n, 0, &ids);
  secs = slt_now() - t0;
  int width = t && slt_tokenizer_vocab_size(t) <= 65536 ? 2 : 4;
  if (!rc && out) rc = slt_shard_write(out, ids.ids, ids.n, width);
  if (!rc) {
    printf("tokens=%lld\n", (long long)ids.n);
    printf("bytes=%zu seconds=%.3f MB/s=%.1f\n", n, secs, n / 1e6 / (secs > 0 ? secs : 1e-9));
  }
  if (!rc && out) printf("wrote %s (%lld tokens, uint%d)\n", out, (long long)ids.n, 8 * width);
  if (rc) fprintf(stderr, "slt tokenize: %s\n", slt_err_msg());
  slt_tokens_free(&ids);
  free(text);
  slt_tokenizer_state_free(st);
  slt_tokenizer_free(t);
  return rc ? 1 : 0;
}
