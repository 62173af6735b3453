/* Page decompression (snappy, zstd, gzip) and the names of Parquet's enum values, so errors say
 * "unsupported codec BROTLI" rather than a number. Each decompressor must produce exactly the
 * size the page header promises: anything else means a corrupt page. */
#include "parquet_int.h"

#include "autograd/error.h"

#include <snappy-c.h>
#include <stdio.h>
#include <zlib.h>
#include <zstd.h>

static int unsnappy(const uint8_t *src, size_t n, uint8_t *dst, size_t want) {
  size_t len;
  if (snappy_uncompressed_length((const char *)src, n, &len) != SNAPPY_OK || len != want) {
    slt_err_set("snappy data does not decompress to the %zu bytes the header says", want);
    return -1;
  }
  if (snappy_uncompress((const char *)src, n, (char *)dst, &len) != SNAPPY_OK || len != want) {
    slt_err_set("corrupt snappy data");
    return -1;
  }
  return 0;
}

static int unzstd(const uint8_t *src, size_t n, uint8_t *dst, size_t want) {
  size_t got = ZSTD_decompress(dst, want, src, n);
  if (ZSTD_isError(got) || got != want) {
    slt_err_set("corrupt zstd data (%s; want %zu bytes)",
                ZSTD_isError(got) ? ZSTD_getErrorName(got) : "wrong size", want);
    return -1;
  }
  return 0;
}

/* gzip, possibly several members back to back (zlib-wrapped data is accepted too). */
static int ungzip(const uint8_t *src, size_t n, uint8_t *dst, size_t want) {
  z_stream z = {0};
  if (inflateInit2(&z, 32 + MAX_WBITS) != Z_OK) {
    slt_err_set("cannot start zlib");
    return -1;
  }
  z.next_in = (Bytef *)src, z.avail_in = (uInt)n;
  z.next_out = dst, z.avail_out = (uInt)want;
  int rc;
  for (;;) {
    rc = inflate(&z, Z_FINISH);
    if (rc != Z_STREAM_END || z.avail_in == 0 || z.avail_out == 0) break;
    if (inflateReset(&z) != Z_OK) { /* another member follows */
      rc = Z_DATA_ERROR;
      break;
    }
  }
  size_t got = want - z.avail_out;
  inflateEnd(&z);
  if (rc != Z_STREAM_END || got != want) {
    slt_err_set("corrupt gzip data (%zu of %zu bytes decoded)", got, want);
    return -1;
  }
  return 0;
}

int slt_pq_decompress(int codec, const uint8_t *src, size_t n, uint8_t *dst, size_t want) {
  if (n > UINT32_MAX || want > UINT32_MAX) { /* zlib counts in uInt; pages are far smaller */
    slt_err_set("page too large");
    return -1;
  }
  switch (codec) {
  case SLT_PQ_SNAPPY:
    return unsnappy(src, n, dst, want);
  case SLT_PQ_ZSTD:
    return unzstd(src, n, dst, want);
  case SLT_PQ_GZIP:
    return ungzip(src, n, dst, want);
  default:
    slt_err_set("unsupported codec %s", slt_pq_codec_name(codec));
    return -1;
  }
}

bool slt_pq_codec_supported(int codec) {
  return codec == SLT_PQ_UNCOMPRESSED || codec == SLT_PQ_SNAPPY || codec == SLT_PQ_GZIP ||
         codec == SLT_PQ_ZSTD;
}

/* A name from a table, or "#N" (in a rotating buffer) for values the format does not define. */
static const char *name_of(const char *const *names, int count, int v) {
  static _Thread_local char buf[4][16];
  static _Thread_local int next;
  if (v >= 0 && v < count && names[v]) return names[v];
  char *b = buf[next++ & 3];
  snprintf(b, sizeof buf[0], "#%d", v);
  return b;
}

const char *slt_pq_codec_name(int codec) {
  static const char *const n[] = {"UNCOMPRESSED", "SNAPPY", "GZIP", "LZO",
                                  "BROTLI",       "LZ4",    "ZSTD", "LZ4_RAW"};
  return name_of(n, 8, codec);
}

const char *slt_pq_encoding_name(int encoding) {
  static const char *const n[] = {
      "PLAIN",          "GROUP_VAR_INT",       "PLAIN_DICTIONARY",        "RLE",
      "BIT_PACKED",     "DELTA_BINARY_PACKED", "DELTA_LENGTH_BYTE_ARRAY", "DELTA_BYTE_ARRAY",
      "RLE_DICTIONARY", "BYTE_STREAM_SPLIT"};
  return name_of(n, 10, encoding);
}

const char *slt_pq_type_name(int type) {
  static const char *const n[] = {"BOOLEAN", "INT32",  "INT64",      "INT96",
                                  "FLOAT",   "DOUBLE", "BYTE_ARRAY", "FIXED_LEN_BYTE_ARRAY"};
  return name_of(n, 8, type);
}
