/* The sweep file: libyaml's document tree checked key by key against the sweep format and the
 * config schema, so a mistake is one line naming the file, line and key before anything runs. */
#include "sweep.h"

#include "autograd/error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <yaml.h>

typedef struct {
  slt_sweep *s;
  yaml_document_t *doc;
  slt_config scratch; /* base config: every override value is tried on a copy of it */
} parser;

static const char *const top_keys[] = {"base",  "out",    "set",   "grid", "runs",
                                       "seeds", "derive", "ranks", NULL};

static int line_of(const yaml_node_t *n) {
  return (int)n->start_mark.line + 1;
}
static const char *text(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}
static yaml_node_t *node(parser *p, int id) {
  return yaml_document_get_node(p->doc, id);
}

/* "FILE:LINE: message" (FILE alone without a node). */
static int fail(parser *p, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(parser *p, const yaml_node_t *n, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  if (n)
    slt_err_set("%s:%d: %s", p->s->path, line_of(n), msg);
  else
    slt_err_set("%s: %s", p->s->path, msg);
  return -1;
}

static char *sdup(const char *t) {
  char *d = strdup(t);
  if (!d) slt_err_set("out of memory reading a sweep file");
  return d;
}

/* A path relative to the sweep file's directory (absolute paths as they are). */
static char *relative_to_file(const char *file, const char *path) {
  if (path[0] == '/') return sdup(path);
  const char *slash = strrchr(file, '/');
  int dirlen = slash ? (int)(slash - file) : 0;
  size_t len = (size_t)dirlen + strlen(path) + 2;
  char *r = malloc(len);
  if (!r) return sdup("");
  if (slash)
    snprintf(r, len, "%.*s/%s", dirlen, file, path);
  else
    snprintf(r, len, "%s", path);
  return r;
}

/* The text an override takes: a scalar, or a list of scalars as "[a,b]" for a list-valued key. */
static int value_text(parser *p, const char *sec, const slt_config_key *k, yaml_node_t *v,
                      char **out) {
  bool list = k->type == SLT_CFG_DOUBLE2;
  if (!list && v->type == YAML_SCALAR_NODE) return (*out = sdup(text(v))) ? 0 : -1;
  if (!list || v->type != YAML_SEQUENCE_NODE)
    return fail(p, v, "%s: %s: expected a single value here", sec, k->key);
  char buf[512] = "[";
  for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++) {
    yaml_node_t *e = node(p, *it);
    if (e->type != YAML_SCALAR_NODE)
      return fail(p, e, "%s: %s: expected a list of numbers", sec, k->key);
    size_t used = strlen(buf);
    snprintf(buf + used, sizeof buf - used, "%s%s", it == v->data.sequence.items.start ? "" : ",",
             text(e));
  }
  strncat(buf, "]", sizeof buf - strlen(buf) - 1);
  return (*out = sdup(buf)) ? 0 : -1;
}

/* key=val must be a key the schema knows, not out_dir, and a value it accepts. */
static int check_override(parser *p, const char *sec, const char *key, const char *val,
                          const yaml_node_t *at) {
  if (!strcmp(key, "out_dir"))
    return fail(p, at, "%s: out_dir: set by the sweep (each run's directory is <out>/<name>)", sec);
  char assign[1024];
  snprintf(assign, sizeof assign, "%s=%s", key, val);
  slt_config c = p->scratch;
  if (slt_config_override(&c, assign)) { /* an unknown key gets a suggestion */
    char msg[900];
    snprintf(msg, sizeof msg, "%s", slt_err_msg());
    return fail(p, at, "%s: %s", sec, msg);
  }
  return 0;
}

