#include "gguf.h"
#include "fp16.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A growable byte buffer: the metadata section is serialised as it is set. */
typedef struct bytes {
  uint8_t *p;
  size_t n, cap;
} bytes;

typedef struct tensor {
  char *name;
  int ndim;
  uint64_t dims[SLT_GGUF_MAX_DIMS]; /* ggml order: innermost first */
  slt_ggml_type type;
  uint8_t *data;
  size_t nbytes;
} tensor;

struct slt_gguf {
  bytes kv;
  char **keys;
  int nkeys, keys_cap;
  tensor *t;
  int nt, t_cap;
};

static int put(bytes *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n) cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (!p) {
      slt_err_set("gguf: out of memory");
      return -1;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
  return 0;
}

/* Integers and floats go out little-endian; x86-64 and aarch64 Linux are, so a copy is enough. */
static int put_u32(bytes *b, uint32_t v) {
  return put(b, &v, 4);
}
static int put_u64(bytes *b, uint64_t v) {
  return put(b, &v, 8);
}
static int put_str(bytes *b, const char *s) {
  size_t n = strlen(s);
  return put_u64(b, n) || put(b, s, n);
}

slt_gguf *slt_gguf_new(void) {
  slt_gguf *g = calloc(1, sizeof *g);
  if (!g) slt_err_set("gguf: out of memory");
  return g;
}

void slt_gguf_free(slt_gguf *g) {
  if (!g) return;
  free(g->kv.p);
  for (int i = 0; i < g->nkeys; i++) free(g->keys[i]);
  free(g->keys);
  for (int i = 0; i < g->nt; i++) {
    free(g->t[i].name);
    free(g->t[i].data);
  }
  free(g->t);
  free(g);
}

/* Record key (refusing a repeat) and serialise its name and type. 0 or -1. */
static int begin_kv(slt_gguf *g, const char *key, slt_gguf_kv_type type) {
  for (int i = 0; i < g->nkeys; i++)
    if (!strcmp(g->keys[i], key)) {
      slt_err_set("gguf: metadata key '%s' set twice", key);
      return -1;
    }
  if (g->nkeys == g->keys_cap) {
    int cap = g->keys_cap ? 2 * g->keys_cap : 32;
    char **k = realloc(g->keys, cap * sizeof *k);
    if (!k) {
      slt_err_set("gguf: out of memory");
      return -1;
    }
    g->keys = k;
    g->keys_cap = cap;
  }
  if (!(g->keys[g->nkeys] = strdup(key))) {
    slt_err_set("gguf: out of memory");
    return -1;
  }
  g->nkeys++;
  return put_str(&g->kv, key) || put_u32(&g->kv, type);
}

int slt_gguf_set_u32(slt_gguf *g, const char *key, uint32_t v) {
  return begin_kv(g, key, SLT_GGUF_U32) || put_u32(&g->kv, v) ? -1 : 0;
}
int slt_gguf_set_i32(slt_gguf *g, const char *key, int32_t v) {
  return begin_kv(g, key, SLT_GGUF_I32) || put(&g->kv, &v, 4) ? -1 : 0;
}
int slt_gguf_set_u64(slt_gguf *g, const char *key, uint64_t v) {
  return begin_kv(g, key, SLT_GGUF_U64) || put_u64(&g->kv, v) ? -1 : 0;
}
int slt_gguf_set_f32(slt_gguf *g, const char *key, float v) {
  return begin_kv(g, key, SLT_GGUF_F32) || put(&g->kv, &v, 4) ? -1 : 0;
}
int slt_gguf_set_bool(slt_gguf *g, const char *key, bool v) {
  uint8_t b = v ? 1 : 0;
  return begin_kv(g, key, SLT_GGUF_BOOL) || put(&g->kv, &b, 1) ? -1 : 0;
}
int slt_gguf_set_str(slt_gguf *g, const char *key, const char *v) {
  return begin_kv(g, key, SLT_GGUF_STRING) || put_str(&g->kv, v) ? -1 : 0;
}

int slt_gguf_set_arr_str(slt_gguf *g, const char *key, const char *const *v, int64_t n) {
  if (begin_kv(g, key, SLT_GGUF_ARRAY) || put_u32(&g->kv, SLT_GGUF_STRING) ||
      put_u64(&g->kv, (uint64_t)n))
    return -1;
  for (int64_t i = 0; i < n; i++)
    if (put_str(&g->kv, v[i])) return -1;
  return 0;
}

int slt_gguf_set_arr_i32(slt_gguf *g, const char *key, const int32_t *v, int64_t n) {
  return begin_kv(g, key, SLT_GGUF_ARRAY) || put_u32(&g->kv, SLT_GGUF_I32) ||
                 put_u64(&g->kv, (uint64_t)n) || put(&g->kv, v, (size_t)n * 4)
             ? -1
             : 0;
}

