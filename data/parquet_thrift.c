/* Thrift compact protocol, the subset Parquet's metadata needs: field headers with delta ids,
 * zigzag varints, binaries, lists/sets/maps, nested structs, and skipping of unknown fields so
 * newer writers' additions are ignored. Every length is checked against the bytes left. */
#include "parquet_int.h"

#include "autograd/error.h"

#include <inttypes.h>

/* Deeper than any Parquet structure (FileMetaData nests about 6 levels). */
#define MAX_DEPTH 32

void slt_pq_thrift_init(slt_pq_thrift *t, const uint8_t *buf, size_t n, int64_t base,
                        const char *what) {
  *t = (slt_pq_thrift){.start = buf, .p = buf, .end = buf + n, .base = base, .what = what};
}

void slt_pq_thrift_fail(slt_pq_thrift *t, const char *why) {
  if (t->err) return;
  t->err = true;
  slt_err_set("corrupt %s at offset %" PRId64 ": %s", t->what, t->base + (t->p - t->start), why);
  t->p = t->end;
}

static uint8_t byte(slt_pq_thrift *t) {
  if (t->p >= t->end) {
    slt_pq_thrift_fail(t, "truncated");
    return 0;
  }
  return *t->p++;
}

static uint64_t varint(slt_pq_thrift *t) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    uint8_t b = byte(t);
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  slt_pq_thrift_fail(t, "varint longer than 10 bytes");
  return 0;
}

static int64_t zigzag(slt_pq_thrift *t) {
  uint64_t u = varint(t);
  return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

bool slt_pq_field(slt_pq_thrift *t, int16_t *last, int16_t *id, int *type) {
  uint8_t b = byte(t);
  if (t->err || b == SLT_PQ_T_STOP) return false;
  *type = b & 0x0f;
  int delta = b >> 4;
  int64_t fid = delta ? *last + delta : zigzag(t);
  if (fid < INT16_MIN || fid > INT16_MAX) slt_pq_thrift_fail(t, "field id out of range");
  if (t->err) return false;
  *last = *id = (int16_t)fid;
  return true;
}

int64_t slt_pq_int(slt_pq_thrift *t, int type) {
  if (type == SLT_PQ_T_I8) return (int8_t)byte(t);
  if (type == SLT_PQ_T_I16 || type == SLT_PQ_T_I32 || type == SLT_PQ_T_I64) return zigzag(t);
  slt_pq_thrift_fail(t, "expected an integer field");
  return 0;
}

bool slt_pq_bool(slt_pq_thrift *t, int type) {
  if (type != SLT_PQ_T_TRUE && type != SLT_PQ_T_FALSE) slt_pq_thrift_fail(t, "expected a boolean");
  return type == SLT_PQ_T_TRUE;
}

const uint8_t *slt_pq_binary(slt_pq_thrift *t, int type, size_t *len) {
  *len = 0;
  if (type != SLT_PQ_T_BINARY) {
    slt_pq_thrift_fail(t, "expected a string");
    return NULL;
  }
  uint64_t n = varint(t);
  if (t->err) return NULL;
  if (n > (uint64_t)(t->end - t->p)) {
    slt_pq_thrift_fail(t, "string longer than the bytes left");
    return NULL;
  }
  const uint8_t *s = t->p;
  t->p += n;
  *len = (size_t)n;
  return s;
}

int64_t slt_pq_list(slt_pq_thrift *t, int type, int *elem) {
  *elem = 0;
  if (type != SLT_PQ_T_LIST && type != SLT_PQ_T_SET) {
    slt_pq_thrift_fail(t, "expected a list");
    return 0;
  }
  uint8_t b = byte(t);
  uint64_t n = b >> 4;
  if (n == 15) n = varint(t);
  *elem = b & 0x0f;
  /* Every element takes at least one byte, so a count above the bytes left is corrupt (and
   * checking it here bounds any allocation sized by it). */
  if (!t->err && n > (uint64_t)(t->end - t->p))
    slt_pq_thrift_fail(t, "list longer than the bytes left");
  return t->err ? 0 : (int64_t)n;
}

static void skip_value(slt_pq_thrift *t, int type, bool in_list);

static void skip_struct(slt_pq_thrift *t) {
  if (++t->depth > MAX_DEPTH) slt_pq_thrift_fail(t, "structs nested too deeply");
  int16_t last = 0, id;
  int type;
  while (slt_pq_field(t, &last, &id, &type)) skip_value(t, type, false);
  t->depth--;
}

static void skip_n(slt_pq_thrift *t, size_t n) {
  if (n > (size_t)(t->end - t->p))
    slt_pq_thrift_fail(t, "truncated");
  else
    t->p += n;
}

static void skip_map(slt_pq_thrift *t) {
  uint64_t n = varint(t);
  if (n == 0 || t->err) return;
  uint8_t kv = byte(t);
  if (n > (uint64_t)(t->end - t->p)) slt_pq_thrift_fail(t, "map longer than the bytes left");
  for (uint64_t i = 0; i < n && !t->err; i++) {
    skip_value(t, kv >> 4, true);
    skip_value(t, kv & 0x0f, true);
  }
}

/* Inside lists and maps a boolean takes a byte; as a field its value is the type itself. */
static void skip_value(slt_pq_thrift *t, int type, bool in_list) {
  size_t len;
  int elem;
  switch (type) {
  case SLT_PQ_T_TRUE:
  case SLT_PQ_T_FALSE:
    if (in_list) byte(t);
    break;
  case SLT_PQ_T_I8:
    byte(t);
    break;
  case SLT_PQ_T_I16:
  case SLT_PQ_T_I32:
  case SLT_PQ_T_I64:
    varint(t);
    break;
  case SLT_PQ_T_DOUBLE:
    skip_n(t, 8);
    break;
  case SLT_PQ_T_BINARY:
    slt_pq_binary(t, type, &len);
    break;
  case SLT_PQ_T_LIST:
  case SLT_PQ_T_SET: {
    int64_t n = slt_pq_list(t, type, &elem);
    if (++t->depth > MAX_DEPTH) slt_pq_thrift_fail(t, "lists nested too deeply");
    for (int64_t i = 0; i < n && !t->err; i++) skip_value(t, elem, true);
    t->depth--;
    break;
  }
  case SLT_PQ_T_MAP:
    if (++t->depth > MAX_DEPTH) slt_pq_thrift_fail(t, "maps nested too deeply");
    skip_map(t);
    t->depth--;
    break;
  case SLT_PQ_T_STRUCT:
    skip_struct(t);
    break;
  default:
    slt_pq_thrift_fail(t, "unknown field type");
  }
}

void slt_pq_skip(slt_pq_thrift *t, int type) {
  skip_value(t, type, false);
}
