/* Loading GPT-2 BPE files: encoder.json/vocab.json (a flat JSON object token -> id, read by a
 * minimal JSON reader) and vocab.bpe/merges.txt (one merge "left right" per line, rank = order).
 * Tokens are stored in GPT-2's printable form (bytes_to_unicode); they are mapped back to raw
 * bytes here, so encoding and decoding never see that form. */
#include "bpe.h"

#include "autograd/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* GPT-2's tokenizer regex, with \s spelled out as Python's White_Space set (PCRE2's \s also
 * matches U+180E) so matches equal Python `regex`'s. (?![^S]) is (?!\S). */
#define WS                                                                                         \
  "\\t-\\r "                                                                                       \
  "\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
static const char gpt2_pattern[] = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS
                                   "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+";

/* ---- bytes_to_unicode: byte b <-> code point; the inverse covers code points below 324 ---- */

typedef struct byte_map {
  int to_byte[324]; /* -1 where a code point is no byte's image */
} byte_map;

static void byte_map_init(byte_map *m) {
  for (int c = 0; c < 324; c++) m->to_byte[c] = -1;
  int extra = 0;
  for (int b = 0; b < 256; b++) {
    int printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    m->to_byte[printable ? b : 256 + extra++] = b;
  }
}

/* Decode UTF-8 s[0..n) and map each code point to its byte; out gets at most n bytes.
 * Length, or -1 when s is not UTF-8 or holds a character that is no byte's image. */
static int unicode_to_bytes(const byte_map *m, const uint8_t *s, int n, uint8_t *out) {
  int o = 0;
  for (int i = 0; i < n;) {
    uint32_t c = s[i++];
    if (c >= 0x80) { /* every image is below U+0800: one or two bytes, never overlong */
      if ((c & 0xE0) != 0xC0 || i >= n || (s[i] & 0xC0) != 0x80) return -1;
      c = (c & 0x1F) << 6 | (s[i++] & 0x3F);
      if (c < 0x80) return -1;
    }
    if (c >= 324 || m->to_byte[c] < 0) return -1;
    out[o++] = (uint8_t)m->to_byte[c];
  }
  return o;
}

/* ---- a byte-string -> id map used while loading ---- */

typedef struct str_map {
  uint32_t *slot; /* id + 1, 0 = empty */
  uint32_t mask;
  const slt_bpe *b; /* keys are the tokens' bytes */
} str_map;

