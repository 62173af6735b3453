/* JSON Lines: read a line (getline: any length), validate it as one JSON object while looking
 * for the field among its top-level keys, then unescape the field's string. The whole line is
 * checked, so a line cut short or glued to the next is caught even after the field. */
#include "jsonl.h"

#include "autograd/error.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deep enough for any real record, shallow enough that recursion cannot exhaust the stack. */
#define MAX_DEPTH 512

struct slt_jsonl {
  char *path, *field;
  size_t field_len;
  FILE *f;
  char *line, *out, *key; /* the raw line, the unescaped value, an unescaped key */
  size_t line_cap, out_cap, key_cap;
  int64_t lineno, offset, bad;
  char why[512];       /* the current line's problem */
  char first_bad[512]; /* the first skipped line's problem */
  bool skip_bad, failed;
};

/* A parse of one line. On the first error `err` says what, at byte `p - s`. */
typedef struct parser {
  const char *s, *p, *end;
  const char *err;
  slt_jsonl *j;
} parser;

/* What the field's (last) occurrence held. */
typedef struct hit {
  const char *a, *b; /* the raw string between its quotes */
  bool esc;          /* it contains escapes */
  char kind;         /* 0 absent, '"' a string, else the first character of the other value */
} hit;

static bool fail(parser *ps, const char *why) {
  if (!ps->err) ps->err = why;
  return false;
}

