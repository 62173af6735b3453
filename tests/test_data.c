/* Token shards (format, validation, globs), the synthetic Markov source (tables, sampler,
 * entropy rate, loss floor, determinism) and the loader (rank slicing, epoch permutation,
 * cursor save/restore, fixed validation batches). Files live in a mkdtemp directory. */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "data/loader.h"
#include "data/shard.h"
#include "data/synthetic.h"

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int entries_in(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

/* tokens[i] = (i * mul + add) mod modulus */
static uint32_t *ramp(int64_t n, uint32_t mul, uint32_t add, uint32_t modulus) {
  uint32_t *t = malloc((size_t)(n ? n : 1) * sizeof *t);
  for (int64_t i = 0; i < n; i++) t[i] = (uint32_t)((i * mul + add) % modulus);
  return t;
}

/* ---------------- shards ---------------- */

static void roundtrip(const char *name, int width, uint32_t modulus) {
  const int64_t n = 5000;
  uint32_t *tok = ramp(n, 7919, 3, modulus);
  tok[10] = modulus - 1; /* the largest value the width allows */
  const char *p = test_tpath(name);
  CU_ASSERT_EQUAL_FATAL(slt_shard_write(p, tok, n, width), 0);
  struct stat st;
  CU_ASSERT(stat(p, &st) == 0 && st.st_size == 1024 + n * width);
  int32_t hdr[256];
  FILE *f = fopen(p, "rb");
  CU_ASSERT_FATAL(f && fread(hdr, 4, 256, f) == 256);
  fclose(f);
  CU_ASSERT(hdr[0] == (width == 2 ? 20240520 : 20240801));
  CU_ASSERT(hdr[1] == (width == 2 ? 1 : 7));
  CU_ASSERT(hdr[2] == n && hdr[3] == 0 && hdr[255] == 0);
  slt_shards *s = slt_shards_open(p, (int)modulus);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_EQUAL(slt_shards_tokens(s), n);
  int32_t *out = malloc(n * sizeof *out);
  CU_ASSERT_EQUAL(slt_shards_read(s, 0, (int)n, out), 0);
  int bad = 0;
  for (int64_t i = 0; i < n; i++) bad += out[i] != (int32_t)tok[i];
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(slt_shards_read(s, 4990, 10, out), 0);
  CU_ASSERT(out[0] == (int32_t)tok[4990] && out[9] == (int32_t)tok[4999]);
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_shards_read(s, 4991, 10, out), -1); /* one past the end */
  CU_ASSERT(test_err_has("offset 4991", "5,000 tokens"));
  slt_shards_close(s);
  free(out);
  free(tok);
}

static void test_shard_u16(void) {
  roundtrip("u16.bin", 2, 65536);
}
static void test_shard_u32(void) {
  roundtrip("u32.bin", 4, 200000);
}

/* Files of a glob are one stream in name order (not creation order); empty files and mixed
 * widths are fine; reads span file boundaries. */
static void test_shard_glob_concat(void) {
  mkdir(test_tpath("cat"), 0755);
  uint32_t *a = ramp(100, 1, 0, 1u << 30), *b = ramp(50, 1, 100, 1u << 30);
  CU_ASSERT_EQUAL_FATAL(slt_shard_write(test_tpath("cat/s_1.bin"), b, 50, 4), 0);
  CU_ASSERT_EQUAL_FATAL(slt_shard_write(test_tpath("cat/s_0a.bin"), NULL, 0, 2), 0);
  CU_ASSERT_EQUAL_FATAL(slt_shard_write(test_tpath("cat/s_0.bin"), a, 100, 2), 0);
  slt_shards *s = slt_shards_open(test_tpath("cat/s_*.bin"), 1000);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  CU_ASSERT_EQUAL(slt_shards_files(s), 3);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_shards_path(s, 0), "s_0.bin"));
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_shards_path(s, 2), "s_1.bin"));
  CU_ASSERT_EQUAL(slt_shards_tokens(s), 150);
  int32_t out[150];
  CU_ASSERT_EQUAL(slt_shards_read(s, 0, 150, out), 0);
  int bad = 0;
  for (int i = 0; i < 150; i++) bad += out[i] != i;
  CU_ASSERT_EQUAL(bad, 0);
  CU_ASSERT_EQUAL(slt_shards_read(s, 95, 10, out), 0);
  CU_ASSERT(out[0] == 95 && out[5] == 100 && out[9] == 104);
  slt_shards_close(s);
  free(a);
  free(b);
}

static void test_shard_write_atomic(void) {
  mkdir(test_tpath("w"), 0755);
  uint32_t big[3] = {1, 70000, 2};
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_shard_write(test_tpath("w/x.bin"), big, 3, 2), -1);
  CU_ASSERT(test_err_has("w/x.bin", "70000"));
  CU_ASSERT_EQUAL(entries_in(test_tpath("w")), 0); /* neither the file nor a temporary */
  CU_ASSERT_EQUAL(slt_shard_write(test_tpath("w/x.bin"), big, 3, 3), -1);
  CU_ASSERT_EQUAL(slt_shard_write(test_tpath("nodir/x.bin"), big, 3, 4), -1);
  CU_ASSERT(test_err_has("nodir/x.bin", NULL));
  /* overwriting replaces the whole file */
  uint32_t one[1] = {5};
  CU_ASSERT_EQUAL(slt_shard_write(test_tpath("w/x.bin"), big, 3, 4), 0);
  CU_ASSERT_EQUAL(slt_shard_write(test_tpath("w/x.bin"), one, 1, 2), 0);
  CU_ASSERT_EQUAL(entries_in(test_tpath("w")), 1);
  slt_shards *s = slt_shards_open(test_tpath("w/x.bin"), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  int32_t v = -1;
  CU_ASSERT(slt_shards_tokens(s) == 1 && slt_shards_read(s, 0, 1, &v) == 0 && v == 5);
  slt_shards_close(s);
}

