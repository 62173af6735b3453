/* Tokenizers: GPT-2 BPE against the known Tiny Shakespeare figure and against fixtures from an
 * independent Python reference (tests/reference/gpt2_bpe_reference.py), byte-exact round trips
 * of every shared data file and of random bytes, EOT handling, the bytes tokenizer, concurrent
 * encoding, and loading errors on small hand-made vocabularies in a mkdtemp directory. */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "data/bpe.h"
#include "data/tokenizer.h"
#include "fixtures/gpt2_bpe_cases.h"

#include <fcntl.h>
#include <ftw.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char tmpdir[64];
static slt_tokenizer *gpt2_tok; /* loaded once, on first use */

static int suite_init(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/slt_tok_XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static int suite_cleanup(void) {
  slt_tokenizer_free(gpt2_tok);
  gpt2_tok = NULL;
  return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* data dir / rel, or NULL (and a SKIPPED line) without the shared data. */
static const char *data_path(const char *test, const char *rel) {
  static char buf[4][1024];
  static int next;
  const char *dir = test_data_dir(test);
  if (!dir) return NULL;
  char *p = buf[next++ % 4];
  snprintf(p, 1024, "%s/%s", dir, rel);
  return p;
}

static slt_tokenizer *gpt2(const char *test) {
  const char *dir = data_path(test, "gpt2");
  if (dir && !gpt2_tok) {
    gpt2_tok = slt_tokenizer_gpt2_load(dir);
    if (!gpt2_tok) printf("\n  load %s: %s\n", dir, slt_err_msg());
    CU_ASSERT_PTR_NOT_NULL(gpt2_tok);
  }
  return dir ? gpt2_tok : NULL;
}

static char *read_all(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  char *buf = malloc(len > 0 ? (size_t)len : 1);
  *n = buf ? fread(buf, 1, (size_t)len, f) : 0;
  fclose(f);
  return buf;
}

/* tmpdir/name := text. O_NOFOLLOW: tmpdir also holds symlinks to the shared data, which a
 * write must never go through. */
static void write_file(const char *name, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0600);
  CU_ASSERT_FATAL(fd >= 0);
  size_t n = strlen(text);
  CU_ASSERT(write(fd, text, n) == (ssize_t)n);
  close(fd);
}

/* encode then decode gives the input back; returns the token count (-1 on failure). */
static int64_t round_trip(const slt_tokenizer *t, slt_tokenizer_state *st, const char *text,
                          size_t n, const char *label) {
  slt_tokens ids = {0};
  slt_bytebuf back = {0};
  int ok = slt_tokenizer_encode(t, st, text, n, 0, &ids) == 0 &&
           slt_tokenizer_decode(t, ids.ids, ids.n, &back) == 0 && back.n == (int64_t)n &&
           (!n || !memcmp(back.data, text, n));
  if (!ok) printf("\n  %s round trip failed (%zu bytes): %s\n", label, n, slt_err_msg());
  CU_ASSERT(ok);
  int64_t count = ok ? ids.n : -1;
  slt_tokens_free(&ids);
  slt_bytebuf_free(&back);
  return count;
}

/* ---- GPT-2 on real data ---- */

/* Tiny Shakespeare split at code point floor(0.9 n): 301,966 + 36,059 tokens (SPEC §7), from
 * both file formats, with identical ids. */
static void test_shakespeare_figure(void) {
  slt_tokenizer *oa = gpt2("tokenizer shakespeare"); /* one SKIPPED line when data is missing */
  const char *path = oa ? data_path("tokenizer shakespeare", "tinyshakespeare/input.txt") : NULL;
  if (!path) return;
  /* The Hugging Face pair alone, through symlinks in the temp dir (read-only use). */
  char hf[128], link[256];
  snprintf(hf, sizeof hf, "%s/hf_links", tmpdir);
  mkdir(hf, 0700);
  const char *names[2] = {"vocab.json", "merges.txt"};
  for (int i = 0; i < 2; i++) {
    char target[1024];
    snprintf(target, sizeof target, "%s/gpt2/%s", test_data_dir("x"), names[i]);
    snprintf(link, sizeof link, "%s/%s", hf, names[i]);
    CU_ASSERT(symlink(target, link) == 0);
  }
  slt_tokenizer *hft = slt_tokenizer_gpt2_load(hf);
  CU_ASSERT_PTR_NOT_NULL_FATAL(hft);
  size_t n;
  char *text = read_all(path, &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  size_t chars = 0, split = 0;
  for (size_t i = 0; i < n; i++) chars += ((uint8_t)text[i] & 0xC0) != 0x80;
  for (size_t c = 0, want = chars * 9 / 10; split < n; split++)
    if (((uint8_t)text[split] & 0xC0) != 0x80 && c++ == want) break;
  slt_tokens a[2] = {{0}}, b[2] = {{0}};
  for (int k = 0; k < 2; k++) {
    slt_tokenizer *t = k ? hft : oa;
    CU_ASSERT(slt_tokenizer_encode(t, NULL, text, split, 0, &a[k]) == 0);
    CU_ASSERT(slt_tokenizer_encode(t, NULL, text + split, n - split, 0, &b[k]) == 0);
  }
  printf("\n  train %lld, val %lld tokens\n", (long long)a[0].n, (long long)b[0].n);
  CU_ASSERT_EQUAL(a[0].n, 301966);
  CU_ASSERT_EQUAL(b[0].n, 36059);
  CU_ASSERT(a[1].n == a[0].n && !memcmp(a[0].ids, a[1].ids, a[0].n * sizeof *a[0].ids));
  CU_ASSERT(b[1].n == b[0].n && !memcmp(b[0].ids, b[1].ids, b[0].n * sizeof *b[0].ids));
  CU_ASSERT_EQUAL(slt_tokenizer_vocab_size(hft), 50257);
  CU_ASSERT_EQUAL(slt_tokenizer_eot(hft), 50256);
  for (int k = 0; k < 2; k++) slt_tokens_free(&a[k]), slt_tokens_free(&b[k]);
  slt_tokenizer_free(hft);
  free(text);
}

/* Every case of the Python reference's fixture, ids exact, and back to the same bytes. */
static void test_reference_cases(void) {
  slt_tokenizer *t = gpt2("tokenizer reference cases");
  if (!t) return;
  slt_tokenizer_state *st = slt_tokenizer_state_new(t);
  int ncases = (int)(sizeof gpt2_cases / sizeof *gpt2_cases), bad = 0;
  for (int pass = 0; pass < 2; pass++) /* the second pass answers from the cache */
    for (int c = 0; c < ncases; c++) {
      const gpt2_case *k = &gpt2_cases[c];
      slt_tokens ids = {0};
      CU_ASSERT(slt_tokenizer_encode(t, st, k->text, (size_t)k->len, 0, &ids) == 0);
      if (ids.n != k->n ||
          (k->n && memcmp(ids.ids, gpt2_case_ids + k->first, k->n * sizeof *ids.ids))) {
        printf("\n  case %d (\"%.30s\"): %lld ids, expected %d\n", c, k->text, (long long)ids.n,
               k->n);
        bad++;
      }
      round_trip(t, st, k->text, (size_t)k->len, "reference case");
      slt_tokens_free(&ids);
    }
  CU_ASSERT_EQUAL(bad, 0);
  slt_tokenizer_state_free(st);
}

/* Without JIT (PCRE2 built without it, or no executable memory) the interpreter gives the same
 * ids: the fixture cases and a stretch of Shakespeare, through slt_bpe with jit switched off. */
static void test_no_jit(void) {
  slt_tokenizer *t = gpt2("tokenizer without JIT");
  const char *dir = t ? data_path("x", "gpt2") : NULL;
  const char *path = t ? data_path("x", "tinyshakespeare/input.txt") : NULL;
  if (!dir) return;
  slt_bpe *b = slt_bpe_load(dir);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  b->jit = 0;
  slt_bpe_state *s = slt_bpe_state_new(b);
  int bad = 0;
  for (size_t c = 0; c < sizeof gpt2_cases / sizeof *gpt2_cases; c++) {
    const gpt2_case *k = &gpt2_cases[c];
    slt_tokens ids = {0};
    CU_ASSERT(slt_bpe_encode(b, s, (const uint8_t *)k->text, (size_t)k->len, &ids) == 0);
    bad += ids.n != k->n ||
           (k->n && memcmp(ids.ids, gpt2_case_ids + k->first, k->n * sizeof *ids.ids));
    slt_tokens_free(&ids);
  }
  CU_ASSERT_EQUAL(bad, 0);
  size_t n;
  char *text = read_all(path, &n);
  slt_tokens a = {0}, want = {0};
  n = n < 200000 ? n : 200000;
  CU_ASSERT(slt_bpe_encode(b, s, (const uint8_t *)text, n, &a) == 0);
  CU_ASSERT(slt_tokenizer_encode(t, NULL, text, n, 0, &want) == 0);
  CU_ASSERT(a.n == want.n && a.n > 0 && !memcmp(a.ids, want.ids, a.n * sizeof *a.ids));
  slt_tokens_free(&a), slt_tokens_free(&want);
  free(text);
  slt_bpe_state_free(s);
  slt_bpe_free(b);
}

/* Every file of the shared data, text or binary, comes back byte for byte, with both tokenizers. */
static int64_t files_checked, bytes_checked;
static slt_tokenizer *walk_tok[2];
static slt_tokenizer_state *walk_st[2];

static int check_file(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)ftw;
  if (flag != FTW_F) return 0;
  size_t n;
  char *text = read_all(path, &n);
  CU_ASSERT_PTR_NOT_NULL(text);
  for (int k = 0; k < 2 && text; k++)
    CU_ASSERT(round_trip(walk_tok[k], walk_st[k], text, n, path) >= 0);
  files_checked++;
  bytes_checked += (int64_t)n;
  free(text);
  return 0;
}

static void test_roundtrip_files(void) {
  const char *dir = test_data_dir("tokenizer round trip of data files");
  if (!dir || !gpt2("tokenizer round trip")) return;
  walk_tok[0] = gpt2_tok;
  walk_tok[1] = slt_tokenizer_bytes_new();
  for (int k = 0; k < 2; k++) walk_st[k] = slt_tokenizer_state_new(walk_tok[k]);
  files_checked = bytes_checked = 0;
  CU_ASSERT(nftw(dir, check_file, 16, FTW_PHYS) == 0);
  printf("\n  %lld files, %lld bytes round-tripped\n", (long long)files_checked,
         (long long)bytes_checked);
  CU_ASSERT(files_checked >= 10); /* text, jsonl, parquet and the gpt2 files themselves */
  for (int k = 0; k < 2; k++) slt_tokenizer_state_free(walk_st[k]);
  slt_tokenizer_free(walk_tok[1]);
}

/* Random bytes: uniform, and mostly-valid UTF-8 with stray invalid bytes. */
static void test_roundtrip_random(void) {
  slt_tokenizer *t = gpt2("tokenizer random round trip");
  if (!t) return;
  slt_tokenizer_state *st = slt_tokenizer_state_new(t);
  static const char *frags[] = {
      "a",  " the", "\xc3\xa9", "\xe6\x97\xa5", "\xf0\x9f\x98\x80", " ",    "\n",
      "'s", "9",    "\xff",     "\xc3",         "\xed\xa0\x80",     "\x80", "!"};
  uint64_t x = 12345;
  char buf[4096];
  for (int trial = 0; trial < 400; trial++) {
    size_t n = 0;
    while (n < sizeof buf - 8) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      if (trial % 2) {
        buf[n++] = (char)(x >> 56);
      } else {
        const char *f = frags[(x >> 33) % (sizeof frags / sizeof *frags)];
        memcpy(buf + n, f, strlen(f));
        n += strlen(f);
      }
    }
    if (round_trip(t, st, buf, n, trial % 2 ? "random bytes" : "random fragments") < 0) break;
  }
  slt_tokenizer_state_free(st);
}

