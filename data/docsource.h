/* Documents from input files of one format, in a fixed order: text (each file one document),
 * jsonl (one field of each line) or parquet (one string column). */
#ifndef SLT_DOCSOURCE_H
#define SLT_DOCSOURCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SLT_DOC_TEXT, SLT_DOC_JSONL, SLT_DOC_PARQUET } slt_doc_format;

typedef struct slt_docsource slt_docsource;

/* Open the inputs (read one after the other). field: the JSONL field or parquet column.
 * skip_bad: JSONL lines that are malformed or lack the field are skipped and counted.
 * NULL with the error recorded (a missing file is reported here, before any work). */
slt_docsource *slt_docsource_open(slt_doc_format fmt, const char *const *paths, int npaths,
                                  const char *field, bool skip_bad);
/* The next document: 1 with *text, *len (valid until the next call), 0 at the end, -1 on error. */
int slt_docsource_next(slt_docsource *s, const char **text, size_t *len);
/* Total bytes of the input files, and an estimate of how far through them the reader is. */
int64_t slt_docsource_total_bytes(const slt_docsource *s);
int64_t slt_docsource_done_bytes(const slt_docsource *s);
/* JSONL lines skipped under skip_bad. */
int64_t slt_docsource_skipped(const slt_docsource *s);
void slt_docsource_close(slt_docsource *s);
/* "text" | "jsonl" | "parquet" -> format; -1 when unknown. */
int slt_doc_format_parse(const char *name);

#endif