static void patch_i32(const char *path, int index, int32_t v) {
  int fd = open(path, O_WRONLY);
  CU_ASSERT(fd >= 0 && pwrite(fd, &v, 4, index * 4) == 4);
  close(fd);
}

/* A fresh valid uint16 shard of 1,000 tokens (< 256) named name; returns its path. */
static const char *good_shard(const char *name) {
  uint32_t *t = ramp(1000, 13, 0, 256);
  const char *p = test_tpath(name);
  CU_ASSERT_EQUAL(slt_shard_write(p, t, 1000, 2), 0);
  free(t);
  return p;
}

/* Opening pattern fails, naming `name` and the given detail. */
static void expect_bad(const char *pattern, int vocab, const char *name, const char *detail) {
  slt_err_clear();
  slt_shards *s = slt_shards_open(pattern, vocab);
  CU_ASSERT_PTR_NULL(s);
  slt_shards_close(s);
  CU_ASSERT(test_err_has(name, detail));
}

static void test_shard_bad(void) {
  mkdir(test_tpath("bad"), 0755);
  patch_i32(good_shard("bad/magic.bin"), 0, 12345);
  expect_bad(test_tpath("bad/magic.bin"), 0, "bad/magic.bin", "magic 12345");
  patch_i32(good_shard("bad/version.bin"), 1, 7);
  expect_bad(test_tpath("bad/version.bin"), 0, "bad/version.bin", "version");
  CU_ASSERT_EQUAL(truncate(good_shard("bad/trunc.bin"), 3021), 0);
  expect_bad(test_tpath("bad/trunc.bin"), 0, "bad/trunc.bin",
             "truncated: header says 1,000 tokens (3,024 bytes) but file has 3,021 bytes");
  CU_ASSERT_EQUAL(truncate(good_shard("bad/extra.bin"), 3026), 0);
  expect_bad(test_tpath("bad/extra.bin"), 0, "bad/extra.bin", "extra bytes");
  CU_ASSERT_EQUAL(truncate(good_shard("bad/short.bin"), 100), 0);
  expect_bad(test_tpath("bad/short.bin"), 0, "bad/short.bin", "truncated");
  patch_i32(good_shard("bad/negative.bin"), 2, -5);
  expect_bad(test_tpath("bad/negative.bin"), 0, "bad/negative.bin", "negative");
  /* token 17 is 300: fine without a vocabulary, an error with vocab 256 or 300 */
  uint32_t *t = ramp(1000, 13, 0, 256);
  t[17] = 300;
  CU_ASSERT_EQUAL(slt_shard_write(test_tpath("bad/vocab.bin"), t, 1000, 2), 0);
  slt_shards *ok = slt_shards_open(test_tpath("bad/vocab.bin"), 0);
  CU_ASSERT_PTR_NOT_NULL(ok);
  slt_shards_close(ok);
  expect_bad(test_tpath("bad/vocab.bin"), 256, "bad/vocab.bin",
             "token 17 (byte offset 1,058) is 300");
  expect_bad(test_tpath("bad/vocab.bin"), 300, "bad/vocab.bin", "vocabulary size 300");
  ok = slt_shards_open(test_tpath("bad/vocab.bin"), 301);
  CU_ASSERT_PTR_NOT_NULL(ok);
  slt_shards_close(ok);
  t[17] = 1u << 31; /* uint32 shards must fit int32 even without a vocabulary */
  CU_ASSERT_EQUAL(slt_shard_write(test_tpath("bad/vocab32.bin"), t, 1000, 4), 0);
  expect_bad(test_tpath("bad/vocab32.bin"), 0, "bad/vocab32.bin", "int32");
  free(t);
  expect_bad(test_tpath("bad/none_*.bin"), 0, "bad/none_*.bin", "no files match");
  /* one bad file among good ones: the bad one is named */
  mkdir(test_tpath("mix"), 0755);
  good_shard("mix/a.bin");
  patch_i32(good_shard("mix/b.bin"), 0, 1);
  good_shard("mix/c.bin");
  expect_bad(test_tpath("mix/*.bin"), 0, "mix/b.bin", "magic");
}

/* Files a glob can match that are not shards: a directory, a FIFO (opening it must not wait
 * for a writer: the alarm ends the test if it does), and one shard twice through a link. */
