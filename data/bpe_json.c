/* A minimal reader for the flat {"token": id, ...} JSON objects of GPT-2 vocabularies: string
 * keys with every JSON escape (\uXXXX with surrogate pairs included), non-negative integer values.
 * Anything else is an error; the caller adds the file name and j->line to j->err. */
#include "bpe.h"

#include <stdint.h>

static int fail(slt_bpe_json *j, const char *what) {
  j->err = what;
  return -1;
}

static void skip_ws(slt_bpe_json *j) {
  for (; j->pos < j->n; j->pos++) {
    char c = j->s[j->pos];
    if (c == '\n')
      j->line++;
    else if (c != ' ' && c != '\t' && c != '\r')
      break;
  }
}

/* The next non-whitespace character, or 0 at the end. */
static char peek(slt_bpe_json *j) {
  skip_ws(j);
  return j->pos < j->n ? j->s[j->pos] : 0;
}

static int hex4(slt_bpe_json *j, uint32_t *v) {
  if (j->n - j->pos < 4) return fail(j, "truncated \\u escape");
  *v = 0;
  for (int i = 0; i < 4; i++) {
    char c = j->s[j->pos++];
    int d = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (d < 0) return fail(j, "bad hex digit in \\u escape");
    *v = *v << 4 | (uint32_t)d;
  }
  return 0;
}

static int put_utf8(char *out, uint32_t c) {
  if (c < 0x80) return out[0] = (char)c, 1;
  if (c < 0x800) return out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 0x3F)), 2;
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | c >> 12);
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | c >> 18);
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

/* \uXXXX (the "\u" already read), joining a surrogate pair into one code point. */
static int unicode_escape(slt_bpe_json *j, uint32_t *c) {
  if (hex4(j, c)) return -1;
  if (*c >= 0xDC00 && *c <= 0xDFFF) return fail(j, "lone low surrogate in \\u escape");
  if (*c < 0xD800 || *c > 0xDBFF) return 0;
  uint32_t lo;
  if (j->n - j->pos < 2 || j->s[j->pos] != '\\' || j->s[j->pos + 1] != 'u')
    return fail(j, "high surrogate \\u escape without its low half");
  j->pos += 2;
  if (hex4(j, &lo)) return -1;
  if (lo < 0xDC00 || lo > 0xDFFF) return fail(j, "high surrogate \\u escape without its low half");
  *c = 0x10000 + ((*c - 0xD800) << 10) + (lo - 0xDC00);
  return 0;
}

/* A string at j->pos (the opening quote), decoded into out. */
static int read_string(slt_bpe_json *j, char *out, int *len) {
  int o = 0;
  for (j->pos++;;) {
    if (j->pos >= j->n) return fail(j, "unterminated string");
    unsigned char c = (unsigned char)j->s[j->pos++];
    if (c == '"') break;
    if (c < 0x20) return fail(j, "control character in string");
    if (c != '\\') {
      out[o++] = (char)c;
      continue;
    }
    if (j->pos >= j->n) return fail(j, "unterminated string");
    uint32_t cp;
    switch (j->s[j->pos++]) {
    case '"':
      cp = '"';
      break;
    case '\\':
      cp = '\\';
      break;
    case '/':
      cp = '/';
      break;
    case 'b':
      cp = '\b';
      break;
    case 'f':
      cp = '\f';
      break;
    case 'n':
      cp = '\n';
      break;
    case 'r':
      cp = '\r';
      break;
    case 't':
      cp = '\t';
      break;
    case 'u':
      if (unicode_escape(j, &cp)) return -1;
      break;
    default:
      return fail(j, "unknown escape in string");
    }
    o += put_utf8(out + o, cp);
  }
  *len = o;
  return 0;
}

static int read_int(slt_bpe_json *j, int64_t *val) {
  if (peek(j) < '0' || peek(j) > '9') return fail(j, "expected a non-negative integer id");
  int64_t v = 0;
  while (j->pos < j->n && j->s[j->pos] >= '0' && j->s[j->pos] <= '9') {
    v = v * 10 + (j->s[j->pos++] - '0');
    if (v > INT32_MAX) return fail(j, "id too large");
  }
  if (j->pos < j->n && (j->s[j->pos] == '.' || j->s[j->pos] == 'e' || j->s[j->pos] == 'E'))
    return fail(j, "expected an integer id");
  *val = v;
  return 0;
}

int slt_bpe_json_next(slt_bpe_json *j, char *key, int *klen, int64_t *val) {
  if (j->state == 3) return 0;
  if (j->state == 0) {
    if (peek(j) != '{') return fail(j, "expected '{'");
    j->pos++;
    j->state = 1;
  }
  char c = peek(j);
  if (c == '}') {
    j->pos++;
    j->state = 3;
    return peek(j) ? fail(j, "text after the closing '}'") : 0;
  }
  if (j->state == 2) {
    if (c != ',') return fail(j, "expected ',' or '}'");
    j->pos++;
  }
  if (peek(j) != '"') return fail(j, "expected a string key");
  if (read_string(j, key, klen)) return -1;
  if (peek(j) != ':') return fail(j, "expected ':' after the key");
  j->pos++;
  if (read_int(j, val)) return -1;
  j->state = 2;
  return 1;
}
