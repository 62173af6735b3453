#include "arena.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_CHUNK (64u << 20)

struct slt_arena_chunk {
  slt_arena_chunk *next; /* the chunk allocated after this one */
  size_t cap, used;
  char *mem;
};

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

/* A new chunk after every existing one; NULL when out of memory. */
static slt_arena_chunk *chunk_append(slt_arena *a, size_t cap) {
  slt_arena_chunk *c = malloc(sizeof *c);
  if (!c) return NULL;
  c->mem = aligned_alloc(ARENA_ALIGN, align_up(cap));
  if (!c->mem) {
    free(c);
    return NULL;
  }
  c->cap = align_up(cap);
  c->used = 0;
  c->next = NULL;
  slt_arena_chunk **tail = &a->chunks;
  while (*tail) tail = &(*tail)->next;
  *tail = c;
  a->mallocs++;
  return c;
}

void *slt_arena_alloc(slt_arena *a, size_t bytes) {
  size_t n = align_up(bytes ? bytes : 1);
  slt_arena_chunk *c = a->cur ? a->cur : a->chunks;
  /* Later chunks only: a step repeats its allocations in the same order, so from the second
   * step on every allocation lands where it did before, in memory already touched. */
  while (c && c->cap - c->used < n) c = c->next;
  if (!c) {
    c = chunk_append(a, n > ARENA_MIN_CHUNK ? n : ARENA_MIN_CHUNK);
    if (!c) {
      slt_err_set("out of memory: arena could not grow by %zu bytes", bytes);
      return NULL;
    }
  }
  a->cur = c;
  void *p = c->mem + c->used;
  c->used += n;
  a->used += n;
  if (a->used > a->peak) a->peak = a->used;
  return p;
}

void *slt_arena_calloc(slt_arena *a, size_t bytes) {
  void *p = slt_arena_alloc(a, bytes);
  if (p) memset(p, 0, bytes);
  return p;
}

void slt_arena_reset(slt_arena *a) {
  for (slt_arena_chunk *c = a->chunks; c; c = c->next) c->used = 0;
  a->cur = a->chunks;
  a->used = 0;
}

void slt_arena_free(slt_arena *a) {
  slt_arena_chunk *c = a->chunks;
  while (c) {
    slt_arena_chunk *next = c->next;
    free(c->mem);
    free(c);
    c = next;
  }
  a->chunks = a->cur = NULL;
  a->used = 0;
}
