/* slt prepare: identical shards from JSONL and both parquet samples, at 1 and 2 threads;
 * shard splitting; refusing to overwrite; empty input. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "data/prepare.h"
#include "data/shard.h"

#include <dirent.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Read a whole file; NULL when missing. */
static char *slurp(const char *path, long *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *len = ftell(f);
  rewind(f);
  char *b = malloc(*len + 1);
  if (b && fread(b, 1, *len, f) != (size_t)*len) *len = -1;
  fclose(f);
  return b;
}

static int prepare(const char *data, const char *input, slt_doc_format fmt, const char *out,
                   int threads, int64_t shard_tokens, slt_prepare_stats *st) {
  char path[1024], gpt2[1024];
  snprintf(path, sizeof path, "%s/refinedweb-sample/%s", data, input);
  snprintf(gpt2, sizeof gpt2, "%s/gpt2", data);
  const char *inputs[1] = {path};
  slt_tokenizer *tok = slt_tokenizer_gpt2_load(gpt2);
  slt_docsource *src = tok ? slt_docsource_open(fmt, inputs, 1, "content", false) : NULL;
  slt_prepare_opts o = {.out_dir = out,
                        .val_fraction = 0.1,
                        .split_seed = 0,
                        .shard_tokens = shard_tokens,
                        .batch_docs = 16};
  int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  int rc = src ? slt_prepare_run(src, tok, &o, NULL, NULL, st) : -1;
  omp_set_num_threads(saved);
  if (rc) printf("\n  prepare %s: %s\n", input, slt_err_msg());
  slt_docsource_close(src);
  slt_tokenizer_free(tok);
  return rc;
}

static bool same_file(const char *a, const char *b) {
  long la = 0, lb = 0;
  char *x = slurp(a, &la), *y = slurp(b, &lb);
  bool same = x && y && la == lb && memcmp(x, y, la) == 0;
  free(x);
  free(y);
  return same;
}

static void test_formats_and_threads_agree(void) {
  const char *data = test_data_dir("prepare: formats and threads agree");
  if (!data) return;
  char root[] = "/tmp/slt_prepare_XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
  const struct {
    const char *file;
    slt_doc_format fmt;
    int threads;
  } runs[] = {{"rw.jsonl", SLT_DOC_JSONL, 1},
              {"rw.jsonl", SLT_DOC_JSONL, 2},
              {"rw-snappy.parquet", SLT_DOC_PARQUET, 2},
              {"rw-zstd.parquet", SLT_DOC_PARQUET, 1}};
  slt_prepare_stats st[4];
  for (int r = 0; r < 4; r++) {
    char out[256];
    snprintf(out, sizeof out, "%s/run%d", root, r);
    /* 100k tokens per shard: several train shards, so the split across files is checked too */
    CU_ASSERT_EQUAL_FATAL(
        prepare(data, runs[r].file, runs[r].fmt, out, runs[r].threads, 100000, &st[r]), 0);
  }
  CU_ASSERT_EQUAL(st[0].docs, 121);
  CU_ASSERT(st[0].val_docs > 0 && st[0].val_docs < 121);
  CU_ASSERT(st[0].train_shards >= 4);
  for (int r = 1; r < 4; r++) {
    CU_ASSERT_EQUAL(st[r].tokens, st[0].tokens);
    CU_ASSERT_EQUAL(st[r].train_shards, st[0].train_shards);
    for (int s = 0; s < st[0].train_shards + st[0].val_shards; s++) {
      bool val = s >= st[0].train_shards;
      int idx = val ? s - st[0].train_shards : s;
      char a[320], b[320];
      snprintf(a, sizeof a, "%s/run0/%s_%06d.bin", root, val ? "val" : "train", idx);
      snprintf(b, sizeof b, "%s/run%d/%s_%06d.bin", root, r, val ? "val" : "train", idx);
      CU_ASSERT(same_file(a, b));
    }
  }
  /* The shards hold every token, with EOT (50256) before each document. */
  char glob[320];
  snprintf(glob, sizeof glob, "%s/run0/*.bin", root);
  slt_shards *sh = slt_shards_open(glob, 50257);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sh);
  CU_ASSERT_EQUAL(slt_shards_tokens(sh), st[0].tokens);
  int32_t first;
  slt_shards_read(sh, 0, 1, &first);
  CU_ASSERT_EQUAL(first, 50256);
  slt_shards_close(sh);
  /* A second run into a directory holding shards is refused, and leaves them intact. */
  char out0[256];
  snprintf(out0, sizeof out0, "%s/run0", root);
  slt_prepare_stats again;
  CU_ASSERT_EQUAL(prepare(data, "rw.jsonl", SLT_DOC_JSONL, out0, 1, 100000, &again), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "already holds shards"));
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  CU_ASSERT_EQUAL(system(cmd), 0);
}

