/* Pages of a flat BYTE_ARRAY column: the PageHeader (Thrift compact, fields of parquet.thrift),
 * the RLE/bit-packed hybrid (definition levels and dictionary indices), PLAIN byte arrays (4-byte
 * little-endian length, then the bytes) and the dictionary. Values are returned as pointers into
 * the decompressed page; nothing is copied. */
#include "parquet_int.h"

#include "autograd/error.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- page headers ---- */

static void parse_v1(slt_pq_thrift *t, slt_pq_page_header *h, int *seen) {
  int16_t last = 0, id;
  int type;
  // clang-format off: one line per Thrift field
  while (slt_pq_field(t, &last, &id, &type)) {
    if (id == 1)
      h->num_values = slt_pq_int(t, type), *seen |= 1;
    else if (id == 2)
      h->encoding = (int)slt_pq_int(t, type), *seen |= 2;
    else if (id == 3)
      h->def_encoding = (int)slt_pq_int(t, type), *seen |= 4;
    else
      slt_pq_skip(t, type);
  }
  // clang-format on
}

static void parse_dict(slt_pq_thrift *t, slt_pq_page_header *h, int *seen) {
  int16_t last = 0, id;
  int type;
  // clang-format off: one line per Thrift field
  while (slt_pq_field(t, &last, &id, &type)) {
    if (id == 1)
      h->num_values = slt_pq_int(t, type), *seen |= 1;
    else if (id == 2)
      h->encoding = (int)slt_pq_int(t, type), *seen |= 2 | 4;
    else
      slt_pq_skip(t, type);
  }
  // clang-format on
}

static void parse_v2(slt_pq_thrift *t, slt_pq_page_header *h, int *seen) {
  int16_t last = 0, id;
  int type;
  // clang-format off: one line per Thrift field
  while (slt_pq_field(t, &last, &id, &type)) {
    switch (id) {
    case 1:
      h->num_values = slt_pq_int(t, type), *seen |= 1;
      break;
    case 2:
      h->num_nulls = slt_pq_int(t, type);
      break;
    case 4:
      h->encoding = (int)slt_pq_int(t, type), *seen |= 2;
      break;
    case 5:
      h->def_len = slt_pq_int(t, type), *seen |= 4;
      break;
    case 6:
      h->rep_len = slt_pq_int(t, type);
      break;
    case 7:
      h->is_compressed = slt_pq_bool(t, type);
      break;
    default:
      slt_pq_skip(t, type);
    }
  }
  // clang-format on
}

int slt_pq_page_header_parse(const uint8_t *buf, size_t n, int64_t base, slt_pq_page_header *h,
                             size_t *used) {
  *h =
      (slt_pq_page_header){.type = -1, .uncompressed = -1, .compressed = -1, .is_compressed = true};
  slt_pq_thrift t;
  slt_pq_thrift_init(&t, buf, n, base, "page header");
  int16_t last = 0, id;
  int type, seen = 0, sub = -1; /* sub: which *_page_header struct was present */
  // clang-format off: one line per Thrift field
  while (slt_pq_field(&t, &last, &id, &type)) {
    if (id == 1)
      h->type = (int)slt_pq_int(&t, type);
    else if (id == 2)
      h->uncompressed = slt_pq_int(&t, type);
    else if (id == 3)
      h->compressed = slt_pq_int(&t, type);
    else if (id == 5 && type == SLT_PQ_T_STRUCT)
      parse_v1(&t, h, &seen), sub = SLT_PQ_DATA_PAGE;
    else if (id == 7 && type == SLT_PQ_T_STRUCT)
      parse_dict(&t, h, &seen), sub = SLT_PQ_DICT_PAGE;
    else if (id == 8 && type == SLT_PQ_T_STRUCT)
      parse_v2(&t, h, &seen), sub = SLT_PQ_DATA_PAGE_V2;
    else
      slt_pq_skip(&t, type);
  }
  // clang-format on
  if (t.err) return -1;
  if (h->uncompressed < 0 || h->compressed < 0 || h->num_values < 0 || h->def_len < 0 ||
      h->rep_len < 0 || h->num_nulls < 0)
    slt_pq_thrift_fail(&t, "missing or negative sizes");
  else if (h->type != SLT_PQ_INDEX_PAGE && (sub != h->type || seen != 7))
    slt_pq_thrift_fail(&t, "page type does not match its header");
  if (t.err) return -1;
  *used = (size_t)(t.p - t.start);
  return 0;
}

/* ---- RLE/bit-packed hybrid ---- */

