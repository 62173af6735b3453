/* The quant spec: validation, text fields, and the one entry layers call (slt_quant_apply). */
#include "quant.h"

#include "error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const kind_names[] = {"none", "int", "lsq", "fp", "mx"};
static const char *const gran_names[] = {"tensor", "channel", "token", "group"};
static const char *const scale_names[] = {"absmax", "minmax"};
#define COUNT(a) ((int)(sizeof a / sizeof *a))

/* Record the message (and copy it to err); returns -1. */
__attribute__((format(printf, 3, 4))) static int reject(char *err, size_t errlen, const char *fmt,
                                                        ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (err && errlen) snprintf(err, errlen, "%s", msg);
  slt_err_set("%s", msg);
  return -1;
}

/* Options that belong to other kinds are errors when set, so a typo'd config is not silently
 * ignored; fields that have defaults in every config (bits, format, group_size) are not. */
static int check_options(const slt_quant_spec *s, const char *k, char *err, size_t len) {
  bool fp = s->kind == SLT_QUANT_FP || s->kind == SLT_QUANT_MX;
  if (!fp && s->round_even)
    return reject(err, len, "quant %s: round: even applies to fp and mx only", k);
  if (s->ste_mask && s->kind != SLT_QUANT_MX)
    return reject(err, len, "quant %s: ste_mask applies to mx only (%s)", k,
                  s->kind == SLT_QUANT_FP ? "an absmax scale never clips" : "STE is the mask");
  if (s->grad_scaling && s->kind != SLT_QUANT_LSQ)
    return reject(err, len, "quant %s: grad_scaling applies to lsq only", k);
  if (s->narrow && (fp || s->scale != SLT_QSCALE_ABSMAX))
    return reject(err, len, "quant %s: narrow applies to symmetric (absmax) int and lsq only", k);
  if (fp && s->scale != SLT_QSCALE_ABSMAX)
    return reject(err, len, "quant %s: scales are absmax (minmax is for int and lsq)", k);
  return 0;
}

static int check_shape(const slt_quant_spec *s, const char *k, int64_t rows, int cols, char *err,
                       size_t len) {
  if (cols < 1) return reject(err, len, "quant %s: row width %d must be at least 1", k, cols);
  if (s->kind == SLT_QUANT_MX &&
      (s->granularity != SLT_QGRAN_GROUP || s->group_size != SLT_QUANT_MX_BLOCK))
    return reject(err, len, "quant mx: blocks are %d (granularity group, group_size %d), got %s %d",
                  SLT_QUANT_MX_BLOCK, SLT_QUANT_MX_BLOCK, gran_names[s->granularity],
                  s->group_size);
  if (s->kind == SLT_QUANT_LSQ && s->granularity == SLT_QGRAN_TOKEN)
    return reject(err, len,
                  "quant lsq: per-token scales cannot be learned (tokens change every "
                  "batch); use tensor, channel or group");
  if (s->granularity == SLT_QGRAN_GROUP && (s->group_size < 1 || cols % s->group_size))
    return reject(err, len, "quant %s: group_size %d does not divide the row width %d", k,
                  s->group_size, cols);
  if (rows > 0 && rows > INT64_MAX / cols)
    return reject(err, len, "quant %s: %lld rows of %d overflow", k, (long long)rows, cols);
  return 0;
}

int slt_quant_check(const slt_quant_spec *s, int64_t rows, int cols, char *err, size_t len) {
  if ((unsigned)s->kind >= (unsigned)COUNT(kind_names))
    return reject(err, len, "quant: unknown kind %d", (int)s->kind);
  if (s->kind == SLT_QUANT_NONE) return 0;
  const char *k = kind_names[s->kind];
  if ((unsigned)s->granularity >= (unsigned)COUNT(gran_names) ||
      (unsigned)s->scale >= (unsigned)COUNT(scale_names))
    return reject(err, len, "quant %s: unknown granularity or scale", k);
  if (s->kind == SLT_QUANT_INT || s->kind == SLT_QUANT_LSQ) {
    if (s->bits < 2 || s->bits > 16)
      return reject(err, len, "quant %s: bits must be 2..16, got %d%s", k, s->bits,
                    s->bits == 1 ? " (binary/ternary weights are their own kinds)" : "");
  } else {
    const char *f = slt_quant_format_name(s->format);
    if (!f) return reject(err, len, "quant %s: unknown format %d", k, (int)s->format);
    int fb = slt_quant_format_bits(s->format);
    if (s->bits != 0 && s->bits != fb)
      return reject(err, len,
                    "quant %s: format %s is %d bits, got bits %d (the format sets "
                    "the width; leave bits 0)",
                    k, f, fb, s->bits);
  }
  if (check_options(s, k, err, len)) return -1;
  return check_shape(s, k, rows, cols, err, len);
}

