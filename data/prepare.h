/* slt prepare: documents -> llm.c-format token shards with a train/val split.
 * EOT precedes each document; a document goes to val when a hash of its index (and the split
 * seed) falls below val_fraction, so the split does not depend on content, format or threads.
 * Documents are encoded in parallel in batches and written in input order, so the shards are
 * byte-identical whatever the thread count. */
#ifndef SLT_PREPARE_H
#define SLT_PREPARE_H

#include "data/docsource.h"
#include "data/tokenizer.h"

typedef struct slt_prepare_opts {
  const char *out_dir;   /* must not already hold shards: nothing written is ever replaced */
  double val_fraction;   /* in [0, 1) */
  uint64_t split_seed;
  int64_t shard_tokens;  /* tokens per shard file (the last may hold fewer) */
  int batch_docs;        /* documents encoded in parallel per batch */
} slt_prepare_opts;

typedef struct slt_prepare_stats {
  int64_t docs, val_docs, skipped;
  int64_t text_bytes, tokens, val_tokens;
  int train_shards, val_shards;
  int64_t input_done, input_total; /* bytes of the input files, for progress */
} slt_prepare_stats;

/* Called after each batch with the running totals. */
typedef void (*slt_prepare_progress)(const slt_prepare_stats *s, void *user);

/* Run it; 0, or -1 with the error recorded. Shards get their final names only after the whole
 * input was read; a failed run removes its partial shards (and out_dir, if it created it). */
int slt_prepare_run(slt_docsource *src, const slt_tokenizer *tok, const slt_prepare_opts *o,
                    slt_prepare_progress progress, void *user, slt_prepare_stats *stats);

#endif
