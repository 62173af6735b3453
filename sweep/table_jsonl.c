/* Results tables from JSON Lines: each non-blank line one object. Strings are unescaped, numbers
 * kept as written (NaN and Infinity accepted, as Python's json writes them), true/false as
 * text, null as an absent cell, and nested objects or arrays as their raw JSON text. */
#include "sweep/table_int.h"

#include "autograd/error.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *p, *end, *path;
  int line;
  char why[96]; /* what went wrong, for the one error line */
} cursor;

static void ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\r')) c->p++;
}

static int fail(cursor *c, const char *why) {
  if (!c->why[0]) snprintf(c->why, sizeof c->why, "%s", why);
  return -1;
}

/* UTF-8 of code point u into out; the number of bytes. */
static int utf8(unsigned u, char *out) {
  if (u < 0x80) return out[0] = (char)u, 1;
  if (u < 0x800) return out[0] = (char)(0xC0 | u >> 6), out[1] = (char)(0x80 | (u & 63)), 2;
  if (u < 0x10000) {
    out[0] = (char)(0xE0 | u >> 12), out[1] = (char)(0x80 | (u >> 6 & 63));
    return out[2] = (char)(0x80 | (u & 63)), 3;
  }
  out[0] = (char)(0xF0 | u >> 18), out[1] = (char)(0x80 | (u >> 12 & 63));
  out[2] = (char)(0x80 | (u >> 6 & 63)), out[3] = (char)(0x80 | (u & 63));
  return 4;
}

static int hex4(cursor *c, unsigned *u) {
  *u = 0;
  for (int i = 0; i < 4; i++, c->p++) {
    char h = c->p < c->end ? *c->p : 0;
    int v = h >= '0' && h <= '9'                 ? h - '0'
            : (h | 32) >= 'a' && (h | 32) <= 'f' ? (h | 32) - 'a' + 10
                                                 : -1;
    if (v < 0) return fail(c, "bad \\u escape");
    *u = *u << 4 | (unsigned)v;
  }
  return 0;
}

/* One escape after the backslash into out; its byte count, or -1. */
static int escape(cursor *c, char *out) {
  char e = c->p < c->end ? *c->p++ : 0;
  const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
  const char *k = e ? strchr(from, e) : NULL;
  if (k) return out[0] = to[k - from], 1;
  if (e != 'u') return fail(c, "bad escape in a string");
  unsigned u, lo;
  if (hex4(c, &u)) return -1;
  if (u >= 0xD800 && u < 0xDC00 && c->end - c->p >= 6 && c->p[0] == '\\' && c->p[1] == 'u') {
    c->p += 2;
    if (hex4(c, &lo)) return -1;
    u = lo >= 0xDC00 && lo < 0xE000 ? 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00) : 0xFFFD;
  } else if (u >= 0xD800 && u < 0xE000) {
    u = 0xFFFD; /* a lone surrogate */
  }
  return utf8(u, out);
}

/* A string at c->p (opening quote included), unescaped and malloc'd. */
static char *string(cursor *c) {
  if (c->p >= c->end || *c->p != '"') return fail(c, "expected a string"), NULL;
  c->p++;
  size_t cap = (size_t)(c->end - c->p) + 1, n = 0; /* unescaping only shrinks */
  char *s = malloc(cap);
  if (!s) return fail(c, "out of memory"), NULL;
  while (c->p < c->end && *c->p != '"') {
    if (*c->p == '\\') {
      c->p++;
      int k = escape(c, s + n);
      if (k < 0) return free(s), NULL;
      n += (size_t)k;
    } else {
      s[n++] = *c->p++;
    }
  }
  if (c->p >= c->end) return free(s), fail(c, "a string is never closed"), NULL;
  c->p++;
  s[n] = 0;
  return s;
}

/* Past a nested object or array, kept as raw text (strings skipped so brackets in them do not
 * count). */
static char *nested(cursor *c) {
  const char *start = c->p;
  int depth = 0;
  do {
    if (c->p >= c->end) return fail(c, "an object or array is never closed"), NULL;
    char ch = *c->p;
    if (ch == '"') {
      char *s = string(c);
      if (!s) return NULL;
      free(s);
      continue;
    }
    depth += (ch == '{' || ch == '[') - (ch == '}' || ch == ']');
    c->p++;
  } while (depth > 0);
  char *s = strndup(start, (size_t)(c->p - start));
  return s ? s : (fail(c, "out of memory"), NULL);
}

/* A scalar that is not a string (number, true, false, NaN, Infinity) as its text; null gives
 * NULL with *absent set. */
static char *bare(cursor *c, bool *absent) {
  const char *start = c->p;
  while (c->p < c->end && *c->p && strchr("+-.0123456789eEaAfilnNrstuyI", *c->p)) c->p++;
  size_t n = (size_t)(c->p - start);
  if (n == 4 && !memcmp(start, "null", 4)) return *absent = true, NULL;
  char *end;
  char *s = strndup(start, n);
  if (!s) return fail(c, "out of memory"), NULL;
  bool word = !strcmp(s, "true") || !strcmp(s, "false") || !strcmp(s, "NaN") ||
              !strcmp(s, "Infinity") || !strcmp(s, "-Infinity");
  if (!word && (!n || (strtod(s, &end), *end) || strchr("nNiI", s[s[0] == '-'])))
    return free(s), fail(c, "expected a value"), NULL;
  return s;
}

/* One "key": value pair into row. */
static int pair(cursor *c, slt_table_build *b, int row) {
  char *key = string(c);
  if (!key) return -1;
  int col = slt_table_add_col(b->t, key, strlen(key));
  free(key);
  if (col < 0) return fail(c, "out of memory");
  ws(c);
  if (c->p >= c->end || *c->p++ != ':') return fail(c, "expected ':' after a key");
  ws(c);
  bool absent = false;
  char *v = c->p >= c->end                   ? NULL
            : *c->p == '"'                   ? string(c)
            : (*c->p == '{' || *c->p == '[') ? nested(c)
                                             : bare(c, &absent);
  if (!v && !absent) return fail(c, "expected a value");
  return v ? slt_table_put(b, row, col, v) : 0;
}

/* The object on one line (c->end is the end of the line). */
static int object(cursor *c, slt_table_build *b, int row) {
  if (*c->p++ != '{') return fail(c, "a line must be one JSON object");
  ws(c);
  if (c->p < c->end && *c->p == '}') {
    c->p++;
  } else {
    for (;;) {
      ws(c);
      if (pair(c, b, row)) return -1;
      ws(c);
      char ch = c->p < c->end ? *c->p++ : 0;
      if (ch == '}') break;
      if (ch != ',') return fail(c, "expected ',' or '}'");
    }
  }
  ws(c);
  return c->p < c->end ? fail(c, "text after the object") : 0;
}

int slt_table_parse_jsonl(slt_table_build *b, const char *text, size_t len) {
  const char *p = text, *end = text + len;
  for (int line = 1; p < end; line++) {
    const char *nl = memchr(p, '\n', (size_t)(end - p)), *start = p;
    cursor c = {p, nl ? nl : end, b->t->path, line, ""};
    p = nl ? nl + 1 : end;
    ws(&c);
    if (c.p == c.end) continue; /* blank line */
    int row = slt_table_new_row(b, line);
    if (row < 0) return -1;
    if (object(&c, b, row)) {
      slt_err_set("%s:%d: bad JSON at byte %d: %s", c.path, line, (int)(c.p - start) + 1, c.why);
      return -1;
    }
  }
  return 0;
}
