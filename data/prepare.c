#include "prepare.h"

#include "autograd/error.h"
#include "data/shard.h"

#include <dirent.h>
#include <errno.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* One output stream (train or val): a buffer of up to shard_tokens, flushed to numbered files. */
typedef struct {
  const char *kind; /* "train" | "val" */
  uint32_t *buf;
  int64_t n, cap;
  int shards, width;
} shard_stream;

typedef struct {
  char *text; /* a copy: the source's pointer lives only until its next call */
  size_t len;
  slt_tokens ids;
} doc_slot;

static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static bool is_val_doc(int64_t index, const slt_prepare_opts *o) {
  if (o->val_fraction <= 0) return false;
  uint64_t h = mix64((uint64_t)index * 0x9e3779b97f4a7c15ull ^ mix64(o->split_seed));
  return (double)(h >> 11) * 0x1.0p-53 < o->val_fraction;
}

/* Shards are written as NAME.bin.partial and renamed to NAME.bin only when the whole input has
 * been read, so a failed or killed run never leaves a set of shards that looks complete. */
static void shard_path(char *path, size_t len, const char *dir, const char *kind, int index,
                       bool partial) {
  snprintf(path, len, "%s/%s_%06d.bin%s", dir, kind, index, partial ? ".partial" : "");
}

static int flush_stream(shard_stream *s, const char *dir) {
  if (s->n == 0) return 0;
  char path[4096];
  shard_path(path, sizeof path, dir, s->kind, s->shards, true);
  if (slt_shard_write(path, s->buf, s->n, s->width)) return -1;
  s->shards++;
  s->n = 0;
  return 0;
}

static int append_tokens(shard_stream *s, const char *dir, const uint32_t *ids, int64_t n) {
  while (n > 0) {
    int64_t take = s->cap - s->n < n ? s->cap - s->n : n;
    memcpy(s->buf + s->n, ids, (size_t)take * sizeof *ids);
    s->n += take, ids += take, n -= take;
    if (s->n == s->cap && flush_stream(s, dir)) return -1;
  }
  return 0;
}

/* Rename a stream's partial shards to their final names; -1 with the error recorded. */
static int publish_stream(const shard_stream *s, const char *dir) {
  char from[4096], to[4096];
  for (int i = 0; i < s->shards; i++) {
    shard_path(from, sizeof from, dir, s->kind, i, true);
    shard_path(to, sizeof to, dir, s->kind, i, false);
    if (rename(from, to)) {
      slt_err_set("cannot rename %s to %s: %s", from, to, strerror(errno));
      return -1;
    }
  }
  return 0;
}

/* Remove what a failed run wrote: its partial shards, and the directory if the run made it. */
static void discard_outputs(const shard_stream *train, const shard_stream *val, const char *dir,
                            bool created_dir) {
  char path[4096];
  for (int i = 0; i < train->shards; i++)
    shard_path(path, sizeof path, dir, train->kind, i, true), unlink(path);
  for (int i = 0; i < val->shards; i++)
    shard_path(path, sizeof path, dir, val->kind, i, true), unlink(path);
  if (created_dir) rmdir(dir);
}

/* Refuse an output directory that already holds shards (or a killed run's partial ones); create
 * it when missing, and say so in *created. */
static int check_out_dir(const char *dir, bool *created) {
  *created = mkdir(dir, 0777) == 0;
  if (!*created && errno != EEXIST) {
    slt_err_set("--out %s: cannot create: %s", dir, strerror(errno));
    return -1;
  }
  DIR *d = opendir(dir);
  if (!d) {
    slt_err_set("--out %s: %s", dir, strerror(errno));
    return -1;
  }
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)))
    if ((!strncmp(e->d_name, "train_", 6) || !strncmp(e->d_name, "val_", 4)) &&
        strstr(e->d_name, ".bin")) {
      slt_err_set("--out %s already holds shards (%s%s): choose an empty directory", dir, e->d_name,
                  strstr(e->d_name, ".partial") ? ", left by an unfinished run" : "");
      rc = -1;
      break;
    }
  closedir(d);
  return rc;
}

/* Read up to batch_docs documents (copied); returns the count, or -1. */
static int read_batch(slt_docsource *src, doc_slot *slots, int batch) {
  int n = 0;
  while (n < batch) {
    const char *text;
    size_t len;
    int rc = slt_docsource_next(src, &text, &len);
    if (rc < 0) return -1;
    if (rc == 0) break;
    char *copy = malloc(len + 1);
    if (!copy) {
      slt_err_set("out of memory copying a document of %zu bytes", len);
      return -1;
    }
    memcpy(copy, text, len);
    slots[n].text = copy;
    slots[n].len = len;
    slots[n].ids.n = 0;
    n++;
  }
  return n;
}

