/* The schema table (one row per key), key lookup and "did you mean" suggestions, --help. */
#include "config_internal.h"

#include "autograd/error.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const slt_data_source_names[] = {"shards", "synthetic", NULL};
const char *const slt_metrics_names[] = {"jsonl", "csv", NULL};
const char *const slt_sgt_mode_names[] = {"fixedstep", "fixedflop", NULL};
const char *const slt_sgt_schedule_names[] = {"cosine", "linear", NULL};

/* The key is the field path itself (#f), so the two cannot drift apart. The _Generic term makes
 * a row whose C type does not match the field's a compile error (enums: checked by size). */
#define F(f) (((slt_config *)0)->f)
#define OFF(f, T) (offsetof(slt_config, f) + 0 * sizeof(char[_Generic(F(f), T : 1, default : -1)]))
#define EOFF(f) (offsetof(slt_config, f) + 0 * sizeof(char[sizeof(F(f)) == sizeof(int) ? 1 : -1]))
#define INF INFINITY
/* Upper bounds of sizes: far beyond any real model, low enough that a typo (an extra digit or
 * three) fails here with the key's name, and that derived sizes such as 4·d_model, rows·cols of
 * the embedding or sequences per step cannot overflow the ints that hold them. */
#define DIM_MAX 1048576.0    /* 2^20: widths, heads, layers, context, batch */
#define VOCAB_MAX 16777216.0 /* 2^24 */
#define ROWS_MAX 1048576     /* sequences per optimizer step on one rank */
#define ROW(f, type, off, def, lo, hi, fl, ch, help)                                               \
  { #f, type, off, sizeof(F(f)), def, lo, hi, fl, ch, help }
#define INT(f, def, lo, hi, help) ROW(f, SLT_CFG_INT, OFF(f, int), def, lo, hi, 0, NULL, help)
#define I64(f, def, lo, hi, help) ROW(f, SLT_CFG_INT64, OFF(f, int64_t), def, lo, hi, 0, NULL, help)
#define DBL(f, def, lo, hi, fl, help)                                                              \
  ROW(f, SLT_CFG_DOUBLE, OFF(f, double), def, lo, hi, fl, NULL, help)
#define DBL2(f, def, lo, hi, fl, help)                                                             \
  ROW(f, SLT_CFG_DOUBLE2, OFF(f, double *), def, lo, hi, fl, NULL, help)
#define BOOL(f, def, help) ROW(f, SLT_CFG_BOOL, OFF(f, bool), def, -INF, INF, 0, NULL, help)
#define STR(f, def, help) ROW(f, SLT_CFG_STRING, OFF(f, char *), def, -INF, INF, 0, NULL, help)
#define ENUM(f, def, names, help) ROW(f, SLT_CFG_ENUM, EOFF(f), def, -INF, INF, 0, names, help)

static const slt_config_key rows[] = {
    STR(out_dir, "runs/default", "metrics, resolved config and checkpoints go here"),
    I64(seed, "1005", 0, INF, "seed of initialisation and data order"),

    ENUM(model.arch, "gpt", slt_arch_names, "architecture (layers/model.h)"),
    INT(model.vocab_size, "8192", 1, VOCAB_MAX, "vocabulary size (embedding rows)"),
    INT(model.seq_len, "256", 1, DIM_MAX, "context length T"),
    INT(model.layers, "4", 1, DIM_MAX, "transformer blocks"),
    INT(model.d_model, "256", 1, DIM_MAX,
        "residual width (ifairy, fairy2i: complex dims, each two real numbers)"),
    INT(model.heads, "4", 1, DIM_MAX, "attention heads (must divide d_model)"),
    INT(model.kv_heads, "0", 0, DIM_MAX, "key/value heads, GQA when < heads (0 = heads)"),
    INT(model.ffn_dim, "0", 0, DIM_MAX,
        "FFN hidden width (0 = 4*d_model; ifairy, fairy2i: complex dims)"),
    ENUM(model.norm, "layernorm", slt_norm_names, "normalisation"),
    DBL(model.norm_eps, "1e-5", 0, INF, SLT_CFG_MIN_OPEN, "epsilon of the norms"),
    ENUM(model.pos, "rope", slt_pos_names, "positional encoding"),
    DBL(model.rope_base, "10000", 1, INF, SLT_CFG_MIN_OPEN, "RoPE frequency base"),
    ENUM(model.act, "gelu_tanh", slt_act_names, "FFN activation"),
    BOOL(model.bias, "true", "biases in linears and norms"),
    BOOL(model.tie_embeddings, "true", "output head shares the token embedding"),
    DBL(model.init_std, "0.02", 0, INF, 0, "std of the N(0, std^2) weight init"),
    ENUM(model.ffn.kind, "dense", slt_lin_struct_names, "FFN linears: dense or structured"),
    INT(model.ffn.rank, "0", 0, DIM_MAX, "rank R (lowrank, blockdense)"),
    INT(model.ffn.nblocks, "0", 0, DIM_MAX, "blocks B (blockdense, blockshuffle)"),
    BOOL(model.ffn.first_layer_dense, "true", "keep layer 0's FFN dense"),
    ENUM(model.ffn.init, "auto", slt_lin_init_names, "structured init (auto: svd/ortho by kind)"),
    /* model.quant (layers/quant_config.h, SPEC §5): QAT of the block linears. */
    ENUM(model.quant.weight.kind, "none", slt_qc_kind_names, "weight fake-quant of block linears"),
    INT(model.quant.weight.bits, "0", 0, 16, "int, lsq: bits (0 = 8); fp, mx: 0 or the format's"),
    ENUM(model.quant.weight.format, "e4m3", slt_qc_format_names, "fp, mx: element format"),
    ENUM(model.quant.weight.granularity, "channel", slt_qc_gran_names,
         "one scale per tensor, output channel or group (mx: blocks of 32)"),
    INT(model.quant.weight.group_size, "128", 1, DIM_MAX, "granularity group: elements per scale"),
    ENUM(model.quant.weight.scale, "absmax", slt_qc_scale_names,
         "int: symmetric absmax or asymmetric minmax (lsq: minmax = LSQ+ offset)"),
    BOOL(model.quant.weight.narrow, "false", "symmetric int, lsq: qmin = -(2^(b-1)-1)"),
    BOOL(model.quant.weight.grad_scaling, "false", "lsq: scale gradients by 1/sqrt(numel*qmax)"),
    INT(model.quant.weight.shards, "1", 1, DIM_MAX, "ternary: one scale per row shard (TriLM)"),
    ENUM(model.quant.act.kind, "none", slt_qc_kind_names,
         "input fake-quant of block linears (absmax8: BitNet's per-token 8-bit)"),
    INT(model.quant.act.bits, "0", 0, 16, "int: bits (0 = 8); fp, mx: 0 or the format's"),
    ENUM(model.quant.act.format, "e4m3", slt_qc_format_names, "fp, mx: element format"),
    ENUM(model.quant.act.granularity, "token", slt_qc_gran_names,
         "one scale per token, tensor or group"),
    INT(model.quant.act.group_size, "128", 1, DIM_MAX, "granularity group: elements per scale"),
    ENUM(model.quant.act.scale, "absmax", slt_qc_scale_names, "int: absmax or minmax"),
    BOOL(model.quant.act.narrow, "false", "symmetric int: qmin = -(2^(b-1)-1)"),
    BOOL(model.quant.bitlinear_norm, "false",
         "BitLinear: RMSNorm (no gain) inside each block linear, block pre-norms removed"),
    STR(model.quant.rules, "",
        "per-linear rules, ';'-separated 'GLOB [w=SPEC] [a=SPEC]', later win, SPEC "
        "kind[:bits|format|tensor|channel|token|groupN|minmax|narrow|gs]..., e.g. "
        "'blocks.0.* w=none a=none; *.ffn.* w=fp:e2m1 a=fp:e4m3'"),
    INT(model.phasequant.stages, "0", 0, 2,
        "ifairy, fairy2i: PhaseQuant of every complex weight to {+-1, +-i} (0 off, 1, 2 residual)"),
    ENUM(model.act_quant, "none", slt_act_quant_names,
         "ifairy, fairy2i: 8-bit per-token activations (re, im scales) into complex linears"),

    ENUM(data.source, "shards", slt_data_source_names, "token shards or a synthetic Markov source"),
    STR(data.train, "data/rw/train_*.bin", "glob of training shards"),
    STR(data.val, "data/rw/val_*.bin", "glob of validation shards"),
    BOOL(data.shuffle, "true", "shuffle training rows"),
    INT(data.synthetic.vocab, "0", 0, VOCAB_MAX, "synthetic vocabulary (0 = model.vocab_size)"),
    INT(data.synthetic.order, "2", 0, 8, "Markov order of the synthetic source"),
    DBL(data.synthetic.alpha, "0.1", 0, INF, SLT_CFG_MIN_OPEN,
        "Dirichlet concentration of its transitions"),
    I64(data.synthetic.seed, "7", 0, INF, "seed of the synthetic chain"),

    ENUM(optim.name, "adamw", slt_optim_kind_names, "optimizer"),
    DBL(optim.lr, "6e-4", 0, INF, 0, "peak learning rate"),
    DBL2(optim.betas, "[0.9, 0.999]", 0, 1, SLT_CFG_MAX_OPEN, "Adam betas"),
    DBL(optim.eps, "1e-8", 0, INF, 0, "Adam epsilon"),
    DBL(optim.weight_decay, "0.1", 0, INF, 0, "decoupled weight decay"),
    DBL(optim.clip, "1.0", 0, INF, 0, "global grad-norm clip (0 = off)"),
    BOOL(optim.no_decay_1d, "false", "no weight decay on 1-D params (biases, norm gains)"),
    BOOL(optim.no_decay_embeddings, "false", "no weight decay on embeddings"),
    DBL(optim.momentum, "0.9", 0, 1, SLT_CFG_MAX_OPEN, "momentum (sgd, sgdp)"),
    DBL(optim.dampening, "0", 0, 1, 0, "momentum dampening (sgd, sgdp)"),
    BOOL(optim.nesterov, "false", "Nesterov momentum (sgd, sgdp, adamp)"),
    DBL(optim.delta, "0.1", 0, INF, SLT_CFG_MIN_OPEN, "projection threshold (adamp, sgdp)"),
    DBL(optim.wd_ratio, "0.1", 0, 1, 0, "decay factor on projected params (adamp, sgdp)"),
    STR(optim.groups, "",
        "parameter groups, ';'-separated rules '[glob] [ndim=N|ndim<=N|ndim>=N] [wd=X] "
        "[lr_mult=X]', later rules win, e.g. '*.bias wd=0; wte.* lr_mult=0.5'"),

    ENUM(schedule.name, "cosine", slt_schedule_names, "learning-rate schedule"),
    DBL(schedule.warmup, "0.1", 0, INF, 0, "warmup: fraction of steps when < 1, else steps"),
    DBL(schedule.min_lr_ratio, "0.1", 0, 1, 0, "final lr / peak lr"),
    DBL(schedule.decay_fraction, "0.2", 0, 1, 0, "wsd: fraction of steps spent decaying"),
    DBL(schedule.split, "0.5", 0, 1, SLT_CFG_MIN_OPEN | SLT_CFG_MAX_OPEN,
        "bitnet: stage 2 (lower peak, no weight decay) starts at this fraction of steps"),
    DBL(schedule.peak2, "0.6666", 0, 1, SLT_CFG_MIN_OPEN,
        "bitnet: stage 2's peak as a fraction of optim.lr (1e-3/1.5e-3 at 700M)"),
    DBL(schedule.drop_at, "0.5", 0, 1, 0, "trilm: the lr is multiplied by schedule.drop from here"),
    DBL(schedule.drop, "0.5", 0, 1, 0, "trilm: lr factor of the second half (peak halved)"),
    DBL(schedule.wd_off_at, "0.6666666666666666", 0, 1, 0,
        "trilm: weight decay off from this fraction of steps"),

    I64(train.steps, "1000", 1, INF, "optimizer steps"),
    INT(train.micro_batch, "8", 1, DIM_MAX, "sequences per forward/backward"),
    INT(train.grad_accum, "1", 1, DIM_MAX, "micro-batches per optimizer step"),
    I64(train.eval_every, "100", 0, INF, "validation every N steps (0 = never)"),
    INT(train.eval_batches, "20", 1, DIM_MAX, "micro-batches per validation"),
    I64(train.ckpt_every, "500", 0, INF, "checkpoint every N steps (0 = only at the end)"),
    INT(train.keep_last, "3", 0, INF, "checkpoints kept (0 = all)"),
    INT(train.threads, "0", 0, INF, "threads (0 = all cores)"),
    I64(train.log_every, "1", 1, INF, "metrics line every N steps"),
    I64(train.stop_after, "0", 0, INF, "stop at this step, schedule unchanged (0 = off)"),
    DBL(train.time_limit, "0", 0, INF, 0,
        "stop (with a checkpoint) after this many seconds (0 = off)"),
    ENUM(train.metrics, "jsonl", slt_metrics_names, "metrics log format"),
    ENUM(train.gemm, "openblas", slt_gemm_kind_names,
         "matrix products on openblas, onednn, or auto (the faster on the model's shapes, measured "
         "at start; a resumed run measures again)"),
    ENUM(train.precision, "fp32", slt_precision_names,
         "products in fp32, or bf16 operands with fp32 accumulation (needs AVX512-BF16/AMX); "
         "auto: bf16 where supported"),
    STR(train.init_from, "",
        "a fresh run's weights from this checkpoint's /model (same names and shapes, e.g. slt "
        "convert's output); optimizer and step start afresh; ignored when resuming"),

    BOOL(sgt.enabled, "false", "self-guided training of the structured FFNs"),
    ENUM(sgt.mode, "fixedstep", slt_sgt_mode_names, "fixedstep or fixedflop (same FLOPs as dense)"),
    DBL(sgt.ratio, "0.5", 0, 1, SLT_CFG_MIN_OPEN, "guided steps / training steps"),
    ENUM(sgt.schedule, "cosine", slt_sgt_schedule_names, "schedule of the guide weight alpha"),
    BOOL(sgt.reduce_flop, "false", "compute the dense guide only with probability alpha"),

    DBL(dist.bucket_mb, "4", 0, 8000, SLT_CFG_MIN_OPEN,
        "MPI ranks: gradient all-reduce bucket size in MB"),
    BOOL(dist.overlap, "true", "MPI ranks: all-reduce gradient buckets while backward runs"),
};

const slt_config_key *slt_config_keys(int *n) {
  *n = (int)(sizeof rows / sizeof *rows);
  return rows;
}

/* The rows sorted by key, built once: a lookup per key read was a walk over every row, so
 * loading or round-tripping a config took rows^2 string compares (most of the fuzz harness's
 * time). The table itself keeps its section order, which the written config follows. */
enum { NROWS = sizeof rows / sizeof *rows };
static const slt_config_key *sorted[NROWS];
static size_t longest_key;
static pthread_once_t sorted_once = PTHREAD_ONCE_INIT;

static int by_key(const void *a, const void *b) {
  return strcmp((*(const slt_config_key *const *)a)->key, (*(const slt_config_key *const *)b)->key);
}

static void sort_rows(void) {
  for (size_t i = 0; i < NROWS; i++) {
    sorted[i] = &rows[i];
    if (strlen(rows[i].key) > longest_key) longest_key = strlen(rows[i].key);
  }
  qsort(sorted, NROWS, sizeof *sorted, by_key);
}

/* Index of the first row (in key order) whose key is not less than s. */
static size_t lower_bound(const char *s) {
  pthread_once(&sorted_once, sort_rows);
  size_t lo = 0, hi = NROWS;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (strcmp(sorted[mid]->key, s) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

const slt_config_key *slt_config_find(const char *key) {
  size_t i = lower_bound(key);
  return i < NROWS && !strcmp(sorted[i]->key, key) ? sorted[i] : NULL;
}

/* The keys under a section, name + ".", are contiguous in key order and start at its lower bound.
 */
bool cfg_is_section(const char *name) {
  char prefix[128];
  size_t n = strlen(name);
  pthread_once(&sorted_once, sort_rows);
  if (n + 1 >= longest_key || n + 2 > sizeof prefix) return false; /* no key is that long */
  memcpy(prefix, name, n);
  memcpy(prefix + n, ".", 2);
  size_t i = lower_bound(prefix);
  return i < NROWS && !strncmp(sorted[i]->key, prefix, n + 1);
}

/* Optimal-string-alignment distance (Levenshtein plus adjacent swaps: "modle" -> "model" is 1),
 * exact up to bound; past it, some value above bound. Rows roll (three are live, a swap reaches
 * back two). Once a row is all above bound so is every later one (a cell exceeds its upper
 * neighbour by at most one, so the row before holds nothing below bound either, and a swap adds
 * one to it): most candidates are far off, and this runs for every schema row per unknown key. */
enum { EDIT_CAP = 96 }; /* longer strings are not compared: distance EDIT_CAP */

static int edit_distance(const char *a, const char *b, int bound) {
  enum { CAP = EDIT_CAP };
  int n = (int)strlen(a), m = (int)strlen(b);
  if (n >= CAP || m >= CAP) return CAP;
  if (abs(n - m) > bound) return bound + 1; /* each length step costs one edit */
  int buf[3][CAP], *older = buf[0], *prev = buf[1], *cur = buf[2];
  for (int j = 0; j <= m; j++) prev[j] = j;
  for (int i = 1; i <= n; i++) {
    int row_min = cur[0] = i;
    for (int j = 1; j <= m; j++) {
      int best = prev[j - 1] + (a[i - 1] != b[j - 1]);
      if (prev[j] + 1 < best) best = prev[j] + 1;
      if (cur[j - 1] + 1 < best) best = cur[j - 1] + 1;
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && older[j - 2] + 1 < best)
        best = older[j - 2] + 1;
      cur[j] = best;
      if (best < row_min) row_min = best;
    }
    if (row_min > bound) return bound + 1;
    int *t = older;
    older = prev, prev = cur, cur = t;
  }
  return prev[m];
}

static const char *leaf(const char *key) {
  const char *dot = strrchr(key, '.');
  return dot ? dot + 1 : key;
}

/* Candidate i: a key, or (section) the key's parent path cut after `depth` dots. */
static bool candidate(size_t i, bool section, int depth, char *buf, size_t len) {
  const char *key = rows[i].key, *p = key + strlen(key);
  for (int d = 0; section && d <= depth; d++) {
    p = strchr(d ? p + 1 : key, '.');
    if (!p) return false;
  }
  size_t n = (size_t)(p - key);
  if (n >= len) return false;
  memcpy(buf, key, n);
  buf[n] = '\0';
  return true;
}

/* Closest by (min of full-path and leaf distance, then full-path distance): a misspelt leaf
 * ("model.d_modle") and a right leaf in the wrong section ("model.lr" -> "optim.lr") both hit. */
const char *cfg_suggest(const char *name, bool section, char *buf, size_t len) {
  int depth = 0;
  for (const char *p = name; *p; p++) depth += *p == '.';
  const char *name_leaf = leaf(name);
  int name_len = (int)strlen(name), leaf_len = (int)strlen(name_leaf);
  int full_max = name_len / 4 > 2 ? name_len / 4 : 2,
      leaf_max = leaf_len / 3 > 1 ? leaf_len / 3 : 1;
  int best = 1 << 30;
  char cand[128];
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    if (!candidate(i, section, depth, cand, sizeof cand)) continue;
    const char *cand_leaf = leaf(cand);
    /* A length gap is a lower bound on the distance: skip what cannot qualify (fuzzing speed). */
    if (abs(name_len - (int)strlen(cand)) > full_max &&
        abs(leaf_len - (int)strlen(cand_leaf)) > leaf_max)
      continue;
    /* Exact values matter only up to the limits: past both, the leaf distance cannot be the
     * smaller of two qualifying distances, and the full one counts only when it qualifies, or
     * when the leaf does (it breaks ties then). */
    int lf = edit_distance(name_leaf, cand_leaf, leaf_max > full_max ? leaf_max : full_max);
    int full = edit_distance(name, cand, lf <= leaf_max ? EDIT_CAP : full_max);
    int full_ok = full <= full_max, leaf_ok = lf <= leaf_max;
    if (!full_ok && !leaf_ok) continue;
    int score = (full < lf ? full : lf) * 1000 + full;
    if (score < best) {
      best = score;
      snprintf(buf, len, "%s", cand);
    }
  }
  return best < (1 << 30) ? buf : NULL;
}

void cfg_err_unknown(const char *where, const char *name, bool section) {
  char hint[128], shown[CFG_SHOW];
  const char *s = cfg_suggest(name, section, hint, sizeof hint);
  slt_err_set("%sunknown %s '%s'%s%s%s", where, section ? "section" : "key",
              cfg_show(name, shown, sizeof shown), s ? " (did you mean '" : "", s ? s : "",
              s ? "'?)" : "");
}

void cfg_err_prefix(const char *prefix) {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", slt_err_msg());
  slt_err_set("%s%s", prefix, msg);
}

static const char *type_name(slt_config_type t) {
  static const char *const names[] = {"int", "int64", "float", "bool", "string", "enum", "[f, f]"};
  return names[t];
}

static void print_range(FILE *f, const slt_config_key *k) {
  if (k->type == SLT_CFG_ENUM) {
    fputs("  (", f);
    for (int i = 0; k->choices[i]; i++) fprintf(f, "%s%s", i ? "|" : "", k->choices[i]);
    fputs(")", f);
    return;
  }
  if (isinf(k->min) && isinf(k->max)) return;
  fprintf(f, "  %c%.15g, ", k->flags & SLT_CFG_MIN_OPEN ? '(' : '[', k->min);
  if (isinf(k->max))
    fputs("inf)", f);
  else
    fprintf(f, "%.15g%c", k->max, k->flags & SLT_CFG_MAX_OPEN ? ')' : ']');
}

void slt_config_print_help(FILE *f) {
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    const slt_config_key *k = &rows[i];
    fprintf(f, "%-30s %-6s %-20s %s", k->key, type_name(k->type), k->def, k->help);
    print_range(f, k);
    fputc('\n', f);
  }
}