/* Long runs (whitespace, punctuation, invalid bytes) neither fail in the regex nor lose bytes;
 * the heap merge agrees with GPT-2's quadratic loop. */
static void test_long_pieces(void) {
  slt_tokenizer *t = gpt2("tokenizer long pieces");
  const char *dir = t ? data_path("tokenizer long pieces", "gpt2") : NULL;
  if (!dir) return;
  slt_bpe *b = slt_bpe_load(dir);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  slt_bpe_state *s = slt_bpe_state_new(b);
  size_t n = 1 << 20;
  char *big = malloc(n + 1);
  const char fill[] = {' ', '!', '\xff', '\n'};
  for (int k = 0; k < 4; k++) {
    memset(big, fill[k], n);
    big[n] = 'x';
    CU_ASSERT(round_trip(t, NULL, big, n + 1, "long run") > 0);
  }
  uint64_t x = 99;
  int bad = 0;
  for (int trial = 0; trial < 300; trial++) {
    int len = 2 + trial % 126;
    for (int i = 0; i < len; i++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      big[i] = "aeinorst lh"[(x >> 33) % 11];
    }
    slt_tokens q = {0}, h = {0};
    CU_ASSERT(slt_bpe_merge_piece(b, s, (uint8_t *)big, len, 0, &q) == 0);
    CU_ASSERT(slt_bpe_merge_piece(b, s, (uint8_t *)big, len, 1, &h) == 0);
    bad += q.n != h.n || memcmp(q.ids, h.ids, q.n * sizeof *q.ids);
    slt_tokens_free(&q);
    slt_tokens_free(&h);
  }
  CU_ASSERT_EQUAL(bad, 0);
  free(big);
  slt_bpe_state_free(s);
  slt_bpe_free(b);
}

