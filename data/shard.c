#include "shard.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tokens are read straight out of the mapping, so the host must share the file's byte order. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "token shards are little-endian");

typedef struct shard_file {
  char *path;
  void *map;       /* the whole file, header included */
  size_t bytes;    /* mapped length */
  const void *tok; /* first token: map + header */
  int64_t count;   /* tokens in this file */
  int64_t start;   /* offset of its first token in the stream */
  int width;       /* 2 or 4 bytes per token */
} shard_file;

struct slt_shards {
  shard_file *f;
  int nfiles;
  int64_t total;
  uint32_t limit; /* tokens must be below this: the vocabulary size, or 2^31 (fits int32) */
};

/* v with thousands separators, for messages about sizes users compare by eye. */
static const char *commas(char buf[32], int64_t v) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "%" PRId64, v < 0 ? -v : v), o = 0;
  if (v < 0) buf[o++] = '-';
  for (int i = 0; i < n; i++) {
    buf[o++] = tmp[i];
    if ((n - 1 - i) % 3 == 0 && i < n - 1) buf[o++] = ',';
  }
  buf[o] = '\0';
  return buf;
}

/* ---- writer ---- */

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Header then tokens, converted to the shard's width in chunks (no full-size copy). */
static int write_body(int fd, const uint32_t *tokens, int64_t n, int width) {
  int32_t hdr[SLT_SHARD_HEADER_BYTES / 4] = {0};
  hdr[0] = width == 2 ? SLT_SHARD_MAGIC_U16 : SLT_SHARD_MAGIC_U32;
  hdr[1] = width == 2 ? SLT_SHARD_VERSION_U16 : SLT_SHARD_VERSION_U32;
  hdr[2] = (int32_t)n;
  if (write_all(fd, hdr, sizeof hdr)) return -1;
  if (width == 4) return n ? write_all(fd, tokens, (size_t)n * 4) : 0;
  enum { CHUNK = 1 << 16 };
  uint16_t *buf = malloc(CHUNK * sizeof *buf);
  if (!buf) return -1;
  int rc = 0;
  for (int64_t i = 0; i < n && rc == 0; i += CHUNK) {
    int64_t m = n - i < CHUNK ? n - i : CHUNK;
    for (int64_t j = 0; j < m; j++) buf[j] = (uint16_t)tokens[i + j];
    rc = write_all(fd, buf, (size_t)m * 2);
  }
  free(buf);
  return rc;
}

/* The rename is only durable once the directory entry itself is on disk. */
static void fsync_dir_of(const char *path) {
  char *copy = strdup(path);
  if (!copy) return;
  int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  free(copy);
}

static int check_write_args(const char *path, const uint32_t *tokens, int64_t n, int width) {
  if (width != 2 && width != 4) {
    slt_err_set("%s: token width must be 2 or 4 bytes, got %d", path, width);
    return -1;
  }
  if (n < 0 || n > INT32_MAX || (n > 0 && !tokens)) {
    slt_err_set("%s: token count %" PRId64 " is outside [0, %d] (the header holds an int32)", path,
                n, INT32_MAX);
    return -1;
  }
  for (int64_t i = 0; width == 2 && i < n; i++)
    if (tokens[i] > UINT16_MAX) {
      slt_err_set("%s: token %" PRId64 " is %" PRIu32
                  ", too large for a uint16 shard (use width 4)",
                  path, i, tokens[i]);
      return -1;
    }
  return 0;
}

int slt_shard_write(const char *path, const uint32_t *tokens, int64_t n, int width) {
  if (check_write_args(path, tokens, n, width)) return -1;
  size_t len = strlen(path);
  char *tmp = malloc(len + 16);
  if (!tmp) {
    slt_err_set("%s: out of memory", path);
    return -1;
  }
  snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    slt_err_set("%s: cannot create a temporary file: %s", path, strerror(errno));
    free(tmp);
    return -1;
  }
  int ok = fchmod(fd, 0644) == 0 && write_body(fd, tokens, n, width) == 0 && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0 && ok) ok = 0, err = errno;
  if (ok && rename(tmp, path) != 0) ok = 0, err = errno;
  if (!ok) {
    slt_err_set("%s: write failed: %s", path, strerror(err));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  fsync_dir_of(path);
  return 0;
}

/* ---- reader ---- */

