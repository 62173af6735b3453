/* Per-step bump allocator for activations, their gradients and tape nodes.
 * The first steps grow it chunk by chunk; a reset coalesces the chunks into one block of the
 * high-water size, so from the second step on a step performs no malloc at all. */
#ifndef SLT_ARENA_H
#define SLT_ARENA_H

#include <stddef.h>

typedef struct slt_arena_chunk slt_arena_chunk;

typedef struct slt_arena {
  slt_arena_chunk *chunks; /* newest first */
  size_t used;             /* bytes handed out since the last reset, all chunks */
  size_t peak;             /* high-water mark of used */
  size_t mallocs;          /* chunk allocations so far: tests check the steady state adds none */
} slt_arena;

/* Aligned (64 B) uninitialised memory, or NULL (error recorded) when out of memory. */
void *slt_arena_alloc(slt_arena *a, size_t bytes);
/* Same, zero-filled. */
void *slt_arena_calloc(slt_arena *a, size_t bytes);
/* Forget every allocation; keeps (and coalesces) the memory for the next step. */
void slt_arena_reset(slt_arena *a);
/* Release all memory. */
void slt_arena_free(slt_arena *a);

#endif