static void test_empty_input(void) {
  char root[] = "/tmp/slt_prepare_XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
  char in[300], out[300];
  snprintf(in, sizeof in, "%s/empty.jsonl", root);
  snprintf(out, sizeof out, "%s/out", root);
  FILE *f = fopen(in, "w");
  fclose(f);
  const char *inputs[1] = {in};
  slt_tokenizer *tok = slt_tokenizer_bytes_new();
  slt_docsource *src = slt_docsource_open(SLT_DOC_JSONL, inputs, 1, "content", false);
  slt_prepare_opts o = {.out_dir = out, .val_fraction = 0.1, .shard_tokens = 1000, .batch_docs = 4};
  slt_prepare_stats st;
  CU_ASSERT_EQUAL(slt_prepare_run(src, tok, &o, NULL, NULL, &st), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "no documents"));
  slt_docsource_close(src);
  const char *missing[1] = {"/nonexistent/x.jsonl"};
  CU_ASSERT_PTR_NULL(slt_docsource_open(SLT_DOC_JSONL, missing, 1, "content", false));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "/nonexistent/x.jsonl"));
  slt_tokenizer_free(tok);
  char cmd[400];
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  CU_ASSERT_EQUAL(system(cmd), 0);
}

/* Prepare a JSONL whose 7th line is broken into out; returns slt_prepare_run's status. Six good
 * documents of 300 bytes and 100-token shards mean shards were written before the failure. */
static int prepare_broken_jsonl(const char *root, const char *out) {
  char in[300];
  snprintf(in, sizeof in, "%s/broken.jsonl", root);
  FILE *f = fopen(in, "w");
  for (int i = 0; i < 6; i++) {
    fprintf(f, "{\"content\": \"");
    for (int k = 0; k < 300; k++) fputc('a' + (i + k) % 26, f);
    fprintf(f, "\"}\n");
  }
  fprintf(f, "{\"content\": broken\n");
  fclose(f);
  const char *inputs[1] = {in};
  slt_tokenizer *tok = slt_tokenizer_bytes_new();
  slt_docsource *src = slt_docsource_open(SLT_DOC_JSONL, inputs, 1, "content", false);
  slt_prepare_opts o = {.out_dir = out, .val_fraction = 0.1, .shard_tokens = 100, .batch_docs = 1};
  slt_prepare_stats st;
  int rc = src ? slt_prepare_run(src, tok, &o, NULL, NULL, &st) : -2;
  slt_docsource_close(src);
  slt_tokenizer_free(tok);
  return rc;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) return -1;
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

/* A run that fails part way leaves no shards behind: nothing that looks like a finished set. */
static void test_failed_run_leaves_no_shards(void) {
  char root[] = "/tmp/slt_prepare_XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
  char out[300], cmd[400];
  snprintf(out, sizeof out, "%s/new_out", root);
  CU_ASSERT_EQUAL(prepare_broken_jsonl(root, out), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "broken.jsonl"));
  CU_ASSERT_EQUAL(count_entries(out), -1); /* the run made it, so the run removed it */
  snprintf(out, sizeof out, "%s/existing_out", root);
  CU_ASSERT_EQUAL_FATAL(mkdir(out, 0777), 0);
  CU_ASSERT_EQUAL(prepare_broken_jsonl(root, out), -1);
  CU_ASSERT_EQUAL(count_entries(out), 0); /* kept, and empty */
  snprintf(cmd, sizeof cmd, "rm -rf %s", root);
  CU_ASSERT_EQUAL(system(cmd), 0);
}

int register_prepare_suite(void) {
  CU_pSuite s = CU_add_suite("prepare", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "jsonl, snappy and zstd parquet, 1 and 2 threads: identical shards",
                      test_formats_and_threads_agree) ||
         !CU_add_test(s, "empty and missing input", test_empty_input) ||
         !CU_add_test(s, "a run that fails part way leaves no shards",
                      test_failed_run_leaves_no_shards);
}
