/* Ingestion readers: parquet (the RefinedWeb samples against their JSONL twin, hand-built files
 * covering every page kind, encoding and codec, the level and page decoders on hand-made bytes,
 * corrupt and truncated inputs) and JSONL (escapes, skipping, bad lines).
 *
 * The parquet files are built here by a small writer (Thrift compact by hand). With
 * SLT_FUZZ_CORPUS=DIR set, the suite also writes the fuzzers' seed corpus into DIR/{parquet,jsonl,
 * shard} (see tests/fuzz/README.md). */
#define _GNU_SOURCE /* nftw, mkdtemp */
#include "suites.h"
#include "test_util.h"
#include "pq_writer.h"

#include "autograd/error.h"
#include "data/jsonl.h"
#include "data/parquet.h"
#include "data/parquet_int.h"
#include "data/shard.h"

#include <ftw.h>
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>
#include <zstd.h>






static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  CU_ASSERT_EQUAL(fwrite(data, 1, n, f), n);
  fclose(f);
}


/* ---------------- the samples ---------------- */

typedef struct docs {
  char **s;
  size_t *len;
  int n;
} docs;

static void docs_add(docs *d, const char *s, size_t len) {
  d->s = realloc(d->s, (size_t)(d->n + 1) * sizeof *d->s);
  d->len = realloc(d->len, (size_t)(d->n + 1) * sizeof *d->len);
  d->s[d->n] = malloc(len + 1);
  memcpy(d->s[d->n], s, len);
  d->len[d->n++] = len;
}

static void docs_free(docs *d) {
  for (int i = 0; i < d->n; i++) free(d->s[i]);
  free(d->s), free(d->len);
}

static int read_parquet_docs(const char *path, const char *col, docs *d) {
  slt_parquet *p = slt_parquet_open(path, col);
  const char *s;
  size_t len;
  int rc = -1;
  while (p && (rc = slt_parquet_next(p, &s, &len)) == 1) docs_add(d, s, len);
  if (rc < 0) printf("\n  %s: %s\n", path, slt_err_msg());
  slt_parquet_close(p);
  return rc;
}

static int read_jsonl_docs(const char *path, const char *field, docs *d) {
  slt_jsonl *j = slt_jsonl_open(path, field, false);
  const char *s;
  size_t len;
  int rc = -1;
  while (j && (rc = slt_jsonl_next(j, &s, &len)) == 1) docs_add(d, s, len);
  if (rc < 0) printf("\n  %s: %s\n", path, slt_err_msg());
  slt_jsonl_close(j);
  return rc;
}

static int64_t code_points(const docs *d) {
  int64_t n = 0;
  for (int i = 0; i < d->n; i++)
    for (size_t k = 0; k < d->len[i]; k++) n += ((unsigned char)d->s[i][k] & 0xC0) != 0x80;
  return n;
}

static bool docs_equal(const docs *a, const docs *b) {
  if (a->n != b->n) return false;
  for (int i = 0; i < a->n; i++)
    if (a->len[i] != b->len[i] || memcmp(a->s[i], b->s[i], a->len[i])) return false;
  return true;
}

/* The sample's path, or NULL (SKIPPED loudly) when the data is missing. */
static const char *sample(const char *test, const char *file, char *buf, size_t cap) {
  const char *dir = test_data_dir(test);
  if (!dir) return NULL;
  snprintf(buf, cap, "%s/refinedweb-sample/%s", dir, file);
  struct stat st;
  if (stat(buf, &st) == 0) return buf;
  char why[700];
  snprintf(why, sizeof why, "sample file '%s' not found", buf);
  test_skip(test, why);
  return NULL;
}

static void test_samples_agree(void) {
  char a[600], b[600], c[600];
  const char *snappy = sample("ingest samples", "rw-snappy.parquet", a, sizeof a);
  const char *zstd = snappy ? sample("ingest samples", "rw-zstd.parquet", b, sizeof b) : NULL;
  const char *jsonl = zstd ? sample("ingest samples", "rw.jsonl", c, sizeof c) : NULL;
  if (!jsonl) return; /* SKIPPED, said once */
  /* content (PLAIN pages), dump (dictionary pages), url (a second PLAIN column) */
  const char *cols[] = {"content", "dump", "url", "segment"};
  for (int k = 0; k < 4; k++) {
    docs ds = {0}, dz = {0}, dj = {0};
    CU_ASSERT_EQUAL(read_parquet_docs(snappy, cols[k], &ds), 0);
    CU_ASSERT_EQUAL(read_parquet_docs(zstd, cols[k], &dz), 0);
    CU_ASSERT_EQUAL(read_jsonl_docs(jsonl, cols[k], &dj), 0);
    CU_ASSERT_EQUAL(dj.n, 121);
    CU_ASSERT(docs_equal(&ds, &dj));
    CU_ASSERT(docs_equal(&dz, &dj));
    if (k == 0) {
      CU_ASSERT_EQUAL(code_points(&ds), 2348687);
      CU_ASSERT_EQUAL(code_points(&dz), 2348687);
      CU_ASSERT_EQUAL(code_points(&dj), 2348687);
    }
    docs_free(&ds), docs_free(&dz), docs_free(&dj);
  }
  slt_parquet *p = slt_parquet_open(snappy, "content");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(slt_parquet_num_rows(p), 121);
  const char *s;
  size_t len;
  while (slt_parquet_next(p, &s, &len) == 1) {
  }
  CU_ASSERT_EQUAL(slt_parquet_rows(p), 121);
  CU_ASSERT_EQUAL(slt_parquet_nulls(p), 0);
  CU_ASSERT_EQUAL(slt_parquet_next(p, &s, &len), 0); /* stays at the end */
  slt_parquet_close(p);
}

