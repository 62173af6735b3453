/* YAML in and out: libyaml's document tree walked against the schema, `include:` files, writing
 * the resolved config. Every message starts with "file:line: " so users can find the spot. */
#include "config_internal.h"

#include "autograd/error.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

enum { MAX_INCLUDE_DEPTH = 16, MAX_KEY = 128 };

/* Files being loaded, outermost first: canonical paths find cycles, given paths name them. */
typedef struct {
  char *canon[MAX_INCLUDE_DEPTH];
  const char *shown[MAX_INCLUDE_DEPTH];
  int depth;
} include_stack;

typedef struct {
  slt_config *c;
  yaml_document_t *doc;
  const char *origin;
  int *seen; /* per schema row: line where this document set it, 0 = not yet */
} walker;

static int load_file(slt_config *c, const char *path, include_stack *st, const char *where);

static int line_of(const yaml_node_t *n) {
  return (int)n->start_mark.line + 1;
}

static yaml_node_t *node(walker *w, int id) {
  return yaml_document_get_node(w->doc, id);
}

static const char *scalar(const yaml_node_t *n) {
  return (const char *)n->data.scalar.value;
}

/* How a value looks, for "got ..." in messages. */
static void describe(const yaml_node_t *n, char *buf, size_t len) {
  if (n->type == YAML_MAPPING_NODE)
    snprintf(buf, len, "a mapping");
  else if (n->type == YAML_SEQUENCE_NODE)
    snprintf(buf, len, "a list");
  else
    snprintf(buf, len, "'%.200s'", scalar(n));
}

static int fail_at(walker *w, const yaml_node_t *n, const char *key, const char *what,
                   const yaml_node_t *got) {
  char g[256];
  describe(got, g, sizeof g);
  slt_err_set("%s:%d: %s: %s, got %s", w->origin, line_of(n), key, what, g);
  return -1;
}

static int set_list(walker *w, const slt_config_key *k, yaml_node_t *v) {
  yaml_node_item_t *it = v->data.sequence.items.start;
  int n = (int)(v->data.sequence.items.top - it);
  yaml_node_t *a = n == 2 ? node(w, it[0]) : NULL, *b = n == 2 ? node(w, it[1]) : NULL;
  if (!a || !b || a->type != YAML_SCALAR_NODE || b->type != YAML_SCALAR_NODE) {
    slt_err_set("%s:%d: %s: expected a list of 2 numbers, got a list of %s %d", w->origin,
                line_of(v), k->key, n == 2 ? "nested values, length" : "length", n);
    return -1;
  }
  return cfg_set_pair(w->c, k, scalar(a), scalar(b));
}

/* A list only where the row is one, a scalar everywhere else, never a mapping. */
static bool shape_ok(const slt_config_key *k, const yaml_node_t *v) {
  if (k->type == SLT_CFG_DOUBLE2) return v->type == YAML_SEQUENCE_NODE;
  return v->type == YAML_SCALAR_NODE;
}

static int set_value(walker *w, const slt_config_key *k, yaml_node_t *kn, yaml_node_t *v) {
  int n, row = (int)(k - slt_config_keys(&n));
  if (w->seen[row]) {
    slt_err_set("%s:%d: duplicate key '%s' (first set on line %d)", w->origin, line_of(kn), k->key,
                w->seen[row]);
    return -1;
  }
  w->seen[row] = line_of(kn);
  if (!shape_ok(k, v)) {
    char exp[160], what[200];
    snprintf(what, sizeof what, "expected %s", cfg_expected(k, exp, sizeof exp));
    return fail_at(w, v, k->key, what, v);
  }
  int rc = v->type == YAML_SEQUENCE_NODE ? set_list(w, k, v) : cfg_set_text(w->c, k, scalar(v));
  if (rc && !strncmp(slt_err_msg(), k->key, strlen(k->key))) { /* add the location once */
    char where[PATH_MAX];
    snprintf(where, sizeof where, "%s:%d: ", w->origin, line_of(v));
    cfg_err_prefix(where);
  }
  return rc;
}

static int walk_mapping(walker *w, yaml_node_t *map, const char *prefix);

