/* The training configuration: one typed struct filled from defaults, YAML files and `key=value`
 * overrides, all driven by one schema table (config/config_schema.c). Adding a key is one struct
 * field plus one table row. The struct is plain data (no pointers): copy it with `=`, compare it
 * with slt_config_diff, store it in a checkpoint with slt_config_write. */
#ifndef SLT_CONFIG_H
#define SLT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kernels/gemm.h"
#include "layers/model.h"
#include "optim/optimizer.h"
#include "optim/schedule.h"

#define SLT_CFG_STR 512 /* capacity of a string value (path, glob), NUL included */

/* Enum-valued keys are C enums owned by the floor that uses them: the model's by layers/model.h
 * and layers/structured.h, the optimizer's and schedule's by optim/; each has a NULL-terminated
 * slt_<x>_names table of its YAML spellings. The ones below are the config's own. */
typedef enum { SLT_DATA_SHARDS, SLT_DATA_SYNTHETIC } slt_data_source;
typedef enum { SLT_METRICS_JSONL, SLT_METRICS_CSV } slt_metrics_format;
typedef enum { SLT_SGT_FIXEDSTEP, SLT_SGT_FIXEDFLOP } slt_sgt_mode;
typedef enum { SLT_SGT_COSINE, SLT_SGT_LINEAR } slt_sgt_schedule;

extern const char *const slt_data_source_names[];
extern const char *const slt_metrics_names[];
extern const char *const slt_sgt_mode_names[];
extern const char *const slt_sgt_schedule_names[];

typedef struct slt_config_synthetic {
  int vocab; /* 0 = model.vocab_size; use slt_config_synthetic_vocab() */
  int order;
  double alpha;
  int64_t seed;
} slt_config_synthetic;

typedef struct slt_config_data {
  slt_data_source source;
  char train[SLT_CFG_STR], val[SLT_CFG_STR]; /* shard globs */
  bool shuffle;
  slt_config_synthetic synthetic;
} slt_config_data;

typedef struct slt_config_optim {
  slt_optim_kind name;
  double lr, betas[2], eps, weight_decay;
  double clip; /* global grad-norm clip, 0 = off */
  bool no_decay_1d, no_decay_embeddings;
  double momentum, dampening; /* sgd, sgdp */
  bool nesterov;
  double delta, wd_ratio;   /* adamp, sgdp */
  char groups[SLT_CFG_STR]; /* parameter-group rules, ';'-separated (optim/groups.h syntax) */
} slt_config_optim;

typedef struct slt_config_schedule {
  slt_schedule_kind name;
  double warmup; /* fraction of steps when < 1, else steps; use slt_config_warmup_steps() */
  double min_lr_ratio, decay_fraction;
  double split, peak2;         /* bitnet */
  double drop_at, drop, wd_off_at; /* trilm */
} slt_config_schedule;

typedef struct slt_config_train {
  int64_t steps;
  int micro_batch, grad_accum;
  int64_t eval_every; /* 0 = never */
  int eval_batches;
  int64_t ckpt_every; /* 0 = only at the end */
  int keep_last;      /* 0 = keep every checkpoint */
  int threads;        /* 0 = all cores */
  int64_t log_every;
  int64_t stop_after; /* 0 = off: stop early at this step without changing the schedule */
  double time_limit;  /* seconds, 0 = off */
  slt_metrics_format metrics;
  slt_gemm_kind gemm;      /* product backend (kernels/gemm.h) */
  slt_precision precision; /* fp32, or bf16 products (SPEC §10) */
  char init_from[SLT_CFG_STR]; /* "" = off: a checkpoint whose /model initialises a fresh run */
} slt_config_train;

typedef struct slt_config_sgt {
  bool enabled;
  slt_sgt_mode mode;
  double ratio;
  slt_sgt_schedule schedule;
  bool reduce_flop;
} slt_config_sgt;

/* Data parallelism across MPI ranks (train/dist.h); ignored with one rank. */
typedef struct slt_config_dist {
  double bucket_mb; /* gradient all-reduce bucket size */
  bool overlap;     /* start a bucket's all-reduce while backward is still running */
} slt_config_dist;

