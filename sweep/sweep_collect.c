/* The results table: one row per run (name, every override, counts, budget, losses, time,
 * status), written as results.jsonl and results.csv and, for a finished run, as its DONE line.
 * The columns are the ones slt fit reads (flops, params, tokens, val_loss, status, the keys). */
#include "sweep.h"
#include "sweep_int.h"

#include "autograd/durable.h"
#include "autograd/error.h"
#include "sweep/table.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { MAX_CELLS = 2 * SLT_SWEEP_MAX_KEYS + 16 };

typedef struct {
  const char *col;
  char val[SLT_CFG_STR + 8];
  bool str, null;
} cell;

typedef struct {
  int n;
  cell c[MAX_CELLS];
} row;

static cell *add(row *w, const char *col) {
  cell *c = &w->c[w->n++];
  c->col = col, c->str = c->null = false;
  return c;
}

/* JSON's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool json_number(const char *t) {
  const char *p = t + (*t == '-');
  if (*p == '0')
    p++;
  else if (isdigit((unsigned char)*p))
    while (isdigit((unsigned char)*p)) p++;
  else
    return false;
  if (*p == '.') {
    if (!isdigit((unsigned char)*++p)) return false;
    while (isdigit((unsigned char)*p)) p++;
  }
  if (*p == 'e' || *p == 'E') {
    p += p[1] == '+' || p[1] == '-' ? 2 : 1;
    if (!isdigit((unsigned char)*p)) return false;
    while (isdigit((unsigned char)*p)) p++;
  }
  return !*p;
}

/* An override's value: a number or boolean where it reads as one, else a string. */
static void put_value(row *w, const char *col, const char *text) {
  cell *c = add(w, col);
  snprintf(c->val, sizeof c->val, "%s", text);
  c->str = !json_number(text) && strcmp(text, "true") && strcmp(text, "false");
}

static void put_str(row *w, const char *col, const char *text) {
  cell *c = add(w, col);
  snprintf(c->val, sizeof c->val, "%s", text);
  c->str = true;
}

static void put_int(row *w, const char *col, int64_t v) {
  snprintf(add(w, col)->val, sizeof w->c[0].val, "%lld", (long long)v);
}

static void put_num(row *w, const char *col, double v) {
  cell *c = add(w, col);
  c->null = !isfinite(v);
  snprintf(c->val, sizeof c->val, "%.9g", v);
}

static void build_row(const slt_sweep *s, const slt_sweep_run *r, const slt_sweep_result *res,
                      slt_sweep_status st, row *w) {
  w->n = 0;
  put_str(w, "name", r->name);
  for (int i = 0; i < r->nvary; i++) put_value(w, r->axis[i]->key, r->vals[i]);
  for (int i = 0; i < s->nset; i++) put_value(w, s->set[i].key, s->set[i].vals[0]);
  int64_t tokens = st == SLT_RUN_DONE ? res->tokens : r->tokens;
  put_int(w, "steps", r->steps);
  put_int(w, "params", r->counts.total);
  put_int(w, "params_nonembed", r->counts.total - r->counts.embedding);
  put_int(w, "params_ffn", r->counts.ffn);
  put_num(w, "flops_per_token", r->flops_per_token);
  put_int(w, "tokens", tokens);
  put_num(w, "flops", r->flops_per_token * (double)tokens);
  put_num(w, "train_loss", res->train_loss);
  put_num(w, "val_loss", res->val_loss);
  put_num(w, "best_val_loss", res->best_val_loss);
  put_num(w, "seconds", res->seconds);
  put_str(w, "status", slt_sweep_status_name(st));
}

/* s as a JSON string (quotes and control characters escaped) appended at buf[*used]. */
static void json_str(char *buf, size_t len, size_t *used, const char *s) {
  size_t u = *used;
  if (u + 1 < len) buf[u++] = '"';
  for (; *s && u + 7 < len; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      buf[u++] = '\\', buf[u++] = (char)c;
    else if (c < 0x20)
      u += (size_t)snprintf(buf + u, len - u, "\\u%04x", c);
    else
      buf[u++] = (char)c;
  }
  if (u + 1 < len) buf[u++] = '"';
  buf[u < len ? u : len - 1] = '\0';
  *used = u;
}

static void row_json(const row *w, char *buf, size_t len) {
  size_t used = 0;
  buf[used++] = '{';
  for (int i = 0; i < w->n && used + 4 < len; i++) {
    if (i) buf[used++] = ',';
    json_str(buf, len, &used, w->c[i].col);
    buf[used++] = ':';
    if (w->c[i].str)
      json_str(buf, len, &used, w->c[i].val);
    else
      used += (size_t)snprintf(buf + used, len - used, "%s", w->c[i].null ? "null" : w->c[i].val);
    if (used >= len) used = len - 1;
  }
  snprintf(buf + used, len - used, "}");
}

