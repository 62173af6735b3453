/* A minimal parquet writer for the ingest tests: files with every combination of page version,
 * codec, dictionary and nullability that the reader supports, plus deliberate defects. */
#ifndef SLT_TEST_PQ_WRITER_H
#define SLT_TEST_PQ_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wbuf {
  uint8_t *b;
  size_t n, cap;
  int16_t last[16]; /* Thrift: previous field id per open struct */
  int depth;
} wbuf;

typedef struct pq_spec {
  int version;      /* data page 1 or 2 */
  int codec;        /* SLT_PQ_* */
  bool dict;        /* dictionary page + RLE_DICTIONARY values */
  bool optional;    /* nullable column: definition levels */
  int group_rows;   /* rows per row group */
  int page_rows;    /* rows per data page */
  int bad_encoding; /* >0: write this value encoding into the data page headers */
  int bad_codec;    /* >0: claim this codec in the metadata */
  int shrink;       /* record the content chunk this many bytes shorter than it is */
  int undercount;   /* record row group 0 (and the file) as holding this many rows fewer */
  bool two_schemas; /* write the footer's schema field twice */
} pq_spec;

typedef struct pq_file {
  wbuf f;
  size_t page_off[256]; /* file offsets of the content column's page headers */
  int npages;
} pq_file;

/* A whole parquet file in memory holding vals[0..n) (NULL entries are nulls) as column "content"
 * (plus an int "id" column), laid out as the spec says. */
pq_file pq_build(const pq_spec *sp, const char *const *vals, int n);
/* n test values of varied lengths with repeats (dictionaries pay off); some NULL when nulls. */
char **pq_make_vals(int n, bool nulls);
void pq_free_vals(char **v, int n);
/* Read the whole column and compare with vals (nulls skipped, counted in *nulls); the reader's
 * final status. */
int pq_read_back(const char *path, const char *column, char *const *vals, int n, int64_t *nulls);
/* Read a column to the end: its final status (-1 also when it does not open); *values counts. */
int pq_drain(const char *path, const char *column, int64_t *values);

#endif
