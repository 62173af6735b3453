/* Config values as text: UTF-8 checks and one-line display for messages, YAML formatting that
 * loads back verbatim, and writing the resolved config (atomically) to out_dir/config.yaml. */
#include "config_internal.h"

#include "autograd/durable.h"
#include "autograd/error.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bytes in the UTF-8 sequence that starts with b, 0 when b cannot start one. */
static int utf8_len(unsigned char b) {
  if (b < 0x80) return 1;
  if ((b & 0xe0) == 0xc0) return 2;
  if ((b & 0xf0) == 0xe0) return 3;
  return (b & 0xf8) == 0xf0 ? 4 : 0;
}

/* Length of the well-formed UTF-8 sequence at s (1..4) with its code point in *cp, or 0. Strict
 * like libyaml's reader (no overlong forms, surrogates or values past U+10FFFF), so what passes
 * here loads back from a written config. */
static int utf8_char(const char *str, uint32_t *cp) {
  static const uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  const unsigned char *s = (const unsigned char *)str;
  int n = utf8_len(s[0]);
  if (!n) return 0;
  uint32_t c = n == 1 ? s[0] : s[0] & (0x7fu >> n);
  for (int i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80) return 0; /* also stops at the NUL */
    c = c << 6 | (s[i] & 0x3fu);
  }
  if (c < least[n] || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff)) return 0;
  *cp = c;
  return n;
}

bool cfg_utf8_ok(const char *s) {
  uint32_t cp;
  for (int n; *s; s += n)
    if (!(n = utf8_char(s, &cp))) return false;
  return true;
}

/* One character of text as shown in a message, into out (>= 5 bytes); returns its length. */
static int show_char(unsigned char ch, char *out) {
  if (ch == '\n') return snprintf(out, 5, "\\n");
  if (ch == '\t') return snprintf(out, 5, "\\t");
  if (ch < 0x20 || ch == 0x7f) return snprintf(out, 5, "\\x%02x", ch);
  out[0] = (char)ch;
  return 1;
}

