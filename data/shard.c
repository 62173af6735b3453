#include "shard.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
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
  dev_t dev;       /* identity of the file, to spot one file matched twice (links) */
  ino_t ino;
} shard_file;

struct slt_shards {
  shard_file *f;
  int nfiles;
  int64_t total;
  uint32_t limit; /* tokens must be below this: the vocabulary size, or 2^31 (fits int32) */
  int vocab_size; /* as given to slt_shards_open (0: none), for messages */
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
  /* O_NONBLOCK: opening a FIFO that matched the glob must not wait for a writer forever (the
   * fstat below then refuses it); it changes nothing for a regular file. */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    slt_err_set("%s: cannot open: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  int32_t hdr[SLT_SHARD_HEADER_BYTES / 4];
  int rc = -1;
  if (fstat(fd, &st) != 0)
    slt_err_set("%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(st.st_mode))
    slt_err_set("%s: not a regular file (%s); expected a token shard", path,
                S_ISDIR(st.st_mode) ? "a directory" : "a device, FIFO or socket");
  else if (st.st_size < SLT_SHARD_HEADER_BYTES)
    slt_err_set("%s: truncated: %s bytes, shorter than the 1,024-byte header", path,
                commas(a, st.st_size));
  else if (pread(fd, hdr, sizeof hdr, 0) != (ssize_t)sizeof hdr)
    slt_err_set("%s: cannot read the header: %s", path, strerror(errno));
  else if (check_header(path, hdr, st.st_size, f) == 0) {
    f->dev = st.st_dev;
    f->ino = st.st_ino;
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

static bool same_file(const shard_file *a, const shard_file *b) {
  return a->dev == b->dev && a->ino == b->ino;
}

/* A glob never lists a path twice, but a symlink or hard link can bring one file in under two
 * names; its tokens would then be read twice per epoch, silently weighting it double. */
static int check_not_repeated(const slt_shards *s, const shard_file *f) {
  for (int i = 0; i < s->nfiles - 1; i++)
    if (same_file(&s->f[i], f)) {
      slt_err_set("%s: the same file as %s (a link): it would be read twice per epoch; expected "
                  "each shard once",
                  f->path, s->f[i].path);
      return -1;
    }
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
    if (map_file(f->path, f) || check_not_repeated(s, f) || check_tokens(f, s->limit, vocab_size))
      return -1;
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
  s->vocab_size = vocab_size > 0 ? vocab_size : 0;
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

const char *slt_shards_shared(const slt_shards *a, const slt_shards *b) {
  for (int i = 0; i < b->nfiles; i++)
    for (int j = 0; j < a->nfiles; j++)
      if (same_file(&b->f[i], &a->f[j])) return b->f[i].path;
  return NULL;
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

/* ---- guarded reads ----
 * The files stay mapped for the whole run. One truncated meanwhile (rewritten in place, a full
 * disk, a sync tool) raises SIGBUS on the lost pages, which would kill a run hours in with no word
 * of which file; one rewritten in place can hold tokens that were never checked. Copies out of a
 * mapping therefore run under a SIGBUS guard and check every token they copy. */

static _Thread_local sigjmp_buf *bus_env; /* set while this thread copies out of a mapping */

static void on_sigbus(int sig) {
  if (bus_env) siglongjmp(*bus_env, 1);
  signal(sig, SIG_DFL); /* not a guarded copy: die of it as without the guard */
  raise(sig);
}

/* Copy m tokens from token `in` of f into out; the index of the first one at or above limit, or
 * m when all are below it. */
static int64_t copy_tokens(const shard_file *f, int64_t in, int64_t m, uint32_t limit,
                           int32_t *out) {
  for (int64_t j = 0; j < m; j++) {
    uint32_t v = token_at(f, in + j);
    if (v >= limit) return j;
    out[j] = (int32_t)v;
  }
  return m;
}

/* After a SIGBUS: the file has shrunk since it was mapped. */
static void report_shrunk(const shard_file *f) {
  char a[32], b[32];
  struct stat st;
  if (stat(f->path, &st) == 0)
    slt_err_set("%s: the file changed while in use: now %s bytes, %s when opened (a shard must "
                "not be modified during a run)",
                f->path, commas(a, st.st_size), commas(b, (int64_t)f->bytes));
  else
    slt_err_set("%s: the file changed while in use: it became unreadable after it was opened (a "
                "shard must not be modified during a run)",
                f->path);
}

/* After a copy found token `at` of f out of range: it passed the check at open, so the file was
 * rewritten since. */
static void report_changed_token(const slt_shards *s, const shard_file *f, int64_t at) {
  char a[32], b[32];
  slt_err_set("%s: the file changed while in use: token %s (byte offset %s) is now %" PRIu32
              ", not below %s %d (a shard must not be modified during a run)",
              f->path, commas(a, at), commas(b, SLT_SHARD_HEADER_BYTES + at * f->width),
              token_at(f, at), s->vocab_size ? "the vocabulary size" : "int32's limit",
              s->vocab_size ? s->vocab_size : INT32_MAX);
}

/* Tokens [offset, offset + n) into out, file by file; *fi tracks the file being read so that a
 * SIGBUS can name it. 0, or -1 with the error recorded. */
static int copy_range(const slt_shards *s, int64_t offset, int n, int32_t *out, volatile int *fi) {
  for (int done = 0; done < n; (*fi)++) {
    const shard_file *f = &s->f[*fi];
    int64_t in = offset + done - f->start;
    int64_t m = f->count - in < n - done ? f->count - in : n - done;
    int64_t ok = copy_tokens(f, in, m, s->limit, out + done);
    if (ok < m) {
      report_changed_token(s, f, in + ok);
      return -1;
    }
    done += (int)m;
  }
  return 0;
}

/* copy_range under the SIGBUS guard; the previous SIGBUS action is restored after. */
static int read_guarded(const slt_shards *s, int64_t offset, int n, int32_t *out) {
  struct sigaction sa = {.sa_handler = on_sigbus, .sa_flags = SA_NODEFER}, old;
  sigemptyset(&sa.sa_mask);
  sigjmp_buf env;
  volatile int fi = file_of(s, offset); /* read after a longjmp: must not live in a register */
  volatile int rc = -1;
  sigaction(SIGBUS, &sa, &old);
  if (sigsetjmp(env, 0) == 0) {
    bus_env = &env;
    rc = copy_range(s, offset, n, out, &fi);
  } else {
    report_shrunk(&s->f[fi]);
  }
  bus_env = NULL;
  sigaction(SIGBUS, &old, NULL);
  return rc;
}

int slt_shards_read(const slt_shards *s, int64_t offset, int n, int32_t *out) {
  if (offset < 0 || n < 0 || offset > s->total - n) {
    char a[32];
    slt_err_set("%s: cannot read %d tokens at offset %" PRId64 ": the stream has %s tokens",
                s->nfiles ? s->f[0].path : "shards", n, offset, commas(a, s->total));
    return -1;
  }
  return n ? read_guarded(s, offset, n, out) : 0;
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