/* Check the header against the file size; on success set width and count. */
static int check_header(const char *path, const int32_t *h, int64_t size, shard_file *f) {
  char a[32], b[32], c[32];
  if (h[0] == SLT_SHARD_MAGIC_U16 || h[0] == SLT_SHARD_MAGIC_U32) {
    int want = h[0] == SLT_SHARD_MAGIC_U16 ? SLT_SHARD_VERSION_U16 : SLT_SHARD_VERSION_U32;
    if (h[1] != want) {
      slt_err_set("%s: bad version: magic %d needs version %d, found %d", path, h[0], want, h[1]);
      return -1;
    }
  } else {
    slt_err_set("%s: not a token shard: magic %d, expected %d (uint16) or %d (uint32)", path, h[0],
                SLT_SHARD_MAGIC_U16, SLT_SHARD_MAGIC_U32);
    return -1;
  }
  f->width = h[0] == SLT_SHARD_MAGIC_U16 ? 2 : 4;
  f->count = h[2];
  if (h[2] < 0) {
    slt_err_set("%s: bad header: negative token count %d", path, h[2]);
    return -1;
  }
  int64_t want = SLT_SHARD_HEADER_BYTES + f->count * f->width;
  if (size != want) {
    slt_err_set("%s: %s: header says %s tokens (%s bytes) but file has %s bytes", path,
                size < want ? "truncated" : "extra bytes after the tokens", commas(a, f->count),
                commas(b, want), commas(c, size));
    return -1;
  }
  return 0;
}

