/* A streaming reader of one flat string column of a Parquet file (RefinedWeb's `content`).
 *
 * Supported: data pages v1 and v2, dictionary pages; value encodings PLAIN and
 * PLAIN_DICTIONARY/RLE_DICTIONARY; definition levels in the RLE/bit-packed hybrid (nullable
 * columns: nulls are skipped and counted); codecs UNCOMPRESSED, SNAPPY, GZIP and ZSTD.
 * Anything else (nested or non-string columns, other encodings or codecs, encryption) is refused
 * with one error naming the file, the column and the feature; corrupt input is an error naming
 * the offset, never a crash.
 *
 * Memory is bounded by one row group's column chunk (read with pread) plus one decompressed page
 * and the dictionary, never the whole file. A reader is not thread-safe: use one per thread. */
#ifndef SLT_PARQUET_H
#define SLT_PARQUET_H

#include <stddef.h>
#include <stdint.h>

typedef struct slt_parquet slt_parquet;

/* Open path and read its footer, selecting the top-level string column by name. NULL with the
 * error recorded (no such column: the message lists the columns). */
slt_parquet *slt_parquet_open(const char *path, const char *column);
/* The next non-null value: 1 with *str and *len set (the stored bytes, UTF-8 by convention but
 * not validated; not NUL-terminated; valid until the next call or close), 0 at the end of the
 * file, -1 with the error recorded (the reader is then done). */
int slt_parquet_next(slt_parquet *p, const char **str, size_t *len);
/* Rows in the file, from the footer (for progress and checks). */
int64_t slt_parquet_num_rows(const slt_parquet *p);
/* Row groups in the file. */
int slt_parquet_row_groups(const slt_parquet *p);
/* Rows consumed so far (values returned plus nulls skipped). */
int64_t slt_parquet_rows(const slt_parquet *p);
/* Nulls skipped so far. */
int64_t slt_parquet_nulls(const slt_parquet *p);
/* Close the file and free everything; NULL is fine. */
void slt_parquet_close(slt_parquet *p);

#endif
