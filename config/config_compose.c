/* One pass over a YAML stream's events: screened, and the first document built into a node tree.
 * The loader used to read every config twice (a screening pass, then libyaml's own loader on a
 * fresh parser); scanning is most of a load's cost, so this pass does both. It builds the same
 * tree libyaml's loader builds (nodes in event order, root first, marks from the events) and
 * keeps its one composer check, duplicate anchors, with the same message. */
#include "config_compose.h"

#include "autograd/error.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_NESTING = 32 }; /* a config needs 4 levels */

typedef struct {
  yaml_document_t *doc;
  int docs;                  /* documents started so far */
  int open[MAX_NESTING + 1]; /* ids of the collections being filled, outermost first */
  int key[MAX_NESTING + 1];  /* per open mapping: its key waiting for a value, 0 = none */
  int depth;
  char **anchors; /* of the document being read, for the duplicate check */
  int nanchors, cap;
  bool dup[2];             /* an anchor defined twice in document 1, 2 */
  yaml_mark_t dup_mark[2]; /* where the first such second definition is */
} composer;

static int screen_error(const char *origin, const yaml_event_t *e, const char *what) {
  slt_err_set("%s:%zu: %s", origin, e->start_mark.line + 1, what);
  return -1;
}

void cfg_yaml_syntax_error(const yaml_parser_t *p, const char *origin) {
  if (p->error == YAML_READER_ERROR) {
    slt_err_set("%s: byte %zu: %s", origin, p->problem_offset,
                p->problem ? p->problem : "unreadable");
    return;
  }
  slt_err_set("%s:%zu:%zu: YAML syntax error: %s%s%s%s", origin, p->problem_mark.line + 1,
              p->problem_mark.column + 1, p->problem ? p->problem : "unknown problem",
              p->context ? " (" : "", p->context ? p->context : "", p->context ? ")" : "");
}

/* libyaml's composer message, recorded (buf NULL) or kept in buf. */
static int dup_error(const char *origin, yaml_mark_t m, char *buf, size_t len) {
  static const char fmt[] =
      "%s:%zu:%zu: YAML syntax error: second occurrence (found duplicate anchor; first occurrence)";
  if (buf)
    snprintf(buf, len, fmt, origin, m.line + 1, m.column + 1);
  else
    slt_err_set(fmt, origin, m.line + 1, m.column + 1);
  return -1;
}

static void forget_anchors(composer *k) {
  for (int i = 0; i < k->nanchors; i++) free(k->anchors[i]);
  k->nanchors = 0;
}

/* libyaml's loader refuses an anchor defined twice in one document (a composer error, reported
 * like a syntax error at the second one). Documents past the second are never loaded. */
static int note_anchor(composer *k, const char *anchor, yaml_mark_t mark) {
  if (!anchor || k->docs > 2) return 0;
  for (int i = 0; i < k->nanchors; i++) {
    if (strcmp(k->anchors[i], anchor) || k->dup[k->docs - 1]) continue;
    k->dup[k->docs - 1] = true;
    k->dup_mark[k->docs - 1] = mark;
    return 0;
  }
  if (k->nanchors == k->cap) {
    int cap = k->cap ? 2 * k->cap : 8;
    char **a = realloc(k->anchors, (size_t)cap * sizeof *a);
    if (!a) return -1;
    k->anchors = a;
    k->cap = cap;
  }
  if (!(k->anchors[k->nanchors] = strdup(anchor))) return -1;
  k->nanchors++;
  return 0;
}

/* Hang node id under the innermost open collection (or make it the root). */
static int attach(composer *k, int id) {
  if (!k->depth) return 0;
  int top = k->open[k->depth - 1];
  yaml_node_t *n = yaml_document_get_node(k->doc, top);
  if (n->type == YAML_SEQUENCE_NODE)
    return yaml_document_append_sequence_item(k->doc, top, id) ? 0 : -1;
  int *key = &k->key[k->depth - 1];
  if (!*key) {
    *key = id;
    return 0;
  }
  int rc = yaml_document_append_mapping_pair(k->doc, top, *key, id) ? 0 : -1;
  *key = 0;
  return rc;
}

/* A scalar node that takes over the event's value, as libyaml's loader does (yaml_document_add_
 * scalar would copy it, and its default tag: two allocations per scalar, a tenth of a load under
 * the sanitizers). The node stack is libyaml's public one, grown with realloc as libyaml grows
 * it; yaml_document_delete frees the value and the tag, which stays NULL (nothing reads tags). */
static int add_scalar(yaml_document_t *doc, yaml_event_t *e) {
  if (doc->nodes.top == doc->nodes.end) {
    size_t n = (size_t)(doc->nodes.end - doc->nodes.start), cap = n ? 2 * n : 16;
    yaml_node_t *p = realloc(doc->nodes.start, cap * sizeof *p);
    if (!p) return 0;
    doc->nodes.start = p, doc->nodes.top = p + n, doc->nodes.end = p + cap;
  }
  yaml_node_t *node = doc->nodes.top++;
  memset(node, 0, sizeof *node);
  node->type = YAML_SCALAR_NODE;
  node->data.scalar.value = e->data.scalar.value;
  node->data.scalar.length = e->data.scalar.length;
  node->data.scalar.style = e->data.scalar.style;
  e->data.scalar.value = NULL;
  return (int)(doc->nodes.top - doc->nodes.start);
}