void slt_pq_rle_init(slt_pq_rle *r, const uint8_t *buf, size_t n, int bw) {
  *r = (slt_pq_rle){.p = buf, .end = buf + n, .bw = bw};
}

/* Read the next run header: an RLE run (count << 1, then the value in ceil(bw/8) bytes) or a
 * bit-packed run ((groups << 1) | 1, then groups * bw bytes holding 8 values per group). */
static int next_run(slt_pq_rle *r) {
  uint64_t h = 0;
  int shift = 0;
  for (;; shift += 7) {
    if (r->p >= r->end || shift > 63) {
      slt_err_set(r->p >= r->end ? "RLE/bit-packed data ended early" : "RLE run header too long");
      return -1;
    }
    uint8_t b = *r->p++;
    h |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) break;
  }
  if (h & 1) {
    /* A last group cut short (some writers omit its padding) simply yields fewer values. */
    uint64_t groups = h >> 1 > UINT32_MAX ? UINT32_MAX : h >> 1;
    uint64_t bytes = groups * (uint64_t)r->bw, avail = (uint64_t)(r->end - r->p);
    if (bytes > avail) bytes = avail;
    r->bp = r->p;
    r->bp_bit = 0;
    r->bp_bits = bytes * 8;
    r->bp_left = r->bw ? r->bp_bits / (uint64_t)r->bw : groups * 8;
    if (r->bp_left > groups * 8) r->bp_left = groups * 8;
    r->p += bytes;
    return 0;
  }
  int nbytes = (r->bw + 7) / 8;
  if (r->end - r->p < nbytes) {
    slt_err_set("truncated RLE run");
    return -1;
  }
  uint32_t v = 0;
  for (int i = 0; i < nbytes; i++) v |= (uint32_t)r->p[i] << (8 * i);
  r->p += nbytes;
  if (r->bw < 32 && v >> r->bw) {
    slt_err_set("RLE value %" PRIu32 " wider than %d bits", v, r->bw);
    return -1;
  }
  r->rle_val = v;
  r->rle_left = h >> 1;
  return 0;
}

/* bw bits starting at bit `bit` of b, least significant bit first. */
static uint32_t read_bits(const uint8_t *b, uint64_t bit, int bw) {
  const uint8_t *q = b + (bit >> 3);
  int shift = (int)(bit & 7), nbytes = (shift + bw + 7) / 8;
  uint64_t acc = 0;
  for (int i = 0; i < nbytes; i++) acc |= (uint64_t)q[i] << (8 * i);
  return (uint32_t)((acc >> shift) & ((1ull << bw) - 1));
}

int slt_pq_rle_next(slt_pq_rle *r, uint32_t *v) {
  while (r->rle_left == 0 && r->bp_left == 0)
    if (next_run(r)) return -1;
  if (r->rle_left) {
    r->rle_left--;
    *v = r->rle_val;
    return 0;
  }
  *v = r->bw ? read_bits(r->bp, r->bp_bit, r->bw) : 0;
  r->bp_bit += (uint64_t)r->bw;
  r->bp_left--;
  return 0;
}

/* ---- dictionary ---- */

int slt_pq_dict_load(slt_pq_dict *d, const uint8_t *buf, size_t n, int64_t count) {
  slt_pq_dict_free(d);
  if (count < 0 || (uint64_t)count > n / 4) { /* each entry takes at least its 4-byte length */
    slt_err_set("dictionary of %" PRId64 " entries cannot fit in %zu bytes", count, n);
    return -1;
  }
  d->ptr = malloc(((size_t)count + 1) * sizeof *d->ptr);
  d->len = malloc(((size_t)count + 1) * sizeof *d->len);
  if (!d->ptr || !d->len) {
    slt_err_set("out of memory for a dictionary of %" PRId64 " entries", count);
    slt_pq_dict_free(d);
    return -1;
  }
  const uint8_t *p = buf, *end = buf + n;
  for (int64_t i = 0; i < count; i++) {
    if ((size_t)(end - p) < 4 || le32(p) > (size_t)(end - p) - 4) {
      slt_err_set("dictionary entry %" PRId64 " runs past the end of the page", i);
      slt_pq_dict_free(d);
      return -1;
    }
    d->ptr[i] = p + 4;
    d->len[i] = le32(p);
    p += 4 + (size_t)d->len[i];
  }
  d->n = count;
  return 0;
}

void slt_pq_dict_free(slt_pq_dict *d) {
  free(d->ptr);
  free(d->len);
  *d = (slt_pq_dict){0};
}

/* ---- data pages ---- */

