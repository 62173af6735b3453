/* A model's quantization: per linear, the weight and activation transforms the seam of
 * layers/linear.h applies, LSQ's learned scales as parameters, and descriptions for summaries. */
#include "quant_internal.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include <fnmatch.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NF (SLT_LIN_MAX_FACTORS + 1) /* a dense weight or the structured factors */

/* One transform: its settings and, for weights, the factors it sees (LSQ: with their scales). */
typedef struct qside {
  slt_lin_transform t; /* t.state points here */
  slt_quant_side side;
  slt_quant_spec spec;
  bool norm; /* activations: BitLinear's parameterless RMSNorm first */
  float eps;
  int nf;
  const slt_tensor *src[NF];
  slt_tensor *scale[NF], *offset[NF];
} qside;

typedef struct qlin {
  char name[SLT_PARAM_NAME_MAX];
  qside w, a;
} qlin;

struct slt_quant_set {
  slt_quant_config cfg;
  float eps;
  qc_rules rules;
  int *hits; /* linears each rule matched */
  qlin **v;
  int n, cap;
};

static const char *param_name(const slt_tensor *t) {
  return ((const slt_param *)((const char *)t - offsetof(slt_param, t)))->name;
}

static slt_tensor *weight_apply(const slt_lin_transform *t, slt_ctx *c, slt_tensor *x) {
  const qside *q = t->state;
  if (q->side.kind == SLT_QC_TERNARY) return slt_ternary_weight(c, x, q->side.shards);
  if (q->side.kind != SLT_QC_LSQ) return slt_quant_apply(c, x, &q->spec, NULL, NULL);
  for (int i = 0; i < q->nf; i++)
    if (q->src[i] == x) return slt_quant_apply(c, x, &q->spec, q->scale[i], q->offset[i]);
  slt_err_set("quant lsq: this weight has no learned scale (SGT guides cannot use lsq)");
  return NULL;
}

static slt_tensor *act_apply(const slt_lin_transform *t, slt_ctx *c, slt_tensor *x) {
  const qside *q = t->state;
  if (q->norm && !(x = slt_rmsnorm(c, x, NULL, q->eps))) return NULL;
  if (q->side.kind == SLT_QC_NONE) return x;
  if (q->side.kind == SLT_QC_ABSMAX8) return slt_act_quant_absmax8(c, x);
  return slt_quant_apply(c, x, &q->spec, NULL, NULL);
}

slt_quant_set *slt_quant_set_new(const slt_quant_config *q, float norm_eps) {
  slt_quant_set *s = calloc(1, sizeof *s);
  if (!s) {
    slt_err_set("out of memory for the quantization");
    return NULL;
  }
  s->cfg = *q;
  s->eps = norm_eps;
  if (qc_parse_rules(q, &s->rules)) {
    slt_quant_set_free(s);
    return NULL;
  }
  if (!(s->hits = calloc((size_t)s->rules.n + 1, sizeof(int)))) {
    slt_err_set("out of memory for the quantization");
    slt_quant_set_free(s);
    return NULL;
  }
  return s;
}

/* The sides of linear name: the globals for block linears, then every matching rule. key[0] and
 * key[1] name where the weight and activation sides came from, for messages; returns true when
 * anything (global or rule) applies. */
static bool resolve(slt_quant_set *s, const char *name, bool block, slt_quant_side *w,
                    slt_quant_side *a, char key[2][48]) {
  static const slt_quant_side none = {0};
  *w = block ? s->cfg.weight : none;
  *a = block ? s->cfg.act : none;
  snprintf(key[0], 48, "model.quant.weight");
  snprintf(key[1], 48, "model.quant.act");
  bool any = block;
  for (int i = 0; i < s->rules.n; i++) {
    const qc_rule *r = &s->rules.v[i];
    if (fnmatch(r->glob, name, 0)) continue;
    s->hits[i]++;
    any = true;
    for (int k = 0; k < 2; k++)
      if (k ? r->has_a : r->has_w) {
        *(k ? a : w) = k ? r->a : r->w;
        snprintf(key[k], 48, "model.quant.rules (rule %d)", i + 1);
      }
  }
  return any;
}

/* Declare "<factor>.<leaf>" of n floats. */
static slt_tensor *lsq_param(slt_params *p, const slt_tensor *f, const char *leaf, int64_t n) {
  char name[SLT_PARAM_NAME_MAX + 16];
  snprintf(name, sizeof name, "%s.%s", param_name(f), leaf);
  return slt_params_add(p, name, 1, (int[]){(int)n});
}

