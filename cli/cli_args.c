/* Argument checks shared by the subcommands: one clear line and exit status 2 for bad usage. */
#include "cli.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int slt_cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "slt %s: ", cmd);
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, " (see 'slt %s --help')\n", cmd);
  va_end(ap);
  return 2;
}

bool slt_cli_is_option(const char *a) {
  return a[0] == '-' && a[1];
}

const char *slt_cli_value(const char *cmd, int argc, char **argv, int *i) {
  const char *opt = argv[*i];
  if (*i + 1 >= argc) {
    slt_cli_usage_error(cmd, "%s needs a value", opt);
    return NULL;
  }
  const char *v = argv[++*i];
  if (!*v) {
    slt_cli_usage_error(cmd, "%s needs a value, got an empty string", opt);
    return NULL;
  }
  return v;
}

int slt_cli_once(const char *cmd, slt_cli_seen *seen, const char *opt) {
  for (int k = 0; k < seen->n; k++)
    if (!strcmp(seen->names[k], opt))
      return slt_cli_usage_error(cmd, "%s given more than once", opt);
  if (seen->n < (int)(sizeof seen->names / sizeof *seen->names)) seen->names[seen->n++] = opt;
  return 0;
}

/* What an integer option in [min, max] expects, for messages. */
static void describe_range(long min, long max, char *buf, size_t len) {
  if (max == LONG_MAX && min == 1)
    snprintf(buf, len, "a positive integer");
  else if (max == LONG_MAX)
    snprintf(buf, len, "an integer >= %ld", min);
  else
    snprintf(buf, len, "an integer from %ld to %ld", min, max);
}

int slt_cli_long(const char *cmd, const char *opt, const char *v, long min, long max, long *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  bool ok = (isdigit((unsigned char)v[0]) || v[0] == '-') && !*end && !errno;
  if (ok && x >= min && x <= max) {
    *out = x;
    return 0;
  }
  char want[96];
  describe_range(min, max, want, sizeof want);
  return slt_cli_usage_error(cmd, "%s needs %s, got '%s'", opt, want, v);
}

int slt_cli_u64(const char *cmd, const char *opt, const char *v, unsigned long long *out) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(v, &end, 10);
  if (isdigit((unsigned char)v[0]) && !*end && !errno) {
    *out = x;
    return 0;
  }
  return slt_cli_usage_error(cmd, "%s needs an integer from 0 to %llu, got '%s'", opt, ULLONG_MAX,
                             v);
}

int slt_cli_double(const char *cmd, const char *opt, const char *v, double min, double max,
                   const char *expected, double *out) {
  char *end;
  double x = strtod(v, &end);
  bool ok = *v && !isspace((unsigned char)v[0]) && !*end && isfinite(x);
  if (ok && x >= min && x <= max) {
    *out = x;
    return 0;
  }
  return slt_cli_usage_error(cmd, "%s needs %s, got '%s'", opt, expected, v);
}

int slt_cli_new_output(const char *cmd, const char *path, const char *what) {
  struct stat st;
  if (stat(path, &st)) return 0;
  fprintf(stderr,
          "slt %s: %s already exists; refusing to overwrite it (remove it or choose another %s)\n",
          cmd, path, what);
  return 1;
}
