/* Parquet's FileMetaData, decoded from Thrift compact. Only what a flat string
 * column needs is kept: the schema's top-level names and the chosen column's repetition, and
 * per row group the chosen column's chunk (matched by path_in_schema). Field numbers are those
 * of parquet.thrift; everything else is skipped. */
#include "parquet_int.h"

#include "autograd/error.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct schema_el {
  const uint8_t *name;
  size_t name_len;
  int type, repetition; /* -1 when absent */
  int64_t children;
} schema_el;

typedef struct meta_parse {
  slt_pq_thrift t;
  const char *column;
  schema_el *schema;
  int64_t nschema;
  bool *have;     /* [ngroups]: the row group has a chunk for the column */
  int64_t *types; /* [ngroups]: its physical type */
} meta_parse;

/* ---- schema ---- */

static void parse_schema_el(slt_pq_thrift *t, schema_el *e) {
  *e = (schema_el){.type = -1, .repetition = -1};
  int16_t last = 0, id;
  int type;
  // clang-format off: one line per Thrift field
  while (slt_pq_field(t, &last, &id, &type)) {
    if (id == 1)
      e->type = (int)slt_pq_int(t, type);
    else if (id == 3)
      e->repetition = (int)slt_pq_int(t, type);
    else if (id == 4)
      e->name = slt_pq_binary(t, type, &e->name_len);
    else if (id == 5)
      e->children = slt_pq_int(t, type);
    else
      slt_pq_skip(t, type);
  }
  // clang-format on
}

static int parse_schema(meta_parse *mp, int type) {
  int elem;
  int64_t n = slt_pq_list(&mp->t, type, &elem);
  if (!mp->t.err && (elem != SLT_PQ_T_STRUCT || mp->schema)) /* a second schema: corrupt */
    slt_pq_thrift_fail(&mp->t, "bad schema list");
  if (mp->t.err) return -1;
  mp->schema = calloc((size_t)n + 1, sizeof *mp->schema);
  if (!mp->schema) {
    slt_err_set("out of memory for a schema of %" PRId64 " elements", n);
    return -1;
  }
  mp->nschema = n;
  for (int64_t i = 0; i < n && !mp->t.err; i++) parse_schema_el(&mp->t, &mp->schema[i]);
  return mp->t.err ? -1 : 0;
}

/* "a, b, c" for the no-such-column message (cut short for very wide schemas). */
static void append_name(char *buf, size_t cap, const schema_el *e) {
  size_t used = strlen(buf);
  if (used + e->name_len + 8 >= cap) {
    if (!strstr(buf, "...")) snprintf(buf + used, cap - used, "%s...", used ? ", " : "");
    return;
  }
  snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)e->name_len,
           e->name ? (const char *)e->name : "");
}

/* Find the column among the root's children (walking each child's subtree by its counts). */
static int find_column(meta_parse *mp, slt_pq_meta *m) {
  if (mp->nschema < 1 || mp->schema[0].children < 0) {
    slt_err_set("corrupt footer: the schema has no root");
    return -1;
  }
  char names[400] = "";
  int64_t i = 1, found = -1;
  for (int64_t c = 0; c < mp->schema[0].children; c++) {
    if (i >= mp->nschema) {
      slt_err_set("corrupt footer: the schema's tree is larger than its %" PRId64 " elements",
                  mp->nschema);
      return -1;
    }
    const schema_el *e = &mp->schema[i];
    append_name(names, sizeof names, e);
    if (found < 0 && e->name && e->name_len == strlen(mp->column) &&
        memcmp(e->name, mp->column, e->name_len) == 0)
      found = i;
    for (int64_t left = 1; left > 0; i++) { /* skip e's subtree */
      if (i >= mp->nschema || mp->schema[i].children < 0 || mp->schema[i].children > mp->nschema) {
        slt_err_set("corrupt footer: bad child counts in the schema");
        return -1;
      }
      left += mp->schema[i].children - 1;
    }
  }
  if (found < 0) {
    slt_err_set("no column named '%s' (columns: %s)", mp->column, names);
    return -1;
  }
  const schema_el *e = &mp->schema[found];
  if (e->children > 0 || e->repetition == SLT_PQ_REPEATED) {
    slt_err_set("nested columns (lists, structs) are unsupported; need a flat string column");
    return -1;
  }
  if (e->type != SLT_PQ_BYTE_ARRAY) {
    slt_err_set("type %s is unsupported; need a string (BYTE_ARRAY) column",
                slt_pq_type_name(e->type));
    return -1;
  }
  if (e->repetition != SLT_PQ_REQUIRED && e->repetition != SLT_PQ_OPTIONAL) {
    slt_err_set("corrupt footer: bad repetition type %d", e->repetition);
    return -1;
  }
  m->max_def = e->repetition == SLT_PQ_OPTIONAL;
  return 0;
}