typedef struct slt_config {
  char out_dir[SLT_CFG_STR];
  int64_t seed;
  slt_model_config model; /* layers/model.h */
  slt_config_data data;
  slt_config_optim optim;
  slt_config_schedule schedule;
  slt_config_train train;
  slt_config_sgt sgt;
  slt_config_dist dist;
} slt_config;

/* ---- schema ---- */

typedef enum {
  SLT_CFG_INT,     /* int */
  SLT_CFG_INT64,   /* int64_t */
  SLT_CFG_DOUBLE,  /* double */
  SLT_CFG_BOOL,    /* bool */
  SLT_CFG_STRING,  /* char[size] */
  SLT_CFG_ENUM,    /* a C enum, index into choices */
  SLT_CFG_DOUBLE2, /* double[2], written [a, b] */
} slt_config_type;

enum { SLT_CFG_MIN_OPEN = 1, SLT_CFG_MAX_OPEN = 2 }; /* flags: exclusive bounds */

/* One row of the schema: a dotted key and where and how its value lives in slt_config. */
typedef struct slt_config_key {
  const char *key; /* "model.ffn.rank" */
  slt_config_type type;
  size_t offset, size;        /* of the field in slt_config */
  const char *def;            /* default, written as in YAML */
  double min, max;            /* inclusive unless flags say open; ±INFINITY = unbounded */
  unsigned flags;             /* SLT_CFG_MIN_OPEN | SLT_CFG_MAX_OPEN */
  const char *const *choices; /* enum names, NULL-terminated */
  const char *help;           /* one line */
} slt_config_key;

/* The schema rows in table order (sections contiguous); *n receives the count. */
const slt_config_key *slt_config_keys(int *n);
/* The row of a dotted key, or NULL (no message recorded). */
const slt_config_key *slt_config_find(const char *key);
/* Print every key with its type, default, range or choices, and help (for `--help`). */
void slt_config_print_help(FILE *f);

/* ---- loading, checking, writing ---- */

/* Set every key to its default. */
void slt_config_defaults(slt_config *c);
/* Apply a YAML file over the current values (its `include:` files first). On error c is unchanged.
 */
int slt_config_load_file(slt_config *c, const char *path);
/* Apply YAML text over the current values; origin names it in messages (NULL: "<string>").
 * Text names no files: an `include:` in it is an error (a checkpoint's stored config could
 * otherwise make a reader open any path). On error c is unchanged. */
int slt_config_load_string(slt_config *c, const char *yaml, const char *origin);
/* Apply one `key=value` (a list as `[a,b]` or `a,b`). On error c is unchanged. */
int slt_config_override(slt_config *c, const char *assignment);
/* Check every range and the cross-field rules (divisibility, required paths, ...). */
int slt_config_validate(const slt_config *c);
/* Write the resolved config as YAML that loads back to an identical struct. */
int slt_config_write(const slt_config *c, FILE *f);
/* slt_config_write to path, through a temporary file renamed into place. */
int slt_config_save(const slt_config *c, const char *path);
/* Format one key's value as text (strings unquoted) into buf. */
int slt_config_get(const slt_config *c, const char *key, char *buf, size_t len);
/* Count the keys under prefix ("model.", "" or NULL = all) whose values differ, listing them in
 * out as "model.layers (4 vs 6), ..." (truncated to len). Returns the count (0 = same). */
int slt_config_diff(const slt_config *a, const slt_config *b, const char *prefix, char *out,
                    size_t len);

/* ---- resolved values for keys whose 0 means "derive it" ---- */

static inline int slt_config_kv_heads(const slt_config *c) { return slt_model_kv_heads(&c->model); }
static inline int slt_config_ffn_dim(const slt_config *c) { return slt_model_ffn_dim(&c->model); }
static inline int slt_config_synthetic_vocab(const slt_config *c) {
  return c->data.synthetic.vocab ? c->data.synthetic.vocab : c->model.vocab_size;
}
/* Warmup in steps for a run of total_steps (fraction when schedule.warmup < 1). */
static inline int64_t slt_config_warmup_steps(const slt_config *c, int64_t total_steps) {
  double w = c->schedule.warmup;
  return w < 1.0 ? (int64_t)(w * (double)total_steps) : (int64_t)w;
}

#endif