/* The weight side over l's factors: shapes checked, LSQ tensors declared. */
static int setup_weight(qside *q, const slt_lin *l, const char *where, slt_params *p) {
  q->t = (slt_lin_transform){"quant_weight", weight_apply, q};
  q->spec = slt_quant_side_spec(&q->side);
  const slt_tensor *fs[NF] = {l->weight};
  memcpy(fs + 1, l->factor, sizeof l->factor);
  char why[256];
  for (int i = 0; i < NF; i++) {
    const slt_tensor *f = fs[i];
    if (!f) continue;
    int64_t rows = f->numel / f->shape[f->ndim - 1];
    int cols = f->shape[f->ndim - 1];
    if (q->side.kind == SLT_QC_TERNARY && f->shape[0] % q->side.shards) {
      slt_err_set("%s: %s: shards %d does not divide %s's %d rows", where, param_name(f),
                  q->side.shards, param_name(f), f->shape[0]);
      return -1;
    }
    if (q->side.kind != SLT_QC_TERNARY && slt_quant_check(&q->spec, rows, cols, why, sizeof why)) {
      slt_err_set("%s: %s: %s", where, param_name(f), why);
      return -1;
    }
    int k = q->nf++;
    q->src[k] = f;
    if (q->side.kind != SLT_QC_LSQ) continue;
    int64_t n = slt_quant_nscales(&q->spec, rows, cols);
    if (!(q->scale[k] = lsq_param(p, f, "lsq_scale", n))) return -1;
    if (q->spec.scale == SLT_QSCALE_MINMAX && !(q->offset[k] = lsq_param(p, f, "lsq_offset", n)))
      return -1;
  }
  return 0;
}

static int setup_act(qside *q, const slt_lin *l, const char *where) {
  q->t = (slt_lin_transform){"quant_act", act_apply, q};
  q->spec = slt_quant_side_spec(&q->side);
  char why[256];
  if (q->side.kind != SLT_QC_NONE && q->side.kind != SLT_QC_ABSMAX8 &&
      slt_quant_check(&q->spec, 0, l->in, why, sizeof why)) {
    slt_err_set("%s: the input of %d features: %s", where, l->in, why);
    return -1;
  }
  return 0;
}

int slt_quant_set_attach(slt_quant_set *s, slt_lin *l, const char *name, bool block,
                         slt_params *p) {
  slt_quant_side w, a;
  char key[2][48], where[SLT_PARAM_NAME_MAX + 80];
  if (!resolve(s, name, block, &w, &a, key)) return 0;
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 16;
    qlin **v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return slt_err_set("out of memory for the quantization"), -1;
    s->v = v, s->cap = cap;
  }
  qlin *q = calloc(1, sizeof *q);
  if (!q) return slt_err_set("out of memory for the quantization"), -1;
  s->v[s->n++] = q;
  snprintf(q->name, sizeof q->name, "%s", name);
  q->w.side = w;
  q->a.side = a;
  q->a.norm = block && s->cfg.bitlinear_norm;
  q->a.eps = s->eps;
  snprintf(where, sizeof where, "%s: %s", name, key[0]);
  if (w.kind != SLT_QC_NONE) {
    if (setup_weight(&q->w, l, where, p)) return -1;
    l->wt = &q->w.t;
  }
  snprintf(where, sizeof where, "%s: %s", name, key[1]);
  if (a.kind != SLT_QC_NONE || q->a.norm) {
    if (setup_act(&q->a, l, where)) return -1;
    l->at = &q->a.t;
  }
  return 0;
}

int slt_quant_set_finish(const slt_quant_set *s) {
  for (int i = 0; i < s->rules.n; i++)
    if (!s->hits[i]) {
      slt_err_set("model.quant.rules: rule %d ('%s') matches no linear (names like "
                  "blocks.0.attn.qkv, blocks.0.ffn.fc1, lm_head)",
                  i + 1, s->rules.v[i].glob);
      return -1;
    }
  return 0;
}

int slt_quant_set_init(slt_quant_set *s) {
  for (int i = 0; s && i < s->n; i++) {
    qside *q = &s->v[i]->w;
    for (int k = 0; q->side.kind == SLT_QC_LSQ && k < q->nf; k++)
      if (slt_quant_lsq_init(q->src[k], &q->spec, q->scale[k]->data,
                             q->offset[k] ? q->offset[k]->data : NULL))
        return -1;
  }
  return 0;
}