/* ---- row groups ---- */

/* path_in_schema == [column]: a top-level leaf of that name. */
static bool path_is(slt_pq_thrift *t, int type, const char *column) {
  int elem;
  int64_t n = slt_pq_list(t, type, &elem);
  bool match = n == 1 && elem == SLT_PQ_T_BINARY;
  for (int64_t i = 0; i < n && !t->err; i++) {
    size_t len;
    const uint8_t *s = slt_pq_binary(t, elem, &len);
    match = match && len == strlen(column) && memcmp(s, column, len) == 0;
  }
  return match && !t->err;
}

static void parse_col_meta(meta_parse *mp, slt_pq_chunk *c, int64_t *ptype, bool *match) {
  slt_pq_thrift *t = &mp->t;
  int64_t dict_off = -1, data_off = -1;
  int16_t last = 0, id;
  int type;
  // clang-format off: one line per Thrift field
  while (slt_pq_field(t, &last, &id, &type)) {
    switch (id) {
    case 1:
      *ptype = slt_pq_int(t, type);
      break;
    case 3:
      *match = path_is(t, type, mp->column);
      break;
    case 4:
      c->codec = (int)slt_pq_int(t, type);
      break;
    case 5:
      c->values = slt_pq_int(t, type);
      break;
    case 6:
      c->uncompressed = slt_pq_int(t, type);
      break;
    case 7:
      c->size = slt_pq_int(t, type);
      break;
    case 9:
      data_off = slt_pq_int(t, type);
      break;
    case 11:
      dict_off = slt_pq_int(t, type);
      break;
    default:
      slt_pq_skip(t, type);
    }
  }
  // clang-format on
  /* Some writers store 0 for "no dictionary page"; a real one always precedes the data. */
  c->offset = dict_off > 0 && dict_off < data_off ? dict_off : data_off;
}

static void parse_col_chunk(meta_parse *mp, slt_pq_chunk *out, int64_t g) {
  slt_pq_thrift *t = &mp->t;
  slt_pq_chunk c = {.offset = -1, .size = -1, .uncompressed = -1, .values = -1, .codec = -1};
  int64_t ptype = -1;
  bool match = false, external = false;
  int16_t last = 0, id;
  int type;
  // clang-format off: one line per Thrift field
  while (slt_pq_field(t, &last, &id, &type)) {
    if (id == 1)
      external = slt_pq_binary(t, type, &(size_t){0}) != NULL;
    else if (id == 3 && type == SLT_PQ_T_STRUCT)
      parse_col_meta(mp, &c, &ptype, &match);
    else
      slt_pq_skip(t, type);
  }
  // clang-format on
  if (!match || t->err) return;
  if (mp->have[g]) slt_pq_thrift_fail(t, "two chunks for the column in one row group");
  if (external) slt_pq_thrift_fail(t, "column data in another file is unsupported");
  mp->have[g] = true;
  mp->types[g] = ptype;
  c.rows = out->rows; /* the row group's count may already have been read */
  *out = c;
}

static void parse_row_group(meta_parse *mp, slt_pq_chunk *out, int64_t g) {
  slt_pq_thrift *t = &mp->t;
  int16_t last = 0, id;
  int type, elem;
  // clang-format off: one line per Thrift field
  while (slt_pq_field(t, &last, &id, &type)) {
    if (id == 1) {
      int64_t n = slt_pq_list(t, type, &elem);
      if (n && elem != SLT_PQ_T_STRUCT) slt_pq_thrift_fail(t, "bad column chunk list");
      for (int64_t i = 0; i < n && !t->err; i++) parse_col_chunk(mp, out, g);
    } else if (id == 3)
      out->rows = slt_pq_int(t, type);
    else
      slt_pq_skip(t, type);
  }
  // clang-format on
}

