/* GPT-2 byte-level BPE internals, shared by bpe_load.c (loading), bpe.c (encoding) and
 * tokenizer.c (the public interface, data/tokenizer.h). Not for use outside data/. */
#ifndef SLT_BPE_H
#define SLT_BPE_H

#include "tokenizer.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdint.h>

#define SLT_BPE_NO_RANK UINT32_MAX

/* One merge: the pair (left id, right id) packed as left << 32 | right, its rank (line order),
 * and the id of the merged token. An empty slot has key UINT64_MAX. */
typedef struct slt_bpe_merge {
  uint64_t key;
  uint32_t rank, id;
} slt_bpe_merge;

/* A loaded vocabulary: read-only after slt_bpe_load, shareable between threads. */
typedef struct slt_bpe {
  int n_vocab;
  uint32_t eot;
  uint32_t byte_id[256]; /* id of the one-byte token of each byte value */
  uint32_t *off;         /* token i's bytes are bytes[off[i] .. off[i+1]) */
  uint8_t *bytes;
  slt_bpe_merge *merges; /* open addressing, capacity mask + 1 (a power of two) */
  uint32_t mask;
  int n_merges;
  pcre2_code *re; /* the pre-tokenisation regex */
  int jit;        /* 1 when re is JIT-compiled */
} slt_bpe;

typedef struct slt_bpe_state slt_bpe_state;

/* A reader for a flat JSON object of string keys and non-negative integer values, the shape of
 * encoder.json and vocab.json. Set s, n and line = 1, the rest 0, before the first call. */
typedef struct slt_bpe_json {
  const char *s;
  size_t n, pos;
  int line;        /* current line, for messages */
  int state;       /* 0 before '{', 1 after '{', 2 after a member, 3 after '}' */
  const char *err; /* what went wrong when next returns -1 */
} slt_bpe_json;

/* The next member: its key decoded to UTF-8 in key (room for n bytes) with length *klen, and its
 * value. 1 = a member, 0 = the object ended (nothing but whitespace after it), -1 = error. */
int slt_bpe_json_next(slt_bpe_json *j, char *key, int *klen, int64_t *val);

/* Load from dir (see slt_tokenizer_gpt2_load). NULL with the error recorded. */
slt_bpe *slt_bpe_load(const char *dir);
/* Free; NULL is fine. */
void slt_bpe_free(slt_bpe *b);

/* Rank and merged id of the pair (l, r); SLT_BPE_NO_RANK when the pair never merges. */
static inline uint32_t slt_bpe_lookup(const slt_bpe *b, uint32_t l, uint32_t r, uint32_t *id) {
  uint64_t key = (uint64_t)l << 32 | r;
  uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & b->mask;
  for (;; h = (h + 1) & b->mask) {
    const slt_bpe_merge *m = &b->merges[h];
    if (m->key == key) {
      *id = m->id;
      return m->rank;
    }
    if (m->key == UINT64_MAX) return SLT_BPE_NO_RANK;
  }
}

/* Slot where key lives or would be inserted (the table is never full). */
static inline uint32_t slt_bpe_slot(const slt_bpe *b, uint64_t key) {
  uint32_t h = (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> 32) & b->mask;
  while (b->merges[h].key != key && b->merges[h].key != UINT64_MAX) h = (h + 1) & b->mask;
  return h;
}

/* A per-thread workspace: match data, merge scratch, the word cache. NULL when out of memory. */
slt_bpe_state *slt_bpe_state_new(const slt_bpe *b);
/* Free; NULL is fine. */
void slt_bpe_state_free(slt_bpe_state *s);
/* Encode text[0..len) as ordinary text (no special tokens), appending to out. 0 or -1. */
int slt_bpe_encode(const slt_bpe *b, slt_bpe_state *s, const uint8_t *text, size_t len,
                   slt_tokens *out);
/* BPE-merge one piece as it stands (no pre-tokenisation, no cache), appending to out.
 * force_heap takes the O(n log n) path of long pieces at any length, so tests can compare the
 * two. 0 or -1. */
int slt_bpe_merge_piece(const slt_bpe *b, slt_bpe_state *s, const uint8_t *p, int n, int force_heap,
                        slt_tokens *out);

#endif
