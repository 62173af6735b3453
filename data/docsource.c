#include "docsource.h"

#include "autograd/error.h"
#include "data/jsonl.h"
#include "data/parquet.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct slt_docsource {
  slt_doc_format fmt;
  const char *const *paths;
  int npaths, cur; /* cur: index of the open input, npaths when done */
  const char *field;
  bool skip_bad;
  slt_jsonl *jsonl;
  slt_parquet *parquet;
  char *text; /* text format: the current file's contents */
  bool text_given;
  int64_t total_bytes, done_bytes; /* done: bytes of the inputs already finished */
  int64_t skipped;
};

int slt_doc_format_parse(const char *name) {
  if (!strcmp(name, "text")) return SLT_DOC_TEXT;
  if (!strcmp(name, "jsonl")) return SLT_DOC_JSONL;
  if (!strcmp(name, "parquet")) return SLT_DOC_PARQUET;
  return -1;
}

static int64_t file_size(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    slt_err_set("%s: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    slt_err_set("%s: not a regular file", path);
    return -1;
  }
  return st.st_size;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    slt_err_set("%s: %s", path, strerror(errno));
    return NULL;
  }
  int64_t n = file_size(path);
  char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    slt_err_set("%s: read error", path);
    free(buf);
    buf = NULL;
  } else if (!buf && n >= 0) {
    slt_err_set("%s: out of memory reading %lld bytes", path, (long long)n);
  }
  fclose(f);
  if (buf) buf[n] = '\0', *len = (size_t)n;
  return buf;
}

slt_docsource *slt_docsource_open(slt_doc_format fmt, const char *const *paths, int npaths,
                                  const char *field, bool skip_bad) {
  if (npaths < 1) {
    slt_err_set("no input files");
    return NULL;
  }
  slt_docsource *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  *s = (slt_docsource){.fmt = fmt, .paths = paths, .npaths = npaths, .cur = -1,
                       .field = field, .skip_bad = skip_bad};
  for (int i = 0; i < npaths; i++) {
    int64_t n = file_size(paths[i]);
    if (n < 0) {
      free(s);
      return NULL;
    }
    s->total_bytes += n;
  }
  return s;
}

static void close_current(slt_docsource *s) {
  if (s->jsonl) s->skipped += slt_jsonl_bad(s->jsonl);
  slt_jsonl_close(s->jsonl);
  slt_parquet_close(s->parquet);
  free(s->text);
  s->jsonl = NULL;
  s->parquet = NULL;
  s->text = NULL;
  if (s->cur >= 0 && s->cur < s->npaths) s->done_bytes += file_size(s->paths[s->cur]);
}

/* Move to the next input file; 0, or -1 with the error recorded. */
static int open_next(slt_docsource *s) {
  close_current(s);
  if (++s->cur >= s->npaths) return 0;
  const char *p = s->paths[s->cur];
  switch (s->fmt) {
  case SLT_DOC_JSONL: return (s->jsonl = slt_jsonl_open(p, s->field, s->skip_bad)) ? 0 : -1;
  case SLT_DOC_PARQUET: return (s->parquet = slt_parquet_open(p, s->field)) ? 0 : -1;
  default: s->text_given = false; return 0;
  }
}

int slt_docsource_next(slt_docsource *s, const char **text, size_t *len) {
  if (s->cur < 0 && open_next(s)) return -1;
  while (s->cur < s->npaths) {
    int rc = 0;
    if (s->fmt == SLT_DOC_JSONL) rc = slt_jsonl_next(s->jsonl, text, len);
    else if (s->fmt == SLT_DOC_PARQUET) rc = slt_parquet_next(s->parquet, text, len);
    else if (!s->text_given) {
      s->text = read_file(s->paths[s->cur], len);
      rc = s->text ? 1 : -1;
      *text = s->text;
      s->text_given = true;
    }
    if (rc != 0) return rc;
    if (open_next(s)) return -1;
  }
  return 0;
}

int64_t slt_docsource_total_bytes(const slt_docsource *s) { return s->total_bytes; }

int64_t slt_docsource_done_bytes(const slt_docsource *s) {
  int64_t d = s->done_bytes;
  if (s->jsonl) d += slt_jsonl_offset(s->jsonl);
  if (s->parquet && slt_parquet_num_rows(s->parquet) > 0 && s->cur < s->npaths)
    d += (int64_t)((double)file_size(s->paths[s->cur]) * slt_parquet_rows(s->parquet) /
                   slt_parquet_num_rows(s->parquet));
  return d;
}

int64_t slt_docsource_skipped(const slt_docsource *s) {
  return s->skipped + (s->jsonl ? slt_jsonl_bad(s->jsonl) : 0);
}

void slt_docsource_close(slt_docsource *s) {
  if (!s) return;
  close_current(s);
  free(s);
}