/* The piece cache, cleared when full (~49k distinct pieces), changes no result: 60k distinct
 * words encode as each word merged on its own, and a second pass gives the same ids. */
static void test_cache_eviction(void) {
  const char *dir = gpt2("tokenizer cache eviction") ? data_path("x", "gpt2") : NULL;
  if (!dir) return;
  slt_bpe *b = slt_bpe_load(dir);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  slt_bpe_state *s = slt_bpe_state_new(b);
  int words = 60000;
  char *text = malloc((size_t)words * 16);
  size_t n = 0;
  uint64_t x = 7;
  slt_tokens want = {0}, got = {0}, again = {0};
  for (int w = 0; w < words; w++) {
    size_t start = n;
    text[n++] = ' ';
    for (int k = 0; k < 6 + w % 5; k++) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;
      text[n++] = (char)('a' + (x >> 33) % 26);
    }
    CU_ASSERT(slt_bpe_merge_piece(b, s, (uint8_t *)text + start, (int)(n - start), 0, &want) == 0);
  }
  CU_ASSERT(slt_bpe_encode(b, s, (uint8_t *)text, n, &got) == 0);
  CU_ASSERT(slt_bpe_encode(b, s, (uint8_t *)text, n, &again) == 0);
  CU_ASSERT(got.n == want.n && !memcmp(got.ids, want.ids, want.n * sizeof *want.ids));
  CU_ASSERT(again.n == want.n && !memcmp(again.ids, want.ids, want.n * sizeof *want.ids));
  slt_tokens_free(&want), slt_tokens_free(&got), slt_tokens_free(&again);
  free(text);
  slt_bpe_state_free(s);
  slt_bpe_free(b);
}