/* Columns that cannot be read say why, by name. */
static void test_samples_refused_columns(void) {
  char a[600];
  const char *snappy = sample("ingest sample columns", "rw-snappy.parquet", a, sizeof a);
  if (!snappy) return;
  CU_ASSERT_PTR_NULL(slt_parquet_open(snappy, "contnet"));
  CU_ASSERT(test_err_has("column 'contnet': no column named 'contnet' (columns: content, url, "
                    "timestamp, dump, segment, image_urls)",
                    "rw-snappy.parquet"));
  CU_ASSERT_PTR_NULL(slt_parquet_open(snappy, "timestamp"));
  CU_ASSERT(test_err_has("column 'timestamp'", "type INT64 is unsupported"));
  CU_ASSERT_PTR_NULL(slt_parquet_open(snappy, "image_urls"));
  CU_ASSERT(test_err_has("column 'image_urls'", "nested"));
}

/* Every prefix of the sample (at a stride) fails to open or to read, with a message. */
static void test_samples_truncated(void) {
  char a[600];
  const char *zstd = sample("ingest truncated sample", "rw-zstd.parquet", a, sizeof a);
  if (!zstd) return;
  FILE *f = fopen(zstd, "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  uint8_t *buf = malloc(1 << 20);
  size_t n = fread(buf, 1, 1 << 20, f);
  fclose(f);
  const char *path = test_tpath("trunc.parquet");
  int errors = 0, tries = 0;
  for (size_t len = 0; len < n; len += 7919, tries++) {
    write_file(path, buf, len);
    errors += pq_drain(path, "content", NULL) < 0 && strstr(slt_err_msg(), "trunc.parquet");
  }
  CU_ASSERT_EQUAL(errors, tries);
  free(buf);
}

/* ---------------- decoders on hand-made bytes ---------------- */

/* Decode up to cap values; the count before the first failure. */
static int rle_all(const uint8_t *buf, size_t n, int bw, uint32_t *out, int cap) {
  slt_pq_rle r;
  slt_pq_rle_init(&r, buf, n, bw);
  int k = 0;
  while (k < cap && slt_pq_rle_next(&r, &out[k]) == 0) k++;
  return k;
}

static void test_rle_levels(void) {
  uint32_t v[64];
  /* RLE run: 5 × 1 (header 5<<1, one value byte), then the data ends */
  const uint8_t rle[] = {0x0A, 0x01};
  CU_ASSERT_EQUAL(rle_all(rle, sizeof rle, 1, v, 64), 5);
  CU_ASSERT(v[0] == 1 && v[4] == 1);
  CU_ASSERT(test_err_has("ended early", NULL));
  /* bit-packed: one group (header 1<<1|1), 0b10110010 read least significant bit first */
  const uint8_t bp[] = {0x03, 0xB2};
  CU_ASSERT_EQUAL(rle_all(bp, sizeof bp, 1, v, 64), 8);
  const uint32_t bp_want[] = {0, 1, 0, 0, 1, 1, 0, 1};
  CU_ASSERT(memcmp(v, bp_want, sizeof bp_want) == 0);
  /* the format spec's example: 0..7 bit-packed at width 3 is 0x88 0xC6 0xFA */
  const uint8_t w3[] = {0x03, 0x88, 0xC6, 0xFA};
  CU_ASSERT_EQUAL(rle_all(w3, sizeof w3, 3, v, 64), 8);
  for (int i = 0; i < 8; i++) CU_ASSERT_EQUAL(v[i], (uint32_t)i);
  /* mixed: 3 zeros (RLE), 8 bit-packed, 300 twos at width 2 (varint header 600 = 0xD8 0x04) */
  const uint8_t mix[] = {0x06, 0x00, 0x03, 0xE4, 0x1B, 0xD8, 0x04, 0x02};
  CU_ASSERT_EQUAL(rle_all(mix, sizeof mix, 2, v, 64), 64);
  const uint32_t mix_want[] = {0, 0, 0, 0, 1, 2, 3, 3, 2, 1, 0, 2, 2};
  CU_ASSERT(memcmp(v, mix_want, sizeof mix_want) == 0);
  /* width 32: the RLE value takes 4 little-endian bytes */
  const uint8_t w32[] = {0x04, 0xEF, 0xBE, 0xAD, 0xDE};
  CU_ASSERT_EQUAL(rle_all(w32, sizeof w32, 32, v, 64), 2);
  CU_ASSERT_EQUAL(v[1], 0xDEADBEEFu);
  /* width 0: every value is 0 and takes no bytes */
  const uint8_t w0[] = {0x10, 0x03};
  CU_ASSERT_EQUAL(rle_all(w0, sizeof w0, 0, v, 64), 16);
  /* a bit-packed run promising 2 groups with bytes for one yields 8 values, then fails */
  const uint8_t cut[] = {0x05, 0xFF};
  CU_ASSERT_EQUAL(rle_all(cut, sizeof cut, 1, v, 64), 8);
  /* an RLE value wider than the bit width, a truncated value, an overlong header */
  const uint8_t wide[] = {0x02, 0x05};
  CU_ASSERT_EQUAL(rle_all(wide, sizeof wide, 2, v, 64), 0);
  CU_ASSERT(test_err_has("wider than 2 bits", NULL));
  const uint8_t short_val[] = {0x02, 0x05};
  CU_ASSERT_EQUAL(rle_all(short_val, sizeof short_val, 16, v, 64), 0);
  const uint8_t long_hdr[12] = {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                                0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
  CU_ASSERT_EQUAL(rle_all(long_hdr, sizeof long_hdr, 1, v, 64), 0);
  CU_ASSERT_EQUAL(rle_all(NULL, 0, 1, v, 64), 0);
}

/* Every value of a page: values joined by '|', nulls as '~'. */
static int page_all(slt_pq_page *pg, char *out, size_t cap, int64_t *nulls) {
  const uint8_t *s;
  size_t len, o = 0;
  int rc;
  out[0] = '\0';
  int64_t before = *nulls;
  while ((rc = slt_pq_page_next(pg, &s, &len, nulls)) == 1) {
    for (; before < *nulls; before++) o += (size_t)snprintf(out + o, cap - o, "~|");
    o += (size_t)snprintf(out + o, cap - o, "%.*s|", (int)len, (const char *)s);
  }
  for (; before < *nulls; before++) o += (size_t)snprintf(out + o, cap - o, "~|");
  return rc;
}

static void test_page_decoder(void) {
  char got[256];
  int64_t nulls = 0;
  slt_pq_page pg;
  /* v1, optional, PLAIN: levels 1,0,1,1,0 (bit-packed 0b01101 with a 4-byte length), values */
  const uint8_t v1[] = {2, 0, 0, 0, 0x03, 0x0D, 1, 0, 0,   0,   'a',
                        0, 0, 0, 0, 3,    0,    0, 0, 'c', 'c', 'c'};
  slt_pq_page_header h = {.type = SLT_PQ_DATA_PAGE,
                          .num_values = 5,
                          .encoding = SLT_PQ_PLAIN,
                          .def_encoding = SLT_PQ_RLE};
  CU_ASSERT_EQUAL_FATAL(slt_pq_page_open(&pg, &h, NULL, v1, sizeof v1, 1, NULL), 0);
  CU_ASSERT_EQUAL(page_all(&pg, got, sizeof got, &nulls), 0);
  CU_ASSERT_STRING_EQUAL(got, "a|~||ccc|~|");
  CU_ASSERT_EQUAL(nulls, 2);

  /* a dictionary of 3 and a v1 required page of indices at width 2: 2,0,1,2 (bit-packed) */
  const uint8_t dbytes[] = {1, 0, 0, 0, 'x', 2, 0, 0, 0, 'y', 'y', 0, 0, 0, 0};
  slt_pq_dict d = {0};
  CU_ASSERT_EQUAL_FATAL(slt_pq_dict_load(&d, dbytes, sizeof dbytes, 3), 0);
  const uint8_t idx[] = {2, 0x03, 0x92, 0x00};
  h = (slt_pq_page_header){
      .type = SLT_PQ_DATA_PAGE, .num_values = 4, .encoding = SLT_PQ_RLE_DICTIONARY};
  CU_ASSERT_EQUAL_FATAL(slt_pq_page_open(&pg, &h, NULL, idx, sizeof idx, 0, &d), 0);
  CU_ASSERT_EQUAL(page_all(&pg, got, sizeof got, &nulls), 0);
  CU_ASSERT_STRING_EQUAL(got, "|x|yy||");
  /* an index past the dictionary */
  const uint8_t idx_bad[] = {2, 0x02, 0x03};
  CU_ASSERT_EQUAL_FATAL(slt_pq_page_open(&pg, &h, NULL, idx_bad, sizeof idx_bad, 0, &d), 0);
  CU_ASSERT_EQUAL(page_all(&pg, got, sizeof got, &nulls), -1);
  CU_ASSERT(test_err_has("dictionary index 3 out of range", NULL));

  /* v2: levels apart (RLE: 2 nulls, then 2 values as a run of 1s), PLAIN_DICTIONARY values */
  const uint8_t lev[] = {0x04, 0x00, 0x04, 0x01};
  const uint8_t vals[] = {1, 0x04, 0x00};
  h = (slt_pq_page_header){.type = SLT_PQ_DATA_PAGE_V2,
                           .num_values = 4,
                           .num_nulls = 2,
                           .encoding = SLT_PQ_PLAIN_DICTIONARY,
                           .def_len = 4};
  nulls = 0;
  CU_ASSERT_EQUAL_FATAL(slt_pq_page_open(&pg, &h, lev, vals, sizeof vals, 1, &d), 0);
  CU_ASSERT_EQUAL(page_all(&pg, got, sizeof got, &nulls), 0);
  CU_ASSERT_STRING_EQUAL(got, "~|~|x|x|");

  /* a billion nulls then one value: the run is skipped whole, not slot by slot */
  const uint8_t many_lev[] = {0x80, 0xA8, 0xD6, 0xB9, 0x07, 0x00, 0x02, 0x01};
  h = (slt_pq_page_header){.type = SLT_PQ_DATA_PAGE_V2,
                           .num_values = 1000000001,
                           .num_nulls = 1000000000,
                           .encoding = SLT_PQ_PLAIN,
                           .def_len = 8};
  const uint8_t zval[] = {1, 0, 0, 0, 'z'};
  nulls = 0;
  CU_ASSERT_EQUAL_FATAL(slt_pq_page_open(&pg, &h, many_lev, zval, sizeof zval, 1, NULL), 0);
  const uint8_t *s;
  size_t len;
  CU_ASSERT_EQUAL(slt_pq_page_next(&pg, &s, &len, &nulls), 1);
  CU_ASSERT(len == 1 && s[0] == 'z');
  CU_ASSERT_EQUAL(nulls, 1000000000);

  /* refusals: a value past the end, other encodings, a dictionary that cannot fit */
  const uint8_t over[] = {9, 0, 0, 0, 'a'};
  h = (slt_pq_page_header){.type = SLT_PQ_DATA_PAGE, .num_values = 1, .encoding = SLT_PQ_PLAIN};
  CU_ASSERT_EQUAL_FATAL(slt_pq_page_open(&pg, &h, NULL, over, sizeof over, 0, NULL), 0);
  CU_ASSERT_EQUAL(page_all(&pg, got, sizeof got, &nulls), -1);
  CU_ASSERT(test_err_has("past the end of the page", NULL));
  h.encoding = 7;
  CU_ASSERT_EQUAL(slt_pq_page_open(&pg, &h, NULL, over, sizeof over, 0, NULL), -1);
  CU_ASSERT(test_err_has("unsupported encoding DELTA_BYTE_ARRAY", NULL));
  h.encoding = SLT_PQ_RLE_DICTIONARY;
  CU_ASSERT_EQUAL(slt_pq_page_open(&pg, &h, NULL, over, sizeof over, 0, NULL), -1);
  CU_ASSERT(test_err_has("without a dictionary page", NULL));
  h.encoding = SLT_PQ_PLAIN, h.def_encoding = 4;
  CU_ASSERT_EQUAL(slt_pq_page_open(&pg, &h, NULL, over, sizeof over, 1, NULL), -1);
  CU_ASSERT(test_err_has("definition level encoding BIT_PACKED", NULL));
  h.def_encoding = SLT_PQ_RLE;
  CU_ASSERT_EQUAL(slt_pq_page_open(&pg, &h, NULL, over, sizeof over, 1, NULL), -1);
  CU_ASSERT(test_err_has("definition levels run past", NULL));
  CU_ASSERT_EQUAL(slt_pq_dict_load(&d, dbytes, sizeof dbytes, 1LL << 40), -1);
  CU_ASSERT(test_err_has("cannot fit", NULL));
  CU_ASSERT_EQUAL(slt_pq_dict_load(&d, dbytes, sizeof dbytes, 3), 0);
  CU_ASSERT_EQUAL(slt_pq_dict_load(&d, over, sizeof over, 1), -1);
  CU_ASSERT(test_err_has("dictionary entry 0 runs past", NULL));
  slt_pq_dict_free(&d);
}

/* ---------------- hand-built files ---------------- */

static const char *build_to(const char *name, const pq_spec *sp, char *const *vals, int n,
                            pq_file *keep) {
  pq_file pf = pq_build(sp, (const char *const *)vals, n);
  const char *path = test_tpath(name);
  write_file(path, pf.f.b, pf.f.n);
  if (keep)
    *keep = pf;
  else
    free(pf.f.b);
  return path;
}

/* Every page version × codec × dictionary × nullability reads back exactly, over several row
 * groups and pages. */
static void test_built_files(void) {
  const int n = 300, codecs[] = {SLT_PQ_UNCOMPRESSED, SLT_PQ_SNAPPY, SLT_PQ_GZIP, SLT_PQ_ZSTD};
  char **plain = pq_make_vals(n, false), **holes = pq_make_vals(n, true);
  int64_t want_nulls = 0;
  for (int i = 0; i < n; i++) want_nulls += !holes[i];
  for (int combo = 0; combo < 32; combo++) {
    pq_spec sp = {.version = 1 + (combo & 1),
                  .codec = codecs[combo >> 1 & 3],
                  .dict = combo >> 3 & 1,
                  .optional = combo >> 4 & 1,
                  .group_rows = combo & 4 ? 16 : 128, /* 19 groups: a list's long header */
                  .page_rows = combo & 4 ? 7 : 50};
    char **vals = sp.optional ? holes : plain;
    const char *path = build_to("built.parquet", &sp, vals, n, NULL);
    int64_t nulls = -1;
    int rc = pq_read_back(path, "content", vals, n, &nulls);
    if (rc)
      printf("\n  v%d %s dict %d optional %d: %s\n", sp.version, slt_pq_codec_name(sp.codec),
             sp.dict, sp.optional, slt_err_msg());
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_EQUAL(nulls, sp.optional ? want_nulls : 0);
  }
  /* an all-null column, and an empty file */
  char *none[40] = {0};
  pq_spec sp = {.version = 2,
                .codec = SLT_PQ_SNAPPY,
                .dict = true,
                .optional = true,
                .group_rows = 16,
                .page_rows = 10};
  int64_t nulls = -1;
  CU_ASSERT_EQUAL(
      pq_read_back(build_to("nulls.parquet", &sp, none, 40, NULL), "content", none, 40, &nulls), 0);
  CU_ASSERT_EQUAL(nulls, 40);
  CU_ASSERT_EQUAL(
      pq_read_back(build_to("empty.parquet", &sp, none, 0, NULL), "content", none, 0, &nulls), 0);
  pq_free_vals(plain, n);
  pq_free_vals(holes, n);
}

static void test_built_refusals(void) {
  char **vals = pq_make_vals(60, true);
  pq_spec sp = {
      .version = 1, .codec = SLT_PQ_SNAPPY, .optional = true, .group_rows = 30, .page_rows = 20};
  const char *path = build_to("ok.parquet", &sp, vals, 60, NULL);
  CU_ASSERT_PTR_NULL(slt_parquet_open(path, "txet"));
  CU_ASSERT(
      test_err_has("ok.parquet: column 'txet': no column named 'txet' (columns: id, content)", NULL));
  CU_ASSERT_PTR_NULL(slt_parquet_open(path, "id"));
  CU_ASSERT(test_err_has("column 'id': type INT32 is unsupported", NULL));
  CU_ASSERT_PTR_NULL(slt_parquet_open(test_tpath("missing.parquet"), "content"));
  CU_ASSERT(test_err_has("missing.parquet: cannot open", NULL));

  sp.bad_encoding = 7;
  path = build_to("delta.parquet", &sp, vals, 60, NULL);
  CU_ASSERT_EQUAL(pq_drain(path, "content", NULL), -1);
  CU_ASSERT(test_err_has("delta.parquet: column 'content': page at offset ",
                    ": unsupported encoding DELTA_BYTE_ARRAY"));
  sp.bad_encoding = 0, sp.bad_codec = 5;
  path = build_to("lz4.parquet", &sp, vals, 60, NULL);
  CU_ASSERT_PTR_NULL(slt_parquet_open(path, "content"));
  CU_ASSERT(test_err_has("lz4.parquet: column 'content': unsupported codec LZ4", NULL));
  sp.bad_codec = 0, sp.shrink = 9;
  path = build_to("short.parquet", &sp, vals, 60, NULL);
  CU_ASSERT_EQUAL(pq_drain(path, "content", NULL), -1);
  CU_ASSERT(test_err_has("short.parquet: column 'content': truncated page at offset ", NULL));
  sp.shrink = 0, sp.undercount = 3;
  path = build_to("under.parquet", &sp, vals, 60, NULL);
  CU_ASSERT_EQUAL(pq_drain(path, "content", NULL), -1);
  CU_ASSERT(test_err_has("under.parquet: column 'content': page at offset ",
                    "more values than the chunk's 27"));
  pq_free_vals(vals, 60);
}

/* Damage to the file's frame: magic, footer length, size. */
static void test_corrupt_frame(void) {
  char **vals = pq_make_vals(20, false);
  pq_spec sp = {.version = 1, .codec = SLT_PQ_ZSTD, .group_rows = 8, .page_rows = 5};
  pq_file pf = pq_build(&sp, (const char *const *)vals, 20);
  uint8_t *b = pf.f.b;
  size_t n = pf.f.n;
  const char *path = test_tpath("frame.parquet");
  struct {
    size_t at;
    uint8_t v;
    const char *msg;
  } cases[] = {
      {0, 'Q', "no PAR1 magic at the start"},
      {n - 1, '2', "no PAR1 magic at the end: truncated, or not a parquet file"},
      {n - 5, 0xFF, "corrupt footer length"},
      {n - 8, 0x00, "corrupt"}, /* a shorter footer: its parse ends early */
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    uint8_t old = b[cases[k].at];
    b[cases[k].at] = cases[k].v;
    write_file(path, b, n);
    CU_ASSERT_EQUAL(pq_drain(path, "content", NULL), -1);
    CU_ASSERT(test_err_has("frame.parquet: ", cases[k].msg));
    b[cases[k].at] = old;
  }
  sp.two_schemas = true; /* found by fuzz_parquet: the first schema leaked */
  pq_file two = pq_build(&sp, (const char *const *)vals, 20);
  write_file(path, two.f.b, two.f.n);
  CU_ASSERT_EQUAL(pq_drain(path, "content", NULL), -1);
  CU_ASSERT(
      test_err_has("frame.parquet: column 'content': corrupt footer at offset ", "bad schema list"));
  free(two.f.b);
  memcpy(b + n - 4, "PARE", 4);
  write_file(path, b, n);
  CU_ASSERT_EQUAL(pq_drain(path, "content", NULL), -1);
  CU_ASSERT(test_err_has("frame.parquet: encrypted parquet files are unsupported", NULL));
  memcpy(b + n - 4, "PAR1", 4);
  /* every prefix, and every prefix with the real footer appended (a cut inside the data) */
  int errors = 0;
  for (size_t len = 0; len < n; len++) {
    write_file(path, b, len);
    errors += pq_drain(path, "content", NULL) < 0 && strstr(slt_err_msg(), "frame.parquet");
  }
  CU_ASSERT_EQUAL(errors, (int)n);
  free(pf.f.b);
  pq_free_vals(vals, 20);
}

/* Flipped bytes in page headers: an error naming file, column and offset, or (when the byte did
 * not matter) the same values; never a crash. Most flips must be caught. */
static void test_corrupt_page_headers(void) {
  char **vals = pq_make_vals(40, true);
  const char *path = test_tpath("flip.parquet");
  int flips = 0, caught = 0, same = 0;
  for (int v = 1; v <= 2; v++) {
    pq_spec sp = {.version = v,
                  .codec = SLT_PQ_SNAPPY,
                  .dict = v == 2,
                  .optional = true,
                  .group_rows = 20,
                  .page_rows = 10};
    pq_file pf = pq_build(&sp, (const char *const *)vals, 40);
    for (int pg = 0; pg < pf.npages && pg < 4; pg++) {
      size_t at = pf.page_off[pg], used;
      slt_pq_page_header h;
      CU_ASSERT_EQUAL_FATAL(slt_pq_page_header_parse(pf.f.b + at, 64, 0, &h, &used), 0);
      for (size_t k = 0; k < used; k++) { /* the header's bytes only: bodies have no checksum */
        const uint8_t masks[] = {0xFF, 0x01, 0x40};
        for (int m = 0; m < 3; m++) {
          pf.f.b[at + k] ^= masks[m];
          write_file(path, pf.f.b, pf.f.n);
          int64_t nulls;
          int rc = pq_read_back(path, "content", vals, 40, &nulls);
          flips++;
          if (rc == -1 && strstr(slt_err_msg(), "flip.parquet: column 'content': ") &&
              strstr(slt_err_msg(), "offset"))
            caught++;
          else if (rc == 0)
            same++;
          else
            printf("\n  flip %zu^%02x: rc %d, \"%s\"\n", at + k, masks[m], rc, slt_err_msg());
          pf.f.b[at + k] ^= masks[m];
        }
      }
    }
    free(pf.f.b);
  }
  CU_ASSERT_EQUAL(caught + same, flips);
  CU_ASSERT(caught > flips * 3 / 4);
  pq_free_vals(vals, 40);
}

/* ---------------- JSONL ---------------- */

static const char *jsonl_file(const char *name, const char *text) {
  const char *path = test_tpath(name);
  write_file(path, text, strlen(text));
  return path;
}

/* All values of the field joined by '|'; the final status in *rc. */
static char *jsonl_all(const char *path, const char *field, bool skip_bad, int *rc, int64_t *bad) {
  static char out[4096];
  size_t o = 0;
  out[0] = '\0';
  slt_err_clear();
  slt_jsonl *j = slt_jsonl_open(path, field, skip_bad);
  *rc = -1;
  const char *s;
  size_t len;
  while (j && (*rc = slt_jsonl_next(j, &s, &len)) == 1)
    o += (size_t)snprintf(out + o, sizeof out - o, "%.*s|", (int)len, s);
  if (bad && j) *bad = slt_jsonl_bad(j);
  slt_jsonl_close(j);
  return out;
}

static void test_jsonl_escapes(void) {
  const char *path =
      jsonl_file("esc.jsonl", "{\"content\": \"a\\nb\\\"c\\\\d\\/e\\bf\\fg\\rh\\ti\"}\n"
                              "{\"content\": \"\\u00e9\\u20AC\\ud83d\\ude00.\\u0041\"}\n"
                              "{\"content\": \"<\\ud800>\\udc00<\\ud83d\\u0041>\"}\n");
  int rc;
  char *got = jsonl_all(path, "content", false, &rc, NULL);
  CU_ASSERT_EQUAL(rc, 0);
  /* é € 😀 A; lone surrogates (high, low, high before a non-surrogate) become U+FFFD */
  CU_ASSERT_STRING_EQUAL(got, "a\nb\"c\\d/e\bf\fg\rh\ti|"
                              "\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80.A|"
                              "<\xEF\xBF\xBD>\xEF\xBF\xBD<\xEF\xBF\xBD"
                              "A>|");
  /* \u0000 is kept: the length says where the string ends */
  path = jsonl_file("nul.jsonl", "{\"text\": \"a\\u0000b\"}");
  slt_jsonl *j = slt_jsonl_open(path, "text", false);
  const char *s;
  size_t len;
  CU_ASSERT_EQUAL_FATAL(slt_jsonl_next(j, &s, &len), 1);
  CU_ASSERT(len == 3 && memcmp(s, "a\0b", 3) == 0);
  slt_jsonl_close(j);
}

static void test_jsonl_skipping(void) {
  const char *path = jsonl_file(
      "skip.jsonl",
      "{\"meta\": {\"a\": [1, -2.5e-3, 0, 1E+9, {\"content\": \"inner\"}, [[]], {}], \"b\": null},"
      " \"t\": true, \"f\": false, \"s\": \"x\\\"}{,\", \"content\": \"yes\", \"z\": [\"]\"]}\n"
      "\n   \r\n"
      "{\"text\": \"T\", \"content\": \"C\"}\r\n"
      "{\"cont\\u0065nt\": \"escaped key\", \"n\": 3}\n"
      "{\"content\": \"first\", \"content\": \"last\"}\n"
      "  {  \"content\"  :  \"spaced\"  }  ");
  int rc;
  CU_ASSERT_STRING_EQUAL(jsonl_all(path, "content", false, &rc, NULL),
                         "yes|C|escaped key|last|spaced|");
  CU_ASSERT_EQUAL(rc, 0);
  slt_jsonl *j = slt_jsonl_open(path, "content", false);
  const char *s;
  size_t len;
  for (int i = 0; i < 2; i++) CU_ASSERT_EQUAL(slt_jsonl_next(j, &s, &len), 1);
  CU_ASSERT_EQUAL(slt_jsonl_line(j), 4); /* blank lines count */
  slt_jsonl_close(j);
  /* the other field of the same file */
  CU_ASSERT_PTR_NOT_NULL(strstr(jsonl_all(path, "text", true, &rc, NULL), "T|"));
  /* a line of 3 MB */
  size_t big = 3 << 20;
  char *line = malloc(big + 32);
  memcpy(line, "{\"content\": \"", 13);
  memset(line + 13, 'w', big);
  strcpy(line + 13 + big, "\"}\n");
  path = jsonl_file("big.jsonl", line);
  j = slt_jsonl_open(path, "content", false);
  CU_ASSERT_EQUAL(slt_jsonl_next(j, &s, &len), 1);
  CU_ASSERT(len == big && s[0] == 'w' && s[big - 1] == 'w');
  CU_ASSERT_EQUAL(slt_jsonl_next(j, &s, &len), 0);
  slt_jsonl_close(j);
  free(line);
}

static void test_jsonl_bad_lines(void) {
  const char *bad[] = {
      "{\"content\": \"x\"",
      "{\"content\": \"x\"} extra",
      "{\"content\": tru}",
      "{\"content\": \"\\x\"}",
      "[\"content\"]",
      "{\"a\": 01, \"content\": \"\"}",
      "{\"content\": \"a\tb\"}",
      "{\"a\": 1,}",
      "{\"content\": \"open}",
      "{\"a\": -}",
      "{\"a\": 1.}",
      "{\"a\": \"\\u12G4\"}",
      "{content: \"x\"}",
      "{\"a\" 1}",
      "{\"a\": [1 2]}",
  };
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    char text[256];
    snprintf(text, sizeof text, "{\"content\": \"ok\"}\n\n%s\n{\"content\": \"after\"}\n", bad[k]);
    const char *path = jsonl_file("bad.jsonl", text);
    int rc;
    CU_ASSERT_STRING_EQUAL(jsonl_all(path, "content", false, &rc, NULL), "ok|");
    CU_ASSERT_EQUAL(rc, -1);
    CU_ASSERT(test_err_has("bad.jsonl: line 3: malformed JSON", NULL));
    int64_t nbad = -1;
    CU_ASSERT_STRING_EQUAL(jsonl_all(path, "content", true, &rc, &nbad), "ok|after|");
    CU_ASSERT(rc == 0 && nbad == 1);
  }
  /* 600 nested arrays: refused, not a stack overflow */
  char deep[1400];
  int o = snprintf(deep, sizeof deep, "{\"a\": ");
  for (int i = 0; i < 600; i++) deep[o++] = '[';
  for (int i = 0; i < 600; i++) deep[o++] = ']';
  strcpy(deep + o, "}\n");
  int rc;
  jsonl_all(jsonl_file("deep.jsonl", deep), "content", false, &rc, NULL);
  CU_ASSERT(rc == -1 && test_err_has("deep.jsonl: line 1", "nested deeper than 512"));
  /* a missing field, a non-string field; skip_bad counts them and keeps the first reason */
  const char *path = jsonl_file("miss.jsonl", "{\"text\": \"a\"}\n{\"content\": null}\n"
                                              "{\"content\": \"c\"}\n{\"content\": 5}\n");
  CU_ASSERT_STRING_EQUAL(jsonl_all(path, "content", false, &rc, NULL), "");
  CU_ASSERT(rc == -1 && test_err_has("miss.jsonl: line 1: no field 'content'", NULL));
  slt_jsonl *j = slt_jsonl_open(path, "content", true);
  const char *s;
  size_t len;
  CU_ASSERT_EQUAL(slt_jsonl_next(j, &s, &len), 1);
  CU_ASSERT_EQUAL(slt_jsonl_next(j, &s, &len), 0);
  CU_ASSERT_EQUAL(slt_jsonl_bad(j), 3);
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_jsonl_first_bad(j), "line 1: no field 'content'"));
  slt_jsonl_close(j);
  path = jsonl_file("null.jsonl", "{\"content\": null}\n");
  jsonl_all(path, "content", false, &rc, NULL);
  CU_ASSERT(rc == -1 && test_err_has("null.jsonl: line 1: field 'content' is not a string", NULL));
  CU_ASSERT_PTR_NULL(slt_jsonl_open(test_tpath("nope.jsonl"), "content", false));
  CU_ASSERT(test_err_has("nope.jsonl: cannot open", NULL));
}

