/* Results tables: the shared builder, the CSV reader and cell access (JSONL is in
 * table_jsonl.c). Tables are small (one row per run), so the file is read whole. */
#include "sweep/table_int.h"

#include "autograd/error.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slt_table_put(slt_table_build *b, int row, int col, char *s) {
  if (b->n == b->cap) {
    size_t cap = b->cap ? 2 * b->cap : 256;
    slt_table_cell *c = realloc(b->cells, cap * sizeof *c);
    if (!c) {
      free(s);
      slt_err_set("%s: out of memory", b->t->path);
      return -1;
    }
    b->cells = c, b->cap = cap;
  }
  b->cells[b->n++] = (slt_table_cell){row, col, s};
  return 0;
}

int slt_table_new_row(slt_table_build *b, int line) {
  slt_table *t = b->t;
  int *l = realloc(t->line, (size_t)(t->nrows + 1) * sizeof *l);
  if (!l) {
    slt_err_set("%s: out of memory", t->path);
    return -1;
  }
  t->line = l;
  l[t->nrows] = line;
  return t->nrows++;
}

int slt_table_add_col(slt_table *t, const char *name, size_t len) {
  for (int c = 0; c < t->ncols; c++)
    if (strlen(t->names[c]) == len && !memcmp(t->names[c], name, len)) return c;
  char **names = realloc(t->names, (size_t)(t->ncols + 1) * sizeof *names);
  if (names) t->names = names;
  char *s = names ? strndup(name, len) : NULL;
  if (!s) {
    slt_err_set("%s: out of memory", t->path);
    return -1;
  }
  t->names[t->ncols] = s;
  return t->ncols++;
}

/* ---------------- CSV ---------------- */

typedef struct {
  const char *p, *end;
  int line;
} csv_cursor;

/* One field at c->p (quoted or not), malloc'd into *out; the byte after it is left at c->p.
 * -1 with the error recorded. */
static int csv_field(csv_cursor *c, const char *path, char **out) {
  size_t cap = 16, n = 0;
  char *s = malloc(cap);
  bool quoted = c->p < c->end && *c->p == '"';
  int start_line = c->line;
  if (quoted) c->p++;
  while (s) {
    if (c->p >= c->end) {
      if (!quoted) break;
      free(s);
      slt_err_set("%s:%d: a quoted field is never closed", path, start_line);
      return -1;
    }
    char ch = *c->p;
    if (quoted && ch == '"') {
      if (c->p + 1 < c->end && c->p[1] == '"') {
        c->p++; /* "" is one quote */
      } else {
        c->p++;
        if (c->p < c->end && *c->p != ',' && *c->p != '\n' && *c->p != '\r') {
          free(s);
          slt_err_set("%s:%d: text after the closing quote of a field", path, c->line);
          return -1;
        }
        break;
      }
    } else if (!quoted && (ch == ',' || ch == '\n' || ch == '\r')) {
      break;
    } else if (ch == '\n') {
      c->line++;
    }
    if (n + 2 > cap) {
      char *g = realloc(s, cap *= 2);
      if (!g) free(s);
      s = g;
      if (!s) break;
    }
    s[n++] = *c->p++;
  }
  if (!s) {
    slt_err_set("%s: out of memory", path);
    return -1;
  }
  s[n] = 0;
  *out = s;
  return 0;
}

/* Past the end of a record (\n, \r\n or the end of the text). */
static void csv_end_record(csv_cursor *c) {
  if (c->p < c->end && *c->p == '\r') c->p++;
  if (c->p < c->end && *c->p == '\n') c->p++;
  c->line++;
}

/* One record into fields (appended to b at row, or the header when row < 0); the number of
 * fields, or -1 with the error recorded. */
static int csv_record(csv_cursor *c, slt_table_build *b, int row) {
  int nf = 0;
  for (;;) {
    char *s;
    if (csv_field(c, b->t->path, &s)) return -1;
    if (row < 0) {
      int before = b->t->ncols, col = -1;
      if (!s[0])
        slt_err_set("%s:%d: header column %d has no name", b->t->path, c->line, nf + 1);
      else if ((col = slt_table_add_col(b->t, s, strlen(s))) >= 0 && col < before) {
        slt_err_set("%s:%d: header column %d repeats the name '%s'", b->t->path, c->line, nf + 1,
                    s);
        col = -1;
      }
      free(s);
      if (col < 0) return -1;
    } else if (nf < b->t->ncols) {
      if (slt_table_put(b, row, nf, s)) return -1;
    } else {
      free(s);
    }
    nf++;
    if (c->p < c->end && *c->p == ',') {
      c->p++;
      continue;
    }
    return nf;
  }
}