static int open_values(slt_pq_page *pg, int encoding, const uint8_t *p, const uint8_t *end) {
  if (encoding == SLT_PQ_PLAIN) {
    pg->vp = p, pg->vend = end;
    return 0;
  }
  if (encoding != SLT_PQ_PLAIN_DICTIONARY && encoding != SLT_PQ_RLE_DICTIONARY) {
    slt_err_set("unsupported encoding %s", slt_pq_encoding_name(encoding));
    return -1;
  }
  if (!pg->d || !pg->d->ptr) {
    slt_err_set("dictionary-encoded page without a dictionary page");
    return -1;
  }
  pg->dict = true;
  /* A page of nulls alone may carry no indices at all; reading one then fails cleanly. */
  int bw = p < end ? *p++ : 0;
  if (bw > 32) {
    slt_err_set("dictionary index bit width %d above 32", bw);
    return -1;
  }
  slt_pq_rle_init(&pg->idx, p, (size_t)(end - p), bw);
  return 0;
}

static int open_v1_levels(slt_pq_page *pg, const slt_pq_page_header *h, const uint8_t **p,
                          const uint8_t *end) {
  if (h->def_encoding != SLT_PQ_RLE) {
    slt_err_set("unsupported definition level encoding %s", slt_pq_encoding_name(h->def_encoding));
    return -1;
  }
  if (end - *p < 4 || le32(*p) > (size_t)(end - *p) - 4) {
    slt_err_set("definition levels run past the end of the page");
    return -1;
  }
  uint32_t len = le32(*p);
  slt_pq_rle_init(&pg->def, *p + 4, len, 1);
  *p += 4 + (size_t)len;
  pg->has_def = true;
  return 0;
}

int slt_pq_page_open(slt_pq_page *pg, const slt_pq_page_header *h, const uint8_t *levels,
                     const uint8_t *body, size_t n, int max_def, const slt_pq_dict *d) {
  *pg = (slt_pq_page){.left = h->num_values, .max_def = max_def, .d = d};
  const uint8_t *p = body, *end = body + n;
  if (h->type == SLT_PQ_DATA_PAGE) {
    if (max_def > 0 && open_v1_levels(pg, h, &p, end)) return -1;
  } else if (max_def > 0 && h->def_len > 0) {
    /* v2: repetition levels (absent for a flat column, skipped if present) then definition
     * levels, never compressed and without a length prefix. */
    slt_pq_rle_init(&pg->def, levels + h->rep_len, (size_t)h->def_len, 1);
    pg->has_def = true;
  } else if (h->num_nulls > 0) {
    slt_err_set("page has %" PRId64 " nulls but no definition levels", h->num_nulls);
    return -1;
  }
  return open_values(pg, h->encoding, p, end);
}

static int read_value(slt_pq_page *pg, const uint8_t **s, size_t *len) {
  if (pg->dict) {
    uint32_t i;
    if (slt_pq_rle_next(&pg->idx, &i)) return -1;
    if (i >= pg->d->n) {
      slt_err_set("dictionary index %" PRIu32 " out of range (%" PRId64 " entries)", i, pg->d->n);
      return -1;
    }
    *s = pg->d->ptr[i], *len = pg->d->len[i];
    return 0;
  }
  size_t room = (size_t)(pg->vend - pg->vp);
  if (room < 4 || le32(pg->vp) > room - 4) {
    slt_err_set("value runs past the end of the page");
    return -1;
  }
  *len = le32(pg->vp);
  *s = pg->vp + 4;
  pg->vp += 4 + *len;
  return 0;
}

int slt_pq_page_next(slt_pq_page *pg, const uint8_t **s, size_t *len, int64_t *nulls) {
  while (pg->left > 0) {
    if (pg->has_def) {
      slt_pq_rle *r = &pg->def;
      while (r->rle_left == 0 && r->bp_left == 0)
        if (next_run(r)) return -1;
      if (r->rle_left && r->rle_val == 0) { /* a run of nulls: skip it whole */
        uint64_t k = r->rle_left < (uint64_t)pg->left ? r->rle_left : (uint64_t)pg->left;
        r->rle_left -= k, pg->left -= (int64_t)k, *nulls += (int64_t)k;
        continue;
      }
      uint32_t lv;
      slt_pq_rle_next(r, &lv); /* cannot fail: a run is open */
      if (lv > (uint32_t)pg->max_def) {
        slt_err_set("definition level %" PRIu32 " above the maximum %d", lv, pg->max_def);
        return -1;
      }
      if (lv < (uint32_t)pg->max_def) {
        pg->left--, (*nulls)++;
        continue;
      }
    }
    pg->left--;
    return read_value(pg, s, len) ? -1 : 1;
  }
  return 0;
}
