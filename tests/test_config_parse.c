/* The config loader's fast paths against plain references: the one-pass YAML composer against
 * libyaml's own loader (same tree, same marks, same duplicate-anchor message), the sorted key
 * index against a walk over every schema row, and the bounded "did you mean" search against the
 * full-matrix edit distance it replaced. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "config/config_compose.h"
#include "config/config_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- composer vs yaml_parser_load ---- */

static const char *const docs[] = {
    "model: {layers: 2, d_model: 64, heads: 2}\nseed: 3\n",
    "# comment\nmodel:\n  ffn:\n    kind: lowrank\n    rank: 8\noptim:\n  betas: [0.9, 0.95]\n",
    "a: 'single'\nb: \"double \\x41\"\nc: |\n  literal\n  text\nd: >\n  folded\n  text\ne:\n",
    "- 1\n- [2, 3]\n- {x: y}\n- - nested\n  - list\n",
    "? complex key\n: value\n[1, 2]: flow key\n",
    "&top {a: &one 1, b: &two [x, y]}\n",
    "!!map {k: !!str 1, t: !custom v}\n",
    "---\nfirst: 1\n...\n---\nsecond: 2\n",
    "--- plain scalar\n",
    "---\n",
    "",
    "{}\n",
    "key: ~\nnull_key: null\n\"\": empty\n",
};

static bool same_mark(yaml_mark_t a, yaml_mark_t b) {
  return a.index == b.index && a.line == b.line && a.column == b.column;
}

/* Node by node: type, value, style, marks and children ids. */
static void expect_same_doc(yaml_document_t *a, yaml_document_t *b, const char *text) {
  int na = (int)(a->nodes.top - a->nodes.start), nb = (int)(b->nodes.top - b->nodes.start);
  CU_ASSERT_EQUAL(na, nb);
  for (int i = 0; i < na && i < nb; i++) {
    yaml_node_t *x = &a->nodes.start[i], *y = &b->nodes.start[i];
    bool ok = x->type == y->type && same_mark(x->start_mark, y->start_mark) &&
              same_mark(x->end_mark, y->end_mark);
    if (ok && x->type == YAML_SCALAR_NODE)
      ok = x->data.scalar.length == y->data.scalar.length &&
           !memcmp(x->data.scalar.value, y->data.scalar.value, x->data.scalar.length) &&
           x->data.scalar.style == y->data.scalar.style;
    if (ok && x->type == YAML_SEQUENCE_NODE) {
      size_t n = (size_t)(x->data.sequence.items.top - x->data.sequence.items.start);
      ok = x->data.sequence.style == y->data.sequence.style &&
           n == (size_t)(y->data.sequence.items.top - y->data.sequence.items.start) &&
           !memcmp(x->data.sequence.items.start, y->data.sequence.items.start, n * sizeof(int));
    }
    if (ok && x->type == YAML_MAPPING_NODE) {
      size_t n = (size_t)(x->data.mapping.pairs.top - x->data.mapping.pairs.start);
      ok = x->data.mapping.style == y->data.mapping.style &&
           n == (size_t)(y->data.mapping.pairs.top - y->data.mapping.pairs.start) &&
           !memcmp(x->data.mapping.pairs.start, y->data.mapping.pairs.start,
                   n * sizeof(yaml_node_pair_t));
    }
    if (!ok) printf("\n  node %d differs for text:\n%s\n", i + 1, text);
    CU_ASSERT(ok);
  }
}

static void test_compose_matches_loader(void) {
  for (size_t t = 0; t < sizeof docs / sizeof *docs; t++) {
    yaml_parser_t p, q;
    yaml_document_t mine, ref;
    char late[256];
    CU_ASSERT_FATAL(yaml_parser_initialize(&p) && yaml_parser_initialize(&q));
    yaml_parser_set_input_string(&p, (const unsigned char *)docs[t], strlen(docs[t]));
    yaml_parser_set_input_string(&q, (const unsigned char *)docs[t], strlen(docs[t]));
    int rc = cfg_yaml_compose(&p, "t", &mine, late, sizeof late);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_FATAL(yaml_parser_load(&q, &ref));
    if (rc == 0) {
      expect_same_doc(&mine, &ref, docs[t]);
      yaml_document_delete(&mine);
    }
    /* A second document is reported after the first is applied, as the loader would find it. */
    yaml_document_t extra;
    CU_ASSERT_FATAL(yaml_parser_load(&q, &extra));
    bool more = yaml_document_get_root_node(&extra) != NULL;
    CU_ASSERT_EQUAL(more, strstr(late, "found another") != NULL);
    yaml_document_delete(&extra);
    yaml_document_delete(&ref);
    yaml_parser_delete(&p);
    yaml_parser_delete(&q);
  }
}