/* ---- cross-field rules ---- */

#define FAIL(...)                                                                                  \
  do {                                                                                             \
    slt_err_set(__VA_ARGS__);                                                                      \
    return -1;                                                                                     \
  } while (0)

/* Structured FFN shapes (SPEC §2); a rank or block count the kind ignores is a likely mistake. */
static int check_ffn(const slt_config *c) {
  const slt_ffn_config *f = &c->model.ffn;
  int d = c->model.d_model, h = slt_config_ffn_dim(c);
  const char *kind = slt_lin_struct_names[f->kind];
  bool ranked = f->kind == SLT_LIN_LOWRANK || f->kind == SLT_LIN_BLOCKDENSE;
  bool blocked = f->kind == SLT_LIN_BLOCKDENSE || f->kind == SLT_LIN_BLOCKSHUFFLE;
  if (ranked && f->rank < 1) FAIL("model.ffn.rank must be > 0 when model.ffn.kind is %s", kind);
  if (!ranked && f->rank)
    FAIL("model.ffn.rank (%d) is unused when model.ffn.kind is %s (set it to 0)", f->rank, kind);
  if (blocked && f->nblocks < 1)
    FAIL("model.ffn.nblocks must be > 0 when model.ffn.kind is %s", kind);
  if (!blocked && f->nblocks)
    FAIL("model.ffn.nblocks (%d) is unused when model.ffn.kind is %s (set it to 0)", f->nblocks,
         kind);
  if (f->kind == SLT_LIN_LOWRANK && f->rank > (d < h ? d : h))
    FAIL("model.ffn.rank (%d) exceeds min(model.d_model, ffn width) = %d", f->rank, d < h ? d : h);
  if (blocked && (d % f->nblocks || h % f->nblocks))
    FAIL("model.ffn.nblocks (%d) must divide model.d_model (%d) and the ffn width (%d)", f->nblocks,
         d, h);
  if (f->kind == SLT_LIN_BLOCKDENSE && f->rank % f->nblocks)
    FAIL("model.ffn.nblocks (%d) must divide model.ffn.rank (%d)", f->nblocks, f->rank);
  if (c->sgt.enabled && slt_quant_config_uses(&c->model.quant, SLT_QC_LSQ))
    FAIL("model.quant: lsq weights cannot be used with sgt.enabled (the dense guides have no "
         "learned scales)");
  if (c->sgt.enabled && f->kind == SLT_LIN_DENSE)
    FAIL("sgt.enabled needs a structured model.ffn.kind (lowrank, blockdense, blockshuffle), got "
         "dense");
  return 0;
}

