/* GPT-2 BPE speed on one thread over Tiny Shakespeare: encoding with a cold cache (a fresh state
 * each run: every distinct word merged once), with a warm cache (the same state again), and
 * decoding. Each figure is the best of several runs; the token count is printed as a check.
 * Then slt prepare end to end (tokenizer load, parquet read, parallel encode, shard writes) on the
 * RefinedWeb parquet sample with 2 threads, in MB of text per second.
 * Usage: bench_tokenize [DATA_DIR]   (default: $SLT_TEST_DATA or <source>/../shared/data) */
#include "autograd/sys.h"
#include "autograd/error.h"
#include "data/prepare.h"
#include "data/tokenizer.h"
#include "train/metrics.h"

#include <omp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { RUNS = 5 };

static char *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = len > 0 ? malloc((size_t)len) : NULL;
  *n = buf ? fread(buf, 1, (size_t)len, f) : 0;
  fclose(f);
  return buf;
}

static void die(const char *what) {
  fprintf(stderr, "bench_tokenize: %s: %s\n", what, slt_err_msg());
  exit(1);
}

/* Best-of-RUNS seconds for prepare on the zstd parquet sample with 2 threads; text bytes out. */
static double bench_prepare(const char *data, int64_t *text_bytes) {
  char gpt2[4096], input[4096];
  snprintf(gpt2, sizeof gpt2, "%s/gpt2", data);
  snprintf(input, sizeof input, "%s/refinedweb-sample/rw-zstd.parquet", data);
  const char *inputs[1] = {input};
  omp_set_num_threads(2);
  double best = 1e30;
  for (int r = 0; r < RUNS; r++) {
    char dir[] = "/tmp/slt_bench_prepare_XXXXXX";
    if (!mkdtemp(dir)) return -1;
    double t0 = slt_now();
    slt_tokenizer *t = slt_tokenizer_gpt2_load(gpt2);
    slt_docsource *src = t ? slt_docsource_open(SLT_DOC_PARQUET, inputs, 1, "content", false) : NULL;
    slt_prepare_opts o = {.out_dir = dir, .val_fraction = 0.01, .shard_tokens = 100000000,
                          .batch_docs = 256};
    slt_prepare_stats st;
    int rc = src ? slt_prepare_run(src, t, &o, NULL, NULL, &st) : -1;
    double dt = slt_now() - t0;
    slt_docsource_close(src);
    slt_tokenizer_free(t);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0 || rc) return -1;
    *text_bytes = st.text_bytes;
    if (dt < best) best = dt;
  }
  return best;
}

int main(int argc, char **argv) {
  const char *data = argc > 1 ? argv[1] : getenv("SLT_TEST_DATA");
  if (!data || !*data) data = SLT_SOURCE_DIR "/../shared/data";
  char path[4096];
  snprintf(path, sizeof path, "%s/gpt2", data);
  slt_tokenizer *t = slt_tokenizer_gpt2_load(path);
  if (!t) die("loading the tokenizer");
  snprintf(path, sizeof path, "%s/tinyshakespeare/input.txt", data);
  size_t n;
  char *text = read_file(path, &n);
  if (!text) {
    fprintf(stderr, "bench_tokenize: cannot read %s\n", path);
    return 1;
  }
  double cold = 1e30, warm = 1e30, dec = 1e30;
  slt_tokens ids = {0};
  slt_bytebuf back = {0};
  for (int r = 0; r < RUNS; r++) {
    slt_tokenizer_state *st = slt_tokenizer_state_new(t);
    if (!st) die("state");
    for (int pass = 0; pass < 2; pass++) {
      ids.n = 0;
      double t0 = slt_now();
      if (slt_tokenizer_encode(t, st, text, n, 0, &ids)) die("encode");
      double dt = slt_now() - t0;
      if (pass == 0 && dt < cold) cold = dt;
      if (pass == 1 && dt < warm) warm = dt;
    }
    slt_tokenizer_state_free(st);
    back.n = 0;
    double t0 = slt_now();
    if (slt_tokenizer_decode(t, ids.ids, ids.n, &back)) die("decode");
    double dt = slt_now() - t0;
    dec = dt < dec ? dt : dec;
  }
  int same = back.n == (int64_t)n && !memcmp(back.data, text, n);
  printf("tinyshakespeare: %zu bytes -> %lld tokens (whole file, one document), round trip %s\n", n,
         (long long)ids.n, same ? "exact" : "DIFFERS");
  printf("encode, cold cache: %7.1f MB/s  (%.1f ms)\n", n / 1e6 / cold, 1e3 * cold);
  printf("encode, warm cache: %7.1f MB/s  (%.1f ms)\n", n / 1e6 / warm, 1e3 * warm);
  printf("decode:             %7.1f MB/s  (%.1f ms)\n", n / 1e6 / dec, 1e3 * dec);
  printf("target >= 10 MB/s on one thread: %s\n", n / 1e6 / cold >= 10 ? "met" : "NOT met");
  int64_t text_bytes = 0;
  double prep = bench_prepare(data, &text_bytes);
  if (prep < 0) die("prepare");
  printf("slt prepare, rw-zstd.parquet, 2 threads, end to end: %.1f MB/s (%.1f MB of text in "
         "%.0f ms); target >= 15 MB/s: %s\n",
         text_bytes / 1e6 / prep, text_bytes / 1e6, 1e3 * prep,
         text_bytes / 1e6 / prep >= 15 ? "met" : "NOT met");
  slt_tokens_free(&ids);
  slt_bytebuf_free(&back);
  free(text);
  slt_tokenizer_free(t);
  return same ? 0 : 1;
}