/* Add the node an event starts to the first document (other documents are only screened). */
static int compose(composer *k, yaml_event_t *e) {
  if (k->docs != 1) return 0;
  int id = 0;
  if (e->type == YAML_SCALAR_EVENT)
    id = add_scalar(k->doc, e);
  else if (e->type == YAML_SEQUENCE_START_EVENT)
    id = yaml_document_add_sequence(k->doc, NULL, e->data.sequence_start.style);
  else if (e->type == YAML_MAPPING_START_EVENT)
    id = yaml_document_add_mapping(k->doc, NULL, e->data.mapping_start.style);
  else
    return 0;
  if (!id) return -1;
  yaml_node_t *n = yaml_document_get_node(k->doc, id);
  n->start_mark = e->start_mark;
  n->end_mark = e->end_mark;
  if (attach(k, id)) return -1;
  if (e->type != YAML_SCALAR_EVENT) {
    k->key[k->depth] = 0;
    k->open[k->depth++] = id;
  }
  return 0;
}

static const char *anchor_of(const yaml_event_t *e) {
  switch (e->type) {
  case YAML_SCALAR_EVENT:
    return (const char *)e->data.scalar.anchor;
  case YAML_SEQUENCE_START_EVENT:
    return (const char *)e->data.sequence_start.anchor;
  case YAML_MAPPING_START_EVENT:
    return (const char *)e->data.mapping_start.anchor;
  default:
    return NULL;
  }
}

/* The screen: nesting cut off after MAX_NESTING levels (libyaml's scanner slows down
 * quadratically with nesting: "{a: {a: ..." 100k deep takes minutes), no aliases (one node
 * would be the child of several parents, or of itself, past the rule that each key is set once),
 * no NUL in a scalar (an escaped "\0" would silently cut a key or value short). */
static int screen(composer *k, const yaml_event_t *e, int *depth, const char *origin) {
  if (e->type == YAML_SEQUENCE_START_EVENT || e->type == YAML_MAPPING_START_EVENT) {
    if (++*depth > MAX_NESTING)
      return screen_error(origin, e, "mappings and lists nested too deeply for a config");
  } else if (e->type == YAML_SEQUENCE_END_EVENT || e->type == YAML_MAPPING_END_EVENT) {
    --*depth;
    if (k->docs == 1) /* the loader's collections end where their end event does */
      yaml_document_get_node(k->doc, k->open[--k->depth])->end_mark = e->end_mark;
  } else if (e->type == YAML_ALIAS_EVENT) {
    return screen_error(origin, e, "YAML aliases (*name) are not supported; write the value out");
  } else if (e->type == YAML_SCALAR_EVENT &&
             strlen((const char *)e->data.scalar.value) != e->data.scalar.length) {
    return screen_error(origin, e, "a NUL character (\\0) is not allowed in a config");
  }
  return 0;
}

/* One event: screened, its anchor noted, its node composed. Sets *end at the stream's end. */
static int step(composer *k, yaml_parser_t *p, int *depth, int *second, const char *origin,
                bool *end) {
  yaml_event_t e;
  if (!yaml_parser_parse(p, &e)) {
    cfg_yaml_syntax_error(p, origin);
    return -1;
  }
  int rc = screen(k, &e, depth, origin);
  if (!rc && e.type == YAML_DOCUMENT_START_EVENT) {
    forget_anchors(k);
    if (++k->docs == 2) *second = (int)e.start_mark.line + 1;
  }
  if (!rc && (note_anchor(k, anchor_of(&e), e.start_mark) || compose(k, &e))) {
    slt_err_set("%s: out of memory", origin);
    rc = -1;
  }
  *end = e.type == YAML_STREAM_END_EVENT;
  yaml_event_delete(&e);
  return rc;
}

int cfg_yaml_compose(yaml_parser_t *p, const char *origin, yaml_document_t *doc, char *late,
                     size_t late_len) {
  composer k = {.doc = doc};
  int depth = 0, second = 0, rc = 0;
  late[0] = '\0';
  if (!yaml_document_initialize(doc, NULL, NULL, NULL, 1, 1)) {
    slt_err_set("%s: out of memory", origin);
    return -1;
  }
  for (bool end = false; !end && rc == 0;) rc = step(&k, p, &depth, &second, origin, &end);
  forget_anchors(&k);
  free(k.anchors);
  if (!rc && k.dup[0]) rc = dup_error(origin, k.dup_mark[0], NULL, 0);
  if (rc) {
    yaml_document_delete(doc);
    return -1;
  }
  if (k.dup[1])
    dup_error(origin, k.dup_mark[1], late, late_len);
  else if (second)
    snprintf(late, late_len, "%s:%d: a config holds one YAML document, found another", origin,
             second);
  return 0;
}
