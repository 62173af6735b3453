/* The Parquet cursor: footer (magic, length, FileMetaData), then per row group the chosen
 * column's chunk read whole with pread and decoded page by page. Every size taken from the file
 * is checked against the bytes that hold it before it is used or allocated. */
#include "parquet.h"
#include "parquet_int.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct slt_parquet {
  char *path, *column;
  int fd;
  int64_t size;
  slt_pq_meta meta;
  int group;             /* row group whose chunk is loaded, -1 before the first */
  uint8_t *chunk;        /* its bytes */
  size_t chunk_cap, pos; /* pos: next page header in chunk */
  int64_t chunk_values;  /* level slots of the data pages opened so far */
  int64_t page_off;      /* file offset of the current page, for messages */
  uint8_t *page, *dictbuf;
  size_t page_cap, dict_cap;
  slt_pq_dict dict;
  slt_pq_page pg;
  int64_t values, nulls;
  bool failed;
};

/* Prefix the recorded reason with the file (and column): "f.parquet: column 'c': reason". */
static void wrap_err(const char *path, const char *column) {
  char why[768];
  snprintf(why, sizeof why, "%s", slt_err_msg());
  if (column)
    slt_err_set("%s: column '%s': %s", path, column, why);
  else
    slt_err_set("%s: %s", path, why);
}

static int read_at(int fd, uint8_t *buf, size_t n, int64_t off) {
  while (n > 0) {
    ssize_t r = pread(fd, buf, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      slt_err_set("read failed at offset %" PRId64 ": %s", off,
                  r < 0 ? strerror(errno) : "file shorter than expected");
      return -1;
    }
    buf += r, n -= (size_t)r, off += r;
  }
  return 0;
}

/* Grow *buf to at least n bytes (never shrinks: pages of a file are of similar sizes). */
static int reserve(uint8_t **buf, size_t *cap, size_t n) {
  if (n <= *cap) return 0;
  uint8_t *b = realloc(*buf, n);
  if (!b) {
    slt_err_set("out of memory for %zu bytes", n);
    return -1;
  }
  *buf = b, *cap = n;
  return 0;
}

/* ---- footer ---- */

static int read_footer(slt_parquet *p) {
  uint8_t head[4], tail[8];
  if (p->size < 12) {
    slt_err_set("not a parquet file: %" PRId64 " bytes is too small", p->size);
    return -1;
  }
  if (read_at(p->fd, head, 4, 0) || read_at(p->fd, tail, 8, p->size - 8)) return -1;
  if (memcmp(tail + 4, "PARE", 4) == 0) {
    slt_err_set("encrypted parquet files are unsupported");
    return -1;
  }
  if (memcmp(head, "PAR1", 4)) {
    slt_err_set("not a parquet file: no PAR1 magic at the start");
    return -1;
  }
  if (memcmp(tail + 4, "PAR1", 4)) { /* the footer is written last: a cut file lacks it */
    slt_err_set("no PAR1 magic at the end: truncated, or not a parquet file");
    return -1;
  }
  uint32_t len = (uint32_t)tail[0] | (uint32_t)tail[1] << 8 | (uint32_t)tail[2] << 16 |
                 (uint32_t)tail[3] << 24;
  if (len == 0 || len > p->size - 12) {
    slt_err_set("corrupt footer length %" PRIu32 " for a file of %" PRId64 " bytes", len, p->size);
    return -1;
  }
  int64_t base = p->size - 8 - len;
  uint8_t *buf = malloc(len);
  if (!buf) {
    slt_err_set("out of memory for a footer of %" PRIu32 " bytes", len);
    return -1;
  }
  int rc = read_at(p->fd, buf, len, base);
  if (rc == 0 && slt_pq_meta_parse(buf, len, base, base, p->column, &p->meta)) {
    wrap_err(p->path, p->column);
    free(buf);
    return -2; /* already wrapped */
  }
  free(buf);
  return rc;
}

