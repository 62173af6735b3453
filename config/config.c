/* Values of schema rows: parsing text into the struct (with type and range checks), defaults,
 * `key=value` overrides, lookup and diff. */
#include "config_internal.h"

#include "autograd/error.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *cfg_expected(const slt_config_key *k, char *buf, size_t len) {
  switch (k->type) {
  case SLT_CFG_INT:
  case SLT_CFG_INT64:
    return "an integer";
  case SLT_CFG_DOUBLE:
    return "a number";
  case SLT_CFG_BOOL:
    return "true or false";
  case SLT_CFG_STRING:
    return "a string";
  case SLT_CFG_DOUBLE2:
    return "a list of 2 numbers like [0.9, 0.999]";
  case SLT_CFG_ENUM:
    break;
  }
  size_t n = (size_t)snprintf(buf, len, "one of ");
  for (int i = 0; k->choices[i] && n < len; i++)
    n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? "|" : "", k->choices[i]);
  return buf;
}

static int err_type(const slt_config_key *k, const char *text) {
  char buf[160], shown[CFG_SHOW];
  slt_err_set("%s: expected %s, got '%s'", k->key, cfg_expected(k, buf, sizeof buf),
              cfg_show(text, shown, sizeof shown));
  return -1;
}

/* Whole-string base-10 integer: 0, -1 (not an integer: "3.5", "12abc", "") or -2 (overflow). */
static int parse_i64(const char *s, int64_t *out) {
  if (!*s || isspace((unsigned char)*s)) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (*end) return -1;
  if (errno == ERANGE) return -2;
  *out = v;
  return 0;
}