static int apply_pair(walker *w, const char *name, yaml_node_t *kn, yaml_node_t *v) {
  const slt_config_key *k = slt_config_find(name);
  if (k) return set_value(w, k, kn, v);
  if (cfg_is_section(name)) {
    if (v->type == YAML_MAPPING_NODE) return walk_mapping(w, v, name);
    if (v->type == YAML_SCALAR_NODE && !*scalar(v) &&
        v->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
      return 0; /* "model:" with every sub-key commented out */
    char g[256];
    describe(v, g, sizeof g);
    slt_err_set("%s:%d: '%s' is a section: expected a mapping, got %s", w->origin, line_of(v), name,
                g);
    return -1;
  }
  char where[PATH_MAX];
  snprintf(where, sizeof where, "%s:%d: ", w->origin, line_of(kn));
  cfg_err_unknown(where, name, v->type == YAML_MAPPING_NODE);
  return -1;
}

static int walk_mapping(walker *w, yaml_node_t *map, const char *prefix) {
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = node(w, p->key), *v = node(w, p->value);
    char name[MAX_KEY];
    if (kn->type != YAML_SCALAR_NODE) {
      slt_err_set("%s:%d: a key must be a plain name", w->origin, line_of(kn));
      return -1;
    }
    int len = snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", scalar(kn));
    if (len >= (int)sizeof name) {
      slt_err_set("%s:%d: unknown key '%.60s...'", w->origin, line_of(kn), name);
      return -1;
    }
    if (!*prefix && !strcmp(name, "include")) continue; /* loaded before the walk */
    if (apply_pair(w, name, kn, v)) return -1;
  }
  return 0;
}

/* Load one include path, relative to the including file's directory (dir NULL: the cwd, which
 * is also that directory for a bare file name). */
static int load_include(walker *w, const char *dir, yaml_node_t *n, include_stack *st) {
  char where[PATH_MAX], path[PATH_MAX];
  snprintf(where, sizeof where, "%s:%d: ", w->origin, line_of(n));
  if (n->type != YAML_SCALAR_NODE) {
    slt_err_set("%sinclude: expected a file name or a list of file names", where);
    return -1;
  }
  const char *p = scalar(n);
  if (p[0] == '/' || !dir)
    snprintf(path, sizeof path, "%s", p);
  else
    snprintf(path, sizeof path, "%s/%s", dir, p);
  return load_file(w->c, path, st, where);
}

static int load_includes(walker *w, yaml_node_t *root, const char *dir, include_stack *st) {
  for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top;
       p++) {
    yaml_node_t *kn = node(w, p->key), *v = node(w, p->value);
    if (kn->type != YAML_SCALAR_NODE || strcmp(scalar(kn), "include")) continue;
    if (v->type != YAML_SEQUENCE_NODE) {
      if (load_include(w, dir, v, st)) return -1;
      continue;
    }
    for (yaml_node_item_t *it = v->data.sequence.items.start; it < v->data.sequence.items.top; it++)
      if (load_include(w, dir, node(w, *it), st)) return -1;
  }
  return 0;
}

static int apply_doc(slt_config *c, yaml_document_t *doc, const char *origin, const char *dir,
                     include_stack *st) {
  yaml_node_t *root = yaml_document_get_root_node(doc);
  if (!root) return 0; /* empty file */
  int n;
  slt_config_keys(&n);
  walker w = {c, doc, origin, calloc((size_t)n, sizeof(int))};
  if (!w.seen) {
    slt_err_set("%s: out of memory", origin);
    return -1;
  }
  int rc = -1;
  if (root->type != YAML_MAPPING_NODE)
    slt_err_set("%s:%d: expected a mapping of keys at the top level", origin, line_of(root));
  else
    rc = load_includes(&w, root, dir, st) || walk_mapping(&w, root, "") ? -1 : 0;
  free(w.seen);
  return rc;
}

