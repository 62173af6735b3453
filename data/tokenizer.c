/* The tokenizer interface (tokenizer.h): GPT-2 BPE (bpe.c) or raw bytes, the EOT string, and the
 * growable buffers. */
#define _GNU_SOURCE /* memmem */
#include "tokenizer.h"

#include "autograd/error.h"
#include "bpe.h"

#include <stdlib.h>
#include <string.h>

enum { KIND_BYTES, KIND_GPT2 };

struct slt_tokenizer {
  int kind;
  slt_bpe *bpe; /* KIND_GPT2 */
};

struct slt_tokenizer_state {
  const slt_tokenizer *t;
  slt_bpe_state *bpe; /* KIND_GPT2 */
};

#define EOT_LEN (sizeof SLT_TOK_EOT_TEXT - 1)

/* ---- buffers ---- */

int slt_tokens_reserve(slt_tokens *b, int64_t extra) {
  if (b->n + extra <= b->cap) return 0;
  int64_t cap = b->cap ? b->cap : 1024;
  while (cap < b->n + extra) cap *= 2;
  uint32_t *ids = realloc(b->ids, (size_t)cap * sizeof *ids);
  if (!ids) {
    slt_err_set("out of memory for %lld tokens", (long long)cap);
    return -1;
  }
  b->ids = ids;
  b->cap = cap;
  return 0;
}

int slt_tokens_push(slt_tokens *b, uint32_t id) {
  if (b->n == b->cap && slt_tokens_reserve(b, 1)) return -1;
  b->ids[b->n++] = id;
  return 0;
}

void slt_tokens_free(slt_tokens *b) {
  free(b->ids);
  *b = (slt_tokens){0};
}

int slt_bytebuf_reserve(slt_bytebuf *b, int64_t extra) {
  if (b->n + extra <= b->cap) return 0;
  int64_t cap = b->cap ? b->cap : 4096;
  while (cap < b->n + extra) cap *= 2;
  char *d = realloc(b->data, (size_t)cap);
  if (!d) {
    slt_err_set("out of memory for %lld bytes", (long long)cap);
    return -1;
  }
  b->data = d;
  b->cap = cap;
  return 0;
}

void slt_bytebuf_free(slt_bytebuf *b) {
  free(b->data);
  *b = (slt_bytebuf){0};
}

/* ---- construction ---- */

slt_tokenizer *slt_tokenizer_bytes_new(void) {
  slt_tokenizer *t = calloc(1, sizeof *t);
  if (!t) slt_err_set("out of memory");
  return t;
}

slt_tokenizer *slt_tokenizer_gpt2_load(const char *dir) {
  slt_bpe *b = slt_bpe_load(dir);
  if (!b) return NULL;
  slt_tokenizer *t = calloc(1, sizeof *t);
  if (!t) {
    slt_bpe_free(b);
    slt_err_set("out of memory");
    return NULL;
  }
  t->kind = KIND_GPT2;
  t->bpe = b;
  return t;
}

slt_tokenizer *slt_tokenizer_open(const char *name, const char *dir) {
  if (!strcmp(name, "bytes")) return slt_tokenizer_bytes_new();
  if (strcmp(name, "gpt2")) {
    slt_err_set("unknown tokenizer '%s' (expected gpt2 or bytes)", name);
    return NULL;
  }
  if (!dir) {
    slt_err_set("the gpt2 tokenizer needs a directory with encoder.json + vocab.bpe or "
                "vocab.json + merges.txt");
    return NULL;
  }
  return slt_tokenizer_gpt2_load(dir);
}

void slt_tokenizer_free(slt_tokenizer *t) {
  if (!t) return;
  slt_bpe_free(t->bpe);
  free(t);
}

int slt_tokenizer_vocab_size(const slt_tokenizer *t) {
  return t->kind == KIND_GPT2 ? t->bpe->n_vocab : 257;
}

uint32_t slt_tokenizer_eot(const slt_tokenizer *t) {
  return t->kind == KIND_GPT2 ? t->bpe->eot : 256;
}