/* One shared tokenizer, one state per thread (the contract `slt prepare` relies on): the same
 * ids as a single thread. */
static void test_concurrent_encode(void) {
  slt_tokenizer *t = gpt2("tokenizer concurrent encode");
  const char *path = t ? data_path("x", "wikitext-2/valid.txt") : NULL;
  if (!path) return;
  size_t n;
  char *text = read_all(path, &n);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  enum { PARTS = 8 };
  slt_tokens serial[PARTS] = {{0}}, par[PARTS] = {{0}};
  slt_tokenizer_state *st = slt_tokenizer_state_new(t);
  for (int p = 0; p < PARTS; p++)
    slt_tokenizer_encode(t, st, text + n * p / PARTS, n * (p + 1) / PARTS - n * p / PARTS, 0,
                         &serial[p]);
  slt_tokenizer_state_free(st);
  int fails = 0;
#pragma omp parallel num_threads(4) reduction(+ : fails)
  {
    slt_tokenizer_state *mine = slt_tokenizer_state_new(t);
#pragma omp for schedule(dynamic, 1)
    for (int p = 0; p < PARTS; p++)
      fails += slt_tokenizer_encode(t, mine, text + n * p / PARTS,
                                    n * (p + 1) / PARTS - n * p / PARTS, 0, &par[p]) != 0;
    slt_tokenizer_state_free(mine);
  }
  CU_ASSERT_EQUAL(fails, 0);
  for (int p = 0; p < PARTS; p++) {
    CU_ASSERT(par[p].n == serial[p].n && par[p].n > 0 &&
              !memcmp(par[p].ids, serial[p].ids, par[p].n * sizeof *par[p].ids));
    slt_tokens_free(&serial[p]), slt_tokens_free(&par[p]);
  }
  free(text);
}

/* ---- EOT and the bytes tokenizer ---- */

