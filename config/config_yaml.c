/* YAML in: libyaml's document tree walked against the schema, and `include:` files (writing is
 * config_text.c's). Every message starts with "file:line: " so users can find the spot. */
#include "config_compose.h"
#include "config_internal.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

/* MAX_INCLUDES bounds the files one load reads in all: a few files that each include the next
 * several times would otherwise read exponentially many. */
enum { MAX_INCLUDE_DEPTH = 16, MAX_INCLUDES = 256, MAX_KEY = 128 };

/* Files being loaded, outermost first: canonical paths find cycles, given paths name them. */
typedef struct {
  char *canon[MAX_INCLUDE_DEPTH];
  const char *shown[MAX_INCLUDE_DEPTH];
  int depth;
  int loaded;       /* files opened so far, at any depth */
  bool no_includes; /* text (a checkpoint's stored config): never read files it names */
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

/* A plain empty, ~ or null scalar: YAML's null, which sets a string to "" and leaves a section
 * as it is. Quoted, these are ordinary strings. */
static bool is_null(const yaml_node_t *n) {
  static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
  if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return false;
  for (size_t i = 0; i < sizeof nulls / sizeof *nulls; i++)
    if (!strcmp(scalar(n), nulls[i])) return true;
  return false;
}

/* How a value looks, for "got ..." in messages. */
static void describe(const yaml_node_t *n, char *buf, size_t len) {
  char shown[CFG_SHOW];
  if (n->type == YAML_MAPPING_NODE)
    snprintf(buf, len, "a mapping");
  else if (n->type == YAML_SEQUENCE_NODE)
    snprintf(buf, len, "a list");
  else
    snprintf(buf, len, "'%s'", cfg_show(scalar(n), shown, sizeof shown));
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
  const char *text = is_null(v) ? "" : v->type == YAML_SCALAR_NODE ? scalar(v) : NULL;
  int rc = text ? cfg_set_text(w->c, k, text) : set_list(w, k, v);
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
    if (is_null(v)) return 0; /* "model:" with every sub-key commented out */
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

/* A key given twice in one mapping: YAML forbids it, and for a section ("model:" twice) the rows
 * alone would not notice. Earlier pairs have been applied, so there are few of them. */
static int check_unique(walker *w, yaml_node_t *map, yaml_node_pair_t *p, const char *prefix) {
  yaml_node_t *kn = node(w, p->key);
  for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
    yaml_node_t *qn = node(w, q->key);
    if (qn->type != YAML_SCALAR_NODE || strcmp(scalar(qn), scalar(kn))) continue;
    char shown[CFG_SHOW];
    slt_err_set("%s:%d: duplicate key '%s%s%s' (first on line %d)", w->origin, line_of(kn), prefix,
                *prefix ? "." : "", cfg_show(scalar(kn), shown, sizeof shown), line_of(qn));
    return -1;
  }
  return 0;
}

static int walk_mapping(walker *w, yaml_node_t *map, const char *prefix) {
  for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
    yaml_node_t *kn = node(w, p->key), *v = node(w, p->value);
    char name[MAX_KEY], shown[CFG_SHOW];
    if (kn->type != YAML_SCALAR_NODE) {
      slt_err_set("%s:%d: a key must be a plain name", w->origin, line_of(kn));
      return -1;
    }
    if (check_unique(w, map, p, prefix)) return -1;
    int len = snprintf(name, sizeof name, "%s%s%s", prefix, *prefix ? "." : "", scalar(kn));
    if (len >= (int)sizeof name) {
      slt_err_set("%s:%d: unknown key '%s'", w->origin, line_of(kn),
                  cfg_show(name, shown, sizeof shown));
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
  if (n->type != YAML_SCALAR_NODE || is_null(n) || !*scalar(n)) {
    slt_err_set("%sinclude: expected a file name or a list of file names", where);
    return -1;
  }
  if (st->no_includes) {
    slt_err_set("%sinclude: not allowed in a config given as text (a stored config is already "
                "resolved; it names no files)",
                where);
    return -1;
  }
  const char *p = scalar(n);
  int len = p[0] == '/' || !dir ? snprintf(path, sizeof path, "%s", p)
                                : snprintf(path, sizeof path, "%s/%s", dir, p);
  if (len >= (int)sizeof path) { /* a cut path could name some other file */
    slt_err_set("%sinclude: path longer than %d characters", where, PATH_MAX - 1);
    return -1;
  }
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
  if (!root || is_null(root)) return 0; /* empty file, or a bare "---" */
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

/* A parser over the file (from its start) or, when f is NULL, over text. */
static int parser_open(yaml_parser_t *p, FILE *f, const char *text, const char *origin) {
  if (!yaml_parser_initialize(p)) {
    slt_err_set("%s: out of memory", origin);
    return -1;
  }
  if (f) {
    rewind(f);
    yaml_parser_set_input_file(p, f);
  } else {
    yaml_parser_set_input_string(p, (const unsigned char *)text, strlen(text));
  }
  return 0;
}

/* Read the file's (or text's) stream in one screened pass (config_compose.c), then apply its one
 * document. */
static int load_source(slt_config *c, FILE *f, const char *text, const char *origin,
                       const char *dir, include_stack *st) {
  yaml_parser_t p;
  yaml_document_t doc;
  char late[PATH_MAX + 128];
  if (parser_open(&p, f, text, origin)) return -1;
  int rc = cfg_yaml_compose(&p, origin, &doc, late, sizeof late);
  yaml_parser_delete(&p);
  if (rc) return -1;
  rc = apply_doc(c, &doc, origin, dir, st);
  yaml_document_delete(&doc);
  if (rc) return -1;
  if (!late[0]) return 0;
  slt_err_set("%s", late);
  return -1;
}

static int cycle_error(const include_stack *st, int from, const char *path, const char *where) {
  char chain[1024];
  size_t n = 0;
  char shown[CFG_SHOW];
  for (int i = from; i < st->depth && n < sizeof chain; i++)
    n += (size_t)snprintf(chain + n, sizeof chain - n, "%s -> ",
                          cfg_show(st->shown[i], shown, sizeof shown));
  if (n < sizeof chain)
    snprintf(chain + n, sizeof chain - n, "%s", cfg_show(path, shown, sizeof shown));
  slt_err_set("%sinclude cycle: %s", where, chain);
  return -1;
}

/* The file at path if it is a regular one, else NULL with "cannot open config" recorded.
 * O_NONBLOCK: opening a FIFO would otherwise wait for a writer forever. */
static FILE *open_regular(const char *path, const char *where) {
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  struct stat sb;
  const char *why = NULL;
  if (fd < 0 || fstat(fd, &sb))
    why = strerror(errno);
  else if (S_ISDIR(sb.st_mode))
    why = strerror(EISDIR);
  else if (!S_ISREG(sb.st_mode))
    why = "not a regular file";
  FILE *f = why ? NULL : fdopen(fd, "rb");
  if (!why && !f) why = strerror(errno);
  if (f) return f;
  char shown[512];
  slt_err_set("%scannot open config '%s': %s", where, cfg_show(path, shown, sizeof shown), why);
  if (fd >= 0) close(fd);
  return NULL;
}

static int load_file(slt_config *c, const char *path, include_stack *st, const char *where) {
  if (st->loaded == MAX_INCLUDES) {
    char shown[CFG_SHOW];
    slt_err_set("%smore than %d config files in one load (includes repeated too often?) at '%s'",
                where, MAX_INCLUDES, cfg_show(path, shown, sizeof shown));
    return -1;
  }
  FILE *f = open_regular(path, where);
  if (!f) return -1;
  st->loaded++;
  char *canon = realpath(path, NULL);
  if (!canon) {
    char shown[512];
    slt_err_set("%scannot open config '%s': %s", where, cfg_show(path, shown, sizeof shown),
                strerror(errno));
    fclose(f);
    return -1;
  }
  int rc = -1;
  for (int i = 0; i < st->depth; i++)
    if (!strcmp(st->canon[i], canon)) {
      cycle_error(st, i, path, where);
      goto out;
    }
  if (st->depth == MAX_INCLUDE_DEPTH) {
    char shown[CFG_SHOW];
    slt_err_set("%sincludes nested deeper than %d files at '%s'", where, MAX_INCLUDE_DEPTH,
                cfg_show(path, shown, sizeof shown));
    goto out;
  }
  char dir[PATH_MAX];
  snprintf(dir, sizeof dir, "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = '\0';
  st->canon[st->depth] = canon;
  st->shown[st->depth++] = path;
  rc = load_source(c, f, NULL, path, slash ? (slash == dir ? "/" : dir) : NULL, st);
  st->depth--;
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
  include_stack st = {.depth = 0, .no_includes = true};
  slt_config tmp = *c;
  int rc = load_source(&tmp, NULL, yaml, origin ? origin : "<string>", NULL, &st);
  if (rc == 0) *c = tmp;
  return rc;
}