static void test_shard_not_files(void) {
  mkdir(test_tpath("odd"), 0755);
  mkdir(test_tpath("odd/dir.bin"), 0755);
  expect_bad(test_tpath("odd/dir.bin"), 0, "odd/dir.bin", "not a regular file (a directory)");
  CU_ASSERT_EQUAL_FATAL(mkfifo(test_tpath("odd/fifo.bin"), 0644), 0);
  alarm(20);
  expect_bad(test_tpath("odd/fifo.bin"), 0, "odd/fifo.bin", "FIFO");
  alarm(0);
  mkdir(test_tpath("link"), 0755);
  good_shard("link/a.bin");
  CU_ASSERT_EQUAL_FATAL(symlink(test_tpath("link/a.bin"), test_tpath("link/b.bin")), 0);
  expect_bad(test_tpath("link/*.bin"), 0, "link/b.bin", "the same file as");
  CU_ASSERT_EQUAL_FATAL(link(test_tpath("link/a.bin"), test_tpath("link/c.bin")), 0);
  CU_ASSERT_EQUAL(unlink(test_tpath("link/b.bin")), 0);
  expect_bad(test_tpath("link/*.bin"), 0, "link/c.bin", "link/a.bin");
}

/* A shard changed after it was opened: truncated, reading the lost pages is an error naming the
 * file, not a SIGBUS; rewritten in place with a token beyond the vocabulary, an error too. */
static void test_shard_changed(void) {
  const char *p = good_shard("changed.bin"); /* 1,000 tokens below 256 */
  slt_shards *s = slt_shards_open(p, 256);
  CU_ASSERT_PTR_NOT_NULL_FATAL(s);
  int32_t out[10];
  CU_ASSERT_EQUAL(slt_shards_read(s, 990, 10, out), 0);
  patch_i32(p, 256 + 497, 300 | 7 << 16); /* tokens 994 and 995 become 300 and 7 */
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_shards_read(s, 990, 10, out), -1);
  CU_ASSERT(test_err_has("changed.bin: the file changed while in use", "token 994"));
  CU_ASSERT(test_err_has("is now 300, not below the vocabulary size 256", NULL));
  CU_ASSERT_EQUAL(slt_shards_read(s, 0, 10, out), 0); /* the untouched part still reads */
  CU_ASSERT_EQUAL_FATAL(truncate(p, 0), 0);
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_shards_read(s, 990, 10, out), -1);
  CU_ASSERT(test_err_has("changed.bin: the file changed while in use", "now 0 bytes, 3,024"));
  slt_shards_close(s);
}

/* ---------------- synthetic Markov source ---------------- */

/* The table and π are consistent: rows sum to 1, π sums to 1 and π·P = π, H = Σ π·H(row). */
static void test_markov_tables(void) {
  slt_markov *m = slt_markov_new(5, 2, 0.3, 11);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  const int V = 5;
  const int64_t n = slt_markov_contexts(m);
  CU_ASSERT_EQUAL(n, 25);
  const double *pi = slt_markov_stationary(m);
  double next[25] = {0}, p[5], h = 0, pisum = 0, worst = 0;
  for (int64_t c = 0; c < n; c++) {
    slt_markov_probs(m, c, p);
    double s = 0, hc = 0;
    for (int y = 0; y < V; y++) {
      CU_ASSERT(p[y] >= 0);
      s += p[y];
      hc -= p[y] > 0 ? p[y] * log(p[y]) : 0;
      next[(c % V) * V + y] += pi[c] * p[y]; /* context (a, b) -> (b, y) */
    }
    worst = fmax(worst, fabs(s - 1));
    h += pi[c] * hc;
    pisum += pi[c];
  }
  CU_ASSERT(worst < 1e-12);
  CU_ASSERT(fabs(pisum - 1) < 1e-12);
  double err = 0;
  for (int c = 0; c < 25; c++) err = fmax(err, fabs(next[c] - pi[c]));
  CU_ASSERT(err < 1e-12);
  CU_ASSERT(fabs(h - slt_markov_entropy_rate(m)) < 1e-12);
  CU_ASSERT(h > 0.1 && h < log(5.0));
  slt_markov_free(m);
}

/* Chi-square of observed vs expected counts over cells with expectation >= 5; returns the
 * statistic and sets *df. */
static double chi2(const double *obs, const double *expect, int n, int *df) {
  double x = 0;
  *df = -1;
  for (int i = 0; i < n; i++)
    if (expect[i] >= 5) {
      x += (obs[i] - expect[i]) * (obs[i] - expect[i]) / expect[i];
      (*df)++;
    }
  return x;
}

/* Sampled transitions (and first contexts) follow the table and π. For df ≈ 18–27 the bound
 * df + 6·sqrt(2·df) is exceeded by chance with probability < 1e-5; an off-by-one in the sampler
 * moves whole probabilities between tokens and lands in the thousands. */
