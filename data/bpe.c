/* GPT-2 BPE encoding: UTF-8 runs -> regex pieces -> byte tokens -> merges, with a per-state
 * cache of piece -> ids (natural text repeats its words, so most pieces skip the merging). */
#include "bpe.h"

#include "autograd/error.h"

#include <stdlib.h>
#include <string.h>

enum {
  CACHE_MAX_PIECE = 64,  /* longer pieces are rare and not cached */
  CACHE_SLOTS = 1 << 16, /* a power of two; the cache is cleared at 3/4 full */
  CACHE_ARENA = 2 << 20, /* bytes of keys and ids */
  HEAP_FROM = 128,       /* pieces at least this long merge with a heap, O(n log n) */
  PIECE_MAX = 1 << 30,
};

typedef struct cache_slot {
  uint32_t hash, off; /* off: arena offset + 1, 0 = empty */
} cache_slot;

/* Heap entry: the pair starting at node pos, with the ids it had when pushed (to spot stale
 * entries: a node's id only changes by merging, to a new id). */
typedef struct heap_ent {
  uint32_t rank, pos, left, right, merged;
} heap_ent;

struct slt_bpe_state {
  pcre2_match_data *md;
  uint32_t *ids, *rank; /* merge scratch: ids of the piece, rank of the pair at i */
  int32_t *next, *prev; /* heap merge: a doubly linked list over positions */
  heap_ent *heap;
  int cap, heap_cap;
  cache_slot *slot;
  uint8_t *arena;
  uint32_t arena_used, used;
};

slt_bpe_state *slt_bpe_state_new(const slt_bpe *b) {
  slt_bpe_state *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->md = pcre2_match_data_create_from_pattern(b->re, NULL);
  s->slot = calloc(CACHE_SLOTS, sizeof *s->slot);
  s->arena = malloc(CACHE_ARENA);
  if (!s->md || !s->slot || !s->arena) {
    slt_bpe_state_free(s);
    return NULL;
  }
  return s;
}

void slt_bpe_state_free(slt_bpe_state *s) {
  if (!s) return;
  pcre2_match_data_free(s->md);
  free(s->ids);
  free(s->rank);
  free(s->next);
  free(s->prev);
  free(s->heap);
  free(s->slot);
  free(s->arena);
  free(s);
}

static int grow(slt_bpe_state *s, int n) {
  if (n <= s->cap) return 0;
  int cap = n < 256 ? 256 : n;
  uint32_t *ids = realloc(s->ids, cap * sizeof *ids);
  if (ids) s->ids = ids;
  uint32_t *rank = realloc(s->rank, cap * sizeof *rank);
  if (rank) s->rank = rank;
  int32_t *next = realloc(s->next, cap * sizeof *next);
  if (next) s->next = next;
  int32_t *prev = realloc(s->prev, cap * sizeof *prev);
  if (prev) s->prev = prev;
  if (!ids || !rank || !next || !prev) return -1;
  s->cap = cap;
  return 0;
}

/* ---- merging one piece ---- */

/* GPT-2's loop: take the lowest-ranked adjacent pair, merge every occurrence of it left to
 * right, repeat. O(n^2) but the pieces are short. ids[0..n) in place; returns the new n. */
static int merge_small(const slt_bpe *b, uint32_t *ids, uint32_t *rank, int n) {
  uint32_t merged[HEAP_FROM];
  uint8_t dirty[HEAP_FROM];
  for (int i = 0; i + 1 < n; i++) rank[i] = slt_bpe_lookup(b, ids[i], ids[i + 1], &merged[i]);
  while (n > 1) {
    uint32_t best = SLT_BPE_NO_RANK;
    for (int i = 0; i + 1 < n; i++) best = rank[i] < best ? rank[i] : best;
    if (best == SLT_BPE_NO_RANK) break;
    /* One pass: a pair's rank identifies it, so rank[i] == best finds every occurrence. */
    int w = 0;
    for (int i = 0; i < n; w++) {
      if (i + 1 < n && rank[i] == best) {
        ids[w] = merged[i];
        dirty[w] = 1;
        i += 2;
      } else {
        ids[w] = ids[i];
        rank[w] = rank[i];
        merged[w] = merged[i];
        dirty[w] = 0;
        i++;
      }
    }
    n = w;
    for (int i = 0; i < n; i++) {
      if (!dirty[i]) continue;
      if (i > 0) rank[i - 1] = slt_bpe_lookup(b, ids[i - 1], ids[i], &merged[i - 1]);
      if (i + 1 < n) rank[i] = slt_bpe_lookup(b, ids[i], ids[i + 1], &merged[i]);
    }
  }
  return n;
}