static void ws(parser *ps) {
  while (ps->p < ps->end && (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r'))
    ps->p++;
}

static bool expect(parser *ps, char c, const char *why) {
  ws(ps);
  if (ps->p >= ps->end || *ps->p != c) return fail(ps, why);
  ps->p++;
  return true;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A string at ps->p (its opening quote): check escapes and raw control characters and return
 * the span between the quotes. */
static bool string(parser *ps, const char **a, const char **b, bool *esc) {
  *esc = false;
  *a = ++ps->p;
  while (ps->p < ps->end) {
    unsigned char c = (unsigned char)*ps->p;
    if (c == '"') {
      *b = ps->p++;
      return true;
    }
    if (c < 0x20) return fail(ps, "control character inside a string");
    if (c != '\\') {
      ps->p++;
      continue;
    }
    *esc = true;
    if (++ps->p >= ps->end) break;
    if (*ps->p == 'u') {
      for (int i = 1; i <= 4; i++)
        if (ps->p + i >= ps->end || hexval(ps->p[i]) < 0) return fail(ps, "bad \\u escape");
      ps->p += 5;
    } else if (*ps->p && strchr("\"\\/bfnrt", *ps->p)) {
      ps->p++;
    } else
      return fail(ps, "bad escape in a string");
  }
  return fail(ps, "unterminated string");
}

static bool digits(parser *ps) {
  const char *start = ps->p;
  while (ps->p < ps->end && *ps->p >= '0' && *ps->p <= '9') ps->p++;
  return ps->p > start || fail(ps, "bad number");
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool number(parser *ps) {
  if (*ps->p == '-') ps->p++;
  if (ps->p < ps->end && *ps->p == '0')
    ps->p++;
  else if (!digits(ps))
    return false;
  if (ps->p < ps->end && *ps->p == '.' && (ps->p++, !digits(ps))) return false;
  if (ps->p < ps->end && (*ps->p == 'e' || *ps->p == 'E')) {
    ps->p++;
    if (ps->p < ps->end && (*ps->p == '+' || *ps->p == '-')) ps->p++;
    if (!digits(ps)) return false;
  }
  return true;
}

static bool literal(parser *ps, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(ps->end - ps->p) < n || memcmp(ps->p, word, n)) return fail(ps, "unexpected word");
  ps->p += n;
  return true;
}

static bool object(parser *ps, int depth, hit *h);

static bool array(parser *ps, int depth);

/* Any JSON value; its contents are checked and skipped. */
static bool value(parser *ps, int depth) {
  const char *a, *b;
  bool esc;
  ws(ps);
  if (ps->p >= ps->end) return fail(ps, "expected a value");
  if (depth > MAX_DEPTH) return fail(ps, "nested deeper than 512 levels");
  switch (*ps->p) {
  case '{':
    return object(ps, depth + 1, NULL);
  case '[':
    return array(ps, depth + 1);
  case '"':
    return string(ps, &a, &b, &esc);
  case 't':
    return literal(ps, "true");
  case 'f':
    return literal(ps, "false");
  case 'n':
    return literal(ps, "null");
  default:
    if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9')) return number(ps);
    return fail(ps, "unexpected character");
  }
}

static bool array(parser *ps, int depth) {
  ps->p++;
  ws(ps);
  if (ps->p < ps->end && *ps->p == ']') return ps->p++, true;
  for (;;) {
    if (!value(ps, depth)) return false;
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',')
      ps->p++;
    else
      return expect(ps, ']', "expected ',' or ']'");
  }
}

/* Unescape the validated span [s, e) into out (never longer than the span: every escape is at
 * least as long as its UTF-8). Returns the length. */
static size_t unescape(const char *s, const char *e, char *out);

/* Whether the key span [a, b) spells the field (escapes in keys are rare but legal). */
static bool key_is(slt_jsonl *j, const char *a, const char *b, bool esc) {
  size_t n = (size_t)(b - a);
  if (!esc) return n == j->field_len && memcmp(a, j->field, n) == 0;
  if (n + 1 > j->key_cap) {
    char *k = realloc(j->key, n + 1);
    if (!k) return false;
    j->key = k, j->key_cap = n + 1;
  }
  n = unescape(a, b, j->key);
  return n == j->field_len && memcmp(j->key, j->field, n) == 0;
}

/* An object at ps->p; with h (the top level) the field's value is noted as it goes by. */
static bool object(parser *ps, int depth, hit *h) {
  ps->p++;
  ws(ps);
  if (ps->p < ps->end && *ps->p == '}') return ps->p++, true;
  for (;;) {
    const char *ka, *kb;
    bool kesc;
    ws(ps);
    if (ps->p >= ps->end || *ps->p != '"') return fail(ps, "expected a key string");
    if (!string(ps, &ka, &kb, &kesc) || !expect(ps, ':', "expected ':'")) return false;
    ws(ps);
    bool match = h && key_is(ps->j, ka, kb, kesc);
    if (match && ps->p < ps->end && *ps->p == '"') {
      if (!string(ps, &h->a, &h->b, &h->esc)) return false;
      h->kind = '"';
    } else {
      if (match) h->kind = ps->p < ps->end ? *ps->p : '?';
      if (!value(ps, depth)) return false;
    }
    ws(ps);
    if (ps->p < ps->end && *ps->p == ',')
      ps->p++;
    else
      return expect(ps, '}', "expected ',' or '}'");
  }
}

/* ---- unescaping ---- */

static int put_utf8(uint32_t cp, char *o) {
  if (cp < 0x80) return o[0] = (char)cp, 1;
  if (cp < 0x800) return o[0] = (char)(0xC0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3F)), 2;
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
  o[2] = (char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static uint32_t hex4(const char *s) {
  return (uint32_t)(hexval(s[0]) << 12 | hexval(s[1]) << 8 | hexval(s[2]) << 4 | hexval(s[3]));
}

/* s points just past "\u". A high surrogate followed by an escaped low one is one code point.
 * A lone surrogate (either half) cannot be UTF-8, so it becomes U+FFFD, as Python's
 * errors="replace" and most JSON decoders do; the text goes on after it. */
static uint32_t code_point(const char **s, const char *e) {
  uint32_t cp = hex4(*s);
  *s += 4;
  if (cp >= 0xD800 && cp <= 0xDBFF && e - *s >= 6 && (*s)[0] == '\\' && (*s)[1] == 'u') {
    uint32_t lo = hex4(*s + 2);
    if (lo >= 0xDC00 && lo <= 0xDFFF) {
      *s += 6;
      return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
  }
  return cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp;
}

static size_t unescape(const char *s, const char *e, char *out) {
  char *o = out;
  while (s < e) {
    const char *bs = memchr(s, '\\', (size_t)(e - s));
    size_t run = bs ? (size_t)(bs - s) : (size_t)(e - s);
    memcpy(o, s, run);
    o += run, s += run;
    if (!bs) break;
    char c = s[1];
    s += 2;
    static const char name[] = "bfnrt", byte[] = "\b\f\n\r\t";
    const char *k = strchr(name, c); /* c is not NUL: the span was validated */
    if (c == 'u')
      o += put_utf8(code_point(&s, e), o);
    else
      *o++ = k ? byte[k - name] : c; /* else c is one of " \ / */
  }
  return (size_t)(o - out);
}

/* ---- lines ---- */

/* Parse one line; 0 with the value in j->out, or -1 with the problem in j->why. */
static int parse_line(slt_jsonl *j, const char *s, size_t n, size_t *len) {
  parser ps = {.s = s, .p = s, .end = s + n, .j = j};
  hit h = {0};
  ws(&ps);
  bool ok =
      ps.p < ps.end && *ps.p == '{' ? object(&ps, 1, &h) : fail(&ps, "expected a JSON object");
  if (ok) ws(&ps);
  if (ok && ps.p != ps.end) ok = fail(&ps, "extra characters after the object");
  if (!ok) {
    snprintf(j->why, sizeof j->why, "%s: line %" PRId64 ": malformed JSON at byte %td: %s", j->path,
             j->lineno, ps.p - s + 1, ps.err);
    return -1;
  }
  if (h.kind != '"') {
    if (h.kind == 0)
      snprintf(j->why, sizeof j->why, "%s: line %" PRId64 ": no field '%s'", j->path, j->lineno,
               j->field);
    else
      snprintf(j->why, sizeof j->why, "%s: line %" PRId64 ": field '%s' is not a string", j->path,
               j->lineno, j->field);
    return -1;
  }
  size_t raw = (size_t)(h.b - h.a);
  if (raw + 1 > j->out_cap) {
    char *o = realloc(j->out, raw + 1);
    if (!o) {
      snprintf(j->why, sizeof j->why, "%s: line %" PRId64 ": out of memory", j->path, j->lineno);
      return -1;
    }
    j->out = o, j->out_cap = raw + 1;
  }
  *len = h.esc ? unescape(h.a, h.b, j->out) : (memcpy(j->out, h.a, raw), raw);
  j->out[*len] = '\0';
  return 0;
}

slt_jsonl *slt_jsonl_open(const char *path, const char *field, bool skip_bad) {
  slt_jsonl *j = calloc(1, sizeof *j);
  if (!j || !(j->path = strdup(path)) || !(j->field = strdup(field))) {
    slt_err_set("%s: out of memory", path);
    slt_jsonl_close(j);
    return NULL;
  }
  j->field_len = strlen(field);
  j->skip_bad = skip_bad;
  if (!(j->f = fopen(path, "rb"))) {
    slt_err_set("%s: cannot open: %s", path, strerror(errno));
    slt_jsonl_close(j);
    return NULL;
  }
  return j;
}

/* The next line without its end of line (and without a UTF-8 byte order mark on line 1):
 * its length, or -1 at the end of the file / on a read error (j->failed then). */
static ssize_t read_line(slt_jsonl *j, char **s) {
  errno = 0;
  ssize_t n = getline(&j->line, &j->line_cap, j->f);
  if (n < 0) {
    if (ferror(j->f)) {
      slt_err_set("%s: read failed after line %" PRId64 ": %s", j->path, j->lineno,
                  strerror(errno ? errno : EIO));
      j->failed = true;
    }
    return -1;
  }
  j->offset += n, j->lineno++;
  *s = j->line;
  if (j->lineno == 1 && n >= 3 && memcmp(*s, "\xEF\xBB\xBF", 3) == 0) *s += 3, n -= 3;
  while (n > 0 && ((*s)[n - 1] == '\n' || (*s)[n - 1] == '\r')) n--;
  return n;
}

static bool blank(const char *s, ssize_t n) {
  for (ssize_t i = 0; i < n; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
  return true;
}

int slt_jsonl_next(slt_jsonl *j, const char **str, size_t *len) {
  if (j->failed) {
    slt_err_set("%s: reading after an error", j->path);
    return -1;
  }
  for (;;) {
    char *s;
    ssize_t n = read_line(j, &s);
    if (n < 0) return j->failed ? -1 : 0;
    if (blank(s, n)) continue;
    if (parse_line(j, s, (size_t)n, len) == 0) {
      *str = j->out;
      return 1;
    }
    if (!j->skip_bad) {
      slt_err_set("%s", j->why);
      j->failed = true;
      return -1;
    }
    if (j->bad++ == 0) memcpy(j->first_bad, j->why, sizeof j->why);
  }
}

int64_t slt_jsonl_line(const slt_jsonl *j) {
  return j->lineno;
}
int64_t slt_jsonl_offset(const slt_jsonl *j) {
  return j->offset;
}
int64_t slt_jsonl_bad(const slt_jsonl *j) {
  return j->bad;
}
const char *slt_jsonl_first_bad(const slt_jsonl *j) {
  return j->first_bad;
}

void slt_jsonl_close(slt_jsonl *j) {
  if (!j) return;
  if (j->f) fclose(j->f);
  free(j->path);
  free(j->field);
  free(j->line);
  free(j->out);
  free(j->key);
  free(j);
}