static void syntax_error(const yaml_parser_t *p, const char *origin) {
  if (p->error == YAML_READER_ERROR) {
    slt_err_set("%s: byte %zu: %s", origin, p->problem_offset,
                p->problem ? p->problem : "unreadable");
    return;
  }
  slt_err_set("%s:%zu:%zu: YAML syntax error: %s%s%s%s", origin, p->problem_mark.line + 1,
              p->problem_mark.column + 1, p->problem ? p->problem : "unknown problem",
              p->context ? " (" : "", p->context ? p->context : "", p->context ? ")" : "");
}

/* Parse the parser's input as exactly one document and apply it. */
static int parse_apply(slt_config *c, yaml_parser_t *p, const char *origin, const char *dir,
                       include_stack *st) {
  yaml_document_t doc, extra;
  if (!yaml_parser_load(p, &doc)) {
    syntax_error(p, origin);
    return -1;
  }
  int rc = apply_doc(c, &doc, origin, dir, st);
  yaml_document_delete(&doc);
  if (rc) return -1;
  if (!yaml_parser_load(p, &extra)) {
    syntax_error(p, origin);
    return -1;
  }
  bool more = yaml_document_get_root_node(&extra) != NULL;
  if (more)
    slt_err_set("%s:%zu: a config holds one YAML document, found another", origin,
                extra.start_mark.line + 1);
  yaml_document_delete(&extra);
  return more ? -1 : 0;
}

static int cycle_error(const include_stack *st, int from, const char *path, const char *where) {
  char chain[1024];
  size_t n = 0;
  for (int i = from; i < st->depth && n < sizeof chain; i++)
    n += (size_t)snprintf(chain + n, sizeof chain - n, "%s -> ", st->shown[i]);
  if (n < sizeof chain) snprintf(chain + n, sizeof chain - n, "%s", path);
  slt_err_set("%sinclude cycle: %s", where, chain);
  return -1;
}

static int load_file(slt_config *c, const char *path, include_stack *st, const char *where) {
  FILE *f = fopen(path, "rb");
  char *canon = f ? realpath(path, NULL) : NULL;
  struct stat sb;
  if (canon && fstat(fileno(f), &sb) == 0 && !S_ISREG(sb.st_mode)) {
    errno = S_ISDIR(sb.st_mode) ? EISDIR : EINVAL;
    free(canon);
    canon = NULL;
  }
  if (!f || !canon) {
    slt_err_set("%scannot open config '%s': %s", where, path, strerror(errno));
    if (f) fclose(f);
    return -1;
  }
  int rc = -1;
  for (int i = 0; i < st->depth; i++)
    if (!strcmp(st->canon[i], canon)) {
      cycle_error(st, i, path, where);
      goto out;
    }
  if (st->depth == MAX_INCLUDE_DEPTH) {
    slt_err_set("%sincludes nested deeper than %d files at '%s'", where, MAX_INCLUDE_DEPTH, path);
    goto out;
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    slt_err_set("%s: out of memory", path);
    goto out;
  }
  yaml_parser_set_input_file(&p, f);
  st->canon[st->depth] = canon;
  st->shown[st->depth++] = path;
  rc = parse_apply(c, &p, path, slash ? (slash == dir ? "/" : dir) : NULL, st);
  st->depth--;
  yaml_parser_delete(&p);
out:
  free(canon);
  fclose(f);
  return rc;
}

int slt_config_load_file(slt_config *c, const char *path) {
  include_stack st = {.depth = 0};
  slt_config tmp = *c;
  if (load_file(&tmp, path, &st, "")) return -1;
  *c = tmp;
  return 0;
}

int slt_config_load_string(slt_config *c, const char *yaml, const char *origin) {
  include_stack st = {.depth = 0};
  slt_config tmp = *c;
  yaml_parser_t p;
  if (!yaml_parser_initialize(&p)) {
    slt_err_set("out of memory");
    return -1;
  }
  yaml_parser_set_input_string(&p, (const unsigned char *)yaml, strlen(yaml));
  int rc = parse_apply(&tmp, &p, origin ? origin : "<string>", NULL, &st);
  yaml_parser_delete(&p);
  if (rc == 0) *c = tmp;
  return rc;
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
  if (rc == 0 && rename(tmp, path)) {
    slt_err_set("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    rc = -1;
  }
  if (rc) unlink(tmp);
  return rc;
}
