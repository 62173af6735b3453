/* Parquet internals shared by data/parquet*.c and the ingest tests (not a public interface).
 *   parquet_thrift.c  Thrift compact protocol: primitives and skipping
 *   parquet_meta.c    FileMetaData: the schema and the chosen column's chunks
 *   parquet_page.c    PageHeader, RLE/bit-packed hybrid, dictionary and data pages (v1, v2)
 *   parquet_codec.c   decompression and the names of enum values for messages
 *   parquet.c         the public cursor: footer, row groups, pages
 * Functions below record a reason with slt_err_set (without the file and column, which the
 * cursor adds) and return -1. */
#ifndef SLT_PARQUET_INT_H
#define SLT_PARQUET_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest decompressed page accepted: far above real pages (about 1 MB), and it keeps a
 * corrupt size from asking for gigabytes. */
#define SLT_PQ_MAX_PAGE (256u << 20)

enum { SLT_PQ_BYTE_ARRAY = 6 };                                         /* parquet Type */
enum { SLT_PQ_REQUIRED = 0, SLT_PQ_OPTIONAL = 1, SLT_PQ_REPEATED = 2 }; /* repetition */
enum { SLT_PQ_UNCOMPRESSED = 0, SLT_PQ_SNAPPY = 1, SLT_PQ_GZIP = 2, SLT_PQ_ZSTD = 6 };
enum { SLT_PQ_PLAIN = 0, SLT_PQ_PLAIN_DICTIONARY = 2, SLT_PQ_RLE = 3, SLT_PQ_RLE_DICTIONARY = 8 };
enum { SLT_PQ_DATA_PAGE = 0, SLT_PQ_INDEX_PAGE = 1, SLT_PQ_DICT_PAGE = 2, SLT_PQ_DATA_PAGE_V2 = 3 };

/* ---- Thrift compact protocol (parquet_thrift.c) ---- */

/* A read position in a buffer that sits at file offset `base`; after the first error (recorded
 * as "corrupt <what> at offset N: <why>") every read returns 0 and err is set. */
typedef struct slt_pq_thrift {
  const uint8_t *start, *p, *end;
  int64_t base;
  const char *what; /* "footer", "page header" */
  int depth;        /* struct nesting, bounded so corrupt input cannot exhaust the stack */
  bool err;
} slt_pq_thrift;

enum {
  SLT_PQ_T_STOP = 0,
  SLT_PQ_T_TRUE = 1,
  SLT_PQ_T_FALSE = 2,
  SLT_PQ_T_I8 = 3,
  SLT_PQ_T_I16 = 4,
  SLT_PQ_T_I32 = 5,
  SLT_PQ_T_I64 = 6,
  SLT_PQ_T_DOUBLE = 7,
  SLT_PQ_T_BINARY = 8,
  SLT_PQ_T_LIST = 9,
  SLT_PQ_T_SET = 10,
  SLT_PQ_T_MAP = 11,
  SLT_PQ_T_STRUCT = 12
};

void slt_pq_thrift_init(slt_pq_thrift *t, const uint8_t *buf, size_t n, int64_t base,
                        const char *what);
/* Record the first error at the current offset; later reads return 0. */
void slt_pq_thrift_fail(slt_pq_thrift *t, const char *why);
/* Next field header of the current struct: true with *id and *type, false at its end (or error).
 * *last is the previous field id of this struct (start at 0). */
bool slt_pq_field(slt_pq_thrift *t, int16_t *last, int16_t *id, int *type);
/* An integer field of any width (i8..i64); other types are an error. */
int64_t slt_pq_int(slt_pq_thrift *t, int type);
/* A boolean field (its value lives in the type). */
bool slt_pq_bool(slt_pq_thrift *t, int type);
/* A binary/string field: pointer into the buffer and length. */
const uint8_t *slt_pq_binary(slt_pq_thrift *t, int type, size_t *len);
/* A list/set header: element count (checked against the bytes left) and element type. */
int64_t slt_pq_list(slt_pq_thrift *t, int type, int *elem);
/* Skip a value of this type (bounded nesting). */
void slt_pq_skip(slt_pq_thrift *t, int type);

/* ---- metadata (parquet_meta.c) ---- */

/* The chosen column's chunk in one row group. */
typedef struct slt_pq_chunk {
  int64_t offset, size; /* file bytes [offset, offset+size): the dictionary page, if any, first */
  int64_t uncompressed; /* total_uncompressed_size (page headers included) */
  int64_t values;       /* num_values: level slots, nulls included */
  int64_t rows;         /* the row group's num_rows */
  int codec;
} slt_pq_chunk;