/* libyaml's loader's message for text: its composer error, formatted as the config loader
 * formats any libyaml error (the message the loader gave before it composed on its own). */
static void loader_message(const char *text, char *buf, size_t len) {
  yaml_parser_t q;
  yaml_document_t d;
  CU_ASSERT_FATAL(yaml_parser_initialize(&q));
  yaml_parser_set_input_string(&q, (const unsigned char *)text, strlen(text));
  int ok = yaml_parser_load(&q, &d);
  if (ok) { /* the first document is fine: the error is in the second */
    yaml_document_delete(&d);
    ok = yaml_parser_load(&q, &d);
  }
  CU_ASSERT_FALSE_FATAL(ok);
  snprintf(buf, len, "t:%zu:%zu: YAML syntax error: %s (%s)", q.problem_mark.line + 1,
           q.problem_mark.column + 1, q.problem, q.context);
  yaml_parser_delete(&q);
}

static void test_duplicate_anchor(void) {
  const char *first = "a: &x 1\nb:\n  c: &x [2]\n";
  const char *second = "a: &x 1\n---\nb: &y 2\nc: &y 3\n";
  char want[256], late[256];
  yaml_parser_t p;
  yaml_document_t doc;

  loader_message(first, want, sizeof want);
  CU_ASSERT_FATAL(yaml_parser_initialize(&p));
  yaml_parser_set_input_string(&p, (const unsigned char *)first, strlen(first));
  slt_err_clear();
  CU_ASSERT_EQUAL(cfg_yaml_compose(&p, "t", &doc, late, sizeof late), -1);
  CU_ASSERT_STRING_EQUAL(slt_err_msg(), want);
  yaml_parser_delete(&p);

  /* In the second document: after the first (which reuses no anchor of its own) is applied. */
  loader_message(second, want, sizeof want);
  CU_ASSERT_FATAL(yaml_parser_initialize(&p));
  yaml_parser_set_input_string(&p, (const unsigned char *)second, strlen(second));
  CU_ASSERT_EQUAL(cfg_yaml_compose(&p, "t", &doc, late, sizeof late), 0);
  CU_ASSERT_STRING_EQUAL(late, want);
  yaml_document_delete(&doc);
  yaml_parser_delete(&p);

  /* Through the loader: one anchor per name is fine, a second definition is the error. */
  slt_config c;
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL(slt_config_load_string(&c, "seed: &s 5\nmodel: &m {layers: 3}\n", "t"), 0);
  CU_ASSERT_EQUAL(c.seed, 5);
  CU_ASSERT_EQUAL(c.model.layers, 3);
  loader_message("seed: &s 5\nmodel: {layers: &s 3}\n", want, sizeof want);
  CU_ASSERT_EQUAL(slt_config_load_string(&c, "seed: &s 5\nmodel: {layers: &s 3}\n", "t"), -1);
  CU_ASSERT_STRING_EQUAL(slt_err_msg(), want);
}

/* ---- key index vs a walk over the rows ---- */

static const slt_config_key *find_linear(const char *key) {
  int n;
  const slt_config_key *rows = slt_config_keys(&n);
  for (int i = 0; i < n; i++)
    if (!strcmp(rows[i].key, key)) return &rows[i];
  return NULL;
}

static bool section_linear(const char *name) {
  int n;
  const slt_config_key *rows = slt_config_keys(&n);
  size_t len = strlen(name);
  for (int i = 0; i < n; i++)
    if (!strncmp(rows[i].key, name, len) && rows[i].key[len] == '.') return true;
  return false;
}

/* Names near the real ones: every prefix of every key (all sections among them), each with a
 * character dropped, doubled or bumped, and a few odd ones. */
static int probe_names(char (*out)[128], int cap) {
  int n, m = 0;
  const slt_config_key *rows = slt_config_keys(&n);
  static const char *const odd[] = {"",       ".",          "..",       "model.",
                                    ".model", "model..ffn", "zzzz",     "model.ffn.rank.x",
                                    "MODEL",  "model-ffn",  "a.b.c.d.e"};
  for (size_t i = 0; i < sizeof odd / sizeof *odd && m < cap; i++)
    snprintf(out[m++], 128, "%s", odd[i]);
  for (int r = 0; r < n; r++) {
    size_t len = strlen(rows[r].key);
    for (size_t cut = 1; cut <= len && m + 4 <= cap; cut++) {
      snprintf(out[m++], 128, "%.*s", (int)cut, rows[r].key);
      if (cut != len && (cut % 3)) continue; /* variations of a few prefixes only */
      snprintf(out[m++], 128, "%.*s%s", (int)cut - 1, rows[r].key, rows[r].key + cut);
      snprintf(out[m++], 128, "%.*s%s", (int)cut, rows[r].key, rows[r].key + cut - 1);
      snprintf(out[m], 128, "%.*s", (int)cut, rows[r].key);
      out[m++][cut - 1] ^= 1;
    }
  }
  return m;
}