int64_t slt_quant_block(const slt_quant_spec *s, int64_t rows, int cols) {
  switch (s->granularity) {
  case SLT_QGRAN_TENSOR:
    return rows * cols;
  case SLT_QGRAN_GROUP:
    return s->group_size;
  default:
    return cols;
  }
}

int64_t slt_quant_nscales(const slt_quant_spec *s, int64_t rows, int cols) {
  int64_t b = slt_quant_block(s, rows, cols);
  return b > 0 ? rows * cols / b : 0;
}

void slt_quant_range(const slt_quant_spec *s, int *qmin, int *qmax) {
  if (s->scale == SLT_QSCALE_MINMAX) {
    *qmin = 0;
    *qmax = (1 << s->bits) - 1;
    return;
  }
  *qmax = (1 << (s->bits - 1)) - 1;
  *qmin = s->narrow ? -*qmax : -*qmax - 1;
}

/* ---- text fields ---- */

static int parse_name(const char *key, const char *v, const char *const *names, int n, int *out) {
  for (int i = 0; i < n; i++)
    if (!strcmp(v, names[i])) return *out = i, 0;
  char list[128] = "";
  for (int i = 0; i < n; i++)
    snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", i ? "|" : "", names[i]);
  slt_err_set("quant %s: '%s' is not one of %s", key, v, list);
  return -1;
}

static int parse_int(const char *key, const char *v, int lo, int hi, int *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (end == v || *end || errno || x < lo || x > hi) {
    slt_err_set("quant %s: '%s' is not an integer in %d..%d", key, v, lo, hi);
    return -1;
  }
  *out = (int)x;
  return 0;
}

static int parse_bool(const char *key, const char *v, bool *out) {
  static const char *const names[] = {"false", "true"};
  int i;
  if (parse_name(key, v, names, 2, &i)) return -1;
  *out = i;
  return 0;
}

