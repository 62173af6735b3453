#include "loader.h"

#include "autograd/error.h"
#include "data/shard.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define VAL_ROW_OFFSET (UINT64_C(1) << 62) /* synthetic val rows: disjoint from any train row */
#define FEISTEL_ROUNDS 6
#define DOMAIN_SHUFFLE 0x73687566ull /* "shuf" */

struct slt_loader {
  slt_loader_cfg cfg;
  slt_shards *train, *val;  /* shard source */
  const slt_markov *chain;  /* synthetic source (borrowed) */
  int64_t rows, val_rows;   /* shards: rows per epoch; synthetic: -1 (unbounded) */
  int half_bits;            /* Feistel half width: 4^half_bits >= rows */
  int64_t step, micro_step; /* the cursor */
  int32_t *buf;             /* (B, T+1) scratch: the rows of one micro-batch */
};

static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* ---- the epoch permutation ---- */

/* A keyed bijection of [0, 4^h): a balanced Feistel network over two h-bit halves. */
static uint64_t feistel(uint64_t x, int h, uint64_t key) {
  const uint64_t mask = (UINT64_C(1) << h) - 1;
  uint64_t L = x >> h, R = x & mask;
  for (uint64_t i = 0; i < FEISTEL_ROUNDS; i++) {
    uint64_t t = L ^ (mix64(key ^ (R << 3 | i)) & mask);
    L = R;
    R = t;
  }
  return L << h | R;
}

/* perm(i) over [0, n) by cycle-walking: apply the bijection of [0, 4^h) until the value lands
 * in range. 4^h < 4n, so on average fewer than 4 applications. */
static int64_t permute(int64_t i, int64_t n, int h, uint64_t key) {
  uint64_t x = (uint64_t)i;
  do x = feistel(x, h, key);
  while (x >= (uint64_t)n);
  return (int64_t)x;
}

int64_t slt_loader_row_index(const slt_loader *l, int64_t g) {
  if (l->chain || g < 0) return g;
  int64_t epoch = g / l->rows, i = g % l->rows;
  if (!l->cfg.shuffle) return i;
  uint64_t key = mix64(mix64(l->cfg.seed ^ DOMAIN_SHUFFLE) ^ (uint64_t)epoch);
  return permute(i, l->rows, l->half_bits, key);
}

/* ---- construction ---- */

static int check_cfg(const slt_loader_cfg *c) {
  const char *bad = NULL;
  if (c->seq_len < 1)
    bad = "seq_len";
  else if (c->micro_batch < 1)
    bad = "micro_batch";
  else if (c->grad_accum < 1)
    bad = "grad_accum";
  else if (c->world < 1)
    bad = "world";
  else if (c->rank < 0 || c->rank >= c->world)
    bad = "rank";
  if (bad)
    slt_err_set("loader: bad %s (seq_len %d, micro_batch %d, grad_accum %d, rank %d, world %d): "
                "sizes must be >= 1 and 0 <= rank < world",
                bad, c->seq_len, c->micro_batch, c->grad_accum, c->rank, c->world);
  return bad ? -1 : 0;
}

static slt_loader *loader_alloc(const slt_loader_cfg *cfg) {
  if (check_cfg(cfg)) return NULL;
  slt_loader *l = calloc(1, sizeof *l);
  if (l) l->buf = malloc((size_t)cfg->micro_batch * ((size_t)cfg->seq_len + 1) * sizeof *l->buf);
  if (!l || !l->buf) {
    free(l);
    slt_err_set("loader: out of memory");
    return NULL;
  }
  l->cfg = *cfg;
  return l;
}

/* Open a shard glob and count its rows of T+1 tokens (consecutive rows share one token). */
static slt_shards *open_rows(const char *glob, int vocab, int T, int64_t *rows) {
  slt_shards *s = slt_shards_open(glob, vocab);
  if (!s) return NULL;
  int64_t n = slt_shards_tokens(s);
  *rows = n > 0 ? (n - 1) / T : 0;
  if (*rows < 1) {
    slt_err_set("%s: %" PRId64 " tokens hold no full row of seq_len + 1 = %d tokens", glob, n,
                T + 1);
    slt_shards_close(s);
    return NULL;
  }
  return s;
}

slt_loader *slt_loader_new_shards(const char *train, const char *val, int vocab_size,
                                  const slt_loader_cfg *cfg) {
  slt_loader *l = loader_alloc(cfg);
  if (!l) return NULL;
  l->train = open_rows(train, vocab_size, cfg->seq_len, &l->rows);
  if (l->train && val) l->val = open_rows(val, vocab_size, cfg->seq_len, &l->val_rows);
  if (!l->train || (val && !l->val)) {
    slt_loader_free(l);
    return NULL;
  }
  l->half_bits = 1;
  while (l->half_bits < 31 && (UINT64_C(1) << 2 * l->half_bits) < (uint64_t)l->rows) l->half_bits++;
  return l;
}

slt_loader *slt_loader_new_synthetic(const slt_markov *chain, const slt_loader_cfg *cfg) {
  slt_loader *l = loader_alloc(cfg);
  if (!l) return NULL;
  l->chain = chain;
  l->rows = l->val_rows = -1;
  return l;
}

void slt_loader_free(slt_loader *l) {
  if (!l) return;
  slt_shards_close(l->train);
  slt_shards_close(l->val);
  free(l->buf);
  free(l);
}

/* ---- batches ---- */