static int check_data(const slt_config *c) {
  const slt_config_data *d = &c->data;
  if (d->source == SLT_DATA_SHARDS && !d->train[0])
    FAIL("data.train must be set when data.source is shards");
  if (d->source == SLT_DATA_SHARDS && !d->val[0] && c->train.eval_every > 0)
    FAIL("data.val must be set when data.source is shards and train.eval_every > 0");
  int sv = slt_config_synthetic_vocab(c);
  if (d->source == SLT_DATA_SYNTHETIC && sv > c->model.vocab_size)
    FAIL("data.synthetic.vocab (%d) exceeds model.vocab_size (%d)", sv, c->model.vocab_size);
  if (d->source == SLT_DATA_SYNTHETIC && sv < 2)
    FAIL("data.synthetic.vocab must be at least 2, got %d", sv);
  return 0;
}

/* The trainer counts sequences per step in an int; each factor alone is bounded by its row. */
static int check_batch(const slt_config_train *t) {
  if ((int64_t)t->micro_batch * t->grad_accum > ROWS_MAX)
    FAIL("train.micro_batch (%d) * train.grad_accum (%d) exceeds %d sequences per step",
         t->micro_batch, t->grad_accum, ROWS_MAX);
  return 0;
}

static int check_schedule(const slt_config *c) {
  double w = c->schedule.warmup;
  int64_t steps = c->train.steps;
  const slt_config_optim *o = &c->optim;
  if (w >= 1 && w != floor(w))
    FAIL("schedule.warmup (%g) must be a fraction < 1 or a whole number of steps", w);
  if (w > (double)steps)
    FAIL("schedule.warmup (%g steps) exceeds train.steps (%lld)", w, (long long)steps);
  if (c->schedule.name == SLT_SCHED_WSD &&
      slt_config_warmup_steps(c, steps) + c->schedule.decay_fraction * (double)steps >
          (double)steps)
    FAIL("schedule.warmup plus schedule.decay_fraction (%g) exceed train.steps (%lld)",
         c->schedule.decay_fraction, (long long)steps);
  if (o->nesterov && (o->name == SLT_OPT_SGD || o->name == SLT_OPT_SGDP) &&
      (o->momentum <= 0 || o->dampening != 0))
    FAIL("optim.nesterov needs optim.momentum > 0 and optim.dampening = 0");
  if (c->sgt.enabled && floor(c->sgt.ratio * (double)steps) < 1)
    FAIL("sgt.ratio (%g) * train.steps (%lld) is less than one guided step", c->sgt.ratio,
         (long long)steps);
  return 0;
}

int slt_config_validate(const slt_config *c) {
  /* Ranges first: the cross-field rules divide by heads and blocks. */
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
    if (cfg_check_row(c, &rows[i])) return -1;
  return slt_model_check(&c->model) || check_ffn(c) || check_data(c) || check_batch(&c->train) ||
                 check_schedule(c)
             ? -1
             : 0;
}