/* ---------------- the fuzzers' seed corpus ---------------- */

static void write_seed(const char *dir, const char *sub, const char *name, const void *b,
                       size_t n) {
  char path[1024];
  mkdir(dir, 0755);
  snprintf(path, sizeof path, "%s/%s", dir, sub);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", dir, sub, name);
  write_file(path, b, n);
}

/* Small valid inputs for tests/fuzz (run with SLT_FUZZ_CORPUS=tests/fuzz/corpus). */
static void test_write_fuzz_corpus(void) {
  const char *dir = getenv("SLT_FUZZ_CORPUS");
  char **vals = pq_make_vals(24, true);
  const int codecs[] = {SLT_PQ_UNCOMPRESSED, SLT_PQ_SNAPPY, SLT_PQ_GZIP, SLT_PQ_ZSTD};
  for (int k = 0; k < 8; k++) {
    pq_spec sp = {.version = 1 + (k & 1),
                  .codec = codecs[k / 2],
                  .dict = k % 3 == 0,
                  .optional = k % 4 != 1,
                  .group_rows = 10,
                  .page_rows = 6};
    pq_file pf = pq_build(&sp, (const char *const *)vals, 24);
    char name[64];
    snprintf(name, sizeof name, "v%d-%s%s%s.parquet", sp.version, slt_pq_codec_name(sp.codec),
             sp.dict ? "-dict" : "", sp.optional ? "-nulls" : "");
    write_seed(dir, "parquet", name, pf.f.b, pf.f.n);
    free(pf.f.b);
  }
  pq_free_vals(vals, 24);
  const char *jl[] = {
      "{\"content\": \"plain\"}\n{\"text\": \"t\", \"content\": \"a\\nb\\u00e9\\ud83d\\ude00\"}\n",
      "{\"m\": {\"a\": [1, -2.5e-3, true, false, null, {\"content\": 1}]}, \"content\": \"x\"}\n\n",
      "{\"content\": \"\\ud800 lone\"}\r\n{\"content\": \"open\n{}\n",
  };
  for (int k = 0; k < 3; k++) {
    char name[32];
    snprintf(name, sizeof name, "seed%d.jsonl", k);
    write_seed(dir, "jsonl", name, jl[k], strlen(jl[k]));
  }
  uint32_t tok[40];
  for (int i = 0; i < 40; i++) tok[i] = (uint32_t)(i * 977 % 50257);
  for (int w = 2; w <= 4; w += 2) {
    char path[1024];
    snprintf(path, sizeof path, "%s/shard", dir);
    mkdir(dir, 0755), mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/shard/seed-u%d.bin", dir, w * 8);
    CU_ASSERT_EQUAL(slt_shard_write(path, tok, 40, w), 0);
  }
}