slt_parquet *slt_parquet_open(const char *path, const char *column) {
  slt_parquet *p = calloc(1, sizeof *p);
  if (p) p->fd = -1;
  if (!p || !(p->path = strdup(path)) || !(p->column = strdup(column))) {
    slt_err_set("%s: out of memory", path);
    slt_parquet_close(p);
    return NULL;
  }
  p->group = -1;
  p->fd = open(path, O_RDONLY | O_CLOEXEC);
  struct stat st;
  int rc = -1;
  if (p->fd < 0)
    slt_err_set("cannot open: %s", strerror(errno));
  else if (fstat(p->fd, &st) != 0 || !S_ISREG(st.st_mode))
    slt_err_set("not a regular file");
  else
    p->size = st.st_size, rc = read_footer(p);
  if (rc) {
    if (rc == -1) wrap_err(path, NULL);
    slt_parquet_close(p);
    return NULL;
  }
  return p;
}

/* ---- pages ---- */

/* The page body as plain bytes: in place when stored raw, else decompressed into *buf. */
static const uint8_t *page_bytes(slt_parquet *p, int codec, const uint8_t *src, int64_t n,
                                 int64_t want, uint8_t **buf, size_t *cap) {
  if (codec == SLT_PQ_UNCOMPRESSED) {
    if (n != want) slt_err_set("stored page of %" PRId64 " bytes claims %" PRId64, n, want);
    return n == want ? src : NULL;
  }
  if (want == 0) return src; /* nothing to decompress (e.g. the values of an all-null page) */
  if (want > (int64_t)SLT_PQ_MAX_PAGE || want > p->meta.chunks[p->group].uncompressed) {
    slt_err_set("page of %" PRId64 " bytes exceeds the chunk's size or the reader's limit", want);
    return NULL;
  }
  if (reserve(buf, cap, (size_t)want) ||
      slt_pq_decompress(codec, src, (size_t)n, *buf, (size_t)want))
    return NULL;
  return *buf;
}

static int load_dict(slt_parquet *p, const slt_pq_page_header *h, const uint8_t *body) {
  if (h->encoding != SLT_PQ_PLAIN && h->encoding != SLT_PQ_PLAIN_DICTIONARY) {
    slt_err_set("unsupported dictionary encoding %s", slt_pq_encoding_name(h->encoding));
    return -1;
  }
  int codec = p->meta.chunks[p->group].codec;
  const uint8_t *d =
      page_bytes(p, codec, body, h->compressed, h->uncompressed, &p->dictbuf, &p->dict_cap);
  return d ? slt_pq_dict_load(&p->dict, d, (size_t)h->uncompressed, h->num_values) : -1;
}

static int open_data(slt_parquet *p, const slt_pq_page_header *h, const uint8_t *body) {
  int codec = p->meta.chunks[p->group].codec;
  if (h->type == SLT_PQ_DATA_PAGE) {
    const uint8_t *d =
        page_bytes(p, codec, body, h->compressed, h->uncompressed, &p->page, &p->page_cap);
    return d ? slt_pq_page_open(&p->pg, h, NULL, d, (size_t)h->uncompressed, p->meta.max_def,
                                &p->dict)
             : -1;
  }
  if (h->rep_len > h->compressed || h->def_len > h->compressed ||
      h->rep_len + h->def_len > h->compressed || h->rep_len + h->def_len > h->uncompressed) {
    slt_err_set("levels of %" PRId64 " + %" PRId64 " bytes exceed the page", h->rep_len,
                h->def_len);
    return -1;
  }
  int64_t lev = h->rep_len + h->def_len;
  const uint8_t *d = page_bytes(p, h->is_compressed ? codec : SLT_PQ_UNCOMPRESSED, body + lev,
                                h->compressed - lev, h->uncompressed - lev, &p->page, &p->page_cap);
  return d ? slt_pq_page_open(&p->pg, h, body, d, (size_t)(h->uncompressed - lev), p->meta.max_def,
                              &p->dict)
           : -1;
}