size_t slt_gguf_type_bytes(slt_ggml_type type, int64_t n) {
  switch (type) {
  case SLT_GGML_F16:
    return (size_t)n * 2;
  case SLT_GGML_TQ2_0:
    return (size_t)(n / SLT_GGUF_TQ2_0_BLOCK) * SLT_GGUF_TQ2_0_BYTES;
  default:
    return (size_t)n * 4;
  }
}

/* One block of 256: d = absmax (fp16), element e in byte 32·(e/128) + e%32 at bits 2·((e%128)/32).
 */
static int pack_block(const float *w, uint8_t *out, int64_t *bad) {
  float amax = 0.0f;
  for (int e = 0; e < SLT_GGUF_TQ2_0_BLOCK; e++) amax = fmaxf(amax, fabsf(w[e]));
  uint16_t dh = slt_fp16_from_f32(amax);
  memset(out, 0, 64);
  for (int e = 0; e < SLT_GGUF_TQ2_0_BLOCK; e++) {
    if (w[e] != 0.0f && fabsf(w[e]) != amax) { /* not ternary: TQ2_0 would round it */
      *bad = e;
      return -1;
    }
    int code = w[e] == 0.0f ? 1 : w[e] > 0.0f ? 2 : 0;
    out[32 * (e / 128) + e % 32] |= (uint8_t)(code << (2 * ((e % 128) / 32)));
  }
  memcpy(out + 64, &dh, 2);
  return 0;
}

int slt_gguf_pack_tq2_0(const float *w, int64_t n, uint8_t *out, int64_t *bad_index) {
  for (int64_t b = 0; b < n / SLT_GGUF_TQ2_0_BLOCK; b++) {
    int64_t bad;
    if (pack_block(w + b * SLT_GGUF_TQ2_0_BLOCK, out + b * SLT_GGUF_TQ2_0_BYTES, &bad)) {
      if (bad_index) *bad_index = b * SLT_GGUF_TQ2_0_BLOCK + bad;
      return -1;
    }
  }
  return 0;
}

/* data (n floats) -> t->data in t->type. 0 or -1 naming the tensor. */
static int convert(tensor *t, const float *data, int64_t n) {
  t->nbytes = slt_gguf_type_bytes(t->type, n);
  if (!(t->data = malloc(t->nbytes ? t->nbytes : 1))) {
    slt_err_set("gguf: out of memory for tensor '%s'", t->name);
    return -1;
  }
  if (t->type == SLT_GGML_F32) {
    memcpy(t->data, data, t->nbytes);
  } else if (t->type == SLT_GGML_F16) {
    uint16_t *h = (uint16_t *)t->data;
    for (int64_t i = 0; i < n; i++) h[i] = slt_fp16_from_f32(data[i]);
  } else {
    int64_t bad = 0, row = (int64_t)t->dims[0];
    if (slt_gguf_pack_tq2_0(data, n, t->data, &bad)) {
      slt_err_set("gguf: tensor '%s' is not ternary: row %lld, column %lld holds %g, but TQ2_0 "
                  "stores only {-d, 0, d} per block of 256 (d = the block's absmax)",
                  t->name, (long long)(bad / row), (long long)(bad % row), (double)data[bad]);
      return -1;
    }
  }
  return 0;
}

/* Name, shape and type checks of slt_gguf_add_tensor. 0 or -1. */
static int check_tensor(const slt_gguf *g, const char *name, int ndim, const int64_t *shape,
                        slt_ggml_type type) {
  for (int i = 0; i < g->nt; i++)
    if (!strcmp(g->t[i].name, name)) {
      slt_err_set("gguf: tensor '%s' added twice", name);
      return -1;
    }
  if (ndim < 1 || ndim > SLT_GGUF_MAX_DIMS) {
    slt_err_set("gguf: tensor '%s' has %d dims (1..%d)", name, ndim, SLT_GGUF_MAX_DIMS);
    return -1;
  }
  for (int i = 0; i < ndim; i++)
    if (shape[i] < 1) {
      slt_err_set("gguf: tensor '%s' has dim %d = %lld", name, i, (long long)shape[i]);
      return -1;
    }
  if (type != SLT_GGML_F32 && type != SLT_GGML_F16 && type != SLT_GGML_TQ2_0) {
    slt_err_set("gguf: tensor '%s': unsupported ggml type %d", name, (int)type);
    return -1;
  }
  if (type == SLT_GGML_TQ2_0 && shape[ndim - 1] % SLT_GGUF_TQ2_0_BLOCK) {
    slt_err_set("gguf: tensor '%s' has rows of %lld, not a multiple of %d: TQ2_0 needs whole "
                "blocks of %d along a row",
                name, (long long)shape[ndim - 1], SLT_GGUF_TQ2_0_BLOCK, SLT_GGUF_TQ2_0_BLOCK);
    return -1;
  }
  return 0;
}