const char *cfg_show(const char *text, char *buf, size_t len) {
  size_t n = 0, room = len - 4; /* len >= 8 (CFG_SHOW): keep room for "..." and the NUL */
  const char *s = text;
  for (char c[5]; *s; s++) {
    int w = show_char((unsigned char)*s, c);
    if (n + (size_t)w > room) break;
    memcpy(buf + n, c, (size_t)w);
    n += (size_t)w;
  }
  if (*s) { /* cut: drop a partial UTF-8 character so the message stays valid text */
    while (n > 0 && ((unsigned char)buf[n - 1] & 0xc0) == 0x80) n--;
    if (n > 0 && (unsigned char)buf[n - 1] >= 0xc0) n--;
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

/* Shortest of %.15g..%.17g that reads back bit-identical, so 0.1 stays "0.1". An exponent form
 * gets a ".0" in its mantissa ("1.0e-05"): YAML 1.1 readers such as PyYAML take "1e-05" for a
 * string. */
void cfg_format_double(double v, char *buf, size_t len) {
  for (int p = 15; p <= 17; p++) {
    snprintf(buf, len, "%.*g", p, v);
    if (strtod(buf, NULL) == v) break;
  }
  char *e = strchr(buf, 'e');
  if (e && !memchr(buf, '.', (size_t)(e - buf)) && strlen(buf) + 3 <= len) {
    memmove(e + 2, e, strlen(e) + 1);
    e[0] = '.', e[1] = '0';
  }
}

/* Characters a YAML reader would refuse or fold if written raw: controls (C0, DEL, C1 with NEL),
 * the line and paragraph separators, the byte-order mark and the non-characters U+FFFE/FFFF. */
static bool needs_escape(uint32_t cp) {
  return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
         cp == 0xfffe || cp == 0xffff;
}

/* YAML double-quoted scalar: escapes make any UTF-8 string load back verbatim. */
static void quote(const char *s, char *buf, size_t len) {
  size_t n = 0;
  if (len < 3) return;
  buf[n++] = '"';
  for (int w; *s && n + 8 < len; s += w) {
    uint32_t cp = (unsigned char)*s;
    w = utf8_char(s, &cp);
    if (!w) w = 1; /* malformed (set directly in the struct): validate reports it */
    if (cp == '"' || cp == '\\')
      n += (size_t)snprintf(buf + n, len - n, "\\%c", (char)cp);
    else if (cp == '\n')
      n += (size_t)snprintf(buf + n, len - n, "\\n");
    else if (needs_escape(cp))
      n += (size_t)snprintf(buf + n, len - n, cp <= 0xff ? "\\x%02x" : "\\u%04x", (unsigned)cp);
    else
      for (int i = 0; i < w; i++) buf[n++] = s[i];
  }
  buf[n++] = '"';
  buf[n] = '\0';
}

void cfg_format(const slt_config *c, const slt_config_key *k, char *buf, size_t len, bool yaml) {
  const void *p = cfg_cfield(c, k);
  int e;
  switch (k->type) {
  case SLT_CFG_INT:
    snprintf(buf, len, "%d", *(const int *)p);
    break;
  case SLT_CFG_INT64:
    snprintf(buf, len, "%" PRId64, *(const int64_t *)p);
    break;
  case SLT_CFG_DOUBLE:
    cfg_format_double(*(const double *)p, buf, len);
    break;
  case SLT_CFG_BOOL:
    snprintf(buf, len, "%s", *(const bool *)p ? "true" : "false");
    break;
  case SLT_CFG_STRING:
    if (yaml)
      quote(p, buf, len);
    else
      snprintf(buf, len, "%s", (const char *)p);
    break;
  case SLT_CFG_ENUM:
    e = *(const int *)p;
    for (int i = 0; k->choices[i]; i++)
      if (i == e) {
        snprintf(buf, len, "%s", k->choices[i]);
        return;
      }
    snprintf(buf, len, "<invalid %d>", e);
    break;
  case SLT_CFG_DOUBLE2: {
    char a[32], b[32];
    cfg_format_double(((const double *)p)[0], a, sizeof a);
    cfg_format_double(((const double *)p)[1], b, sizeof b);
    snprintf(buf, len, "[%s, %s]", a, b);
    break;
  }
  }
}

/* Sections nest by the keys' dotted paths; rows of a section are contiguous in the table. */
int slt_config_write(const slt_config *c, FILE *f) {
  int n;
  const slt_config_key *rows = slt_config_keys(&n);
  const char *prev = "";
  fprintf(f, "# slt resolved config\n");
  for (int i = 0; i < n; i++) {
    const char *key = rows[i].key, *leaf = key;
    int depth = 0;
    bool same = true; /* so far the sections match the previous key's */
    for (const char *dot; (dot = strchr(leaf, '.')); leaf = dot + 1, depth++) {
      size_t len = (size_t)(dot - key);
      same = same && !strncmp(prev, key, len + 1);
      if (!same) fprintf(f, "%*s%.*s:\n", 2 * depth, "", (int)(dot - leaf), leaf);
    }
    char val[4 * SLT_CFG_STR + 8]; /* room for \xNN escapes */
    cfg_format(c, &rows[i], val, sizeof val, true);
    fprintf(f, "%*s%s: %s\n", 2 * depth, "", leaf, val);
    prev = key;
  }
  if (ferror(f)) {
    slt_err_set("writing the config failed: %s", strerror(errno));
    return -1;
  }
  return 0;
}

int slt_config_save(const slt_config *c, const char *path) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.XXXXXX", path) >= (int)sizeof tmp) {
    slt_err_set("config path too long: '%s'", path);
    return -1;
  }
  int fd = mkstemp(tmp);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    slt_err_set("cannot create '%s': %s", tmp, strerror(errno));
    if (fd >= 0) close(fd), unlink(tmp);
    return -1;
  }
  fchmod(fd, 0644); /* mkstemp makes 0600; a config is meant to be read */
  int rc = slt_config_write(c, f);
  if (rc == 0 && (fflush(f) || fsync(fd))) {
    slt_err_set("cannot write '%s': %s", tmp, strerror(errno));
    rc = -1;
  }
  if (fclose(f) && rc == 0) {
    slt_err_set("cannot write '%s': %s", tmp, strerror(errno));
    rc = -1;
  }
  if (rc == 0 && slt_durable_rename(tmp, path)) rc = -1; /* and the directory fsynced */
  if (rc) unlink(tmp);
  return rc;
}