static uint32_t hash_bytes(const uint8_t *p, int n) {
  uint32_t h = 2166136261u;
  for (int i = 0; i < n; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

/* Slot of the token with bytes p[0..n), or of the empty slot where it would go. */
static uint32_t str_map_find(const str_map *m, const uint8_t *p, int n) {
  uint32_t h = hash_bytes(p, n) & m->mask;
  for (;; h = (h + 1) & m->mask) {
    uint32_t v = m->slot[h];
    if (!v) return h;
    const slt_bpe *b = m->b;
    uint32_t len = b->off[v] - b->off[v - 1];
    if (len == (uint32_t)n && !memcmp(b->bytes + b->off[v - 1], p, n)) return h;
  }
}

/* Id of the token with bytes p[0..n), or -1. */
static int64_t str_map_get(const str_map *m, const uint8_t *p, int n) {
  uint32_t v = m->slot[str_map_find(m, p, n)];
  return v ? (int64_t)v - 1 : -1;
}

/* ---- files ---- */

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    slt_err_set("cannot open %s: %s", path, strerror(errno));
    return NULL;
  }
  char *buf = NULL;
  long n = -1;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0 &&
      (buf = malloc((size_t)n + 1)) && fread(buf, 1, (size_t)n, f) == (size_t)n) {
    buf[n] = '\0';
    *len = (size_t)n;
  } else {
    slt_err_set("cannot read %s: %s", path, errno ? strerror(errno) : "short read");
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static int file_exists(const char *dir, const char *name) {
  char path[4096];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* ---- the vocabulary: a flat JSON object {"token": id, ...} ---- */

/* The vocabulary's entries in file order: token i is tok[start[i] .. start[i] + len[i]), with
 * its id and the line it was on. */
typedef struct vocab_entries {
  int64_t *id;
  uint32_t *start, *len;
  int *line;
  int n, cap;
  uint8_t *tok;
} vocab_entries;

static void entries_free(vocab_entries *v) {
  free(v->id);
  free(v->start);
  free(v->len);
  free(v->line);
  free(v->tok);
}

static int entries_grow(vocab_entries *v) {
  int cap = v->cap ? 2 * v->cap : 1 << 16;
  int64_t *id = realloc(v->id, cap * sizeof *id);
  if (id) v->id = id;
  uint32_t *start = realloc(v->start, cap * sizeof *start);
  if (start) v->start = start;
  uint32_t *len = realloc(v->len, cap * sizeof *len);
  if (len) v->len = len;
  int *line = realloc(v->line, cap * sizeof *line);
  if (line) v->line = line;
  if (!id || !start || !len || !line) return -1;
  v->cap = cap;
  return 0;
}

/* Read every "token": id of the file s[0..n) into v, tokens mapped back to raw bytes. */
static int parse_vocab(vocab_entries *v, const byte_map *bm, const char *path, const char *s,
                       size_t n) {
  char *key = malloc(n + 1);
  v->tok = malloc(n + 1);
  slt_bpe_json j = {.s = s, .n = n, .line = 1};
  uint32_t used = 0;
  int rc = key && v->tok ? 0 : -1, got, klen;
  int64_t val;
  if (rc) slt_err_set("%s: out of memory", path);
  while (!rc && (got = slt_bpe_json_next(&j, key, &klen, &val)) != 0) {
    int blen = got < 0 ? -1 : unicode_to_bytes(bm, (uint8_t *)key, klen, v->tok + used);
    if (got < 0)
      slt_err_set("%s:%d: %s", path, j.line, j.err);
    else if (blen < 0)
      slt_err_set("%s:%d: token \"%.*s\" is not in GPT-2's byte-level alphabet", path, j.line,
                  klen > 60 ? 60 : klen, key);
    else if (v->n == v->cap && entries_grow(v))
      slt_err_set("%s: out of memory", path);
    else {
      v->id[v->n] = val;
      v->start[v->n] = used;
      v->len[v->n] = (uint32_t)blen;
      v->line[v->n++] = j.line;
      used += (uint32_t)blen;
      continue;
    }
    rc = -1;
  }
  if (!rc && v->n == 0) {
    slt_err_set("%s: no tokens", path);
    rc = -1;
  }
  free(key);
  return rc;
}

/* Lay the tokens out by id in b->off/b->bytes; the ids must be 0..n-1, each once. */
static int place_vocab(slt_bpe *b, const vocab_entries *v, const char *path) {
  int n = v->n;
  int *at = malloc(n * sizeof *at); /* entry of each id */
  b->off = calloc((size_t)n + 1, sizeof *b->off);
  b->bytes = malloc((size_t)v->start[n - 1] + v->len[n - 1] + 1);
  int rc = at && b->off && b->bytes ? 0 : -1;
  if (rc) slt_err_set("%s: out of memory", path);
  for (int i = 0; i < n && !rc; i++) at[i] = -1;
  for (int i = 0; i < n && !rc; i++) {
    if (v->id[i] < n && at[v->id[i]] < 0) {
      at[v->id[i]] = i;
      continue;
    }
    slt_err_set("%s:%d: id %lld is %s (ids must be 0..%d, each once)", path, v->line[i],
                (long long)v->id[i], v->id[i] >= n ? "out of range" : "repeated", n - 1);
    rc = -1;
  }
  for (int id = 0; id < n && !rc; id++) {
    int i = at[id];
    b->off[id + 1] = b->off[id] + v->len[i];
    memcpy(b->bytes + b->off[id], v->tok + v->start[i], v->len[i]);
  }
  if (!rc) b->n_vocab = n;
  free(at);
  return rc;
}

static int load_vocab(slt_bpe *b, const byte_map *bm, const char *path) {
  size_t n;
  char *s = read_file(path, &n);
  if (!s) return -1;
  if (n >= UINT32_MAX) { /* entries index it with 32 bits; a real vocabulary is ~1 MB */
    slt_err_set("%s: too large for a vocabulary (%zu bytes)", path, n);
    free(s);
    return -1;
  }
  vocab_entries v = {0};
  int rc = parse_vocab(&v, bm, path, s, n);
  if (!rc) rc = place_vocab(b, &v, path);
  entries_free(&v);
  free(s);
  return rc;
}

/* Index the tokens by their bytes; find the byte tokens and EOT. Duplicates are an error. */
static int index_vocab(slt_bpe *b, str_map *m, const char *path) {
  uint32_t cap = 1;
  while (cap < 2u * (uint32_t)b->n_vocab) cap *= 2;
  m->slot = calloc(cap, sizeof *m->slot);
  m->mask = cap - 1;
  m->b = b;
  if (!m->slot) {
    slt_err_set("%s: out of memory", path);
    return -1;
  }
  for (int id = 0; id < b->n_vocab; id++) {
    const uint8_t *p = b->bytes + b->off[id];
    int n = (int)(b->off[id + 1] - b->off[id]);
    uint32_t h = str_map_find(m, p, n);
    if (m->slot[h]) {
      slt_err_set("%s: ids %u and %d are the same token", path, m->slot[h] - 1, id);
      return -1;
    }
    m->slot[h] = (uint32_t)id + 1;
  }
  for (int c = 0; c < 256; c++) {
    uint8_t byte = (uint8_t)c;
    int64_t id = str_map_get(m, &byte, 1);
    if (id < 0) {
      slt_err_set("%s: no token for byte 0x%02x", path, c);
      return -1;
    }
    b->byte_id[c] = (uint32_t)id;
  }
  int64_t eot = str_map_get(m, (const uint8_t *)SLT_TOK_EOT_TEXT, strlen(SLT_TOK_EOT_TEXT));
  if (eot < 0) {
    slt_err_set("%s: no %s token", path, SLT_TOK_EOT_TEXT);
    return -1;
  }
  b->eot = (uint32_t)eot;
  return 0;
}

/* ---- merges: "#version..." then "left right" per line ---- */

/* Parse one merge line into the table. */
static int add_merge(slt_bpe *b, const str_map *m, const byte_map *bm, const char *path, int line,
                     const char *s, int n, uint8_t *scratch) {
  const char *sp = memchr(s, ' ', n);
  int ln = sp ? (int)(sp - s) : 0, rn = sp ? n - ln - 1 : 0;
  if (!sp || ln == 0 || rn == 0 || memchr(sp + 1, ' ', rn)) {
    slt_err_set("%s:%d: expected 'left right', got '%.*s'", path, line, n > 60 ? 60 : n, s);
    return -1;
  }
  int lb = unicode_to_bytes(bm, (const uint8_t *)s, ln, scratch);
  int rb = lb < 0 ? -1 : unicode_to_bytes(bm, (const uint8_t *)sp + 1, rn, scratch + lb);
  int64_t l = lb < 0 ? -1 : str_map_get(m, scratch, lb);
  int64_t r = rb < 0 ? -1 : str_map_get(m, scratch + lb, rb);
  int64_t id = l < 0 || r < 0 ? -1 : str_map_get(m, scratch, lb + rb);
  if (id < 0) {
    slt_err_set("%s:%d: '%.*s' %s not in the vocabulary", path, line, n > 60 ? 60 : n, s,
                l < 0 || r < 0 ? "has a part that is" : "merges to a token");
    return -1;
  }
  uint64_t key = (uint64_t)l << 32 | (uint64_t)r;
  uint32_t h = slt_bpe_slot(b, key);
  if (b->merges[h].key == key) {
    slt_err_set("%s:%d: duplicate merge '%.*s'", path, line, n > 60 ? 60 : n, s);
    return -1;
  }
  b->merges[h] = (slt_bpe_merge){key, (uint32_t)b->n_merges++, (uint32_t)id};
  return 0;
}

static int load_merges(slt_bpe *b, const str_map *m, const byte_map *bm, const char *path) {
  size_t n;
  char *s = read_file(path, &n);
  if (!s) return -1;
  int lines = 1;
  for (size_t i = 0; i < n; i++) lines += s[i] == '\n';
  uint32_t cap = 1;
  while (cap < 2u * (uint32_t)lines) cap *= 2;
  b->merges = malloc(cap * sizeof *b->merges);
  uint8_t *scratch = malloc(n + 1);
  int rc = b->merges && scratch ? 0 : -1;
  if (rc) slt_err_set("%s: out of memory", path);
  if (b->merges) memset(b->merges, 0xFF, cap * sizeof *b->merges);
  b->mask = cap - 1;
  size_t pos = 0;
  for (int line = 1; pos < n && rc == 0; line++) {
    const char *eol = memchr(s + pos, '\n', n - pos);
    size_t end = eol ? (size_t)(eol - s) : n, len = end - pos;
    if (len && s[end - 1] == '\r') len--; /* tolerate CRLF */
    if (len && !(line == 1 && s[pos] == '#'))
      rc = add_merge(b, m, bm, path, line, s + pos, (int)len, scratch);
    pos = end + 1;
  }
  free(scratch);
  free(s);
  return rc;
}

/* ---- the whole tokenizer ---- */

static int compile_regex(slt_bpe *b) {
  int err;
  PCRE2_SIZE at;
  b->re = pcre2_compile((PCRE2_SPTR)gpt2_pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP,
                        &err, &at, NULL);
  if (!b->re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    slt_err_set("GPT-2 regex: %s at offset %zu", (const char *)msg, (size_t)at);
    return -1;
  }
  /* Without JIT (not built in, or no executable memory) the interpreter gives the same matches. */
  b->jit = pcre2_jit_compile(b->re, PCRE2_JIT_COMPLETE) == 0;
  return 0;
}

slt_bpe *slt_bpe_load(const char *dir) {
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    slt_err_set("tokenizer directory '%s': %s", dir, errno ? strerror(errno) : "not a directory");
    return NULL;
  }
  const char *vocab = "encoder.json", *merges = "vocab.bpe";
  if (!file_exists(dir, vocab)) {
    vocab = "vocab.json";
    merges = "merges.txt";
    if (!file_exists(dir, vocab)) {
      slt_err_set("no GPT-2 tokenizer in '%s': expected encoder.json + vocab.bpe or vocab.json + "
                  "merges.txt",
                  dir);
      return NULL;
    }
  }
  char vpath[4096], mpath[4096];
  snprintf(vpath, sizeof vpath, "%s/%s", dir, vocab);
  snprintf(mpath, sizeof mpath, "%s/%s", dir, merges);
  slt_bpe *b = calloc(1, sizeof *b);
  byte_map bm;
  str_map m = {0};
  byte_map_init(&bm);
  int rc = b ? 0 : -1;
  if (rc) slt_err_set("out of memory");
  if (!rc) rc = load_vocab(b, &bm, vpath);
  if (!rc) rc = index_vocab(b, &m, vpath);
  if (!rc) rc = load_merges(b, &m, &bm, mpath);
  if (!rc) rc = compile_regex(b);
  free(m.slot);
  if (rc) {
    slt_bpe_free(b);
    return NULL;
  }
  return b;
}

void slt_bpe_free(slt_bpe *b) {
  if (!b) return;
  free(b->off);
  free(b->bytes);
  free(b->merges);
  pcre2_code_free(b->re);
  free(b);
}
