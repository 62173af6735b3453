/* The batch loader: one interface over token shards and the synthetic Markov source.
 *
 * A row is T+1 consecutive tokens; x = row[0..T), y = row[1..T+1). The micro-batch of B rows
 * for (step, micro_step) on `rank` of `world` is a pure function of those and the seed:
 * global row g = ((step·grad_accum + micro_step)·world + rank)·B + b, b < B. So the ranks of a
 * step read consecutive, disjoint slices of one global batch, and resuming needs only the step.
 *   shards:    row i = stream tokens [i·T, i·T + T + 1), rows = (N-1)/T per epoch;
 *              epoch = g / rows, and g reads row perm_{seed,epoch}(g mod rows) when shuffling
 *              (a keyed Feistel permutation, never stored), else g mod rows.
 *   synthetic: g reads slt_markov_row(chain, g); the rows never repeat.
 * Validation reads fixed rows, never shuffled: val batch i on a rank reads val rows
 * (i·world + rank)·B + b (mod the val rows for shards; offset by 2^62 for synthetic). */
#ifndef SLT_LOADER_H
#define SLT_LOADER_H

#include "data/synthetic.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct slt_loader_cfg {
  int seq_len;     /* T: predictions per row */
  int micro_batch; /* B: rows per micro-batch on this rank */
  int grad_accum;  /* micro-batches per optimizer step */
  int rank, world; /* this process, number of processes */
  uint64_t seed;   /* shuffle key (shards; synthetic rows are keyed by the chain's seed) */
  bool shuffle;    /* shards: permute the rows within each epoch */
} slt_loader_cfg;

/* Where the loader stands; a checkpoint saves it and a restore continues identically. */
typedef struct slt_loader_cursor {
  int64_t step;       /* optimizer step of the next micro-batch */
  int64_t micro_step; /* its micro step, < grad_accum */
  int64_t rows;       /* global rows consumed so far (all ranks) */
  int64_t epoch;      /* epoch of the next row (0 for synthetic) */
  uint64_t seed;      /* the shuffle seed the rows were drawn with */
} slt_loader_cursor;

typedef struct slt_loader slt_loader;

/* A loader over the shard globs train and val (val may be NULL: no validation), every token
 * checked against vocab_size. NULL with the error recorded. */
slt_loader *slt_loader_new_shards(const char *train, const char *val, int vocab_size,
                                  const slt_loader_cfg *cfg);
/* A loader over a synthetic chain, which must outlive it. NULL with the error recorded. */
slt_loader *slt_loader_new_synthetic(const slt_markov *chain, const slt_loader_cfg *cfg);
void slt_loader_free(slt_loader *l);

/* The micro-batch for (step, micro_step): x, y are (B, T) int32, caller-allocated. 0 or -1. */
int slt_loader_batch(slt_loader *l, int64_t step, int micro_step, int32_t *x, int32_t *y);
/* The micro-batch at the cursor, then advance the cursor by one micro step. 0 or -1. */
int slt_loader_next(slt_loader *l, int32_t *x, int32_t *y);
/* Validation batch `index` (fixed rows, no shuffle); x, y (B, T). 0 or -1 (no val source). */
int slt_loader_val_batch(slt_loader *l, int64_t index, int32_t *x, int32_t *y);

/* The cursor (state for a checkpoint). */
slt_loader_cursor slt_loader_get_cursor(const slt_loader *l);
/* Continue from a saved cursor; -1 (error recorded) if it does not fit this loader's seed and
 * batch layout (the rows consumed would not match the step). */
int slt_loader_set_cursor(slt_loader *l, const slt_loader_cursor *c);

/* Move the cursor to the start of optimizer step `step` (SGT's fixedflop re-reads the run's
 * first steps at its end). 0 or -1 (error recorded) for a negative step. */
int slt_loader_seek(slt_loader *l, int64_t step);

/* Train rows per epoch (-1 for synthetic: unbounded), and val rows (-1 unbounded, 0 none). */
int64_t slt_loader_rows(const slt_loader *l);
int64_t slt_loader_val_rows(const slt_loader *l);
/* A validation file that is also a training file (under any name, through links), or NULL:
 * its rows would make the validation loss measure memorised training data. */
const char *slt_loader_val_in_train(const slt_loader *l);
/* The row (of the train stream) that global row g reads: the epoch's permutation applied. */
int64_t slt_loader_row_index(const slt_loader *l, int64_t g);

#endif