/* Encode slots[0..n) on all threads, one tokenizer state per thread; EOT first. */
static int encode_batch(const slt_tokenizer *tok, slt_tokenizer_state **states, doc_slot *slots,
                        int n) {
  int failed = 0;
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < n; i++) {
    slt_tokenizer_state *st = states[omp_get_thread_num()];
    if (slt_tokens_push(&slots[i].ids, slt_tokenizer_eot(tok)) ||
        slt_tokenizer_encode(tok, st, slots[i].text, slots[i].len, 0, &slots[i].ids)) {
#pragma omp atomic write
      failed = 1;
    }
  }
  if (failed && !*slt_err_msg()) slt_err_set("tokenizer failed on a document");
  return failed ? -1 : 0;
}

typedef struct {
  shard_stream train, val;
  slt_tokenizer_state **states;
  int nstates;
  doc_slot *slots;
} prepare_work;

static void work_free(prepare_work *w, int batch) {
  free(w->train.buf);
  free(w->val.buf);
  for (int i = 0; i < w->nstates; i++) slt_tokenizer_state_free(w->states[i]);
  free(w->states);
  for (int i = 0; w->slots && i < batch; i++) {
    free(w->slots[i].text);
    slt_tokens_free(&w->slots[i].ids);
  }
  free(w->slots);
}

static int work_init(prepare_work *w, const slt_tokenizer *tok, const slt_prepare_opts *o) {
  int width = slt_tokenizer_vocab_size(tok) > 65536 ? 4 : 2;
  w->train = (shard_stream){"train", NULL, 0, o->shard_tokens, 0, width};
  w->val = (shard_stream){"val", NULL, 0, o->shard_tokens, 0, width};
  w->nstates = omp_get_max_threads();
  w->states = calloc(w->nstates, sizeof *w->states);
  w->slots = calloc(o->batch_docs, sizeof *w->slots);
  w->train.buf = malloc(sizeof(uint32_t) * o->shard_tokens);
  w->val.buf = malloc(sizeof(uint32_t) * o->shard_tokens);
  if (!w->states || !w->slots || !w->train.buf || !w->val.buf) {
    slt_err_set("out of memory: --shard-tokens %lld needs %lld MB per stream",
                (long long)o->shard_tokens, (long long)(o->shard_tokens * 4 >> 20));
    return -1;
  }
  for (int i = 0; i < w->nstates; i++)
    if (!(w->states[i] = slt_tokenizer_state_new(tok))) return -1;
  return 0;
}

int slt_prepare_run(slt_docsource *src, const slt_tokenizer *tok, const slt_prepare_opts *o,
                    slt_prepare_progress progress, void *user, slt_prepare_stats *st) {
  memset(st, 0, sizeof *st);
  st->input_total = slt_docsource_total_bytes(src);
  if (o->shard_tokens < 1 || o->batch_docs < 1 || o->val_fraction < 0 || o->val_fraction >= 1) {
    slt_err_set("prepare: bad options (shard tokens >= 1, val fraction in [0, 1))");
    return -1;
  }
  bool created_dir;
  if (check_out_dir(o->out_dir, &created_dir)) return -1;
  prepare_work w = {0};
  int rc = work_init(&w, tok, o);
  while (!rc) {
    int n = read_batch(src, w.slots, o->batch_docs);
    if (n <= 0 || encode_batch(tok, w.states, w.slots, n)) {
      rc = n < 0 || n > 0 ? -1 : 0;
      break;
    }
    for (int i = 0; i < n && !rc; i++, st->docs++) {
      bool val = is_val_doc(st->docs, o);
      rc = append_tokens(val ? &w.val : &w.train, o->out_dir, w.slots[i].ids.ids, w.slots[i].ids.n);
      st->text_bytes += (int64_t)w.slots[i].len;
      st->tokens += w.slots[i].ids.n;
      if (val) st->val_docs++, st->val_tokens += w.slots[i].ids.n;
      free(w.slots[i].text);
      w.slots[i].text = NULL;
    }
    st->input_done = slt_docsource_done_bytes(src);
    st->skipped = slt_docsource_skipped(src);
    st->train_shards = w.train.shards, st->val_shards = w.val.shards;
    if (!rc && progress) progress(st, user);
  }
  if (!rc && st->docs == 0) {
    slt_err_set("no documents in the input");
    rc = -1;
  }
  if (!rc) rc = flush_stream(&w.train, o->out_dir) || flush_stream(&w.val, o->out_dir) ? -1 : 0;
  if (!rc) rc = publish_stream(&w.train, o->out_dir) || publish_stream(&w.val, o->out_dir) ? -1 : 0;
  if (rc) discard_outputs(&w.train, &w.val, o->out_dir, created_dir);
  st->train_shards = w.train.shards, st->val_shards = w.val.shards;
  st->skipped = slt_docsource_skipped(src);
  work_free(&w, o->batch_docs);
  return rc;
}
