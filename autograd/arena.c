#include "arena.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 64
#define ARENA_MIN_CHUNK (64u << 20)

struct slt_arena_chunk {
  slt_arena_chunk *next;
  size_t cap, used;
  char *mem;
};

static size_t align_up(size_t n) { return (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1); }

static slt_arena_chunk *chunk_new(slt_arena *a, size_t cap) {
  slt_arena_chunk *c = malloc(sizeof *c);
  if (!c) return NULL;
  c->mem = aligned_alloc(ARENA_ALIGN, align_up(cap));
  if (!c->mem) {
    free(c);
    return NULL;
  }
  c->cap = align_up(cap);
  c->used = 0;
  c->next = a->chunks;
  a->chunks = c;
  a->mallocs++;
  return c;
}

void *slt_arena_alloc(slt_arena *a, size_t bytes) {
  size_t n = align_up(bytes ? bytes : 1);
  slt_arena_chunk *c = a->chunks;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > ARENA_MIN_CHUNK ? n : ARENA_MIN_CHUNK;
    c = chunk_new(a, cap);
    if (!c) {
      slt_err_set("out of memory: arena could not grow by %zu bytes", bytes);
      return NULL;
    }
  }
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

static void free_chunks(slt_arena_chunk *c) {
  while (c) {
    slt_arena_chunk *next = c->next;
    free(c->mem);
    free(c);
    c = next;
  }
}

void slt_arena_reset(slt_arena *a) {
  if (a->chunks && a->chunks->next) {
    /* Several chunks were needed: replace them by one block big enough for the whole step. */
    free_chunks(a->chunks);
    a->chunks = NULL;
    chunk_new(a, a->peak); /* on failure the next alloc grows again */
  }
  if (a->chunks) a->chunks->used = 0;
  a->used = 0;
}

void slt_arena_free(slt_arena *a) {
  free_chunks(a->chunks);
  a->chunks = NULL;
  a->used = 0;
}