void slt_quant_set_free(slt_quant_set *s) {
  if (!s) return;
  for (int i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  free(s->hits);
  qc_rules_free(&s->rules);
  free(s);
}

int slt_quant_set_each(const slt_quant_set *s, int (*fn)(const slt_quant_weight *w, void *user),
                       void *user) {
  for (int i = 0; s && i < s->n; i++) {
    const qside *q = &s->v[i]->w;
    for (int k = 0; q->side.kind != SLT_QC_NONE && k < q->nf; k++) {
      slt_quant_weight w = {param_name(q->src[k]), q->src[k],   q->side.kind, q->spec,
                            q->side.shards,        q->scale[k], q->offset[k]};
      int rc = fn(&w, user);
      if (rc) return rc;
    }
  }
  return 0;
}

bool slt_quant_set_is_lsq_param(const slt_quant_set *s, const char *name) {
  for (int i = 0; s && i < s->n; i++) {
    const qside *q = &s->v[i]->w;
    for (int k = 0; k < q->nf; k++)
      if ((q->scale[k] && !strcmp(param_name(q->scale[k]), name)) ||
          (q->offset[k] && !strcmp(param_name(q->offset[k]), name)))
        return true;
  }
  return false;
}

/* ---- descriptions ---- */

typedef struct {
  char *buf;
  size_t len, n; /* n: bytes wanted so far */
} out_buf;

__attribute__((format(printf, 2, 3))) static void put(out_buf *o, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int k = vsnprintf(o->n < o->len ? o->buf + o->n : NULL, o->n < o->len ? o->len - o->n : 0, fmt, ap);
  va_end(ap);
  o->n += k > 0 ? (size_t)k : 0;
}

static void lin_desc(const qlin *q, char *buf, size_t len) {
  char w[64], a[64];
  snprintf(buf, len, "w=%s a=%s%s", slt_quant_side_describe(&q->w.side, w, sizeof w),
           slt_quant_side_describe(&q->a.side, a, sizeof a), q->a.norm ? " +rmsnorm" : "");
}

/* The block index of a "blocks.N.rest" name (rest into *rest), or -1. */
static int block_of(const char *name, const char **rest) {
  int layer, k = 0;
  if (sscanf(name, "blocks.%d.%n", &layer, &k) != 1 || !k) return -1;
  *rest = name + k;
  return layer;
}

/* Layer items [i, j) as "suffix: desc\n" lines, a sublayer's (attn, ffn) linears folded into
 * "attn.*" when they agree, and the whole layer into "*" when every linear agrees. */
static void layer_lines(const slt_quant_set *s, int i, int j, char *buf, size_t len) {
  out_buf o = {buf, len, 0};
  if (len) buf[0] = 0;
  char first[160], cur[160], other[160];
  bool all_same = true;
  lin_desc(s->v[i], first, sizeof first);
  for (int k = i; k < j;) {
    const char *rest = "", *r2 = "";
    block_of(s->v[k]->name, &rest);
    size_t sub = strcspn(rest, ".");
    lin_desc(s->v[k], cur, sizeof cur);
    all_same &= !strcmp(cur, first);
    bool agree = true;
    int e = k + 1; /* the end of k's sublayer */
    for (; e < j && (block_of(s->v[e]->name, &r2), !strncmp(r2, rest, sub) && r2[sub] == '.'); e++) {
      lin_desc(s->v[e], other, sizeof other);
      agree &= !strcmp(other, cur);
      all_same &= !strcmp(other, first);
    }
    if (agree && e - k > 1)
      put(&o, "%.*s.*: %s\n", (int)sub, rest, cur);
    else
      for (int m = k; m < e; m++) {
        block_of(s->v[m]->name, &r2);
        lin_desc(s->v[m], other, sizeof other);
        put(&o, "%s: %s\n", r2, other);
      }
    k = e;
  }
  if (all_same && j - i > 1) snprintf(buf, len, "*: %s\n", first);
}

size_t slt_quant_set_describe(const slt_quant_set *s, bool shares, char *buf, size_t len) {
  out_buf o = {buf, len, 0};
  if (len) buf[0] = 0;
  char prev[1024], cur[1024], desc[160];
  for (int i = 0; s && i < s->n;) {
    const char *rest = "";
    int layer = block_of(s->v[i]->name, &rest), j = i + 1;
    if (layer < 0) {
      lin_desc(s->v[i], desc, sizeof desc);
      put(&o, "%s: %s\n", s->v[i]->name, desc);
      i++;
      continue;
    }
    /* A run of layers [layer, last] whose lines agree. */
    int last = layer, end;
    while (j < s->n && block_of(s->v[j]->name, &rest) == layer) j++;
    layer_lines(s, i, j, prev, sizeof prev);
    for (end = j; end < s->n;) {
      int l2 = block_of(s->v[end]->name, &rest), e = end + 1;
      if (l2 != last + 1) break;
      while (e < s->n && block_of(s->v[e]->name, &rest) == l2) e++;
      layer_lines(s, end, e, cur, sizeof cur);
      if (strcmp(cur, prev)) break;
      last = l2, end = e;
    }
    char range[32];
    snprintf(range, sizeof range, last > layer ? "blocks.%d-%d." : "blocks.%d.", layer, last);
    for (char *line = prev, *nl; *line; line = nl + 1) {
      nl = strchr(line, '\n');
      put(&o, "%s%.*s\n", range, (int)(nl - line), line);
    }
    i = end;
  }
  for (int i = 0; shares && s && i < s->n; i++) {
    const qside *q = &s->v[i]->w;
    if (q->side.kind != SLT_QC_TERNARY) continue;
    slt_ternary_counts sum = {0}, c;
    float g[64];
    for (int k = 0; k < q->nf; k++)
      if (q->side.shards <= 64 && !slt_ternary_codes(q->src[k], q->side.shards, NULL, g, &c))
        sum.neg += c.neg, sum.zero += c.zero, sum.pos += c.pos;
    double n = (double)(sum.neg + sum.zero + sum.pos);
    put(&o, "%s: ternary -1/0/+1 = %.1f%% / %.1f%% / %.1f%%\n", s->v[i]->name,
        n ? 100.0 * sum.neg / n : 0, n ? 100.0 * sum.zero / n : 0, n ? 100.0 * sum.pos / n : 0);
  }
  return o.n;
}