/* RFC 4180: a field with a comma, quote or line break is quoted, its quotes doubled. */
static void csv_field(FILE *f, const char *v) {
  if (!strpbrk(v, ",\"\r\n")) {
    fputs(v, f);
    return;
  }
  fputc('"', f);
  for (; *v; v++) {
    if (*v == '"') fputc('"', f);
    fputc(*v, f);
  }
  fputc('"', f);
}

static void row_csv(FILE *f, const row *w, bool header) {
  for (int i = 0; i < w->n; i++) {
    if (i) fputc(',', f);
    csv_field(f, header ? w->c[i].col : w->c[i].null ? "" : w->c[i].val);
  }
  fputc('\n', f);
}

void slt_sweep_result_json(const slt_sweep *s, const slt_sweep_run *r, const slt_sweep_result *res,
                           slt_sweep_status st, char *buf, size_t len) {
  row w;
  build_row(s, r, res, st, &w);
  row_json(&w, buf, len);
}

/* A column of a DONE line as a number (NAN when null or missing). */
static double done_num(const slt_table *t, const char *col) {
  int c = slt_table_find(t, col);
  const char *v = c >= 0 ? slt_table_str(t, 0, c) : NULL;
  return v ? strtod(v, NULL) : NAN;
}

/* The figures a finished run's DONE line holds. */
static int read_done(const slt_sweep_run *r, slt_sweep_result *res) {
  char path[PATH_MAX + 8];
  snprintf(path, sizeof path, "%s/DONE", r->dir);
  slt_table *t = slt_table_read(path);
  if (!t) return -1;
  *res = (slt_sweep_result){.step = (int64_t)done_num(t, "steps"),
                            .tokens = (int64_t)done_num(t, "tokens"),
                            .train_loss = done_num(t, "train_loss"),
                            .val_loss = done_num(t, "val_loss"),
                            .best_val_loss = done_num(t, "best_val_loss"),
                            .seconds = done_num(t, "seconds")};
  slt_table_free(t);
  return 0;
}

/* A run's row: DONE's figures, or what its log says so far (finishing a run that completed
 * without a DONE, as Slurm tasks do). */
static int run_row(const slt_sweep *s, const slt_sweep_run *r, row *w, slt_sweep_status *st) {
  slt_sweep_result res;
  if (slt_sweep_check_config(r)) return -1; /* figures of some other config */
  *st = slt_sweep_run_status(r);
  if (*st == SLT_RUN_PARTIAL || *st == SLT_RUN_FAILED) { /* finished since, e.g. by Slurm */
    int fin = slt_sweep_finish(s, r);
    if (fin < 0) return -1;
    if (fin) *st = SLT_RUN_DONE;
  }
  if (*st == SLT_RUN_DONE ? read_done(r, &res) : slt_sweep_read_metrics(&r->cfg, &res)) return -1;
  build_row(s, r, &res, *st, w);
  return 0;
}

static FILE *open_tmp(const char *path, char *tmp, size_t len) {
  snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  if (!f) slt_err_set("%s: cannot write: %s", tmp, strerror(errno));
  return f;
}

/* Flush, fsync and close f, then rename tmp over path. */
static int close_tmp(FILE *f, const char *tmp, const char *path, int rc) {
  bool ok = !rc && !fflush(f) && !fsync(fileno(f));
  if (fclose(f) || !ok) {
    if (!rc) slt_err_set("%s: cannot write: %s", tmp, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return slt_durable_rename(tmp, path);
}

int slt_sweep_collect(const slt_sweep *s, const slt_sweep_run *runs, int n, int count[4]) {
  char jpath[PATH_MAX], cpath[PATH_MAX], jtmp[PATH_MAX + 32], ctmp[PATH_MAX + 32];
  snprintf(jpath, sizeof jpath, "%s/results.jsonl", s->out);
  snprintf(cpath, sizeof cpath, "%s/results.csv", s->out);
  if (count) memset(count, 0, 4 * sizeof *count);
  if (slt_sweep_mkdirs(s->out)) return -1;
  FILE *j = open_tmp(jpath, jtmp, sizeof jtmp), *c = j ? open_tmp(cpath, ctmp, sizeof ctmp) : NULL;
  if (!c) {
    if (j) fclose(j), unlink(jtmp);
    return -1;
  }
  row *w = malloc(sizeof *w);
  char *line = malloc(1 << 16);
  int rc = w && line ? 0 : -1;
  if (rc) slt_err_set("out of memory collecting results");
  for (int i = 0; !rc && i < n; i++) {
    slt_sweep_status st;
    if ((rc = run_row(s, &runs[i], w, &st))) break;
    if (count) count[st]++;
    if (!i) row_csv(c, w, true);
    row_csv(c, w, false);
    row_json(w, line, 1 << 16);
    fprintf(j, "%s\n", line);
  }
  free(w);
  free(line);
  rc = close_tmp(j, jtmp, jpath, rc) | rc;
  return close_tmp(c, ctmp, cpath, rc) | rc;
}