/* The axis already naming key, in any section (NULL when none). */
static const slt_sweep_axis *find_axis(const slt_sweep *s, const char *key, const char **sec) {
  const slt_sweep_axis *lists[3] = {s->set, s->grid, s->zip};
  const int counts[3] = {s->nset, s->ngrid, s->nzip};
  const char *names[3] = {"set", "grid", "runs"};
  for (int l = 0; l < 3; l++)
    for (int i = 0; i < counts[l]; i++)
      if (!strcmp(lists[l][i].key, key)) return *sec = names[l], &lists[l][i];
  return NULL;
}

/* One key of set/grid/runs with its value(s) into a (listed: grid and runs give lists). */
static int parse_axis(parser *p, const char *sec, yaml_node_t *kn, yaml_node_t *v, bool listed,
                      slt_sweep_axis *a) {
  if (kn->type != YAML_SCALAR_NODE) return fail(p, kn, "%s: a key must be a config key name", sec);
  const char *key = text(kn), *other;
  const slt_config_key *k = slt_config_find(key);
  if (!k) return check_override(p, sec, key, "", kn); /* says unknown, with a suggestion */
  if (find_axis(p->s, key, &other))
    return fail(p, kn, "%s: key given twice (also in %s)", key, other);
  if (!(a->key = sdup(key))) return -1;
  a->line = line_of(kn);
  bool seq = v->type == YAML_SEQUENCE_NODE;
  if (listed && !seq) return fail(p, v, "%s: %s: expected a list of values", sec, key);
  int n = listed ? (int)(v->data.sequence.items.top - v->data.sequence.items.start) : 1;
  if (n == 0) return fail(p, v, "%s: %s: empty list (give at least one value)", sec, key);
  if (!(a->vals = calloc((size_t)n, sizeof *a->vals))) return fail(p, v, "out of memory");
  for (int i = 0; i < n; i++) {
    yaml_node_t *e = listed ? node(p, v->data.sequence.items.start[i]) : v;
    if (value_text(p, sec, k, e, &a->vals[i])) return -1;
    a->n = i + 1;
    if (check_override(p, sec, key, a->vals[i], e)) return -1;
  }
  return 0;
}

static int parse_section(parser *p, const char *sec, yaml_node_t *v, bool listed,
                         slt_sweep_axis **axes, int *n) {
  if (v->type != YAML_MAPPING_NODE)
    return fail(p, v, "%s: expected a mapping of config keys to %s", sec,
                listed ? "lists of values" : "values");
  int m = (int)(v->data.mapping.pairs.top - v->data.mapping.pairs.start);
  if (m == 0) return fail(p, v, "%s: empty (give at least one key, or leave %s out)", sec, sec);
  if (m > SLT_SWEEP_MAX_KEYS) return fail(p, v, "%s: more than 32 keys", sec);
  if (!(*axes = calloc((size_t)m, sizeof **axes))) return fail(p, v, "out of memory");
  for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
    if (parse_axis(p, sec, node(p, q->key), node(p, q->value), listed, &(*axes)[*n])) {
      (*n)++; /* freed with the rest */
      return -1;
    }
    (*n)++;
  }
  return 0;
}

/* The zipped runs lists must have one length. */
static int check_zip(parser *p, yaml_node_t *v) {
  for (int i = 1; i < p->s->nzip; i++) {
    const slt_sweep_axis *a = &p->s->zip[0], *b = &p->s->zip[i];
    if (a->n == b->n) continue;
    slt_err_set("%s:%d: runs: %s has %d values but %s has %d: runs lists are zipped and must have "
                "the same length",
                p->s->path, line_of(v), b->key, b->n, a->key, a->n);
    return -1;
  }
  return 0;
}