static int ids_are(const slt_tokens *t, int n, const uint32_t *want) {
  int ok = t->n == n && !memcmp(t->ids, want, n * sizeof *want);
  if (!ok) {
    printf("\n  got");
    for (int64_t i = 0; i < t->n; i++) printf(" %u", t->ids[i]);
    printf("\n");
  }
  return ok;
}

static void test_eot(void) {
  slt_tokenizer *t = gpt2("tokenizer eot");
  if (!t) return;
  const char text[] = "a<|endoftext|>b<|endoftext|>";
  slt_tokens ids = {0};
  CU_ASSERT(slt_tokenizer_encode(t, NULL, text, strlen(text), SLT_TOK_ALLOW_EOT, &ids) == 0);
  CU_ASSERT(ids_are(&ids, 4, (const uint32_t[]){64, 50256, 65, 50256}));
  slt_tokens_free(&ids);
  CU_ASSERT(slt_tokenizer_encode(t, NULL, text, strlen(text), 0, &ids) == 0);
  for (int64_t i = 0; i < ids.n; i++) CU_ASSERT(ids.ids[i] != 50256); /* ordinary text */
  slt_bytebuf back = {0};
  const uint32_t eot[3] = {50256, 50256, 40};
  CU_ASSERT(slt_tokenizer_decode(t, eot, 3, &back) == 0);
  CU_ASSERT(back.n == 27 && !memcmp(back.data, "<|endoftext|><|endoftext|>I", 27));
  const uint32_t bad[2] = {40, 50257};
  CU_ASSERT(slt_tokenizer_decode(t, bad, 2, &back) == -1);
  CU_ASSERT(strstr(slt_err_msg(), "50257") != NULL);
  slt_tokens_free(&ids);
  slt_bytebuf_free(&back);
}