enum { PROBES = 8192 };

static void test_index_matches_walk(void) {
  char(*names)[128] = malloc(PROBES * sizeof *names);
  CU_ASSERT_FATAL(names != NULL);
  int m = probe_names(names, PROBES), finds = 0, sections = 0;
  for (int i = 0; i < m; i++) {
    const slt_config_key *k = find_linear(names[i]);
    bool s = section_linear(names[i]);
    finds += k != NULL;
    sections += s;
    if (slt_config_find(names[i]) != k || cfg_is_section(names[i]) != s)
      printf("\n  index and walk differ for '%s'\n", names[i]);
    CU_ASSERT_PTR_EQUAL(slt_config_find(names[i]), k);
    CU_ASSERT_EQUAL(cfg_is_section(names[i]), s);
  }
  int n;
  slt_config_keys(&n);
  CU_ASSERT(finds >= n); /* every key was probed, and sections too */
  CU_ASSERT(sections > 10);
  free(names);
}

/* ---- suggestions vs the full-matrix edit distance ---- */

static int osa_full(const char *a, const char *b) {
  enum { CAP = 96 };
  size_t n = strlen(a), m = strlen(b);
  if (n >= CAP || m >= CAP) return CAP;
  static int d[CAP][CAP];
  for (size_t i = 0; i <= n; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      if (d[i - 1][j] + 1 < best) best = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
          d[i - 2][j - 2] + 1 < best)
        best = d[i - 2][j - 2] + 1;
      d[i][j] = best;
    }
  return d[n][m];
}

static const char *leaf_of(const char *key) {
  const char *dot = strrchr(key, '.');
  return dot ? dot + 1 : key;
}

/* The rule as written before it was bounded: every candidate scored in full. */
static const char *suggest_ref(const char *name, bool section, char *buf, size_t len) {
  int n, depth = 0, best = 1 << 30;
  const slt_config_key *rows = slt_config_keys(&n);
  for (const char *p = name; *p; p++) depth += *p == '.';
  for (int i = 0; i < n; i++) {
    char cand[128];
    const char *p = rows[i].key;
    if (section) {
      int d = 0;
      for (; d <= depth && (p = strchr(p, '.')); d++)
        if (d < depth) p++;
      if (d <= depth) continue;
      snprintf(cand, sizeof cand, "%.*s", (int)(p - rows[i].key), rows[i].key);
    } else {
      snprintf(cand, sizeof cand, "%s", rows[i].key);
    }
    int full_max = (int)(strlen(name) / 4 > 2 ? strlen(name) / 4 : 2);
    int leaf_max = (int)(strlen(leaf_of(name)) / 3 > 1 ? strlen(leaf_of(name)) / 3 : 1);
    int full = osa_full(name, cand), lf = osa_full(leaf_of(name), leaf_of(cand));
    if (full > full_max && lf > leaf_max) continue;
    int score = (full < lf ? full : lf) * 1000 + full;
    if (score < best) {
      best = score;
      snprintf(buf, len, "%s", cand);
    }
  }
  return best < (1 << 30) ? buf : NULL;
}

static void test_suggest_matches_full(void) {
  char(*names)[128] = malloc(PROBES * sizeof *names);
  CU_ASSERT_FATAL(names != NULL);
  int m = probe_names(names, PROBES), hits = 0;
  for (int i = 0; i < m; i++)
    for (int section = 0; section < 2; section++) {
      char a[128], b[128];
      const char *got = cfg_suggest(names[i], section, a, sizeof a);
      const char *want = suggest_ref(names[i], section, b, sizeof b);
      bool same = got && want ? !strcmp(got, want) : got == want;
      hits += want != NULL;
      if (!same)
        printf("\n  '%s' (%s): suggested '%s', full search '%s'\n", names[i],
               section ? "section" : "key", got ? got : "-", want ? want : "-");
      CU_ASSERT(same);
    }
  CU_ASSERT(hits > m / 2); /* the probes are mostly near misses */
  free(names);
}

int register_config_parse_suite(void) {
  CU_pSuite s = CU_add_suite("config_parse", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "one-pass composer builds libyaml's tree", test_compose_matches_loader) ||
                 !CU_add_test(s, "duplicate anchors as libyaml reports them",
                              test_duplicate_anchor) ||
                 !CU_add_test(s, "key index agrees with a walk over the rows",
                              test_index_matches_walk) ||
                 !CU_add_test(s, "bounded suggestions agree with the full search",
                              test_suggest_matches_full)
             ? -1
             : 0;
}