static int parse_seeds(parser *p, yaml_node_t *v) {
  slt_sweep_axis *a = &p->s->seeds;
  const char *other;
  if (find_axis(p->s, "seed", &other)) return fail(p, v, "seeds: 'seed' is also set in %s", other);
  if (v->type != YAML_SEQUENCE_NODE) return fail(p, v, "seeds: expected a list of integers");
  int n = (int)(v->data.sequence.items.top - v->data.sequence.items.start);
  if (n == 0) return fail(p, v, "seeds: empty list (give at least one seed, or leave seeds out)");
  if (!(a->key = sdup("seed")) || !(a->vals = calloc((size_t)n, sizeof *a->vals))) return -1;
  a->line = line_of(v);
  for (int i = 0; i < n; i++) {
    yaml_node_t *e = node(p, v->data.sequence.items.start[i]);
    if (e->type != YAML_SCALAR_NODE) return fail(p, e, "seeds: expected a list of integers");
    if (!(a->vals[i] = sdup(text(e)))) return -1;
    a->n = i + 1;
    if (check_override(p, "seeds", "seed", a->vals[i], e)) return -1;
  }
  return 0;
}

/* A positive finite number, the whole scalar. */
static int positive(parser *p, yaml_node_t *v, const char *key, double *out) {
  char *end = NULL;
  errno = 0;
  *out = v->type == YAML_SCALAR_NODE ? strtod(text(v), &end) : NAN;
  if (!end || end == text(v) || *end || errno || !isfinite(*out) || *out <= 0)
    return fail(p, v, "derive: %s: expected a positive number, got %s", key,
                v->type == YAML_SCALAR_NODE ? text(v) : "a list or mapping");
  return 0;
}

static int parse_derive(parser *p, yaml_node_t *v) {
  static const char *const kinds[] = {"", "tokens", "tokens_per_param", "flops"};
  slt_sweep *s = p->s;
  if (v->type != YAML_MAPPING_NODE)
    return fail(p, v, "derive: expected a mapping (tokens, tokens_per_param or flops)");
  yaml_node_t *params = NULL;
  s->derive_line = line_of(v);
  for (yaml_node_pair_t *q = v->data.mapping.pairs.start; q < v->data.mapping.pairs.top; q++) {
    yaml_node_t *kn = node(p, q->key), *vn = node(p, q->value);
    const char *key = kn->type == YAML_SCALAR_NODE ? text(kn) : "?";
    int kind = 0;
    for (int i = 1; i < 4; i++)
      if (!strcmp(key, kinds[i])) kind = i;
    if (!strcmp(key, "params")) {
      params = vn;
      continue;
    }
    if (!kind)
      return fail(
          p, kn, "derive: %s: unknown key (expected tokens, tokens_per_param or flops, and params)",
          key);
    if (s->derive)
      return fail(p, kn,
                  "derive: %s: only one of tokens, tokens_per_param and flops (%s given too)", key,
                  kinds[s->derive]);
    s->derive = (slt_sweep_derive)kind;
    if (positive(p, vn, key, &s->derive_value)) return -1;
  }
  if (!s->derive) return fail(p, v, "derive: empty (expected tokens, tokens_per_param or flops)");
  if (params && s->derive != SLT_DERIVE_TOKENS_PER_PARAM)
    return fail(p, params, "derive: params: only with tokens_per_param");
  if (params && (params->type != YAML_SCALAR_NODE ||
                 (strcmp(text(params), "nonembed") && strcmp(text(params), "total"))))
    return fail(p, params, "derive: params: expected nonembed or total");
  s->params_total = params && !strcmp(text(params), "total");
  const char *other;
  if (find_axis(s, "train.steps", &other))
    return fail(p, v, "derive: %s: train.steps is derived, but %s sets it too", kinds[s->derive],
                other);
  return 0;
}

static int parse_ranks(parser *p, yaml_node_t *v) {
  char *end = NULL;
  long r = v->type == YAML_SCALAR_NODE ? strtol(text(v), &end, 10) : 0;
  if (!end || end == text(v) || *end || r < 1 || r > 65536)
    return fail(p, v, "ranks: expected an integer from 1 to 65536");
  p->s->ranks = (int)r;
  return 0;
}