static int suite_init_ingest(void) { return test_tmpdir_init("ingest"); }

int register_ingest_suite(void) {
  CU_pSuite s = CU_add_suite("ingest", suite_init_ingest, test_tmpdir_cleanup);
  if (!s) return -1;
  if (getenv("SLT_FUZZ_CORPUS") &&
      !CU_add_test(s, "write the fuzz seed corpus", test_write_fuzz_corpus))
    return -1;
  return !CU_add_test(s, "samples: parquet and jsonl agree", test_samples_agree) ||
                 !CU_add_test(s, "samples: refused columns", test_samples_refused_columns) ||
                 !CU_add_test(s, "samples: truncated", test_samples_truncated) ||
                 !CU_add_test(s, "RLE/bit-packed levels", test_rle_levels) ||
                 !CU_add_test(s, "page decoder", test_page_decoder) ||
                 !CU_add_test(s, "built files: pages, codecs, nulls", test_built_files) ||
                 !CU_add_test(s, "built files: refusals", test_built_refusals) ||
                 !CU_add_test(s, "corrupt magic, footer, prefixes", test_corrupt_frame) ||
                 !CU_add_test(s, "corrupt page headers", test_corrupt_page_headers) ||
                 !CU_add_test(s, "jsonl escapes", test_jsonl_escapes) ||
                 !CU_add_test(s, "jsonl skipping fields and lines", test_jsonl_skipping) ||
                 !CU_add_test(s, "jsonl bad lines", test_jsonl_bad_lines)
             ? -1
             : 0;
}