int slt_quant_parse(slt_quant_spec *s, const char *key, const char *v) {
  int i;
  if (!strcmp(key, "kind")) {
    if (parse_name(key, v, kind_names, COUNT(kind_names), &i)) return -1;
    s->kind = (slt_quant_kind)i;
  } else if (!strcmp(key, "bits")) {
    return parse_int(key, v, 0, 16, &s->bits);
  } else if (!strcmp(key, "group_size")) {
    return parse_int(key, v, 1, 1 << 20, &s->group_size);
  } else if (!strcmp(key, "format")) {
    static const char *const f[] = {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1", "fp4"};
    if (parse_name(key, v, f, COUNT(f), &i)) return -1;
    s->format = (slt_quant_format)(i == 5 ? SLT_QFMT_E2M1 : i);
  } else if (!strcmp(key, "granularity")) {
    if (parse_name(key, v, gran_names, COUNT(gran_names), &i)) return -1;
    s->granularity = (slt_quant_gran)i;
  } else if (!strcmp(key, "scale")) {
    if (parse_name(key, v, scale_names, COUNT(scale_names), &i)) return -1;
    s->scale = (slt_quant_scale)i;
  } else if (!strcmp(key, "round")) {
    static const char *const r[] = {"away", "even"};
    if (parse_name(key, v, r, 2, &i)) return -1;
    s->round_even = i;
  } else if (!strcmp(key, "narrow")) {
    return parse_bool(key, v, &s->narrow);
  } else if (!strcmp(key, "ste_mask")) {
    return parse_bool(key, v, &s->ste_mask);
  } else if (!strcmp(key, "grad_scaling")) {
    return parse_bool(key, v, &s->grad_scaling);
  } else {
    slt_err_set("quant: unknown key '%s' (kind bits format granularity group_size scale narrow "
                "round ste_mask grad_scaling)",
                key);
    return -1;
  }
  return 0;
}

const char *slt_quant_describe(const slt_quant_spec *s, char *buf, size_t len) {
  if ((unsigned)s->kind >= (unsigned)COUNT(kind_names) || s->kind == SLT_QUANT_NONE) {
    snprintf(buf, len, "none");
    return buf;
  }
  char gran[32];
  if (s->granularity == SLT_QGRAN_GROUP)
    snprintf(gran, sizeof gran, "group%d", s->group_size);
  else
    snprintf(gran, sizeof gran, "%s", gran_names[s->granularity % 4]);
  if (s->kind == SLT_QUANT_INT || s->kind == SLT_QUANT_LSQ)
    snprintf(buf, len, "%s%d %s %s%s%s", kind_names[s->kind], s->bits, gran,
             scale_names[s->scale % 2], s->narrow ? " narrow" : "",
             s->grad_scaling ? " grad_scaling" : "");
  else
    snprintf(buf, len, "%s %s %s%s%s", kind_names[s->kind],
             slt_quant_format_name(s->format) ? slt_quant_format_name(s->format) : "?", gran,
             s->round_even ? " even" : "", s->ste_mask ? " ste_mask" : "");
  return buf;
}

/* ---- the entry layers call ---- */

static slt_tensor *apply_int(slt_ctx *c, slt_tensor *x, const slt_quant_spec *s, int64_t nb,
                             int64_t block, int qmin, int qmax) {
  float *scale = slt_arena_alloc(&c->arena, nb * sizeof(float));
  float *zero =
      s->scale == SLT_QSCALE_MINMAX ? slt_arena_alloc(&c->arena, nb * sizeof(float)) : NULL;
  if (!scale || (s->scale == SLT_QSCALE_MINMAX && !zero)) return NULL;
  if (slt_quant_qparams(x, s, scale, zero)) return NULL;
  return slt_quant_affine(c, x, scale, zero, block, qmin, qmax);
}

slt_tensor *slt_quant_apply(slt_ctx *c, slt_tensor *x, const slt_quant_spec *s, slt_tensor *scale,
                            slt_tensor *offset) {
  if (!x) return NULL;
  bool lsq = s->kind == SLT_QUANT_LSQ, minmax = s->scale == SLT_QSCALE_MINMAX;
  if (!lsq && (scale || offset)) {
    slt_err_set("quant %s: only lsq takes scale and offset tensors",
                (unsigned)s->kind < (unsigned)COUNT(kind_names) ? kind_names[s->kind] : "?");
    return NULL;
  }
  if (s->kind == SLT_QUANT_NONE) return x;
  int64_t rows = slt_tensor_rows(x);
  int cols = slt_tensor_cols(x), qmin = 0, qmax = 0;
  if (slt_quant_check(s, rows, cols, NULL, 0)) return NULL;
  int64_t block = slt_quant_block(s, rows, cols), nb = x->numel / block;
  if (lsq || s->kind == SLT_QUANT_INT) slt_quant_range(s, &qmin, &qmax);
  switch (s->kind) {
  case SLT_QUANT_INT:
    return apply_int(c, x, s, nb, block, qmin, qmax);
  case SLT_QUANT_FP:
    return slt_quant_fp(c, x, s->format, block, s->round_even);
  case SLT_QUANT_MX:
    return slt_quant_mx(c, x, s->format, s->round_even, s->ste_mask);
  default:
    break;
  }
  if (!scale || minmax != (offset != NULL)) {
    slt_err_set("quant lsq: needs a scale tensor%s",
                minmax ? " and an offset (minmax is LSQ+)" : " and no offset (absmax: z = 0)");
    return NULL;
  }
  return minmax ? slt_quant_lsq_plus(c, x, scale, offset, block, qmin, qmax, s->grad_scaling)
                : slt_quant_lsq(c, x, scale, NULL, block, qmin, qmax, s->grad_scaling);
}