static void test_bytes_tokenizer(void) {
  slt_tokenizer *t = slt_tokenizer_open("bytes", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(t);
  CU_ASSERT_EQUAL(slt_tokenizer_vocab_size(t), 257);
  CU_ASSERT_EQUAL(slt_tokenizer_eot(t), 256);
  CU_ASSERT_STRING_EQUAL(slt_tokenizer_name(t), "bytes");
  slt_tokens ids = {0};
  CU_ASSERT(slt_tokenizer_encode(t, NULL, "Hi\xff<|endoftext|>", 16, SLT_TOK_ALLOW_EOT, &ids) == 0);
  CU_ASSERT(ids_are(&ids, 4, (const uint32_t[]){72, 105, 255, 256}));
  slt_bytebuf back = {0};
  CU_ASSERT(slt_tokenizer_decode(t, ids.ids, ids.n, &back) == 0);
  CU_ASSERT(back.n == 16 && !memcmp(back.data, "Hi\xff<|endoftext|>", 16));
  const uint32_t bad = 257;
  CU_ASSERT(slt_tokenizer_decode(t, &bad, 1, &back) == -1);
  char all[256];
  for (int i = 0; i < 256; i++) all[i] = (char)i;
  CU_ASSERT(round_trip(t, NULL, all, 256, "all bytes") == 256);
  CU_ASSERT_PTR_NULL(slt_tokenizer_open("gpt3", NULL));
  CU_ASSERT(strstr(slt_err_msg(), "gpt3") != NULL);
  CU_ASSERT_PTR_NULL(slt_tokenizer_open("gpt2", NULL));
  slt_tokens_free(&ids);
  slt_bytebuf_free(&back);
  slt_tokenizer_free(t);
}

/* ---- loading: a hand-made vocabulary (256 byte tokens, 4 merges, EOT) and broken variants ---- */

static const char good_merges[] = "#version: 0.2\nh e\nl l\nhe ll\nhell o\n";

/* GPT-2's bytes_to_unicode image of byte b. */
static int byte_char(int b) {
  if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return b;
  int n = 0;
  for (int c = 0; c < b; c++) n += !((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || c >= 174);
  return 256 + n;
}

/* tmpdir/sub with a vocabulary (encoder.json, or vocab.json when hf, one entry per line from
 * line 2; non-ASCII as \u escapes, or raw UTF-8 when hf) and merges. byte_a_key replaces the key
 * of byte 'A' (NULL: keep). */
static const char *make_vocab(const char *sub, int hf, const char *merges, const char *byte_a_key) {
  static char dir[256];
  snprintf(dir, sizeof dir, "%s/%s", tmpdir, sub);
  mkdir(dir, 0700);
  char *json = malloc(1 << 16), name[300];
  size_t o = (size_t)sprintf(json, "{\n");
  for (int b = 0; b < 256; b++) {
    int c = byte_char(b);
    if (b == 'A' && byte_a_key)
      o += sprintf(json + o, "\"%s\": %d,\n", byte_a_key, b);
    else if (c == '"' || c == '\\')
      o += sprintf(json + o, "\"\\%c\": %d,\n", c, b);
    else if (c < 0x80)
      o += sprintf(json + o, "\"%c\": %d,\n", c, b);
    else if (!hf)
      o += sprintf(json + o, "\"\\u%04x\": %d,\n", c, b);
    else
      o += sprintf(json + o, "\"%c%c\": %d,\n", 0xC0 | c >> 6, 0x80 | (c & 0x3F), b);
  }
  sprintf(json + o, "\"he\": 256, \"ll\": 257, \"hell\": 258,\n\"hello\": 259,\n"
                    "\"<|endoftext|>\": 260}\n");
  snprintf(name, sizeof name, "%s/%s", sub, hf ? "vocab.json" : "encoder.json");
  write_file(name, json);
  snprintf(name, sizeof name, "%s/%s", sub, hf ? "merges.txt" : "vocab.bpe");
  if (merges) write_file(name, merges);
  free(json);
  return dir;
}

static void test_load_small_vocab(void) {
  for (int hf = 0; hf < 2; hf++) {
    slt_tokenizer *t = slt_tokenizer_gpt2_load(make_vocab(hf ? "hf" : "oa", hf, good_merges, NULL));
    if (!t) printf("\n  %s\n", slt_err_msg());
    CU_ASSERT_PTR_NOT_NULL_FATAL(t);
    CU_ASSERT_EQUAL(slt_tokenizer_vocab_size(t), 261);
    CU_ASSERT_EQUAL(slt_tokenizer_eot(t), 260);
    slt_tokens ids = {0};
    CU_ASSERT(slt_tokenizer_encode(t, NULL, "helo hello\"\xc4", 12, 0, &ids) == 0);
    CU_ASSERT(ids_are(&ids, 7, (const uint32_t[]){256, 108, 111, 32, 259, 34, 0xC4}));
    CU_ASSERT(round_trip(t, NULL, "hello\xff\x01 \\", 9, "small vocab") == 5);
    slt_tokens_free(&ids);
    slt_tokenizer_free(t);
  }
}

/* Loading fails with NULL and a message holding want (and want2). */
static void expect_load_error(const char *dir, const char *want, const char *want2) {
  slt_err_clear();
  slt_tokenizer *t = slt_tokenizer_gpt2_load(dir);
  CU_ASSERT_PTR_NULL(t);
  int ok = strstr(slt_err_msg(), want) && (!want2 || strstr(slt_err_msg(), want2));
  if (!ok)
    printf("\n  error \"%s\" lacks \"%s\" / \"%s\"\n", slt_err_msg(), want, want2 ? want2 : "");
  CU_ASSERT(ok);
  slt_tokenizer_free(t);
}

static void test_load_errors(void) {
  char path[300];
  snprintf(path, sizeof path, "%s/nowhere", tmpdir);
  expect_load_error(path, "nowhere", NULL);
  snprintf(path, sizeof path, "%s/empty", tmpdir);
  mkdir(path, 0700);
  expect_load_error(path, "no GPT-2 tokenizer", "empty");
  expect_load_error(make_vocab("nomerges", 0, NULL, NULL), "vocab.bpe", NULL);
  expect_load_error(make_vocab("m1", 0, "#version: 0.2\nh e\nl  l\n", NULL), "vocab.bpe:3", "l  l");
  expect_load_error(make_vocab("m2", 0, "#version: 0.2\nh e\nhel\n", NULL), "vocab.bpe:3", "hel");
  expect_load_error(make_vocab("m3", 1, "#v\nh e\nh z\n", NULL), "merges.txt:3", "h z");
  expect_load_error(make_vocab("m4", 0, "#version: 0.2\nh e\nh e\n", NULL), "vocab.bpe:3",
                    "duplicate");
  expect_load_error(make_vocab("m5", 0, "#version: 0.2\nh \xe2\x82\xac\n", NULL), "vocab.bpe:2",
                    NULL); /* a character outside the byte alphabet */
  expect_load_error(make_vocab("nobyte", 0, good_merges, "AB"), "encoder.json", "byte 0x41");
  expect_load_error(make_vocab("badesc", 0, good_merges, "\\q"), "encoder.json:67", "escape");
  expect_load_error(make_vocab("lone", 0, good_merges, "\\ud800"), "encoder.json:67", "surrogate");
  expect_load_error(make_vocab("dupkey", 0, good_merges, "B"), "encoder.json", "same token");
  static const struct {
    const char *json, *want;
  } bad[] = {
      {"{\n\"a\": 0,\n\"b\" 1\n}\n", "encoder.json:3: expected ':'"},
      {"{\"a\": 0}\n}\n", "encoder.json:2: text after"},
      {"{\"a\": -1}", "encoder.json:1: expected a non-negative"},
      {"{\"a\": 0, \"b\": 5}", "out of range"},
      {"{\"a\": 0, \"b\": 0}", "repeated"},
      {"[1, 2]", "expected '{'"},
      {"{\"a\": 0,\n\n\"b", "encoder.json:3: unterminated"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    snprintf(path, sizeof path, "json%zu", i);
    make_vocab(path, 0, good_merges, NULL);
    snprintf(path, sizeof path, "json%zu/encoder.json", i);
    write_file(path, bad[i].json);
    snprintf(path, sizeof path, "%s/json%zu", tmpdir, i);
    expect_load_error(path, bad[i].want, NULL);
  }
}

/* The JSON reader on its own: every escape, a surrogate pair, whitespace and line counting. */
static void test_json_reader(void) {
  const char s[] = " {\"a\\u00e9\\ud83d\\ude00\\n\\\"\\/\\t\" : 5 ,\n \"\" :7}  \n";
  slt_bpe_json j = {.s = s, .n = sizeof s - 1, .line = 1};
  char key[sizeof s];
  int klen;
  int64_t v;
  CU_ASSERT_EQUAL(slt_bpe_json_next(&j, key, &klen, &v), 1);
  CU_ASSERT(klen == 11 && !memcmp(key, "a\xc3\xa9\xf0\x9f\x98\x80\n\"/\t", 11) && v == 5);
  CU_ASSERT_EQUAL(slt_bpe_json_next(&j, key, &klen, &v), 1);
  CU_ASSERT(klen == 0 && v == 7 && j.line == 2);
  CU_ASSERT_EQUAL(slt_bpe_json_next(&j, key, &klen, &v), 0);
  CU_ASSERT_EQUAL(slt_bpe_json_next(&j, key, &klen, &v), 0);
  const char t[] = "{\"a\": 1,}";
  slt_bpe_json k = {.s = t, .n = sizeof t - 1, .line = 1};
  CU_ASSERT_EQUAL(slt_bpe_json_next(&k, key, &klen, &v), 1);
  CU_ASSERT_EQUAL(slt_bpe_json_next(&k, key, &klen, &v), -1); /* trailing comma */
}

int register_tokenizer_suite(void) {
  CU_pSuite s = CU_add_suite("tokenizer", suite_init, suite_cleanup);
  return !s || !CU_add_test(s, "Tiny Shakespeare: 301,966 + 36,059", test_shakespeare_figure) ||
                 !CU_add_test(s, "Python reference cases", test_reference_cases) ||
                 !CU_add_test(s, "PCRE2 without JIT", test_no_jit) ||
                 !CU_add_test(s, "round trip of every data file", test_roundtrip_files) ||
                 !CU_add_test(s, "round trip of random bytes", test_roundtrip_random) ||
                 !CU_add_test(s, "long pieces, heap merge", test_long_pieces) ||
                 !CU_add_test(s, "cache eviction", test_cache_eviction) ||
                 !CU_add_test(s, "concurrent encoding", test_concurrent_encode) ||
                 !CU_add_test(s, "EOT", test_eot) ||
                 !CU_add_test(s, "bytes tokenizer", test_bytes_tokenizer) ||
                 !CU_add_test(s, "small vocabulary, both formats", test_load_small_vocab) ||
                 !CU_add_test(s, "loading errors", test_load_errors) ||
                 !CU_add_test(s, "JSON reader", test_json_reader)
             ? -1
             : 0;
}