static void test_markov_sampling(void) {
  const int V = 3, k = 2, rows = 2000, len = 200;
  slt_markov *m = slt_markov_new(V, k, 0.7, 5);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  double obs[27] = {0}, seen[9] = {0}, first[9] = {0};
  int32_t *out = malloc((size_t)rows * len * sizeof *out);
  slt_markov_rows(m, 0, rows, len, out);
  for (int r = 0; r < rows; r++) {
    const int32_t *o = out + (int64_t)r * len;
    first[o[0] * V + o[1]]++;
    for (int i = k; i < len; i++) {
      int c = o[i - 2] * V + o[i - 1];
      obs[c * V + o[i]]++;
      seen[c]++;
    }
  }
  double expect[27], p[3], pexp[9];
  for (int c = 0; c < 9; c++) {
    slt_markov_probs(m, c, p);
    for (int y = 0; y < V; y++) expect[c * V + y] = seen[c] * p[y];
    pexp[c] = rows * slt_markov_stationary(m)[c];
  }
  int df, df0;
  double x = chi2(obs, expect, 27, &df), x0 = chi2(first, pexp, 9, &df0);
  df -= 8; /* one constraint per context beyond the first */
  if (x > df + 6 * sqrt(2.0 * df) || x0 > df0 + 6 * sqrt(2.0 * df0) + 10)
    printf("\n  chi2 transitions %.1f (df %d), first context %.1f (df %d)\n", x, df, x0, df0);
  CU_ASSERT(df >= 15 && x < df + 6 * sqrt(2.0 * df));
  CU_ASSERT(x0 < df0 + 6 * sqrt(2.0 * df0) + 10);
  free(out);
  slt_markov_free(m);
}

static double h2(double p) {
  return -p * log(p) - (1 - p) * log(1 - p);
}