typedef struct slt_pq_meta {
  int64_t num_rows;
  int ngroups;
  slt_pq_chunk *chunks; /* [ngroups] */
  int max_def;          /* 1 for an OPTIONAL column, 0 for REQUIRED */
} slt_pq_meta;

/* Parse a FileMetaData of `n` bytes at file offset `base` and select `column`: a top-level
 * BYTE_ARRAY leaf. The chunks are checked to lie inside [4, data_end). 0 or -1. */
int slt_pq_meta_parse(const uint8_t *buf, size_t n, int64_t base, int64_t data_end,
                      const char *column, slt_pq_meta *m);
void slt_pq_meta_free(slt_pq_meta *m);

/* ---- pages (parquet_page.c) ---- */

typedef struct slt_pq_page_header {
  int type;
  int64_t uncompressed, compressed; /* page body sizes, header excluded */
  int64_t num_values;               /* level slots (data pages) or entries (dictionary) */
  int64_t num_nulls;                /* v2 */
  int encoding;                     /* values */
  int def_encoding;                 /* v1 */
  int64_t def_len, rep_len;         /* v2: level bytes at the start of the body */
  bool is_compressed;               /* v2: false means the values are stored raw */
} slt_pq_page_header;

/* Parse the PageHeader at buf[0..n) (file offset base); *used = its length. 0 or -1. */
int slt_pq_page_header_parse(const uint8_t *buf, size_t n, int64_t base, slt_pq_page_header *h,
                             size_t *used);

/* A reader of the RLE/bit-packed hybrid encoding (levels, dictionary indices). */
typedef struct slt_pq_rle {
  const uint8_t *p, *end; /* runs not yet started */
  int bw;                 /* bit width, 0..32 */
  uint64_t rle_left;      /* values left in the current RLE run */
  uint32_t rle_val;
  uint64_t bp_left;         /* values left in the current bit-packed run */
  const uint8_t *bp;        /* its bytes */
  uint64_t bp_bit, bp_bits; /* next bit, bits available */
} slt_pq_rle;

/* Start reading runs of bw-bit values from buf[0..n). */
void slt_pq_rle_init(slt_pq_rle *r, const uint8_t *buf, size_t n, int bw);
/* Next value: 0, or -1 (reason recorded) when the data ends or a run is corrupt. */
int slt_pq_rle_next(slt_pq_rle *r, uint32_t *v);

/* Dictionary entries: pointers into the (caller-owned) decompressed dictionary page. */
typedef struct slt_pq_dict {
  const uint8_t **ptr;
  uint32_t *len;
  int64_t n;
} slt_pq_dict;

/* Load `count` PLAIN BYTE_ARRAY values from buf[0..n) (count checked before allocating). */
int slt_pq_dict_load(slt_pq_dict *d, const uint8_t *buf, size_t n, int64_t count);
void slt_pq_dict_free(slt_pq_dict *d);

/* The values of one data page, read slot by slot. */
typedef struct slt_pq_page {
  int64_t left; /* level slots not yet read */
  int max_def;
  bool has_def; /* definition levels present (else every slot holds a value) */
  slt_pq_rle def;
  bool dict;
  slt_pq_rle idx;
  const slt_pq_dict *d;
  const uint8_t *vp, *vend; /* PLAIN values */
} slt_pq_page;

/* Set up a data page. v1: levels == NULL and body is the whole decompressed page. v2: levels is
 * the raw level bytes (rep then def: h->rep_len + h->def_len bytes, which the caller has checked
 * lie inside the page) and body the decompressed values. 0 or -1. */
int slt_pq_page_open(slt_pq_page *pg, const slt_pq_page_header *h, const uint8_t *levels,
                     const uint8_t *body, size_t n, int max_def, const slt_pq_dict *d);
/* The next value: 1 with *s and *len, 0 when the page is done, -1 corrupt. Nulls on the way are
 * added to *nulls (a run of nulls is skipped whole, however long). */
int slt_pq_page_next(slt_pq_page *pg, const uint8_t **s, size_t *len, int64_t *nulls);

/* ---- codecs and names (parquet_codec.c) ---- */

/* Decompress exactly `want` bytes from src[0..n) into dst. 0 or -1. */
int slt_pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t want);
bool slt_pq_codec_supported(int codec);
const char *slt_pq_codec_name(int codec);
const char *slt_pq_encoding_name(int encoding);
const char *slt_pq_type_name(int type);

#endif