/* An absolute path without "." and ".." components or repeated slashes, in place (lexically:
 * run directories are named in configs and Slurm scripts, where a plain path reads best). */
static void normalize(char *path) {
  char *out = path, *p = path;
  while (*p) {
    while (*p == '/') p++;
    char *end = p + strcspn(p, "/");
    size_t n = (size_t)(end - p);
    if (n == 2 && p[0] == '.' && p[1] == '.') {
      while (out > path && *--out != '/') {
      } /* drop the last component */
    } else if (n && !(n == 1 && p[0] == '.')) {
      *out++ = '/';
      memmove(out, p, n);
      out += n;
    }
    p = end;
  }
  if (out == path) *out++ = '/';
  *out = '\0';
}

/* base and out: non-empty file names; the base config is loaded into scratch. */
static int parse_paths(parser *p, yaml_node_t *base, yaml_node_t *out) {
  slt_sweep *s = p->s;
  if (!base || !out)
    return fail(p, NULL, "missing '%s' (the sweep file needs base and out)", base ? "out" : "base");
  if (base->type != YAML_SCALAR_NODE || !*text(base))
    return fail(p, base, "base: expected a config file name");
  if (out->type != YAML_SCALAR_NODE || !*text(out))
    return fail(p, out, "out: expected a directory name");
  if (!(s->base = relative_to_file(s->path, text(base)))) return -1;
  slt_config_defaults(&p->scratch);
  if (slt_config_load_file(&p->scratch, s->base)) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s", slt_err_msg());
    return fail(p, base, "base: %s", msg);
  }
  char *rel = relative_to_file(s->path, text(out)), cwd[PATH_MAX];
  if (!rel) return -1;
  if (rel[0] != '/' && !getcwd(cwd, sizeof cwd))
    return free(rel), fail(p, out, "out: cannot read the current directory");
  size_t len = strlen(rel) + (rel[0] == '/' ? 0 : strlen(cwd) + 1) + 1;
  if ((s->out = malloc(len)))
    snprintf(s->out, len, "%s%s%s", rel[0] == '/' ? "" : cwd, rel[0] == '/' ? "" : "/", rel);
  free(rel);
  if (s->out) normalize(s->out);
  return s->out ? 0 : -1;
}

/* The top-level node of each known key (unknown and repeated keys are errors). */
static int top_level(parser *p, yaml_node_t *root, yaml_node_t **at) {
  if (!root || root->type != YAML_MAPPING_NODE)
    return fail(p, root, "expected a mapping with base, out and grid, runs or set");
  for (yaml_node_pair_t *q = root->data.mapping.pairs.start; q < root->data.mapping.pairs.top;
       q++) {
    yaml_node_t *kn = node(p, q->key);
    const char *key = kn->type == YAML_SCALAR_NODE ? text(kn) : "?";
    int i = 0;
    while (top_keys[i] && strcmp(top_keys[i], key)) i++;
    if (!top_keys[i])
      return fail(p, kn,
                  "unknown key '%s' (expected base, out, set, grid, runs, seeds, derive or ranks)",
                  key);
    if (at[i]) return fail(p, kn, "duplicate key '%s'", key);
    at[i] = node(p, q->value);
  }
  return 0;
}

/* Run names show a key without its section ("d_model" for model.d_model) unless two varying
 * keys would then look the same (optim.name and schedule.name). */
static int short_keys(slt_sweep *s) {
  slt_sweep_axis *v[2 * SLT_SWEEP_MAX_KEYS + 1];
  int n = 0;
  for (int i = 0; i < s->ngrid; i++) v[n++] = &s->grid[i];
  for (int i = 0; i < s->nzip; i++) v[n++] = &s->zip[i];
  if (s->seeds.n) v[n++] = &s->seeds;
  for (int i = 0; i < n; i++) {
    const char *dot = strchr(v[i]->key, '.');
    bool clash = false;
    for (int j = 0; dot && j < n; j++) {
      const char *other = strchr(v[j]->key, '.');
      if (j != i && !strcmp(other ? other + 1 : v[j]->key, dot + 1)) clash = true;
    }
    if (!(v[i]->short_key = sdup(dot && !clash ? dot + 1 : v[i]->key))) return -1;
  }
  if (n > SLT_SWEEP_MAX_KEYS) {
    slt_err_set("%s: %d varying keys (grid, runs and seeds): at most %d", s->path, n,
                SLT_SWEEP_MAX_KEYS);
    return -1;
  }
  return 0;
}