static void test_markov_entropy_known(void) {
  /* α huge: every row near uniform, H ≈ log V */
  slt_markov *m = slt_markov_new(16, 1, 1e6, 3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  CU_ASSERT(fabs(slt_markov_entropy_rate(m) - log(16.0)) < 1e-3);
  slt_markov_free(m);
  /* two states: π = (0.75, 0.25) */
  m = slt_markov_from_table(2, 1, (double[]){0.9, 0.1, 0.3, 0.7}, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  CU_ASSERT(fabs(slt_markov_stationary(m)[0] - 0.75) < 1e-9);
  CU_ASSERT(fabs(slt_markov_entropy_rate(m) - (0.75 * h2(0.1) + 0.25 * h2(0.3))) < 1e-8);
  slt_markov_free(m);
  /* periodic (0 -> 1 or 2 -> 0): plain power iteration from uniform would oscillate forever */
  m = slt_markov_from_table(3, 1, (double[]){0, 0.5, 0.5, 1, 0, 0, 1, 0, 0}, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  const double *pi = slt_markov_stationary(m);
  CU_ASSERT(fabs(pi[0] - 0.5) < 1e-9 && fabs(pi[1] - 0.25) < 1e-9 && fabs(pi[2] - 0.25) < 1e-9);
  CU_ASSERT(fabs(slt_markov_entropy_rate(m) - 0.5 * log(2.0)) < 1e-9);
  slt_markov_free(m);
  /* deterministic 2-cycle: H = 0 and rows alternate */
  m = slt_markov_from_table(2, 1, (double[]){0, 1, 1, 0}, 9);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  CU_ASSERT(slt_markov_entropy_rate(m) == 0);
  int32_t row[20];
  slt_markov_row(m, 4, 20, row);
  int alt = 1;
  for (int i = 1; i < 20; i++) alt &= row[i] == 1 - row[i - 1];
  CU_ASSERT(alt);
  slt_markov_free(m);
  /* order 0: i.i.d. tokens */
  m = slt_markov_from_table(4, 0, (double[]){0.5, 0.25, 0.125, 0.125}, 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  CU_ASSERT(fabs(slt_markov_entropy_rate(m) - 1.75 * log(2.0)) < 1e-12);
  CU_ASSERT(fabs(slt_markov_floor(m, 10) - 1.75 * log(2.0)) < 1e-12);
  slt_markov_free(m);
}

static double entropy(const double *p, int n) {
  double h = 0;
  for (int i = 0; i < n; i++) h -= p[i] > 0 ? p[i] * log(p[i]) : 0;
  return h;
}

/* floor(T): for k = 1 every prediction has full context so it is H; for k = 2 only the first
 * (j = 1) costs h1 = H(X0,X1) - H(X0) > H; and a Monte Carlo average of the ideal predictor's
 * log-loss over sampled rows agrees with it. */
static void test_markov_floor(void) {
  slt_markov *m = slt_markov_new(6, 1, 0.5, 4);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  double H = slt_markov_entropy_rate(m);
  CU_ASSERT(fabs(slt_markov_floor(m, 1) - H) < 1e-12 && fabs(slt_markov_floor(m, 256) - H) < 1e-12);
  CU_ASSERT(isnan(slt_markov_floor(m, 0)));
  slt_markov_free(m);

  enum { V = 4, T = 5, ROWS = 20000 };
  m = slt_markov_new(V, 2, 0.5, 8);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  H = slt_markov_entropy_rate(m);
  const double *pi = slt_markov_stationary(m); /* joint of (X0, X1) */
  double p0[V] = {0};
  for (int c = 0; c < V * V; c++) p0[c / V] += pi[c];
  const double h1 = entropy(pi, V * V) - entropy(p0, V);
  CU_ASSERT(h1 > H + 1e-3);
  CU_ASSERT(fabs(slt_markov_floor(m, 1) - h1) < 1e-12);
  for (int t = 1; t <= 300; t += 37)
    CU_ASSERT(fabs(t * slt_markov_floor(m, t) - (t - 1) * H - h1) < 1e-9);
  /* Monte Carlo */
  int32_t row[T + 1];
  double p[V], sum = 0, sq = 0;
  for (int r = 0; r < ROWS; r++) {
    slt_markov_row(m, (uint64_t)r, T + 1, row);
    double nll = -log(pi[row[0] * V + row[1]] / p0[row[0]]);
    for (int j = 2; j <= T; j++) {
      slt_markov_probs(m, row[j - 2] * V + row[j - 1], p);
      nll -= log(p[row[j]]);
    }
    sum += nll / T;
    sq += (nll / T) * (nll / T);
  }
  double mean = sum / ROWS, sd = sqrt(sq / ROWS - mean * mean);
  CU_ASSERT(fabs(mean - slt_markov_floor(m, T)) < 5 * sd / sqrt(ROWS));
  slt_markov_free(m);
}

/* Same (seed, row) -> same tokens, whatever the thread count; other seeds and rows differ. */
static void test_markov_determinism(void) {
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  slt_markov *a = slt_markov_new(64, 2, 0.2, 42);
  omp_set_num_threads(3);
  slt_markov *b = slt_markov_new(64, 2, 0.2, 42);
  slt_markov *c = slt_markov_new(64, 2, 0.2, 43);
  omp_set_num_threads(threads);
  CU_ASSERT_FATAL(a && b && c);
  CU_ASSERT(slt_markov_entropy_rate(a) == slt_markov_entropy_rate(b));
  CU_ASSERT(slt_markov_entropy_rate(a) != slt_markov_entropy_rate(c));
  CU_ASSERT(memcmp(slt_markov_stationary(a), slt_markov_stationary(b), 4096 * sizeof(double)) == 0);
  int32_t r1[12 * 100], r2[12 * 100], r3[100];
  slt_markov_rows(a, 1000, 12, 100, r1); /* rows in lockstep equal rows one by one */
  for (int i = 0; i < 12; i++) slt_markov_row(b, 1000 + (uint64_t)i, 100, r2 + i * 100);
  CU_ASSERT(memcmp(r1, r2, sizeof r1) == 0);
  slt_markov_row(a, 1000, 100, r3);
  CU_ASSERT(memcmp(r1, r3, sizeof r3) == 0);
  CU_ASSERT(memcmp(r1, r1 + 100, sizeof r3) != 0); /* rows differ */
  slt_markov_row(c, 1000, 100, r3);
  CU_ASSERT(memcmp(r1, r3, sizeof r3) != 0); /* seeds differ */
  slt_markov_free(a);
  slt_markov_free(b);
  slt_markov_free(c);
}

static void test_markov_errors(void) {
  slt_err_clear();
  CU_ASSERT_PTR_NULL(slt_markov_new(256, 3, 0.1, 1));
  CU_ASSERT(test_err_has("vocab 256, order 3", "2^26"));
  CU_ASSERT_PTR_NULL(slt_markov_new(16, 1, 0, 1));
  CU_ASSERT(test_err_has("alpha", NULL));
  /* a subnormal alpha overflowed the draws to -inf: NaN rows, a negative entropy rate */
  CU_ASSERT_PTR_NULL(slt_markov_new(16, 1, 5e-324, 1));
  CU_ASSERT(test_err_has("alpha must be a finite number >= 1e-300", "4.94066e-324"));
  CU_ASSERT_PTR_NULL(slt_markov_new(16, 1, NAN, 1));
  CU_ASSERT(test_err_has("alpha", "nan"));
  slt_markov *tiny = slt_markov_new(16, 0, 1e-300, 1); /* the smallest allowed still works */
  CU_ASSERT_PTR_NOT_NULL_FATAL(tiny);
  CU_ASSERT(slt_markov_entropy_rate(tiny) >= 0 && slt_markov_entropy_rate(tiny) < 1e-6);
  slt_markov_free(tiny);
  CU_ASSERT_PTR_NULL(slt_markov_new(0, 1, 1, 1));
  CU_ASSERT(test_err_has("vocab", NULL));
  CU_ASSERT_PTR_NULL(slt_markov_from_table(2, 1, (double[]){0.5, 0.5, 0.5, 0.6}, 1));
  CU_ASSERT(test_err_has("context 1", "sums to"));
  CU_ASSERT_PTR_NULL(slt_markov_from_table(2, 1, (double[]){0.5, 0.5, 1.5, -0.5}, 1));
  CU_ASSERT(test_err_has("context 1", "not a probability"));
}

/* ---------------- loader ---------------- */

/* A uint32 shard whose token i is i: a row's first token names the row (row = x[0] / T). */
static const char *index_shard(const char *name, int64_t n) {
  uint32_t *t = ramp(n, 1, 0, 1u << 30);
  const char *p = test_tpath(name);
  CU_ASSERT_EQUAL(slt_shard_write(p, t, n, 4), 0);
  free(t);
  return p;
}

static slt_loader_cfg cfg_of(int T, int B, int ga, int rank, int world, bool shuffle) {
  return (slt_loader_cfg){.seq_len = T,
                          .micro_batch = B,
                          .grad_accum = ga,
                          .rank = rank,
                          .world = world,
                          .seed = 77,
                          .shuffle = shuffle};
}

/* Unshuffled: global row g reads stream rows g mod rows; x and y are shifted by one. */
static void test_loader_rows(void) {
  const int T = 8, B = 3;
  slt_loader_cfg cfg = cfg_of(T, B, 2, 0, 1, false);
  slt_loader *l = slt_loader_new_shards(index_shard("rows.bin", 1000), NULL, 0, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_EQUAL(slt_loader_rows(l), 124); /* (1000 - 1) / 8 */
  int32_t x[B * T], y[B * T];
  int bad = 0;
  for (int64_t step = 0; step < 50; step++)
    for (int m = 0; m < 2; m++) {
      CU_ASSERT_EQUAL_FATAL(slt_loader_batch(l, step, m, x, y), 0);
      for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
          int64_t g = (step * 2 + m) * B + b, tok = g % 124 * T + t;
          bad += x[b * T + t] != tok || y[b * T + t] != tok + 1;
        }
    }
  CU_ASSERT_EQUAL(bad, 0);
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_loader_batch(l, 0, 2, x, y), -1);
  CU_ASSERT_EQUAL(slt_loader_val_batch(l, 0, x, y), -1);
  CU_ASSERT(test_err_has("validation", NULL));
  slt_loader_free(l);
}

/* Invariant: for every (step, micro step), world 1 with micro-batch 2B reads exactly rank 0's
 * B rows followed by rank 1's (world 2, micro-batch B); so the ranks' rows are disjoint, and in
 * the first epoch every row is read exactly once over all ranks. Shuffled, several epochs. */
static void test_loader_ranks(void) {
  enum { T = 4, B = 3, ROWS = 50 };
  const char *p = index_shard("ranks.bin", ROWS * T + 1);
  slt_loader_cfg c0 = cfg_of(T, B, 2, 0, 2, true), c1 = cfg_of(T, B, 2, 1, 2, true),
                 cw = cfg_of(T, 2 * B, 2, 0, 1, true);
  slt_loader *r0 = slt_loader_new_shards(p, NULL, 0, &c0),
             *r1 = slt_loader_new_shards(p, NULL, 0, &c1),
             *w1 = slt_loader_new_shards(p, NULL, 0, &cw);
  CU_ASSERT_FATAL(r0 && r1 && w1);
  int32_t x0[B * T], y0[B * T], x1[B * T], y1[B * T], xw[2 * B * T], yw[2 * B * T];
  int same = 0, total = 0, count[ROWS] = {0};
  for (int64_t g0 = 0, step = 0; step < 20; step++)
    for (int m = 0; m < 2; m++, g0 += 2 * B) {
      CU_ASSERT_FATAL(!slt_loader_batch(r0, step, m, x0, y0) &&
                      !slt_loader_batch(r1, step, m, x1, y1) &&
                      !slt_loader_batch(w1, step, m, xw, yw));
      same += !memcmp(xw, x0, sizeof x0) && !memcmp(xw + B * T, x1, sizeof x1) &&
              !memcmp(yw, y0, sizeof y0) && !memcmp(yw + B * T, y1, sizeof y1);
      total++;
      for (int b = 0; b < 2 * B; b++)
        if (g0 + b < ROWS) count[xw[b * T] / T]++;
    }
  CU_ASSERT_EQUAL(same, total);
  int once = 0;
  for (int r = 0; r < ROWS; r++) once += count[r] == 1;
  CU_ASSERT_EQUAL(once, ROWS);
  slt_loader_free(r0);
  slt_loader_free(r1);
  slt_loader_free(w1);
}

/* Each epoch reads every row exactly once, in an order that changes with the epoch and seed. */
static void check_perm(int64_t rows, uint64_t seed) {
  int T = 1;
  char name[32];
  snprintf(name, sizeof name, "perm%lld.bin", (long long)rows);
  slt_loader_cfg cfg = cfg_of(T, 1, 1, 0, 1, true);
  cfg.seed = seed;
  slt_loader *l = slt_loader_new_shards(index_shard(name, rows + 1), NULL, 0, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_EQUAL(slt_loader_rows(l), rows);
  int64_t *ord = malloc(3 * rows * sizeof *ord);
  char *hit = malloc(rows);
  int ok = 1;
  for (int e = 0; e < 3; e++) {
    memset(hit, 0, rows);
    for (int64_t i = 0; i < rows; i++) {
      int64_t r = ord[e * rows + i] = slt_loader_row_index(l, e * rows + i);
      ok &= r >= 0 && r < rows && !hit[r];
      if (r >= 0 && r < rows) hit[r] = 1;
    }
  }
  CU_ASSERT(ok);
  if (rows >= 20) {
    int moved = 0, diff = 0;
    for (int64_t i = 0; i < rows; i++) moved += ord[i] != i, diff += ord[i] != ord[rows + i];
    CU_ASSERT(moved > rows / 2 && diff > rows / 2);
    int32_t x, y; /* the batch reads the permuted row */
    CU_ASSERT(slt_loader_batch(l, 5, 0, &x, &y) == 0 && x == ord[5] && y == ord[5] + 1);
  }
  free(ord);
  free(hit);
  slt_loader_free(l);
}

static void test_loader_shuffle(void) {
  for (int64_t rows = 1; rows <= 5; rows++) check_perm(rows, 1);
  check_perm(37, 1);
  check_perm(1000, 2);
  check_perm(1025, 3);
  /* a different seed gives a different order */
  slt_loader_cfg ca = cfg_of(1, 1, 1, 0, 1, true), cb = ca;
  cb.seed = 78;
  const char *p = test_tpath("perm1000.bin");
  slt_loader *a = slt_loader_new_shards(p, NULL, 0, &ca),
             *b = slt_loader_new_shards(p, NULL, 0, &cb);
  CU_ASSERT_FATAL(a && b);
  int diff = 0;
  for (int i = 0; i < 1000; i++) diff += slt_loader_row_index(a, i) != slt_loader_row_index(b, i);
  CU_ASSERT(diff > 500);
  slt_loader_free(a);
  slt_loader_free(b);
}

/* Run n micro-batches from l, returning them concatenated (x then y per batch). */
static int32_t *run(slt_loader *l, int n, int bt) {
  int32_t *out = malloc((size_t)n * 2 * bt * sizeof *out);
  for (int i = 0; i < n; i++)
    CU_ASSERT_EQUAL(slt_loader_next(l, out + 2 * i * bt, out + (2 * i + 1) * bt), 0);
  return out;
}

static void check_resume(slt_loader *a, slt_loader *b, int bt) {
  free(run(a, 7, bt));
  slt_loader_cursor c = slt_loader_get_cursor(a);
  CU_ASSERT(c.step == 2 && c.micro_step == 1 && c.rows == 7 * 2 * 2); /* ga 3, B 2, world 2 */
  CU_ASSERT_EQUAL_FATAL(slt_loader_set_cursor(b, &c), 0);
  int32_t *ra = run(a, 9, bt), *rb = run(b, 9, bt);
  CU_ASSERT(memcmp(ra, rb, (size_t)9 * 2 * bt * sizeof *ra) == 0);
  free(ra);
  free(rb);
}

/* A restored cursor continues identically; one from another seed or layout is refused. */
static void test_loader_cursor(void) {
  enum { T = 5, B = 2 };
  const char *p = index_shard("cursor.bin", 23 * T + 1);
  slt_loader_cfg cfg = cfg_of(T, B, 3, 1, 2, true);
  slt_loader *a = slt_loader_new_shards(p, NULL, 0, &cfg),
             *b = slt_loader_new_shards(p, NULL, 0, &cfg);
  CU_ASSERT_FATAL(a && b);
  check_resume(a, b, B * T);
  slt_loader_cursor c = slt_loader_get_cursor(a);
  CU_ASSERT(c.epoch == c.rows / 23 && c.epoch > 0);
  slt_loader_cfg other = cfg;
  other.micro_batch = 4;
  slt_loader *d = slt_loader_new_shards(p, NULL, 0, &other);
  slt_err_clear();
  CU_ASSERT_EQUAL(slt_loader_set_cursor(d, &c), -1);
  CU_ASSERT(test_err_has("cursor", "micro_batch 4"));
  c.seed++;
  CU_ASSERT_EQUAL(slt_loader_set_cursor(b, &c), -1);
  slt_loader_free(a);
  slt_loader_free(b);
  slt_loader_free(d);
  /* synthetic */
  slt_markov *m = slt_markov_new(8, 2, 0.5, 3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  a = slt_loader_new_synthetic(m, &cfg);
  b = slt_loader_new_synthetic(m, &cfg);
  CU_ASSERT_FATAL(a && b);
  check_resume(a, b, B * T);
  slt_loader_free(a);
  slt_loader_free(b);
  slt_markov_free(m);
}

/* Validation batches read fixed rows in order, unaffected by shuffling or training progress. */
static void test_loader_val(void) {
  enum { T = 4, B = 2 };
  const char *tr = index_shard("vtrain.bin", 40 * T + 1), *va = index_shard("vval.bin", 9 * T + 1);
  slt_loader_cfg cfg = cfg_of(T, B, 1, 1, 2, true);
  slt_loader *l = slt_loader_new_shards(tr, va, 0, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_EQUAL(slt_loader_val_rows(l), 9);
  int32_t x[B * T], y[B * T], before[4][B * T];
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(slt_loader_val_batch(l, i, before[i], y), 0);
    for (int b = 0; b < B; b++) /* rank 1 of 2: rows (i·2 + 1)·B + b, wrapping at 9 */
      CU_ASSERT_EQUAL(before[i][b * T], ((i * 2 + 1) * B + b) % 9 * T);
  }
  free(run(l, 10, B * T));
  for (int i = 0; i < 4; i++) {
    CU_ASSERT_EQUAL(slt_loader_val_batch(l, i, x, y), 0);
    CU_ASSERT(memcmp(x, before[i], sizeof x) == 0);
  }
  slt_loader_free(l);
}

/* Synthetic: train row g is slt_markov_row(g); val rows are another, fixed row space. */
static void test_loader_synthetic(void) {
  enum { T = 16, B = 3 };
  slt_markov *m = slt_markov_new(10, 2, 0.3, 12);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  slt_loader_cfg cfg = cfg_of(T, B, 2, 1, 2, false);
  slt_loader *l = slt_loader_new_synthetic(m, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  int32_t x[B * T], y[B * T], row[T + 1];
  CU_ASSERT_EQUAL(slt_loader_batch(l, 3, 1, x, y), 0);
  int bad = 0;
  for (int b = 0; b < B; b++) {
    slt_markov_row(m, (uint64_t)(((3 * 2 + 1) * 2 + 1) * B + b), T + 1, row);
    bad += memcmp(x + b * T, row, T * 4) != 0 || memcmp(y + b * T, row + 1, T * 4) != 0;
  }
  CU_ASSERT_EQUAL(bad, 0);
  int32_t v1[B * T], v2[B * T];
  CU_ASSERT(slt_loader_val_batch(l, 2, v1, y) == 0 && slt_loader_val_batch(l, 2, v2, y) == 0);
  CU_ASSERT(memcmp(v1, v2, sizeof v1) == 0);
  slt_markov_row(m, (UINT64_C(1) << 62) + (2 * 2 + 1) * B, T + 1, row);
  CU_ASSERT(memcmp(v1, row, T * 4) == 0);
  slt_markov_row(m, (2 * 2 + 1) * B, T + 1, row); /* the train row of the same index differs */
  CU_ASSERT(memcmp(v1, row, T * 4) != 0);
  CU_ASSERT_EQUAL(slt_loader_rows(l), -1);
  slt_loader_free(l);
  slt_markov_free(m);
}

static void test_loader_errors(void) {
  slt_loader_cfg cfg = cfg_of(8, 2, 1, 0, 1, false);
  const char *p = index_shard("tiny.bin", 8), *ok = index_shard("errs.bin", 1000); /* ids to 999 */
  slt_err_clear();
  CU_ASSERT_PTR_NULL(slt_loader_new_shards(p, NULL, 0, &cfg));
  CU_ASSERT(test_err_has("tiny.bin", "no full row"));
  CU_ASSERT_PTR_NULL(slt_loader_new_shards(ok, test_tpath("nothing*.bin"), 0, &cfg));
  CU_ASSERT(test_err_has("nothing*.bin", "no files match"));
  CU_ASSERT_PTR_NULL(slt_loader_new_shards(ok, NULL, 500, &cfg));
  CU_ASSERT(test_err_has("errs.bin", "vocabulary size 500"));
  cfg.rank = 1;
  CU_ASSERT_PTR_NULL(slt_loader_new_shards(ok, NULL, 0, &cfg));
  CU_ASSERT(test_err_has("rank", NULL));
}

/* A validation file that is also a training file is reported, even under another name. */
static void test_loader_val_in_train(void) {
  slt_loader_cfg cfg = cfg_of(8, 2, 1, 0, 1, false);
  const char *tr = index_shard("vit_train.bin", 1000), *va = index_shard("vit_val.bin", 200);
  slt_loader *l = slt_loader_new_shards(tr, va, 0, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_PTR_NULL(slt_loader_val_in_train(l));
  slt_loader_free(l);
  CU_ASSERT_EQUAL_FATAL(symlink(tr, test_tpath("vit_alias.bin")), 0);
  l = slt_loader_new_shards(tr, test_tpath("vit_alias.bin"), 0, &cfg);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  const char *both = slt_loader_val_in_train(l);
  CU_ASSERT(both && strstr(both, "vit_alias.bin"));
  slt_loader_free(l);
  slt_markov *m = slt_markov_new(4, 1, 0.5, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  l = slt_loader_new_synthetic(m, &cfg); /* no shards: nothing to share */
  CU_ASSERT_PTR_NULL(slt_loader_val_in_train(l));
  slt_loader_free(l);
  slt_markov_free(m);
}

static int suite_init_data(void) {
  return test_tmpdir_init("data");
}

int register_data_suite(void) {
  CU_pSuite s = CU_add_suite("data", suite_init_data, test_tmpdir_cleanup);
  if (!s) return -1;
  return !CU_add_test(s, "shard uint16 round trip", test_shard_u16) ||
                 !CU_add_test(s, "shard uint32 round trip", test_shard_u32) ||
                 !CU_add_test(s, "shard glob is one sorted stream", test_shard_glob_concat) ||
                 !CU_add_test(s, "shard writes are atomic", test_shard_write_atomic) ||
                 !CU_add_test(s, "bad shards are refused by name", test_shard_bad) ||
                 !CU_add_test(s, "non-files and linked shards are refused", test_shard_not_files) ||
                 !CU_add_test(s, "a shard changed while open is an error", test_shard_changed) ||
                 !CU_add_test(s, "markov tables and stationarity", test_markov_tables) ||
                 !CU_add_test(s, "markov sampler follows the table", test_markov_sampling) ||
                 !CU_add_test(s, "markov entropy of known chains", test_markov_entropy_known) ||
                 !CU_add_test(s, "markov loss floor", test_markov_floor) ||
                 !CU_add_test(s, "markov determinism", test_markov_determinism) ||
                 !CU_add_test(s, "markov errors", test_markov_errors) ||
                 !CU_add_test(s, "loader rows and shift", test_loader_rows) ||
                 !CU_add_test(s, "loader ranks slice the global batch", test_loader_ranks) ||
                 !CU_add_test(s, "loader epoch permutation", test_loader_shuffle) ||
                 !CU_add_test(s, "loader cursor save/restore", test_loader_cursor) ||
                 !CU_add_test(s, "loader fixed validation batches", test_loader_val) ||
                 !CU_add_test(s, "loader synthetic rows", test_loader_synthetic) ||
                 !CU_add_test(s, "loader errors", test_loader_errors) ||
                 !CU_add_test(s, "loader reports val files in train", test_loader_val_in_train)
             ? -1
             : 0;
}
