/* Per-step bump allocator for activations, their gradients and tape nodes.
 * The first step grows it chunk by chunk; a reset keeps every chunk and starts again at the
 * first, so a step that repeats the allocations of the one before performs no malloc and
 * touches no new page (coalescing into one fresh block would page-fault all of it again). */
#ifndef SLT_ARENA_H
#define SLT_ARENA_H

#include <stddef.h>

typedef struct slt_arena_chunk slt_arena_chunk;

typedef struct slt_arena {
  slt_arena_chunk *chunks; /* oldest first */
  slt_arena_chunk *cur;    /* the chunk allocations come from now */
  size_t used;             /* bytes handed out since the last reset, all chunks */
  size_t peak;             /* high-water mark of used */
  size_t mallocs;          /* chunk allocations so far: tests check the steady state adds none */
} slt_arena;

/* Aligned (64 B) uninitialised memory, or NULL (error recorded) when out of memory. */
void *slt_arena_alloc(slt_arena *a, size_t bytes);
/* Same, zero-filled. */
void *slt_arena_calloc(slt_arena *a, size_t bytes);
/* Forget every allocation; keeps the memory for the next step. */
void slt_arena_reset(slt_arena *a);
/* Release all memory. */
void slt_arena_free(slt_arena *a);

#endif