int slt_gguf_add_tensor(slt_gguf *g, const char *name, int ndim, const int64_t *shape,
                        slt_ggml_type type, const float *data) {
  if (check_tensor(g, name, ndim, shape, type)) return -1;
  if (g->nt == g->t_cap) {
    int cap = g->t_cap ? 2 * g->t_cap : 64;
    tensor *t = realloc(g->t, cap * sizeof *t);
    if (!t) {
      slt_err_set("gguf: out of memory");
      return -1;
    }
    g->t = t;
    g->t_cap = cap;
  }
  tensor *t = &g->t[g->nt];
  memset(t, 0, sizeof *t);
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    t->dims[i] = (uint64_t)shape[ndim - 1 - i]; /* reversed: ggml's ne[0] is the row length */
    n *= shape[i];
  }
  t->ndim = ndim;
  t->type = type;
  if (!(t->name = strdup(name))) {
    slt_err_set("gguf: out of memory");
    return -1;
  }
  if (convert(t, data, n)) {
    free(t->name);
    free(t->data);
    return -1;
  }
  g->nt++;
  return 0;
}

int slt_gguf_tensor_count(const slt_gguf *g) {
  return g->nt;
}

bool slt_gguf_any_quantized(const slt_gguf *g) {
  for (int i = 0; i < g->nt; i++)
    if (g->t[i].type != SLT_GGML_F32 && g->t[i].type != SLT_GGML_F16) return true;
  return false;
}

static size_t align_up(size_t n) {
  return (n + SLT_GGUF_ALIGN - 1) / SLT_GGUF_ALIGN * SLT_GGUF_ALIGN;
}

/* Header, metadata and tensor infos, padded to the alignment. 0 or -1. */
static int head(const slt_gguf *g, bytes *b) {
  if (put(b, "GGUF", 4) || put_u32(b, SLT_GGUF_VERSION) || put_u64(b, (uint64_t)g->nt) ||
      put_u64(b, (uint64_t)g->nkeys) || put(b, g->kv.p, g->kv.n))
    return -1;
  size_t off = 0;
  for (int i = 0; i < g->nt; i++) {
    const tensor *t = &g->t[i];
    if (put_str(b, t->name) || put_u32(b, (uint32_t)t->ndim)) return -1;
    for (int d = 0; d < t->ndim; d++)
      if (put_u64(b, t->dims[d])) return -1;
    if (put_u32(b, (uint32_t)t->type) || put_u64(b, off)) return -1;
    off = align_up(off + t->nbytes);
  }
  static const uint8_t zero[SLT_GGUF_ALIGN];
  return put(b, zero, align_up(b->n) - b->n);
}

/* Everything into f: 0, -1 on a write error (errno set), -2 out of memory (error recorded). */
static int body(const slt_gguf *g, FILE *f) {
  bytes b = {0};
  if (head(g, &b)) {
    free(b.p);
    return -2;
  }
  int rc = fwrite(b.p, 1, b.n, f) == b.n ? 0 : -1;
  free(b.p);
  static const uint8_t zero[SLT_GGUF_ALIGN];
  for (int i = 0; !rc && i < g->nt; i++) {
    const tensor *t = &g->t[i];
    size_t pad = align_up(t->nbytes) - t->nbytes;
    if (fwrite(t->data, 1, t->nbytes, f) != t->nbytes || fwrite(zero, 1, pad, f) != pad) rc = -1;
  }
  return rc;
}

/* fsync the directory holding path, so the rename itself survives a crash. 0 or -1. */
static int fsync_dir(const char *path) {
  char dir[4096];
  const char *slash = strrchr(path, '/');
  snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - path) + 1 : 1, slash ? path : ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  close(fd);
  return rc;
}

/* tmp -> f -> fsync -> rename to path -> fsync the directory. 0, or -1 with the error recorded. */
static int write_tmp(const slt_gguf *g, const char *tmp, const char *path) {
  FILE *f = fopen(tmp, "wb");
  if (!f) {
    slt_err_set("%s: cannot create (%s)", tmp, strerror(errno));
    return -1;
  }
  errno = 0;
  int rc = body(g, f);
  if (rc == -2) {
    fclose(f);
    return -1;
  }
  if (!rc && (fflush(f) || fsync(fileno(f)))) rc = -1;
  int err = errno ? errno : EIO;
  if (fclose(f) && !rc) rc = -1, err = errno;
  if (rc) {
    slt_err_set("%s: write failed (%s)", tmp, strerror(err));
    return -1;
  }
  if (rename(tmp, path)) {
    slt_err_set("%s: cannot rename to %s (%s)", tmp, path, strerror(errno));
    return -1;
  }
  if (fsync_dir(path)) {
    slt_err_set("%s: fsync of its directory failed (%s)", path, strerror(errno));
    return -1;
  }
  return 0;
}

int slt_gguf_write(const slt_gguf *g, const char *path) {
  size_t n = strlen(path) + 5;
  char *tmp = malloc(n);
  if (!tmp) {
    slt_err_set("gguf: out of memory");
    return -1;
  }
  snprintf(tmp, n, "%s.tmp", path);
  int rc = write_tmp(g, tmp, path);
  if (rc) remove(tmp); /* after a rename this is a no-op: tmp no longer exists */
  free(tmp);
  return rc;
}
