#include "groups.h"

#include "autograd/error.h"

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void slt_groups_init(slt_groups *g, double wd) {
  memset(g, 0, sizeof *g);
  g->wd = wd;
  g->lr_mult = 1.0;
}

void slt_groups_free(slt_groups *g) {
  free(g->rules);
  memset(g, 0, sizeof *g);
}

int slt_groups_add(slt_groups *g, const slt_group_rule *r) {
  if (!r->pattern[0] || strnlen(r->pattern, SLT_PARAM_NAME_MAX) == SLT_PARAM_NAME_MAX) {
    slt_err_set("parameter group pattern is empty or longer than %d characters",
                SLT_PARAM_NAME_MAX - 1);
    return -1;
  }
  if (r->min_ndim < 0 || r->max_ndim < 0 || (r->max_ndim && r->min_ndim > r->max_ndim)) {
    slt_err_set("parameter group '%s': bad ndim range [%d, %d]", r->pattern, r->min_ndim,
                r->max_ndim);
    return -1;
  }
  if (g->count == g->cap) {
    int cap = g->cap ? 2 * g->cap : 8;
    slt_group_rule *rules = realloc(g->rules, (size_t)cap * sizeof *rules);
    if (!rules) {
      slt_err_set("out of memory adding a parameter group");
      return -1;
    }
    g->rules = rules;
    g->cap = cap;
  }
  g->rules[g->count++] = *r;
  return 0;
}

/* One "key=value" (or "ndim<=N", "ndim>=N") field of a rule; 0 or -1. */
static int parse_field(slt_group_rule *r, const char *tok) {
  char *end;
  if (!strncmp(tok, "ndim<=", 6) || !strncmp(tok, "ndim>=", 6) || !strncmp(tok, "ndim=", 5)) {
    const char *num = tok + (tok[4] == '=' ? 5 : 6);
    long n = strtol(num, &end, 10);
    if (end == num || *end || n < 1 || n > 8) return -1;
    if (tok[4] != '>') r->max_ndim = (int)n;
    if (tok[4] != '<') r->min_ndim = (int)n;
    return 0;
  }
  double *dst = !strncmp(tok, "wd=", 3)        ? &r->wd
                : !strncmp(tok, "lr_mult=", 8) ? &r->lr_mult
                                               : NULL;
  if (!dst) return -1;
  const char *num = strchr(tok, '=') + 1;
  *dst = strtod(num, &end);
  return end == num || *end || *dst < 0 ? -1 : 0;
}

int slt_groups_parse(slt_groups *g, const char *spec) {
  slt_group_rule r = {.pattern = "*", .wd = SLT_GROUP_KEEP, .lr_mult = SLT_GROUP_KEEP};
  char buf[256], *save = NULL;
  if (snprintf(buf, sizeof buf, "%s", spec) >= (int)sizeof buf) {
    slt_err_set("parameter group rule '%.40s...' is too long", spec);
    return -1;
  }
  int fields = 0;
  for (char *tok = strtok_r(buf, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
    if (!fields++ && !strchr(tok, '=')) { /* names never hold '=', so this is the pattern */
      snprintf(r.pattern, sizeof r.pattern, "%s", tok);
      continue;
    }
    if (parse_field(&r, tok)) {
      slt_err_set("parameter group rule '%s': bad field '%s' (expected ndim=N, ndim<=N, "
                  "ndim>=N, wd=X or lr_mult=X with X >= 0)",
                  spec, tok);
      return -1;
    }
  }
  if (r.wd < 0 && r.lr_mult < 0) {
    slt_err_set("parameter group rule '%s' sets neither wd nor lr_mult", spec);
    return -1;
  }
  return slt_groups_add(g, &r);
}

int slt_groups_add_defaults(slt_groups *g, bool no_decay_1d, bool no_decay_embeddings) {
  if (no_decay_1d && slt_groups_parse(g, "ndim<=1 wd=0")) return -1;
  if (no_decay_embeddings &&
      (slt_groups_parse(g, "wte.weight wd=0") || slt_groups_parse(g, "wpe.weight wd=0")))
    return -1;
  return 0;
}

bool slt_groups_match(const slt_group_rule *r, const slt_param *q) {
  if (r->min_ndim && q->t.ndim < r->min_ndim) return false;
  if (r->max_ndim && q->t.ndim > r->max_ndim) return false;
  return fnmatch(r->pattern, q->name, 0) == 0;
}

void slt_groups_apply(const slt_groups *g, const slt_params *p, float *wd, float *lr_mult) {
  for (int i = 0; i < p->count; i++) {
    double w = g->wd, m = g->lr_mult;
    for (int k = 0; k < g->count; k++) {
      const slt_group_rule *r = &g->rules[k];
      if (!slt_groups_match(r, p->items[i])) continue;
      if (r->wd >= 0) w = r->wd;
      if (r->lr_mult >= 0) m = r->lr_mult;
    }
    wd[i] = (float)w;
    if (lr_mult) lr_mult[i] = (float)m;
  }
}

int slt_groups_unused(const slt_groups *g, const slt_params *p) {
  for (int k = 0; k < g->count; k++) {
    bool used = false;
    for (int i = 0; i < p->count && !used; i++) used = slt_groups_match(&g->rules[k], p->items[i]);
    if (!used) return k;
  }
  return -1;
}
