/* model.quant as data: names, checks without shapes, the rules' syntax, descriptions. */
#include "quant_internal.h"

#include "autograd/error.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const slt_qc_kind_names[] = {"none", "int",     "lsq",     "fp",
                                         "mx",   "ternary", "absmax8", NULL};
/* In slt_quant_format's order (autograd/quant.h). */
const char *const slt_qc_format_names[] = {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1", NULL};
const char *const slt_qc_gran_names[] = {"tensor", "channel", "token", "group", NULL};
const char *const slt_qc_scale_names[] = {"absmax", "minmax", NULL};

bool slt_quant_config_active(const slt_quant_config *q) {
  return q->weight.kind != SLT_QC_NONE || q->act.kind != SLT_QC_NONE || q->bitlinear_norm ||
         q->rules[strspn(q->rules, " \t;")];
}

slt_quant_spec slt_quant_side_spec(const slt_quant_side *s) {
  static const slt_quant_kind kinds[] = {SLT_QUANT_NONE, SLT_QUANT_INT, SLT_QUANT_LSQ,
                                         SLT_QUANT_FP, SLT_QUANT_MX};
  slt_quant_spec q = {.kind = (unsigned)s->kind < 5 ? kinds[s->kind] : SLT_QUANT_NONE,
                      .bits = s->bits,
                      .format = s->format,
                      .granularity = s->granularity,
                      .group_size = s->group_size,
                      .scale = s->scale,
                      .narrow = s->narrow,
                      .grad_scaling = s->grad_scaling};
  if ((q.kind == SLT_QUANT_INT || q.kind == SLT_QUANT_LSQ) && !q.bits) q.bits = 8;
  if (q.kind == SLT_QUANT_MX) q.granularity = SLT_QGRAN_GROUP, q.group_size = SLT_QUANT_MX_BLOCK;
  return q;
}

const char *slt_quant_side_describe(const slt_quant_side *s, char *buf, size_t len) {
  slt_quant_spec q = slt_quant_side_spec(s);
  char gran[32];
  if (q.granularity == SLT_QGRAN_GROUP)
    snprintf(gran, sizeof gran, "group%d", q.group_size);
  else
    snprintf(gran, sizeof gran, "%s", slt_qc_gran_names[q.granularity & 3]);
  const char *fmt = slt_quant_format_name(q.format) ? slt_quant_format_name(q.format) : "?";
  switch (s->kind) {
  case SLT_QC_INT:
  case SLT_QC_LSQ:
    snprintf(buf, len, "%s%d/%s%s%s%s", slt_qc_kind_names[s->kind], q.bits, gran,
             q.scale == SLT_QSCALE_MINMAX ? "/minmax" : "", q.narrow ? "/narrow" : "",
             q.grad_scaling ? "/gs" : "");
    break;
  case SLT_QC_FP:
    snprintf(buf, len, "fp:%s/%s", fmt, gran);
    break;
  case SLT_QC_MX:
    snprintf(buf, len, "mx:%s", fmt);
    break;
  case SLT_QC_TERNARY:
    snprintf(buf, len, s->shards > 1 ? "ternary/shards%d" : "ternary", s->shards);
    break;
  case SLT_QC_ABSMAX8:
    snprintf(buf, len, "absmax8/token");
    break;
  default:
    snprintf(buf, len, "none");
  }
  return buf;
}

#define FAIL(...) (slt_err_set(__VA_ARGS__), -1)

int qc_check_side(const slt_quant_side *s, bool weight, const char *key) {
  if ((unsigned)s->kind > SLT_QC_ABSMAX8) return FAIL("%s.kind: unknown kind %d", key, s->kind);
  switch (s->kind) {
  case SLT_QC_NONE:
    return 0;
  case SLT_QC_ABSMAX8:
    if (weight) return FAIL("%s.kind: absmax8 is for activations (weights: int, lsq, fp, mx, ternary)", key);
    return s->bits && s->bits != 8 ? FAIL("%s.bits: absmax8 is 8 bits, got %d", key, s->bits) : 0;
  case SLT_QC_TERNARY:
    if (!weight) return FAIL("%s.kind: ternary is for weights (activations: int, fp, mx, absmax8)", key);
    return s->shards < 1 ? FAIL("%s.shards must be >= 1, got %d", key, s->shards) : 0;
  case SLT_QC_LSQ:
    if (!weight)
      return FAIL("%s.kind: lsq learns weight scales only (activations: int, fp, mx, absmax8)", key);
    break;
  default:
    break;
  }
  if (s->kind != SLT_QC_MX && weight && s->granularity == SLT_QGRAN_TOKEN)
    return FAIL("%s.granularity: token is for activations (weights: tensor, channel, group)", key);
  if (s->kind != SLT_QC_MX && !weight && s->granularity == SLT_QGRAN_CHANNEL)
    return FAIL("%s.granularity: channel is for weights (activations: token, tensor, group)", key);
  slt_quant_spec q = slt_quant_side_spec(s);
  char why[256];
  int cols = q.granularity == SLT_QGRAN_GROUP && q.group_size > 0 ? q.group_size : 1;
  return slt_quant_check(&q, 0, cols, why, sizeof why) ? FAIL("%s: %s", key, why) : 0;
}

/* ---- rules: 'GLOB w=SPEC a=SPEC; ...', SPEC = kind[:field]... ---- */

static int name_index(const char *const *names, const char *v) {
  for (int i = 0; names[i]; i++)
    if (!strcmp(names[i], v)) return i;
  return -1;
}

static bool all_digits(const char *s) {
  if (!*s) return false;
  for (; *s; s++)
    if (!isdigit((unsigned char)*s)) return false;
  return true;
}

/* One ':' field of a SPEC into s; 0 or -1 (message left to the caller). */
static int spec_field(slt_quant_side *s, const char *f) {
  int i;
  if (all_digits(f) && strlen(f) < 8) {
    *(s->kind == SLT_QC_TERNARY ? &s->shards : &s->bits) = atoi(f);
  } else if ((i = name_index(slt_qc_format_names, f)) >= 0 || !strcmp(f, "fp4")) {
    s->format = i >= 0 ? (slt_quant_format)i : SLT_QFMT_E2M1;
  } else if ((i = name_index(slt_qc_gran_names, f)) >= 0 && i != SLT_QGRAN_GROUP) {
    s->granularity = (slt_quant_gran)i;
  } else if (!strncmp(f, "group", 5) && all_digits(f + 5) && strlen(f + 5) < 8) {
    s->granularity = SLT_QGRAN_GROUP, s->group_size = atoi(f + 5);
  } else if ((i = name_index(slt_qc_scale_names, f)) >= 0) {
    s->scale = (slt_quant_scale)i;
  } else if (!strcmp(f, "narrow") || !strcmp(f, "gs")) {
    *(f[0] == 'n' ? &s->narrow : &s->grad_scaling) = true;
  } else {
    return -1;
  }
  return 0;
}

/* "int:4:group64" over base (the global side; kind-specific options reset on a kind change). */
static int parse_spec(const char *text, const slt_quant_side *base, slt_quant_side *s,
                      const char *where) {
  char buf[128];
  if (snprintf(buf, sizeof buf, "%s", text) >= (int)sizeof buf)
    return FAIL("%s: '%s' is too long", where, text);
  char *save = NULL, *f = strtok_r(buf, ":", &save);
  int k = f ? name_index(slt_qc_kind_names, f) : -1;
  if (k < 0)
    return FAIL("%s: '%s' does not start with a kind (none|int|lsq|fp|mx|ternary|absmax8)", where,
                text);
  *s = *base;
  if ((slt_qc_kind)k != base->kind) s->bits = 0, s->narrow = s->grad_scaling = false;
  s->kind = (slt_qc_kind)k;
  if (s->kind == SLT_QC_TERNARY && s->shards < 1) s->shards = 1; /* a zeroed base side */
  while ((f = strtok_r(NULL, ":", &save)))
    if (spec_field(s, f))
      return FAIL("%s: '%s' in '%s' is not bits, a format, tensor|channel|token|groupN, "
                  "absmax|minmax, narrow or gs",
                  where, f, text);
  return 0;
}

/* One rule's text into r; n numbers it in messages. */
static int parse_rule(const slt_quant_config *q, char *text, int n, qc_rule *r) {
  char where[160], *save = NULL, *tok = strtok_r(text, " \t", &save);
  memset(r, 0, sizeof *r);
  if (strchr(tok, '=') || strlen(tok) >= sizeof r->glob)
    return FAIL("model.quant.rules: rule %d must start with a glob on linear names (e.g. "
                "'blocks.0.*'), got '%s'",
                n, tok);
  snprintf(r->glob, sizeof r->glob, "%s", tok);
  while ((tok = strtok_r(NULL, " \t", &save))) {
    bool w = !strncmp(tok, "w=", 2), a = !strncmp(tok, "a=", 2);
    snprintf(where, sizeof where, "model.quant.rules: rule %d ('%s') %.2s", n, r->glob, tok);
    if (!w && !a)
      return FAIL("model.quant.rules: rule %d ('%s'): '%s' is not w=SPEC or a=SPEC", n, r->glob,
                  tok);
    if (parse_spec(tok + 2, w ? &q->weight : &q->act, w ? &r->w : &r->a, where) ||
        qc_check_side(w ? &r->w : &r->a, w, where))
      return -1;
    *(w ? &r->has_w : &r->has_a) = true;
  }
  if (!r->has_w && !r->has_a)
    return FAIL("model.quant.rules: rule %d ('%s') sets nothing (add w=SPEC and/or a=SPEC)", n,
                r->glob);
  return 0;
}

int qc_parse_rules(const slt_quant_config *q, qc_rules *r) {
  char text[SLT_QUANT_RULES_MAX];
  snprintf(text, sizeof text, "%s", q->rules);
  memset(r, 0, sizeof *r);
  int cap = 1;
  for (const char *p = text; *p; p++) cap += *p == ';';
  if (!(r->v = calloc((size_t)cap, sizeof *r->v))) return FAIL("out of memory for quant rules");
  char *save = NULL;
  for (char *t = strtok_r(text, ";", &save); t; t = strtok_r(NULL, ";", &save)) {
    if (!t[strspn(t, " \t")]) continue;
    if (parse_rule(q, t, r->n + 1, &r->v[r->n])) {
      qc_rules_free(r);
      return -1;
    }
    r->n++;
  }
  return 0;
}

void qc_rules_free(qc_rules *r) {
  free(r->v);
  r->v = NULL;
  r->n = 0;
}

int slt_quant_config_check(const slt_quant_config *q, bool rmsnorm) {
  if (qc_check_side(&q->weight, true, "model.quant.weight") ||
      qc_check_side(&q->act, false, "model.quant.act"))
    return -1;
  if (q->bitlinear_norm && !rmsnorm)
    return FAIL("model.quant.bitlinear_norm needs model.norm: rmsnorm (BitNet b1.58's LLaMA "
                "blocks), got layernorm");
  qc_rules r;
  if (qc_parse_rules(q, &r)) return -1;
  qc_rules_free(&r);
  return 0;
}

bool slt_quant_config_uses(const slt_quant_config *q, slt_qc_kind kind) {
  bool used = q->weight.kind == kind;
  qc_rules r;
  if (qc_parse_rules(q, &r)) return used;
  for (int i = 0; i < r.n; i++) used |= r.v[i].has_w && r.v[i].w.kind == kind;
  qc_rules_free(&r);
  return used;
}

int slt_quant_config_strip_weights(slt_quant_config *q) {
  qc_rules r;
  if (qc_parse_rules(q, &r)) return -1;
  qc_rules_free(&r);
  char in[SLT_QUANT_RULES_MAX], out[SLT_QUANT_RULES_MAX] = "";
  snprintf(in, sizeof in, "%s", q->rules);
  size_t n = 0;
  char *s1 = NULL;
  for (char *t = strtok_r(in, ";", &s1); t; t = strtok_r(NULL, ";", &s1)) {
    char *s2 = NULL, *glob = strtok_r(t, " \t", &s2), rule[SLT_QUANT_RULES_MAX];
    if (!glob) continue;
    size_t k = (size_t)snprintf(rule, sizeof rule, "%s", glob);
    bool any = false;
    for (char *tok; (tok = strtok_r(NULL, " \t", &s2));)
      if (strncmp(tok, "w=", 2)) any = true, k += (size_t)snprintf(rule + k, sizeof rule - k, " %s", tok);
    if (any) n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", n ? "; " : "", rule);
  }
  snprintf(q->rules, sizeof q->rules, "%s", out);
  q->weight.kind = SLT_QC_NONE;
  return 0;
}