const char *slt_tokenizer_name(const slt_tokenizer *t) {
  return t->kind == KIND_GPT2 ? "gpt2" : "bytes";
}

slt_tokenizer_state *slt_tokenizer_state_new(const slt_tokenizer *t) {
  slt_tokenizer_state *s = calloc(1, sizeof *s);
  if (s) s->t = t;
  if (s && t->kind == KIND_GPT2 && !(s->bpe = slt_bpe_state_new(t->bpe))) {
    free(s);
    s = NULL;
  }
  if (!s) slt_err_set("out of memory for a tokenizer state");
  return s;
}

void slt_tokenizer_state_free(slt_tokenizer_state *s) {
  if (!s) return;
  slt_bpe_state_free(s->bpe);
  free(s);
}

/* ---- encoding and decoding ---- */

/* Ordinary text: no special tokens. */
static int encode_ordinary(const slt_tokenizer *t, slt_tokenizer_state *st, const char *text,
                           size_t len, slt_tokens *out) {
  if (t->kind == KIND_GPT2) return slt_bpe_encode(t->bpe, st->bpe, (const uint8_t *)text, len, out);
  if (slt_tokens_reserve(out, (int64_t)len)) return -1;
  for (size_t i = 0; i < len; i++) out->ids[out->n++] = (uint8_t)text[i];
  return 0;
}

int slt_tokenizer_encode(const slt_tokenizer *t, slt_tokenizer_state *st, const char *text,
                         size_t len, int flags, slt_tokens *out) {
  slt_tokenizer_state *own = NULL;
  if (st && st->t != t) {
    slt_err_set("tokenizer state used with a tokenizer it was not made for");
    return -1;
  }
  if (!st && !(st = own = slt_tokenizer_state_new(t))) return -1;
  int rc = 0;
  if (flags & SLT_TOK_ALLOW_EOT) {
    /* The text between EOT strings is encoded on its own, as tiktoken does with specials. */
    const char *p = text, *end = text + len, *e;
    while (rc == 0 && (e = memmem(p, (size_t)(end - p), SLT_TOK_EOT_TEXT, EOT_LEN))) {
      rc = encode_ordinary(t, st, p, (size_t)(e - p), out);
      if (!rc) rc = slt_tokens_push(out, slt_tokenizer_eot(t));
      p = e + EOT_LEN;
    }
    if (!rc) rc = encode_ordinary(t, st, p, (size_t)(end - p), out);
  } else {
    rc = encode_ordinary(t, st, text, len, out);
  }
  slt_tokenizer_state_free(own);
  return rc;
}

int slt_tokenizer_decode(const slt_tokenizer *t, const uint32_t *ids, int64_t n, slt_bytebuf *out) {
  const slt_bpe *b = t->bpe;
  uint32_t vocab = (uint32_t)slt_tokenizer_vocab_size(t), eot = slt_tokenizer_eot(t);
  for (int64_t i = 0; i < n; i++) {
    uint32_t id = ids[i];
    if (id >= vocab) {
      slt_err_set("token %lld: id %u is outside the %s vocabulary (size %u)", (long long)i, id,
                  slt_tokenizer_name(t), vocab);
      return -1;
    }
    const char *src;
    size_t m;
    if (t->kind == KIND_GPT2) { /* its EOT token's bytes are the EOT string */
      src = (const char *)b->bytes + b->off[id];
      m = b->off[id + 1] - b->off[id];
    } else if (id == eot) {
      src = SLT_TOK_EOT_TEXT;
      m = EOT_LEN;
    } else {
      uint8_t byte = (uint8_t)id;
      if (out->n == out->cap && slt_bytebuf_reserve(out, 1)) return -1;
      out->data[out->n++] = (char)byte;
      continue;
    }
    if (slt_bytebuf_reserve(out, (int64_t)m)) return -1;
    memcpy(out->data + out->n, src, m);
    out->n += (int64_t)m;
  }
  return 0;
}