/* Open, validate the header and size, and map one file. */
static int map_file(const char *path, shard_file *f) {
  char a[32];
  int fd = open(path, O_RDONLY);
  if (fd < 0) {
    slt_err_set("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  int32_t hdr[SLT_SHARD_HEADER_BYTES / 4];
  int rc = -1;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
    slt_err_set("%s: not a regular file", path);
  else if (st.st_size < SLT_SHARD_HEADER_BYTES)
    slt_err_set("%s: truncated: %s bytes, shorter than the 1,024-byte header", path,
                commas(a, st.st_size));
  else if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
    slt_err_set("%s: cannot read the header: %s", path, strerror(errno));
  else if (check_header(path, hdr, st.st_size, f) == 0) {
    f->bytes = (size_t)st.st_size;
    f->map = mmap(NULL, f->bytes, PROT_READ, MAP_PRIVATE, fd, 0);
    if (f->map == MAP_FAILED) {
      f->map = NULL;
      slt_err_set("%s: mmap failed: %s", path, strerror(errno));
    } else {
      f->tok = (const char *)f->map + SLT_SHARD_HEADER_BYTES;
      rc = 0;
    }
  }
  close(fd);
  return rc;
}

/* Largest token of a file: a vectorisable reduction, parallel since a shard can be GBs. */
static uint32_t max_token(const shard_file *f) {
  uint32_t mx = 0;
  if (f->width == 2) {
    const uint16_t *t = f->tok;
#pragma omp parallel for reduction(max : mx) schedule(static) if (f->count > (1 << 20))
    for (int64_t i = 0; i < f->count; i++) mx = t[i] > mx ? t[i] : mx;
  } else {
    const uint32_t *t = f->tok;
#pragma omp parallel for reduction(max : mx) schedule(static) if (f->count > (1 << 20))
    for (int64_t i = 0; i < f->count; i++) mx = t[i] > mx ? t[i] : mx;
  }
  return mx;
}

static uint32_t token_at(const shard_file *f, int64_t i) {
  return f->width == 2 ? ((const uint16_t *)f->tok)[i] : ((const uint32_t *)f->tok)[i];
}

/* Error naming the first token of f at or above limit (the scan found one exists). */
static void report_bad_token(const shard_file *f, uint32_t limit, int vocab_size) {
  char a[32], b[32];
  for (int64_t i = 0; i < f->count; i++) {
    uint32_t v = token_at(f, i);
    if (v < limit) continue;
    if (vocab_size > 0)
      slt_err_set("%s: token %s (byte offset %s) is %" PRIu32 ", not below the vocabulary size %d",
                  f->path, commas(a, i), commas(b, SLT_SHARD_HEADER_BYTES + i * f->width), v,
                  vocab_size);
    else
      slt_err_set("%s: token %s (byte offset %s) is %" PRIu32 ", which does not fit an int32",
                  f->path, commas(a, i), commas(b, SLT_SHARD_HEADER_BYTES + i * f->width), v);
    return;
  }
}

static int check_tokens(const shard_file *f, uint32_t limit, int vocab_size) {
  if (f->width == 2 && limit > UINT16_MAX) return 0; /* every uint16 fits */
  if (max_token(f) < limit) return 0;
  report_bad_token(f, limit, vocab_size);
  return -1;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Match the pattern; paths sorted bytewise so the stream order does not depend on the locale. */
static int list_files(const char *pattern, glob_t *g) {
  int rc = glob(pattern, 0, NULL, g);
  if (rc == GLOB_NOMATCH || (rc == 0 && g->gl_pathc == 0)) {
    slt_err_set("%s: no files match this pattern", pattern);
    return -1;
  }
  if (rc != 0) {
    slt_err_set("%s: cannot expand the pattern (glob error %d)", pattern, rc);
    return -1;
  }
  qsort(g->gl_pathv, g->gl_pathc, sizeof *g->gl_pathv, cmp_str);
  return 0;
}

static int open_all(slt_shards *s, glob_t *g, int vocab_size) {
  for (size_t i = 0; i < g->gl_pathc; i++) {
    shard_file *f = &s->f[i];
    f->path = strdup(g->gl_pathv[i]);
    s->nfiles = (int)i + 1;
    if (!f->path) {
      slt_err_set("%s: out of memory", g->gl_pathv[i]);
      return -1;
    }
    if (map_file(f->path, f) || check_tokens(f, s->limit, vocab_size)) return -1;
    f->start = s->total;
    s->total += f->count;
  }
  return 0;
}

slt_shards *slt_shards_open(const char *pattern, int vocab_size) {
  glob_t g;
  if (list_files(pattern, &g)) return NULL;
  slt_shards *s = calloc(1, sizeof *s);
  if (s) s->f = calloc(g.gl_pathc, sizeof *s->f);
  if (!s || !s->f) {
    slt_err_set("%s: out of memory", pattern);
    free(s);
    globfree(&g);
    return NULL;
  }
  s->limit = vocab_size > 0 ? (uint32_t)vocab_size : (uint32_t)INT32_MAX + 1u;
  int rc = open_all(s, &g, vocab_size);
  globfree(&g);
  if (rc) {
    slt_shards_close(s);
    return NULL;
  }
  return s;
}

int64_t slt_shards_tokens(const slt_shards *s) {
  return s->total;
}
int slt_shards_files(const slt_shards *s) {
  return s->nfiles;
}
const char *slt_shards_path(const slt_shards *s, int i) {
  return i >= 0 && i < s->nfiles ? s->f[i].path : NULL;
}

/* Index of the file holding stream offset off (0 <= off < total): last file starting at or
 * before it, skipping empty files. */
static int file_of(const slt_shards *s, int64_t off) {
  int lo = 0, hi = s->nfiles - 1;
  while (lo < hi) {
    int mid = (lo + hi + 1) / 2;
    if (s->f[mid].start <= off)
      lo = mid;
    else
      hi = mid - 1;
  }
  while (s->f[lo].count == 0 || off >= s->f[lo].start + s->f[lo].count) lo++;
  return lo;
}

int slt_shards_read(const slt_shards *s, int64_t offset, int n, int32_t *out) {
  if (offset < 0 || n < 0 || offset > s->total - n) {
    char a[32];
    slt_err_set("%s: cannot read %d tokens at offset %" PRId64 ": the stream has %s tokens",
                s->nfiles ? s->f[0].path : "shards", n, offset, commas(a, s->total));
    return -1;
  }
  int fi = n ? file_of(s, offset) : 0;
  for (int done = 0; done < n; fi++) {
    const shard_file *f = &s->f[fi];
    int64_t in = offset + done - f->start;
    int64_t m = f->count - in < n - done ? f->count - in : n - done;
    if (f->width == 2)
      for (int64_t j = 0; j < m; j++) out[done + j] = ((const uint16_t *)f->tok)[in + j];
    else
      for (int64_t j = 0; j < m; j++) out[done + j] = (int32_t)((const uint32_t *)f->tok)[in + j];
    done += (int)m;
  }
  return 0;
}

void slt_shards_close(slt_shards *s) {
  if (!s) return;
  for (int i = 0; i < s->nfiles; i++) {
    if (s->f[i].map) munmap(s->f[i].map, s->f[i].bytes);
    free(s->f[i].path);
  }
  free(s->f);
  free(s);
}