static int parse_csv(slt_table_build *b, const char *text, size_t len) {
  csv_cursor c = {text, text + len, 1};
  if (csv_record(&c, b, -1) < 0) return -1;
  csv_end_record(&c);
  while (c.p < c.end) {
    if (*c.p == '\n' || *c.p == '\r') { /* blank line */
      csv_end_record(&c);
      continue;
    }
    int line = c.line, row = slt_table_new_row(b, line);
    int nf = row < 0 ? -1 : csv_record(&c, b, row);
    if (nf < 0) return -1;
    if (nf != b->t->ncols) {
      slt_err_set("%s:%d: %d field%s but the header has %d columns (a ragged line)", b->t->path,
                  line, nf, nf == 1 ? "" : "s", b->t->ncols);
      return -1;
    }
    csv_end_record(&c);
  }
  return 0;
}

/* ---------------- the table ---------------- */

/* The whole file, NUL-terminated; NULL with the error recorded. */
static char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    slt_err_set("%s: cannot open: %s", path, strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *s = malloc(cap);
  while (s) {
    n += fread(s + n, 1, cap - 1 - n, f);
    if (n < cap - 1) break;
    char *g = realloc(s, cap *= 2);
    if (!g) free(s);
    s = g;
  }
  bool err = ferror(f);
  fclose(f);
  if (!s || err) {
    free(s);
    slt_err_set("%s: %s", path, s ? "read error" : "out of memory");
    return NULL;
  }
  s[n] = 0;
  *len = n;
  return s;
}

static bool is_jsonl(const char *path, const char *text) {
  size_t n = strlen(path);
  if ((n >= 6 && !strcmp(path + n - 6, ".jsonl")) || (n >= 5 && !strcmp(path + n - 5, ".json")))
    return true;
  text += strspn(text, " \t\r\n");
  return *text == '{';
}

/* Lay the cells out as the rows × columns matrix. */
static int layout(slt_table_build *b) {
  slt_table *t = b->t;
  t->cells = calloc((size_t)t->nrows * (size_t)t->ncols + 1, sizeof *t->cells);
  if (!t->cells) {
    slt_err_set("%s: out of memory", t->path);
    return -1;
  }
  for (size_t i = 0; i < b->n; i++) {
    char **cell = &t->cells[(size_t)b->cells[i].row * t->ncols + b->cells[i].col];
    free(*cell); /* a repeated JSON key: the last one wins */
    *cell = b->cells[i].s;
    b->cells[i].s = NULL;
  }
  return 0;
}

slt_table *slt_table_read(const char *path) {
  size_t len;
  char *text = read_all(path, &len);
  slt_table *t = text ? calloc(1, sizeof *t) : NULL;
  if (!t || !(t->path = strdup(path))) {
    if (text) slt_err_set("%s: out of memory", path);
    free(text), free(t);
    return NULL;
  }
  slt_table_build b = {.t = t};
  int rc = text[strspn(text, " \t\r\n")] ? 0 : -1;
  if (rc) slt_err_set("%s: empty file", path);
  if (!rc)
    rc = is_jsonl(path, text) ? slt_table_parse_jsonl(&b, text, len) : parse_csv(&b, text, len);
  if (!rc && t->nrows == 0) {
    slt_err_set("%s: no rows", path);
    rc = -1;
  }
  if (!rc) rc = layout(&b);
  for (size_t i = 0; i < b.n; i++) free(b.cells[i].s);
  free(b.cells);
  free(text);
  if (rc) {
    slt_table_free(t);
    return NULL;
  }
  return t;
}

void slt_table_free(slt_table *t) {
  if (!t) return;
  if (t->cells)
    for (size_t i = 0; i < (size_t)t->nrows * t->ncols; i++) free(t->cells[i]);
  for (int c = 0; c < t->ncols; c++) free(t->names[c]);
  free(t->cells), free(t->names), free(t->line), free(t->path), free(t);
}

int slt_table_find(const slt_table *t, const char *name) {
  for (int c = 0; c < t->ncols; c++)
    if (!strcmp(t->names[c], name)) return c;
  return -1;
}

int slt_table_col(const slt_table *t, const char *name, const char *what) {
  int c = slt_table_find(t, name);
  if (c >= 0) return c;
  char cols[512] = "";
  size_t n = 0;
  for (int k = 0; k < t->ncols && n < sizeof cols; k++)
    n += (size_t)snprintf(cols + n, sizeof cols - n, "%s%s", k ? ", " : "", t->names[k]);
  slt_err_set("%s: no column '%s' (%s; columns: %s)", t->path, name, what, cols);
  return -1;
}

const char *slt_table_str(const slt_table *t, int row, int col) {
  return t->cells[(size_t)row * t->ncols + col];
}

int slt_table_num(const slt_table *t, int row, int col, double *out) {
  const char *s = slt_table_str(t, row, col);
  if (!s || !s[strspn(s, " \t")]) {
    slt_err_set("%s:%d: column '%s': no value", t->path, t->line[row], t->names[col]);
    return -1;
  }
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  end += strspn(end, " \t");
  if (end == s || *end || (errno == ERANGE && fabs(v) > 1)) {
    slt_err_set("%s:%d: column '%s': '%s' is not a number", t->path, t->line[row], t->names[col],
                s);
    return -1;
  }
  *out = v;
  return 0;
}
