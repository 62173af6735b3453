/* Token shards in llm.c's format (SPEC §7): a header of 256 little-endian int32 ([0] magic,
 * [1] version, [2] token count, rest 0) followed by the tokens, uint16 (magic 20240520,
 * version 1) or uint32 (magic 20240801, version 7, for vocabularies over 65,535).
 * A glob of shards is read as one stream: the files sorted by name and concatenated. */
#ifndef SLT_SHARD_H
#define SLT_SHARD_H

#include <stdint.h>

#define SLT_SHARD_HEADER_BYTES 1024
#define SLT_SHARD_MAGIC_U16 20240520
#define SLT_SHARD_VERSION_U16 1
#define SLT_SHARD_MAGIC_U32 20240801
#define SLT_SHARD_VERSION_U32 7

typedef struct slt_shards slt_shards;

/* Write tokens[0..n) to path as one shard of width 2 (uint16) or 4 (uint32) bytes per token.
 * Goes through a temporary file in the same directory, fsynced and renamed, so a crash never
 * leaves a partial file under the final name. 0, or -1 with the error recorded. */
int slt_shard_write(const char *path, const uint32_t *tokens, int64_t n, int width);

/* Open every file matching the glob, memory-mapped, and validate each (a regular file,
 * magic/version, exact size, not the same file as another match through a link, and with
 * vocab_size > 0 every token below it). NULL with the error recorded. */
slt_shards *slt_shards_open(const char *pattern, int vocab_size);
/* Total tokens in the concatenated stream. */
int64_t slt_shards_tokens(const slt_shards *s);
/* Number of files in the stream, and the path of file i (in stream order). */
int slt_shards_files(const slt_shards *s);
const char *slt_shards_path(const slt_shards *s, int i);
/* The path (in b) of the first file of b that is also a file of a, or NULL if they share none. */
const char *slt_shards_shared(const slt_shards *a, const slt_shards *b);
/* Copy tokens [offset, offset + n) of the stream to out (may span files). 0, or -1 (error
 * recorded) when the range is outside the stream, or when a file changed since it was opened:
 * truncated (no SIGBUS: an error naming the file) or holding a token no longer below the limit. */
int slt_shards_read(const slt_shards *s, int64_t offset, int n, int32_t *out);
/* Unmap and free; NULL is fine. */
void slt_shards_close(slt_shards *s);

#endif