static int heap_less(const heap_ent *a, const heap_ent *b) {
  return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static int heap_push(slt_bpe_state *s, int *len, heap_ent e) {
  if (*len == s->heap_cap) {
    int cap = s->heap_cap ? 2 * s->heap_cap : 1024;
    heap_ent *h = realloc(s->heap, cap * sizeof *h);
    if (!h) return -1;
    s->heap = h;
    s->heap_cap = cap;
  }
  heap_ent *h = s->heap;
  int i = (*len)++;
  for (; i > 0 && heap_less(&e, &h[(i - 1) / 2]); i = (i - 1) / 2) h[i] = h[(i - 1) / 2];
  h[i] = e;
  return 0;
}

static heap_ent heap_pop(slt_bpe_state *s, int *len) {
  heap_ent *h = s->heap, top = h[0], last = h[--*len];
  int i = 0, n = *len;
  for (;;) {
    int c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && heap_less(&h[c + 1], &h[c])) c++;
    if (!heap_less(&h[c], &last)) break;
    h[i] = h[c];
    i = c;
  }
  if (n) h[i] = last;
  return top;
}

/* Push the pair starting at node i, if it has a rank. */
static int push_pair(const slt_bpe *b, slt_bpe_state *s, int *len, int i) {
  int j = i < 0 ? -1 : s->next[i];
  if (j < 0) return 0;
  uint32_t id, r = slt_bpe_lookup(b, s->ids[i], s->ids[j], &id);
  return r == SLT_BPE_NO_RANK
             ? 0
             : heap_push(s, len, (heap_ent){r, (uint32_t)i, s->ids[i], s->ids[j], id});
}

/* The same merges in O(n log n) for long pieces: popping (rank, position) in order visits every
 * occurrence of the lowest pair left to right before any higher rank, as GPT-2's passes do
 * (a merge only creates pairs of higher rank). Compacts s->ids; returns the new n, or -1. */
static int merge_heap(const slt_bpe *b, slt_bpe_state *s, int n) {
  int len = 0;
  for (int i = 0; i < n; i++) {
    s->next[i] = i + 1 < n ? i + 1 : -1;
    s->prev[i] = i - 1;
  }
  for (int i = 0; i + 1 < n; i++)
    if (push_pair(b, s, &len, i)) return -1;
  while (len) {
    heap_ent e = heap_pop(s, &len);
    int i = (int)e.pos, j = s->next[i];
    if (s->prev[i] == -2 || j < 0 || s->ids[i] != e.left || s->ids[j] != e.right) continue;
    s->ids[i] = e.merged;
    s->next[i] = s->next[j];
    if (s->next[j] >= 0) s->prev[s->next[j]] = i;
    s->prev[j] = -2; /* dead */
    if (push_pair(b, s, &len, s->prev[i]) || push_pair(b, s, &len, i)) return -1;
  }
  int w = 0;
  for (int i = 0; i >= 0; i = s->next[i]) s->ids[w++] = s->ids[i];
  return w;
}

/* Merge piece p[0..n) into s->ids[0..return). */
static int merge(const slt_bpe *b, slt_bpe_state *s, const uint8_t *p, int n, int force_heap) {
  if (grow(s, n)) return -1;
  for (int i = 0; i < n; i++) s->ids[i] = b->byte_id[p[i]];
  if (n < HEAP_FROM && !force_heap) return merge_small(b, s->ids, s->rank, n);
  return merge_heap(b, s, n);
}

int slt_bpe_merge_piece(const slt_bpe *b, slt_bpe_state *s, const uint8_t *p, int n, int force_heap,
                        slt_tokens *out) {
  int m = n ? merge(b, s, p, n, force_heap) : 0;
  if (m < 0 || slt_tokens_reserve(out, m)) {
    slt_err_set("BPE: out of memory");
    return -1;
  }
  if (m) memcpy(out->ids + out->n, s->ids, (size_t)m * sizeof *s->ids);
  out->n += m;
  return 0;
}

/* ---- the piece cache ---- */

/* An arena entry, 4-byte aligned: klen, nids, ids[nids], then the key bytes. */
typedef struct cache_ent {
  uint16_t klen, nids;
  uint32_t ids[];
} cache_ent;

static uint32_t hash_piece(const uint8_t *p, int n) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)n;
  for (int i = 0; i < n; i += 8) {
    uint64_t w = 0;
    memcpy(&w, p + i, n - i < 8 ? (size_t)(n - i) : 8);
    h = (h ^ w) * 0xff51afd7ed558ccdull;
    h ^= h >> 32;
  }
  h *= 0xc4ceb9fe1a85ec53ull;
  return (uint32_t)(h ^ h >> 29);
}

/* The cached ids of piece p[0..n), or NULL. */
static const cache_ent *cache_get(const slt_bpe_state *s, const uint8_t *p, int n, uint32_t h) {
  for (uint32_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
    cache_slot c = s->slot[i];
    if (!c.off) return NULL;
    if (c.hash != h) continue;
    const cache_ent *e = (const cache_ent *)(s->arena + c.off - 1);
    if (e->klen == n && !memcmp(e->ids + e->nids, p, n)) return e;
  }
}

/* Remember piece p -> ids[0..m). When full, start over: simple, bounded, and a text's common
 * words come back within a few thousand pieces. */