static int parse_row_groups(meta_parse *mp, slt_pq_meta *m, int type) {
  int elem;
  int64_t n = slt_pq_list(&mp->t, type, &elem);
  if (!mp->t.err && ((n && elem != SLT_PQ_T_STRUCT) || m->chunks || n > INT32_MAX))
    slt_pq_thrift_fail(&mp->t, "bad row group list");
  if (mp->t.err) return -1;
  m->chunks = calloc((size_t)n + 1, sizeof *m->chunks);
  mp->have = calloc((size_t)n + 1, sizeof *mp->have);
  mp->types = calloc((size_t)n + 1, sizeof *mp->types);
  if (!m->chunks || !mp->have || !mp->types) {
    slt_err_set("out of memory for %" PRId64 " row groups", n);
    return -1;
  }
  m->ngroups = (int)n;
  for (int64_t g = 0; g < n && !mp->t.err; g++) {
    m->chunks[g].rows = -1;
    parse_row_group(mp, &m->chunks[g], g);
  }
  return mp->t.err ? -1 : 0;
}

/* ---- checks ---- */

static int check_chunk(const meta_parse *mp, const slt_pq_chunk *c, int g, int64_t data_end) {
  if (!mp->have[g]) {
    slt_err_set("corrupt footer: row group %d has no chunk for the column", g);
    return -1;
  }
  if (mp->types[g] != SLT_PQ_BYTE_ARRAY) {
    slt_err_set("corrupt footer: row group %d stores the column as %s, not BYTE_ARRAY", g,
                slt_pq_type_name((int)mp->types[g]));
    return -1;
  }
  if (!slt_pq_codec_supported(c->codec)) {
    slt_err_set("unsupported codec %s (row group %d)", slt_pq_codec_name(c->codec), g);
    return -1;
  }
  if (c->values < 0 || c->rows < 0 || c->uncompressed < 0 || c->size < 0 || c->offset < 4 ||
      c->offset > data_end || c->size > data_end - c->offset) {
    slt_err_set("corrupt footer: row group %d: chunk at offset %" PRId64 " of %" PRId64
                " bytes (%" PRId64 " values, %" PRId64 " rows) lies outside the data (%" PRId64
                " bytes) or lacks a size",
                g, c->offset, c->size, c->values, c->rows, data_end);
    return -1;
  }
  if (c->values != c->rows) { /* a flat column holds one level slot per row */
    slt_err_set("corrupt footer: row group %d has %" PRId64 " rows but its chunk %" PRId64
                " values",
                g, c->rows, c->values);
    return -1;
  }
  return 0;
}

int slt_pq_meta_parse(const uint8_t *buf, size_t n, int64_t base, int64_t data_end,
                      const char *column, slt_pq_meta *m) {
  *m = (slt_pq_meta){.num_rows = -1};
  meta_parse mp = {.column = column};
  slt_pq_thrift_init(&mp.t, buf, n, base, "footer");
  int16_t last = 0, id;
  int type, rc = 0;
  // clang-format off: one line per Thrift field
  while (rc == 0 && slt_pq_field(&mp.t, &last, &id, &type)) {
    if (id == 2)
      rc = parse_schema(&mp, type);
    else if (id == 3)
      m->num_rows = slt_pq_int(&mp.t, type);
    else if (id == 4)
      rc = parse_row_groups(&mp, m, type);
    else
      slt_pq_skip(&mp.t, type);
  }
  // clang-format on
  if (rc == 0 && !mp.t.err && (!mp.schema || !m->chunks || m->num_rows < 0)) {
    slt_err_set("corrupt footer: lacks the schema, the row groups or the row count");
    rc = -1;
  }
  if (rc == 0 && mp.t.err) rc = -1;
  if (rc == 0) rc = find_column(&mp, m);
  int64_t rows = 0;
  for (int g = 0; rc == 0 && g < m->ngroups; g++) {
    rc = check_chunk(&mp, &m->chunks[g], g, data_end);
    if (rc == 0) /* -1 once the sum overflows */
      rows = rows < 0 || rows > INT64_MAX - m->chunks[g].rows ? -1 : rows + m->chunks[g].rows;
  }
  if (rc == 0 && rows != m->num_rows) {
    slt_err_set("corrupt footer: the row groups hold %" PRId64 " rows, the footer says %" PRId64,
                rows, m->num_rows);
    rc = -1;
  }
  free(mp.schema);
  free(mp.have);
  free(mp.types);
  if (rc) slt_pq_meta_free(m);
  return rc;
}

void slt_pq_meta_free(slt_pq_meta *m) {
  free(m->chunks);
  m->chunks = NULL;
  m->ngroups = 0;
}