/* Open the chunk's next data page: 1, or 0 when the chunk's values are all read, or -1. */
static int next_page(slt_parquet *p) {
  const slt_pq_chunk *c = &p->meta.chunks[p->group];
  while (p->chunk_values < c->values) {
    p->page_off = c->offset + (int64_t)p->pos;
    if (p->pos >= (size_t)c->size) {
      slt_err_set("row group %d: the chunk ends after %" PRId64 " of its %" PRId64 " values",
                  p->group, p->chunk_values, c->values);
      return -1;
    }
    slt_pq_page_header h;
    size_t used, left = (size_t)c->size - p->pos;
    if (slt_pq_page_header_parse(p->chunk + p->pos, left, p->page_off, &h, &used)) return -1;
    if (h.compressed > (int64_t)(left - used)) {
      slt_err_set("truncated page at offset %" PRId64 ": %" PRId64 " bytes, %zu left in the chunk",
                  p->page_off, h.compressed, left - used);
      return -1;
    }
    const uint8_t *body = p->chunk + p->pos + used;
    p->pos += used + (size_t)h.compressed;
    int rc = 0;
    if (h.type == SLT_PQ_DICT_PAGE)
      rc = load_dict(p, &h, body);
    else if (h.type == SLT_PQ_DATA_PAGE || h.type == SLT_PQ_DATA_PAGE_V2) {
      if (h.num_values > c->values - p->chunk_values) {
        slt_err_set("page holds more values than the chunk's %" PRId64, c->values);
        rc = -1;
      } else if ((rc = open_data(p, &h, body)) == 0) {
        p->chunk_values += h.num_values;
        return 1;
      }
    } else if (h.type != SLT_PQ_INDEX_PAGE) {
      slt_err_set("unknown page type %d", h.type);
      rc = -1;
    }
    if (rc) return -1;
  }
  return 0;
}

/* Read row group g's chunk into memory: the only allocation that scales with the data. */
static int load_chunk(slt_parquet *p, int g) {
  const slt_pq_chunk *c = &p->meta.chunks[g];
  p->group = g, p->pos = 0, p->chunk_values = 0, p->page_off = c->offset;
  p->pg = (slt_pq_page){0};
  slt_pq_dict_free(&p->dict);
  if (reserve(&p->chunk, &p->chunk_cap, (size_t)c->size + 1)) return -1;
  return read_at(p->fd, p->chunk, (size_t)c->size, c->offset);
}

static int fail(slt_parquet *p) {
  char why[768];
  snprintf(why, sizeof why, "%s", slt_err_msg());
  /* Offsets in the reason already say where; name the page when the reason does not. */
  if (strstr(why, "offset"))
    slt_err_set("%s: column '%s': %s", p->path, p->column, why);
  else
    slt_err_set("%s: column '%s': page at offset %" PRId64 ": %s", p->path, p->column, p->page_off,
                why);
  p->failed = true;
  return -1;
}

int slt_parquet_next(slt_parquet *p, const char **str, size_t *len) {
  if (p->failed) {
    slt_err_set("%s: column '%s': reading after an error", p->path, p->column);
    return -1;
  }
  for (;;) {
    const uint8_t *s;
    int rc = p->pg.left > 0 ? slt_pq_page_next(&p->pg, &s, len, &p->nulls) : 0;
    if (rc == 1) {
      p->values++;
      *str = (const char *)s;
      return 1;
    }
    if (rc < 0) return fail(p);
    rc = p->group >= 0 ? next_page(p) : 0;
    if (rc < 0) return fail(p);
    if (rc == 0) {
      if (p->group + 1 >= p->meta.ngroups) return 0;
      if (load_chunk(p, p->group + 1)) return fail(p);
    }
  }
}

int64_t slt_parquet_num_rows(const slt_parquet *p) {
  return p->meta.num_rows;
}
int slt_parquet_row_groups(const slt_parquet *p) {
  return p->meta.ngroups;
}
int64_t slt_parquet_rows(const slt_parquet *p) {
  return p->values + p->nulls;
}
int64_t slt_parquet_nulls(const slt_parquet *p) {
  return p->nulls;
}

void slt_parquet_close(slt_parquet *p) {
  if (!p) return;
  if (p->fd >= 0) close(p->fd);
  slt_pq_meta_free(&p->meta);
  slt_pq_dict_free(&p->dict);
  free(p->chunk);
  free(p->page);
  free(p->dictbuf);
  free(p->path);
  free(p->column);
  free(p);
}