static void cache_put(slt_bpe_state *s, const uint8_t *p, int n, uint32_t h, const uint32_t *ids,
                      int m) {
  uint32_t size = (uint32_t)(sizeof(cache_ent) + 4 * m + n + 3) & ~3u;
  if (s->used + 1 > CACHE_SLOTS / 4 * 3 || s->arena_used + size > CACHE_ARENA) {
    memset(s->slot, 0, CACHE_SLOTS * sizeof *s->slot);
    s->used = s->arena_used = 0;
  }
  cache_ent *e = (cache_ent *)(s->arena + s->arena_used);
  e->klen = (uint16_t)n;
  e->nids = (uint16_t)m;
  memcpy(e->ids, ids, 4 * (size_t)m);
  memcpy(e->ids + m, p, n);
  uint32_t i = h & (CACHE_SLOTS - 1);
  while (s->slot[i].off) i = (i + 1) & (CACHE_SLOTS - 1);
  s->slot[i] = (cache_slot){h, s->arena_used + 1};
  s->arena_used += size;
  s->used++;
}

static int append(slt_tokens *out, const uint32_t *ids, int m) {
  if (slt_tokens_reserve(out, m)) return -1;
  memcpy(out->ids + out->n, ids, (size_t)m * sizeof *ids);
  out->n += m;
  return 0;
}

/* Encode one piece (cached when short). Pieces over 2^30 bytes (a gigabyte of spaces, say)
 * are cut into 2^30-byte parts so lengths fit an int. */
static int encode_piece(const slt_bpe *b, slt_bpe_state *s, const uint8_t *p, size_t len,
                        slt_tokens *out) {
  for (; len > PIECE_MAX; p += PIECE_MAX, len -= PIECE_MAX)
    if (slt_bpe_merge_piece(b, s, p, PIECE_MAX, 0, out)) return -1;
  int n = (int)len;
  if (n == 1) return slt_tokens_push(out, b->byte_id[p[0]]);
  if (n > CACHE_MAX_PIECE) return slt_bpe_merge_piece(b, s, p, n, 0, out);
  uint32_t h = hash_piece(p, n);
  const cache_ent *e = cache_get(s, p, n, h);
  if (e) return append(out, e->ids, e->nids);
  int m = merge(b, s, p, n, 0);
  if (m < 0 || append(out, s->ids, m)) {
    slt_err_set("BPE: out of memory");
    return -1;
  }
  cache_put(s, p, n, h, s->ids, m);
  return 0;
}

/* ---- pre-tokenisation ---- */

/* Length of the valid UTF-8 character at p (RFC 3629), or 0 when none starts there. */
static int utf8_len(const uint8_t *p, const uint8_t *end) {
  uint8_t c = p[0];
  if (c < 0x80) return 1;
  int k = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (!k || end - p < k) return 0;
  /* The second byte's range excludes overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4). */
  uint8_t lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
  uint8_t hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
  if (p[1] < lo || p[1] > hi) return 0;
  for (int i = 2; i < k; i++)
    if ((p[i] & 0xC0) != 0x80) return 0;
  return k;
}

/* End of the valid UTF-8 run starting at p. */
static const uint8_t *valid_run(const uint8_t *p, const uint8_t *end) {
  for (;;) {
    uint64_t w;
    while (end - p >= 8 && (memcpy(&w, p, 8), !(w & 0x8080808080808080ull))) p += 8;
    if (p == end) return p;
    int k = utf8_len(p, end);
    if (!k) return p;
    p += k;
  }
}

/* Split valid UTF-8 p[0..n) with the GPT-2 regex and encode each piece. */
static int pretokenize(const slt_bpe *b, slt_bpe_state *s, const uint8_t *p, size_t n,
                       slt_tokens *out) {
  PCRE2_SIZE pos = 0, *ov = pcre2_get_ovector_pointer(s->md);
  while (pos < n) {
    int rc =
        b->jit ? pcre2_jit_match(b->re, p, n, pos, 0, s->md, NULL) : PCRE2_ERROR_JIT_STACKLIMIT;
    /* The interpreter also serves when a pathological piece overflows the JIT stack. */
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
      rc = pcre2_match(b->re, p, n, pos, PCRE2_NO_UTF_CHECK, s->md, NULL);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof msg);
      slt_err_set("GPT-2 pre-tokenisation at byte %zu: %s", (size_t)pos, (const char *)msg);
      return -1;
    }
    /* Every character matches some branch, so matches tile the run; should one not, the
     * unmatched bytes still become a piece so that no byte is lost. */
    size_t start = rc < 0 ? n : ov[0], stop = rc < 0 || ov[1] <= ov[0] ? n : ov[1];
    if (start > pos && encode_piece(b, s, p + pos, start - pos, out)) return -1;
    if (stop > start && encode_piece(b, s, p + start, stop - start, out)) return -1;
    pos = stop;
  }
  return 0;
}

int slt_bpe_encode(const slt_bpe *b, slt_bpe_state *s, const uint8_t *text, size_t len,
                   slt_tokens *out) {
  const uint8_t *p = text, *end = text + len;
  while (p < end) {
    const uint8_t *q = valid_run(p, end), *r = q;
    if (q > p && pretokenize(b, s, p, (size_t)(q - p), out)) return -1;
    while (r < end && !utf8_len(r, end)) r++;
    if (r > q && encode_piece(b, s, q, (size_t)(r - q), out)) return -1;
    p = r;
  }
  return 0;
}
