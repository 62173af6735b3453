/* Tokenizer metadata for the GGUF export (ckpt/gguf_llama.h): GPT-2 byte-level BPE, or a
 * bytes-like vocabulary written the same way (SPEC §8, "Tokenizer metadata"). */
#include "gguf_llama.h"

#include "autograd/error.h"
#include "data/tokenizer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { TYPE_NORMAL = 1, TYPE_CONTROL = 3 };

void slt_gguf_vocab_free(slt_gguf_vocab *v) {
  for (int i = 0; v->tokens && i < v->n; i++) free(v->tokens[i]);
  for (int64_t i = 0; v->merges && i < v->n_merges; i++) free(v->merges[i]);
  free(v->tokens);
  free(v->types);
  free(v->merges);
  memset(v, 0, sizeof *v);
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the other 68 bytes for
 * U+0100.. in byte order. */
static unsigned byte_codepoint(unsigned b) {
  if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)) return b;
  unsigned n = 0;
  for (unsigned x = 0; x < b; x++)
    if (!((x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || (x >= 0xAE && x <= 0xFF))) n++;
  return 256 + n;
}

/* The byte-to-unicode string of bytes s[0..n) as UTF-8 (every code point is below U+0800). */
static char *byte_string(const uint8_t *s, int64_t n) {
  char *out = malloc((size_t)n * 2 + 1), *p = out;
  if (!out) return NULL;
  for (int64_t i = 0; i < n; i++) {
    unsigned cp = byte_codepoint(s[i]);
    if (cp < 0x80) {
      *p++ = (char)cp;
    } else {
      *p++ = (char)(0xC0 | cp >> 6);
      *p++ = (char)(0x80 | (cp & 0x3F));
    }
  }
  *p = 0;
  return out;
}

/* Room for n tokens, every type normal. 0 or -1. */
static int vocab_alloc(slt_gguf_vocab *v, int n) {
  memset(v, 0, sizeof *v);
  v->tokens = calloc((size_t)n, sizeof *v->tokens);
  v->types = malloc((size_t)n * sizeof *v->types);
  v->bos = v->eos = -1;
  if (!v->tokens || !v->types) {
    slt_err_set("gguf: out of memory for the vocabulary");
    slt_gguf_vocab_free(v);
    return -1;
  }
  v->n = n;
  for (int i = 0; i < n; i++) v->types[i] = TYPE_NORMAL;
  return 0;
}

/* Ids from..n-1 become the control tokens "<|pad_ID|>" (a padded vocabulary's unused rows). */
static int pad(slt_gguf_vocab *v, int from) {
  for (int i = from; i < v->n; i++) {
    char buf[32];
    snprintf(buf, sizeof buf, "<|pad_%d|>", i);
    if (!(v->tokens[i] = strdup(buf))) {
      slt_err_set("gguf: out of memory for the vocabulary");
      return -1;
    }
    v->types[i] = TYPE_CONTROL;
  }
  return 0;
}

static int set_eot(slt_gguf_vocab *v, int id) {
  if (!(v->tokens[id] = strdup(SLT_TOK_EOT_TEXT))) return -1;
  v->types[id] = TYPE_CONTROL;
  v->bos = v->eos = id;
  return 0;
}

int slt_gguf_vocab_bytes(slt_gguf_vocab *v, int n) {
  if (n < 1) {
    slt_err_set("gguf: vocabulary size %d", n);
    return -1;
  }
  if (vocab_alloc(v, n)) return -1;
  int rc = 0;
  for (int i = 0; !rc && i < n && i < 256; i++) {
    uint8_t b = (uint8_t)i;
    rc = (v->tokens[i] = byte_string(&b, 1)) ? 0 : -1;
  }
  if (!rc && n > 256) rc = set_eot(v, 256) || pad(v, 257);
  if (rc) {
    slt_err_set("gguf: out of memory for the vocabulary");
    slt_gguf_vocab_free(v);
  }
  return rc;
}

/* dir/vocab.bpe, else dir/merges.txt, whole, into *buf. 0 or -1. */
static int read_merges_file(const char *dir, char **buf, size_t *len) {
  char path[4096];
  FILE *f = NULL;
  for (int i = 0; i < 2 && !f; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, i ? "merges.txt" : "vocab.bpe");
    f = fopen(path, "rb");
  }
  if (!f) {
    slt_err_set("%s: neither vocab.bpe nor merges.txt is there", dir);
    return -1;
  }
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  rewind(f);
  *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  int rc = *buf && fread(*buf, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
  fclose(f);
  if (rc) {
    slt_err_set("%s: cannot read", path);
    free(*buf);
    return -1;
  }
  (*buf)[n] = 0;
  *len = (size_t)n;
  return 0;
}

/* The merge lines "left right" (the "#version" line and empty lines skipped). 0 or -1. */
static int read_merges(slt_gguf_vocab *v, const char *dir) {
  char *buf;
  size_t len;
  if (read_merges_file(dir, &buf, &len)) return -1;
  int64_t lines = 1;
  for (size_t i = 0; i < len; i++) lines += buf[i] == '\n';
  v->merges = calloc((size_t)lines, sizeof *v->merges);
  int rc = v->merges ? 0 : -1;
  for (char *s = buf, *e; !rc && s < buf + len; s = e + 1) {
    e = strchr(s, '\n');
    if (!e) e = buf + len;
    size_t n = (size_t)(e - s);
    if (n && s[n - 1] == '\r') n--;
    if (!n || (s == buf && !strncmp(s, "#version", 8))) continue;
    if (!(v->merges[v->n_merges] = strndup(s, n)))
      rc = -1;
    else
      v->n_merges++;
  }
  free(buf);
  if (rc) slt_err_set("gguf: out of memory for the merges");
  return rc;
}

/* Token strings of the tokenizer's ids: the byte-to-unicode form of each token's bytes. */
static int gpt2_tokens(slt_gguf_vocab *v, const slt_tokenizer *t) {
  int tv = slt_tokenizer_vocab_size(t);
  uint32_t eot = slt_tokenizer_eot(t);
  for (int i = 0; i < tv; i++) {
    if ((uint32_t)i == eot) {
      if (set_eot(v, i)) return -1;
      continue;
    }
    slt_bytebuf b = {0};
    uint32_t id = (uint32_t)i;
    if (slt_tokenizer_decode(t, &id, 1, &b)) return -1;
    v->tokens[i] = byte_string((const uint8_t *)b.data, b.n);
    slt_bytebuf_free(&b);
    if (!v->tokens[i]) {
      slt_err_set("gguf: out of memory for the vocabulary");
      return -1;
    }
  }
  return pad(v, tv);
}

int slt_gguf_vocab_gpt2(slt_gguf_vocab *v, const char *dir, int n) {
  memset(v, 0, sizeof *v);
  slt_tokenizer *t = slt_tokenizer_gpt2_load(dir);
  if (!t) return -1;
  int tv = slt_tokenizer_vocab_size(t), rc = -1;
  if (n < tv)
    slt_err_set("the model's vocabulary (%d) is smaller than the GPT-2 tokenizer's (%d) in %s", n,
                tv, dir);
  else if (!vocab_alloc(v, n))
    rc = gpt2_tokens(v, t) || read_merges(v, dir) ? -1 : 0;
  slt_tokenizer_free(t);
  if (rc && v->tokens) slt_gguf_vocab_free(v);
  return rc;
}