static int parse_doc(parser *p, yaml_node_t *root) {
  yaml_node_t *at[8] = {0};
  slt_sweep *s = p->s;
  if (top_level(p, root, at) || parse_paths(p, at[0], at[1])) return -1;
  if (at[2] && parse_section(p, "set", at[2], false, &s->set, &s->nset)) return -1;
  for (int i = 0; i < s->nset; i++) {
    char assign[1024];
    snprintf(assign, sizeof assign, "%s=%s", s->set[i].key, s->set[i].vals[0]);
    slt_config_override(&p->scratch, assign); /* checked above */
  }
  s->base_cfg = p->scratch;
  if (at[3] && parse_section(p, "grid", at[3], true, &s->grid, &s->ngrid)) return -1;
  if (at[4] && (parse_section(p, "runs", at[4], true, &s->zip, &s->nzip) || check_zip(p, at[4])))
    return -1;
  if (at[5] && parse_seeds(p, at[5])) return -1;
  if (at[6] && parse_derive(p, at[6])) return -1;
  if (at[7] && parse_ranks(p, at[7])) return -1;
  return short_keys(s);
}

static int load_doc(slt_sweep *s, yaml_document_t *doc) {
  FILE *f = fopen(s->path, "rb");
  if (!f) {
    slt_err_set("%s: cannot open the sweep file: %s", s->path, strerror(errno));
    return -1;
  }
  yaml_parser_t yp;
  yaml_parser_initialize(&yp);
  yaml_parser_set_input_file(&yp, f);
  int ok = yaml_parser_load(&yp, doc);
  if (!ok)
    slt_err_set("%s:%d: YAML error: %s", s->path, (int)yp.problem_mark.line + 1,
                yp.problem ? yp.problem : "unreadable");
  yaml_parser_delete(&yp);
  fclose(f);
  return ok ? 0 : -1;
}

slt_sweep *slt_sweep_load(const char *path) {
  slt_sweep *s = calloc(1, sizeof *s);
  if (!s || !(s->path = strdup(path))) {
    free(s);
    slt_err_set("out of memory reading a sweep file");
    return NULL;
  }
  s->ranks = 1;
  yaml_document_t doc;
  if (load_doc(s, &doc)) {
    slt_sweep_free(s);
    return NULL;
  }
  parser p = {.s = s, .doc = &doc};
  yaml_node_t *root = yaml_document_get_root_node(&doc);
  int rc = root ? parse_doc(&p, root) : fail(&p, NULL, "empty sweep file (needs base and out)");
  yaml_document_delete(&doc);
  if (rc) {
    slt_sweep_free(s);
    return NULL;
  }
  return s;
}

static void free_axes(slt_sweep_axis *a, int n) {
  for (int i = 0; a && i < n; i++) {
    for (int j = 0; j < a[i].n; j++) free(a[i].vals[j]);
    free(a[i].vals);
    free(a[i].key);
    free(a[i].short_key);
  }
}

void slt_sweep_free(slt_sweep *s) {
  if (!s) return;
  free_axes(s->set, s->nset);
  free_axes(s->grid, s->ngrid);
  free_axes(s->zip, s->nzip);
  free_axes(&s->seeds, 1);
  free(s->set);
  free(s->grid);
  free(s->zip);
  free(s->path);
  free(s->base);
  free(s->out);
  free(s);
}
