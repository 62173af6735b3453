#include "pq_writer.h"

#include <CUnit/CUnit.h>

#include "autograd/error.h"
#include "data/parquet.h"
#include "data/parquet_int.h"

#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

/* ---------------- a minimal parquet writer ---------------- */



static void put(wbuf *w, const void *p, size_t n) {
  if (w->n + n > w->cap) {
    w->cap = (w->n + n) * 2 + 64;
    w->b = realloc(w->b, w->cap);
  }
  if (n) memcpy(w->b + w->n, p, n);
  w->n += n;
}
static void put_u8(wbuf *w, uint8_t v) {
  put(w, &v, 1);
}
static void put_le32(wbuf *w, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(w, b, 4);
}
static void put_varint(wbuf *w, uint64_t v) {
  for (; v >= 0x80; v >>= 7) put_u8(w, (uint8_t)(v | 0x80));
  put_u8(w, (uint8_t)v);
}
static void put_zz(wbuf *w, int64_t v) {
  put_varint(w, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void fld(wbuf *w, int id, int type) {
  int d = id - w->last[w->depth];
  if (d > 0 && d <= 15)
    put_u8(w, (uint8_t)(d << 4 | type));
  else
    put_u8(w, (uint8_t)type), put_zz(w, id);
  w->last[w->depth] = (int16_t)id;
}
static void t_int(wbuf *w, int id, int64_t v) {
  fld(w, id, v == (int32_t)v ? 5 : 6), put_zz(w, v);
}
static void t_i64(wbuf *w, int id, int64_t v) {
  fld(w, id, 6), put_zz(w, v);
}
static void t_str(wbuf *w, int id, const char *s) {
  fld(w, id, 8);
  put_varint(w, strlen(s));
  put(w, s, strlen(s));
}
static void t_struct(wbuf *w, int id) {
  fld(w, id, 12), w->last[++w->depth] = 0;
}
static void t_elem(wbuf *w) {
  w->last[++w->depth] = 0;
} /* a struct inside a list */
static void t_end(wbuf *w) {
  put_u8(w, 0), w->depth--;
}
static void t_list(wbuf *w, int id, int elem, int n) {
  fld(w, id, 9);
  if (n < 15)
    put_u8(w, (uint8_t)(n << 4 | elem));
  else
    put_u8(w, (uint8_t)(0xF0 | elem)), put_varint(w, (uint64_t)n);
}

/* The RLE/bit-packed hybrid: runs of 8 or more as RLE, the rest as single bit-packed groups. */
static void rle_encode(wbuf *w, const uint32_t *v, int n, int bw) {
  for (int i = 0; i < n;) {
    int run = 1;
    while (i + run < n && v[i + run] == v[i]) run++;
    if (run >= 8) {
      put_varint(w, (uint64_t)run << 1);
      for (int b = 0; b < (bw + 7) / 8; b++) put_u8(w, (uint8_t)(v[i] >> (8 * b)));
      i += run;
      continue;
    }
    put_varint(w, 3); /* one group of 8 values */
    uint8_t bytes[32] = {0};
    for (int k = 0; k < 8 && i + k < n; k++)
      for (int bit = 0; bit < bw; bit++)
        if (v[i + k] >> bit & 1) bytes[(k * bw + bit) / 8] |= (uint8_t)(1 << ((k * bw + bit) % 8));
    put(w, bytes, (size_t)bw);
    i += 8;
  }
}

static uint8_t *pq_compress(int codec, const uint8_t *src, size_t n, size_t *out) {
  size_t cap = n + n / 8 + 1024;
  uint8_t *dst = malloc(cap);
  if (codec == SLT_PQ_SNAPPY) {
    *out = cap;
    CU_ASSERT_EQUAL(snappy_compress((const char *)src, n, (char *)dst, out), SNAPPY_OK);
  } else if (codec == SLT_PQ_ZSTD) {
    *out = ZSTD_compress(dst, cap, src, n, 3);
    CU_ASSERT_FALSE(ZSTD_isError(*out));
  } else if (codec == SLT_PQ_GZIP) {
    z_stream z = {0};
    deflateInit2(&z, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    z.next_in = (Bytef *)src, z.avail_in = (uInt)n, z.next_out = dst, z.avail_out = (uInt)cap;
    CU_ASSERT_EQUAL(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out = cap - z.avail_out;
    deflateEnd(&z);
  } else {
    memcpy(dst, src, n);
    *out = n;
  }
  return dst;
}





typedef struct chunk_info {
  int64_t off, size, unc, dict_off, data_off;
} chunk_info;

static void page(pq_file *pf, const pq_spec *sp, int type, int64_t nvals, int64_t nulls, int enc,
                 const wbuf *lev, const wbuf *val, int64_t *unc) {
  wbuf body = {0}, h = {0};
  int codec = sp->codec;
  size_t cn;
  uint8_t *c;
  if (type == SLT_PQ_DATA_PAGE_V2) {
    c = pq_compress(codec, val->b, val->n, &cn);
    put(&body, lev->b, lev->n);
    put(&body, c, cn);
  } else {
    wbuf raw = {0};
    if (type == SLT_PQ_DATA_PAGE && sp->optional) put_le32(&raw, (uint32_t)lev->n);
    if (type == SLT_PQ_DATA_PAGE) put(&raw, lev->b, lev->n);
    put(&raw, val->b, val->n);
    c = pq_compress(codec, raw.b, raw.n, &cn);
    put(&body, c, cn);
    free(raw.b);
  }
  free(c);
  t_int(&h, 1, type);
  t_int(&h, 2, (int64_t)(lev->n + val->n + (type == SLT_PQ_DATA_PAGE && sp->optional ? 4 : 0)));
  t_int(&h, 3, (int64_t)body.n);
  if (type == SLT_PQ_DICT_PAGE) {
    t_struct(&h, 7), t_int(&h, 1, nvals), t_int(&h, 2, SLT_PQ_PLAIN), t_end(&h);
  } else if (type == SLT_PQ_DATA_PAGE) {
    t_struct(&h, 5), t_int(&h, 1, nvals), t_int(&h, 2, enc), t_int(&h, 3, SLT_PQ_RLE);
    t_int(&h, 4, SLT_PQ_RLE), t_end(&h);
  } else {
    t_struct(&h, 8), t_int(&h, 1, nvals), t_int(&h, 2, nulls), t_int(&h, 3, nvals);
    t_int(&h, 4, enc), t_int(&h, 5, (int64_t)lev->n), t_int(&h, 6, 0), t_end(&h);
  }
  put_u8(&h, 0);
  if (pf->npages < 256) pf->page_off[pf->npages++] = pf->f.n;
  put(&pf->f, h.b, h.n);
  put(&pf->f, body.b, body.n);
  *unc += (int64_t)h.n + (int64_t)(lev->n + val->n);
  free(h.b);
  free(body.b);
}

static int dict_index(const char *const *dict, int n, const char *s) {
  for (int i = 0; i < n; i++)
    if (strcmp(dict[i], s) == 0) return i;
  return -1;
}

/* The content column's chunk for rows [r0, r1) of vals (NULL = null). */
static chunk_info text_chunk(pq_file *pf, const pq_spec *sp, const char *const *vals, int r0,
                             int r1) {
  chunk_info ci = {.off = (int64_t)pf->f.n, .dict_off = -1};
  const char **dict = calloc((size_t)(r1 - r0) + 1, sizeof *dict);
  int nd = 0, bw = 1;
  if (sp->dict) {
    wbuf val = {0}, lev = {0};
    for (int r = r0; r < r1; r++)
      if (vals[r] && dict_index(dict, nd, vals[r]) < 0) {
        dict[nd++] = vals[r];
        put_le32(&val, (uint32_t)strlen(vals[r]));
        put(&val, vals[r], strlen(vals[r]));
      }
    while ((1 << bw) < nd) bw++;
    ci.dict_off = ci.off;
    page(pf, sp, SLT_PQ_DICT_PAGE, nd, 0, 0, &lev, &val, &ci.unc);
    free(val.b);
  }
  ci.data_off = (int64_t)pf->f.n;
  for (int p0 = r0; p0 < r1; p0 += sp->page_rows) {
    int p1 = p0 + sp->page_rows < r1 ? p0 + sp->page_rows : r1, nulls = 0, nv = 0;
    uint32_t def[4096], idx[4096];
    wbuf lev = {0}, val = {0};
    for (int r = p0; r < p1; r++) {
      def[r - p0] = vals[r] != NULL;
      nulls += !vals[r];
      if (!vals[r]) continue;
      if (sp->dict)
        idx[nv++] = (uint32_t)dict_index(dict, nd, vals[r]);
      else
        put_le32(&val, (uint32_t)strlen(vals[r])), put(&val, vals[r], strlen(vals[r]));
    }
    if (sp->optional) rle_encode(&lev, def, p1 - p0, 1);
    if (sp->dict) put_u8(&val, (uint8_t)bw), rle_encode(&val, idx, nv, bw);
    int enc = sp->bad_encoding ? sp->bad_encoding : sp->dict ? SLT_PQ_RLE_DICTIONARY : SLT_PQ_PLAIN;
    page(pf, sp, sp->version == 2 ? SLT_PQ_DATA_PAGE_V2 : SLT_PQ_DATA_PAGE, p1 - p0, nulls, enc,
         &lev, &val, &ci.unc);
    free(lev.b);
    free(val.b);
  }
  free(dict);
  ci.size = (int64_t)pf->f.n - ci.off;
  return ci;
}

/* The id column (INT32, required, PLAIN, uncompressed): present so the file has two columns. */
static chunk_info id_chunk(pq_file *pf, int r0, int r1) {
  chunk_info ci = {.off = (int64_t)pf->f.n, .dict_off = -1, .data_off = (int64_t)pf->f.n};
  wbuf h = {0}, body = {0};
  for (int r = r0; r < r1; r++) put_le32(&body, (uint32_t)r);
  t_int(&h, 1, SLT_PQ_DATA_PAGE), t_int(&h, 2, (int64_t)body.n), t_int(&h, 3, (int64_t)body.n);
  t_struct(&h, 5), t_int(&h, 1, r1 - r0), t_int(&h, 2, 0), t_int(&h, 3, 3), t_int(&h, 4, 3);
  t_end(&h), put_u8(&h, 0);
  put(&pf->f, h.b, h.n), put(&pf->f, body.b, body.n);
  ci.size = ci.unc = (int64_t)(h.n + body.n);
  free(h.b), free(body.b);
  return ci;
}

static void column_meta(wbuf *w, const char *name, int type, int codec, int64_t rows,
                        chunk_info ci) {
  t_elem(w);
  t_i64(w, 2, ci.off);
  t_struct(w, 3);
  t_int(w, 1, type);
  t_list(w, 2, 5, 1), put_zz(w, 0);
  t_list(w, 3, 8, 1), put_varint(w, strlen(name)), put(w, name, strlen(name));
  t_int(w, 4, codec), t_i64(w, 5, rows), t_i64(w, 6, ci.unc), t_i64(w, 7, ci.size);
  t_i64(w, 9, ci.data_off);
  if (ci.dict_off >= 0) t_i64(w, 11, ci.dict_off);
  t_end(w);
  t_end(w);
}

/* A parquet file with columns id (INT32) and content (BYTE_ARRAY) holding vals[0..n). */
pq_file pq_build(const pq_spec *sp, const char *const *vals, int n) {
  pq_file pf = {0};
  int ng = (n + sp->group_rows - 1) / sp->group_rows;
  chunk_info ids[64], texts[64];
  CU_ASSERT_FATAL(ng <= 64 && sp->page_rows <= 4096); /* the writer's fixed arrays */
  put(&pf.f, "PAR1", 4);
  for (int g = 0; g < ng; g++) {
    int r0 = g * sp->group_rows, r1 = r0 + sp->group_rows < n ? r0 + sp->group_rows : n;
    ids[g] = id_chunk(&pf, r0, r1);
    texts[g] = text_chunk(&pf, sp, vals, r0, r1);
    texts[g].size -= sp->shrink;
  }
  size_t footer = pf.f.n;
  wbuf *w = &pf.f;
  w->depth = 0, w->last[0] = 0;
  t_int(w, 1, 1);
  t_list(w, 2, 12, 3);
  t_elem(w), t_str(w, 4, "schema"), t_int(w, 5, 2), t_end(w);
  t_elem(w), t_int(w, 1, 1), t_int(w, 3, SLT_PQ_REQUIRED), t_str(w, 4, "id"), t_end(w);
  t_elem(w), t_int(w, 1, SLT_PQ_BYTE_ARRAY), t_int(w, 3, sp->optional);
  t_str(w, 4, "content"), t_int(w, 6, 0), t_end(w);
  if (sp->two_schemas) {
    t_list(w, 2, 12, 1);
    t_elem(w), t_str(w, 4, "again"), t_int(w, 5, 0), t_end(w);
  }
  t_i64(w, 3, n - sp->undercount);
  t_list(w, 4, 12, ng);
  for (int g = 0; g < ng; g++) {
    int rows = (g + 1 < ng ? sp->group_rows : n - g * sp->group_rows) - (g ? 0 : sp->undercount);
    t_elem(w);
    t_list(w, 1, 12, 2);
    column_meta(w, "id", 1, SLT_PQ_UNCOMPRESSED, rows, ids[g]);
    column_meta(w, "content", SLT_PQ_BYTE_ARRAY, sp->bad_codec ? sp->bad_codec : sp->codec, rows,
                texts[g]);
    t_i64(w, 2, ids[g].size + texts[g].size), t_i64(w, 3, rows);
    t_end(w);
  }
  t_str(w, 6, "slt test writer");
  put_u8(w, 0);
  put_le32(w, (uint32_t)(w->n - footer));
  put(w, "PAR1", 4);
  return pf;
}

/* n test values: varied lengths and repeats (so dictionaries are smaller than the data), some
 * non-ASCII, and with nulls every 7th row (plus a run of 20) when `nulls`. Freed by free_vals. */
char **pq_make_vals(int n, bool nulls) {
  char **v = calloc((size_t)n, sizeof *v);
  for (int i = 0; i < n; i++) {
    if (nulls && (i % 7 == 3 || (i >= 40 && i < 60))) continue;
    int len = (i * 37) % 50, k = i % 13;
    v[i] = malloc((size_t)len + 16);
    int o = snprintf(v[i], 16, "%d:é", k);
    for (int j = 0; j < len; j++) v[i][o + j] = (char)('a' + (k + j) % 26);
    v[i][o + len] = '\0';
    if (i % 5 == 0) v[i][o] = '\0'; /* repeated short values */
  }
  return v;
}

void pq_free_vals(char **v, int n) {
  for (int i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* Read the whole column; compare with vals (nulls skipped). Returns the reader's status. */
int pq_read_back(const char *path, const char *column, char *const *vals, int n,
                 int64_t *nulls) {
  slt_parquet *p = slt_parquet_open(path, column);
  if (!p) return -1;
  const char *s;
  size_t len;
  int rc, i = 0, bad = 0;
  while ((rc = slt_parquet_next(p, &s, &len)) == 1) {
    while (i < n && !vals[i]) i++;
    if (i >= n || len != strlen(vals[i]) || memcmp(s, vals[i], len)) bad++;
    i++;
  }
  while (i < n && !vals[i]) i++;
  if (rc == 0 && (bad || i != n || slt_parquet_rows(p) != n || slt_parquet_num_rows(p) != n)) {
    printf("\n  %s: %d mismatches, %d of %d rows, rows %lld\n", path, bad, i, n,
           (long long)slt_parquet_rows(p));
    rc = -2;
  }
  if (nulls) *nulls = slt_parquet_nulls(p);
  slt_parquet_close(p);
  return rc;
}

/* Read a column to the end: its final status (-1 also when it does not open); *values counts. */
int pq_drain(const char *path, const char *column, int64_t *values) {
  slt_err_clear();
  slt_parquet *p = slt_parquet_open(path, column);
  if (!p) return -1;
  const char *s;
  size_t len;
  int rc;
  int64_t n = 0;
  while ((rc = slt_parquet_next(p, &s, &len)) == 1) n++;
  if (values) *values = n;
  slt_parquet_close(p);
  return rc;
}