/* Whole-string finite number; underflow to a subnormal or zero is accepted. */
static int parse_double(const char *s, double *out) {
  if (!*s || isspace((unsigned char)*s)) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (*end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

static bool in_range(const slt_config_key *k, double v) {
  bool lo_open = k->flags & SLT_CFG_MIN_OPEN, hi_open = k->flags & SLT_CFG_MAX_OPEN;
  return (lo_open ? v > k->min : v >= k->min) && (hi_open ? v < k->max : v <= k->max);
}

static int check_range(const slt_config_key *k, double v, const char *text) {
  bool lo_open = k->flags & SLT_CFG_MIN_OPEN, hi_open = k->flags & SLT_CFG_MAX_OPEN;
  char shown[CFG_SHOW];
  if (lo_open ? !(v > k->min) : !(v >= k->min)) {
    slt_err_set("%s: must be %s %.15g, got %s", k->key, lo_open ? ">" : ">=", k->min,
                cfg_show(text, shown, sizeof shown));
    return -1;
  }
  if (hi_open ? !(v < k->max) : !(v <= k->max)) {
    slt_err_set("%s: must be %s %.15g, got %s", k->key, hi_open ? "<" : "<=", k->max,
                cfg_show(text, shown, sizeof shown));
    return -1;
  }
  return 0;
}

static int set_integer(slt_config *c, const slt_config_key *k, const char *text) {
  int64_t v;
  int rc = parse_i64(text, &v);
  if (rc == -1) return err_type(k, text);
  bool narrow = k->type == SLT_CFG_INT;
  if (rc == -2 || (narrow && (v < INT_MIN || v > INT_MAX))) {
    char shown[CFG_SHOW];
    slt_err_set("%s: %s does not fit in a %d-bit integer", k->key,
                cfg_show(text, shown, sizeof shown), narrow ? 32 : 64);
    return -1;
  }
  if (check_range(k, (double)v, text)) return -1;
  if (narrow)
    *(int *)cfg_field(c, k) = (int)v;
  else
    *(int64_t *)cfg_field(c, k) = v;
  return 0;
}

static int set_bool(slt_config *c, const slt_config_key *k, const char *text) {
  static const char *const yes[] = {"true", "yes", "on"}, *const no[] = {"false", "no", "off"};
  for (int i = 0; i < 3; i++) {
    if (!strcasecmp(text, yes[i]) || !strcasecmp(text, no[i])) {
      *(bool *)cfg_field(c, k) = !strcasecmp(text, yes[i]);
      return 0;
    }
  }
  return err_type(k, text);
}

static int set_enum(slt_config *c, const slt_config_key *k, const char *text) {
  for (int i = 0; k->choices[i]; i++)
    if (!strcmp(text, k->choices[i])) {
      *(int *)cfg_field(c, k) = i;
      return 0;
    }
  return err_type(k, text);
}

static int set_string(slt_config *c, const slt_config_key *k, const char *text) {
  size_t n = strlen(text);
  if (n >= k->size) {
    slt_err_set("%s: longer than %zu characters", k->key, k->size - 1);
    return -1;
  }
  if (!cfg_utf8_ok(text)) { /* the resolved config is YAML: other bytes would not load back */
    char shown[CFG_SHOW];
    slt_err_set("%s: expected UTF-8 text, got '%s'", k->key, cfg_show(text, shown, sizeof shown));
    return -1;
  }
  memcpy(cfg_field(c, k), text, n + 1);
  return 0;
}

static void trim(char **s) {
  while (isspace((unsigned char)**s)) (*s)++;
  char *e = *s + strlen(*s);
  while (e > *s && isspace((unsigned char)e[-1])) *--e = '\0';
}

/* "[a, b]" or "a,b" (the override spelling of a list). */
static int set_pair_text(slt_config *c, const slt_config_key *k, const char *text) {
  char buf[256];
  if (strlen(text) >= sizeof buf) return err_type(k, text);
  strcpy(buf, text);
  char *s = buf;
  trim(&s);
  size_t n = strlen(s);
  if (n >= 2 && s[0] == '[' && s[n - 1] == ']') {
    s[n - 1] = '\0';
    s++;
  }
  char *comma = strchr(s, ',');
  if (!comma || strchr(comma + 1, ',')) return err_type(k, text);
  *comma = '\0';
  char *a = s, *b = comma + 1;
  trim(&a);
  trim(&b);
  return cfg_set_pair(c, k, a, b);
}

int cfg_set_pair(slt_config *c, const slt_config_key *k, const char *a, const char *b) {
  double v[2];
  const char *t[2] = {a, b};
  for (int i = 0; i < 2; i++) {
    if (parse_double(t[i], &v[i])) {
      char buf[160], shown[CFG_SHOW];
      slt_err_set("%s: expected %s, got '%s' as element %d", k->key,
                  cfg_expected(k, buf, sizeof buf), cfg_show(t[i], shown, sizeof shown), i + 1);
      return -1;
    }
    if (check_range(k, v[i], t[i])) return -1;
  }
  memcpy(cfg_field(c, k), v, sizeof v);
  return 0;
}

int cfg_set_text(slt_config *c, const slt_config_key *k, const char *text) {
  double v;
  switch (k->type) {
  case SLT_CFG_INT:
  case SLT_CFG_INT64:
    return set_integer(c, k, text);
  case SLT_CFG_DOUBLE:
    if (parse_double(text, &v)) return err_type(k, text);
    if (check_range(k, v, text)) return -1;
    *(double *)cfg_field(c, k) = v;
    return 0;
  case SLT_CFG_BOOL:
    return set_bool(c, k, text);
  case SLT_CFG_STRING:
    return set_string(c, k, text);
  case SLT_CFG_ENUM:
    return set_enum(c, k, text);
  case SLT_CFG_DOUBLE2:
    return set_pair_text(c, k, text);
  }
  return -1;
}

/* The value is formatted only for a message: validation runs on every load. */
static int check_double(const slt_config_key *k, double v) {
  char text[32];
  if (!isfinite(v)) {
    slt_err_set("%s: not a finite number", k->key);
    return -1;
  }
  if (in_range(k, v)) return 0;
  cfg_format_double(v, text, sizeof text);
  return check_range(k, v, text);
}

int cfg_check_row(const slt_config *c, const slt_config_key *k) {
  char text[64];
  const void *p = cfg_cfield(c, k);
  switch (k->type) {
  case SLT_CFG_INT:
  case SLT_CFG_INT64: {
    int64_t v = k->type == SLT_CFG_INT ? *(const int *)p : *(const int64_t *)p;
    if (in_range(k, (double)v)) return 0;
    snprintf(text, sizeof text, "%" PRId64, v);
    return check_range(k, (double)v, text);
  }
  case SLT_CFG_DOUBLE:
    return check_double(k, *(const double *)p);
  case SLT_CFG_DOUBLE2:
    return check_double(k, ((const double *)p)[0]) || check_double(k, ((const double *)p)[1]) ? -1
                                                                                              : 0;
  case SLT_CFG_ENUM:
    for (int i = 0; k->choices[i]; i++)
      if (i == *(const int *)p) return 0;
    cfg_format(c, k, text, sizeof text, false); /* "<invalid N>" */
    slt_err_set("%s: %s", k->key, text);
    return -1;
  case SLT_CFG_STRING:
    if (!memchr(p, '\0', k->size)) {
      slt_err_set("%s: string is not terminated", k->key);
      return -1;
    }
    if (cfg_utf8_ok(p)) return 0;
    slt_err_set("%s: not valid UTF-8 text", k->key);
    return -1;
  case SLT_CFG_BOOL:
    return 0;
  }
  return -1;
}

void slt_config_defaults(slt_config *c) {
  int n;
  const slt_config_key *rows = slt_config_keys(&n);
  memset(c, 0, sizeof *c);
  /* The test suite checks that every default parses, so a failure here cannot go unnoticed. */
  for (int i = 0; i < n; i++) cfg_set_text(c, &rows[i], rows[i].def);
}

/* "override '<assignment>': ", the start of an override's messages (only built for one). */
static const char *override_where(const char *assignment, char *buf, size_t len) {
  char shown[CFG_SHOW];
  snprintf(buf, len, "override '%s': ", cfg_show(assignment, shown, sizeof shown));
  return buf;
}

int slt_config_override(slt_config *c, const char *assignment) {
  char key[128], where[CFG_SHOW + 16];
  const char *eq = strchr(assignment, '=');
  size_t n = eq ? (size_t)(eq - assignment) : 0;
  if (!eq || n == 0) {
    slt_err_set("%sexpected key=value (e.g. model.layers=6)",
                override_where(assignment, where, sizeof where));
    return -1;
  }
  if (n >= sizeof key) { /* no key is this long; say so rather than "expected key=value" */
    slt_err_set("%sunknown key (longer than %zu characters)",
                override_where(assignment, where, sizeof where), sizeof key - 1);
    return -1;
  }
  memcpy(key, assignment, n);
  key[n] = '\0';
  const slt_config_key *k = slt_config_find(key);
  if (!k && cfg_is_section(key)) {
    slt_err_set("%s'%s' is a section; set its keys one by one (e.g. %s.<key>=...)",
                override_where(assignment, where, sizeof where), key, key);
    return -1;
  }
  if (!k) {
    cfg_err_unknown(override_where(assignment, where, sizeof where), key, false);
    return -1;
  }
  if (cfg_set_text(c, k, eq + 1) == 0) return 0;
  cfg_err_prefix(override_where(assignment, where, sizeof where));
  return -1;
}

int slt_config_get(const slt_config *c, const char *key, char *buf, size_t len) {
  const slt_config_key *k = slt_config_find(key);
  if (!k) {
    cfg_err_unknown("", key, false);
    return -1;
  }
  cfg_format(c, k, buf, len, false);
  return 0;
}

int slt_config_diff(const slt_config *a, const slt_config *b, const char *prefix, char *out,
                    size_t len) {
  int n, count = 0;
  const slt_config_key *rows = slt_config_keys(&n);
  size_t plen = prefix ? strlen(prefix) : 0, pos = 0;
  if (out && len) out[0] = '\0';
  for (int i = 0; i < n; i++) {
    if (plen && strncmp(rows[i].key, prefix, plen)) continue;
    /* Equal bytes format equally: only a changed field needs its text (written for diffs). */
    if (!memcmp(cfg_cfield(a, &rows[i]), cfg_cfield(b, &rows[i]), rows[i].size)) continue;
    char va[4 * SLT_CFG_STR + 8], vb[4 * SLT_CFG_STR + 8];
    cfg_format(a, &rows[i], va, sizeof va, true);
    cfg_format(b, &rows[i], vb, sizeof vb, true);
    if (!strcmp(va, vb)) continue;
    if (out && pos < len) {
      int w =
          snprintf(out + pos, len - pos, "%s%s (%s vs %s)", count ? ", " : "", rows[i].key, va, vb);
      pos = w < 0 ? len : pos + (size_t)w;
    }
    count++;
  }
  return count;
}