/* Split the B rows (T+1 tokens each) in l->buf into x and y, (B, T) each. */
static void split_rows(const slt_loader *l, int32_t *x, int32_t *y) {
  const int64_t T = l->cfg.seq_len;
  for (int b = 0; b < l->cfg.micro_batch; b++) {
    memcpy(x + b * T, l->buf + b * (T + 1), (size_t)T * sizeof *x);
    memcpy(y + b * T, l->buf + b * (T + 1) + 1, (size_t)T * sizeof *y);
  }
}

/* Global train rows base..base+B-1 into l->buf. */
static int read_train_rows(slt_loader *l, int64_t base) {
  const int T = l->cfg.seq_len, B = l->cfg.micro_batch;
  if (l->chain) {
    slt_markov_rows(l->chain, (uint64_t)base, B, T + 1, l->buf);
    return 0;
  }
  for (int b = 0; b < B; b++) {
    int64_t r = slt_loader_row_index(l, base + b);
    if (slt_shards_read(l->train, r * T, T + 1, l->buf + (int64_t)b * (T + 1))) return -1;
  }
  return 0;
}

/* Val rows base..base+B-1 into l->buf (shards wrap around the val stream). */
static int read_val_rows(slt_loader *l, int64_t base) {
  const int T = l->cfg.seq_len, B = l->cfg.micro_batch;
  if (l->chain) {
    slt_markov_rows(l->chain, VAL_ROW_OFFSET + (uint64_t)base, B, T + 1, l->buf);
    return 0;
  }
  for (int b = 0; b < B; b++)
    if (slt_shards_read(l->val, (base + b) % l->val_rows * T, T + 1, l->buf + (int64_t)b * (T + 1)))
      return -1;
  return 0;
}

/* Global rows per micro step (all ranks). */
static int64_t rows_per_micro(const slt_loader *l) {
  return (int64_t)l->cfg.world * l->cfg.micro_batch;
}

int slt_loader_batch(slt_loader *l, int64_t step, int micro_step, int32_t *x, int32_t *y) {
  const slt_loader_cfg *c = &l->cfg;
  if (step < 0 || step > INT64_MAX / 4 / c->grad_accum / rows_per_micro(l) || micro_step < 0 ||
      micro_step >= c->grad_accum) {
    slt_err_set("loader: batch (step %" PRId64 ", micro step %d) out of range (grad_accum %d)",
                step, micro_step, c->grad_accum);
    return -1;
  }
  const int64_t base = ((step * c->grad_accum + micro_step) * c->world + c->rank) * c->micro_batch;
  if (read_train_rows(l, base)) return -1;
  split_rows(l, x, y);
  return 0;
}

int slt_loader_next(slt_loader *l, int32_t *x, int32_t *y) {
  if (slt_loader_batch(l, l->step, (int)l->micro_step, x, y)) return -1;
  if (++l->micro_step == l->cfg.grad_accum) {
    l->micro_step = 0;
    l->step++;
  }
  return 0;
}

int slt_loader_val_batch(slt_loader *l, int64_t index, int32_t *x, int32_t *y) {
  const slt_loader_cfg *c = &l->cfg;
  if (!l->chain && !l->val) {
    slt_err_set("loader: no validation shards configured");
    return -1;
  }
  if (index < 0 || index > INT64_MAX / 4 / rows_per_micro(l)) {
    slt_err_set("loader: validation batch %" PRId64 " out of range", index);
    return -1;
  }
  if (read_val_rows(l, (index * c->world + c->rank) * c->micro_batch)) return -1;
  split_rows(l, x, y);
  return 0;
}

/* ---- cursor ---- */

slt_loader_cursor slt_loader_get_cursor(const slt_loader *l) {
  slt_loader_cursor c = {.step = l->step, .micro_step = l->micro_step, .seed = l->cfg.seed};
  c.rows = (l->step * l->cfg.grad_accum + l->micro_step) * rows_per_micro(l);
  c.epoch = l->chain ? 0 : c.rows / l->rows;
  return c;
}

int slt_loader_set_cursor(slt_loader *l, const slt_loader_cursor *c) {
  const slt_loader_cfg *g = &l->cfg;
  if (c->step < 0 || c->micro_step < 0 || c->micro_step >= g->grad_accum ||
      c->step > INT64_MAX / 4 / g->grad_accum / rows_per_micro(l)) {
    slt_err_set("loader: cursor (step %" PRId64 ", micro step %" PRId64 ") out of range for "
                "grad_accum %d",
                c->step, c->micro_step, g->grad_accum);
    return -1;
  }
  int64_t rows = (c->step * g->grad_accum + c->micro_step) * rows_per_micro(l);
  if (c->seed != g->seed || c->rows != rows) {
    slt_err_set("loader: cursor does not fit this run: saved seed %" PRIu64 " with %" PRId64
                " rows consumed at step %" PRId64 ", but this run (seed %" PRIu64 ", grad_accum %d,"
                " world %d, micro_batch %d) is at %" PRId64 " rows then",
                c->seed, c->rows, c->step, g->seed, g->grad_accum, g->world, g->micro_batch, rows);
    return -1;
  }
  l->step = c->step;
  l->micro_step = c->micro_step;
  return 0;
}

int slt_loader_seek(slt_loader *l, int64_t step) {
  if (step < 0) {
    slt_err_set("loader: cannot seek to step %" PRId64, step);
    return -1;
  }
  l->step = step;
  l->micro_step = 0;
  return 0;
}

int64_t slt_loader_rows(const slt_loader *l) {
  return l->rows;
}
int64_t slt_loader_val_rows(const slt_loader *l) {
  return l->chain ? -1 : l->val ? l->val_rows : 0;
}
const char *slt_loader_val_in_train(const slt_loader *l) {
  return l->train && l->val ? slt_shards_shared(l->train, l->val) : NULL;
}
