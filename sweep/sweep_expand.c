/* A sweep's runs: the grid's cartesian product crossed with the zipped runs lists and the seeds,
 * each named from its varying keys, resolved, counted through the model seam (declared, no
 * weights) and given its derived step count. */
#include "sweep.h"

#include "autograd/error.h"
#include "config/sgt_steps.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_RUNS = 100000 };

void slt_sweep_sanitize(const char *val, char *out, size_t len) {
  size_t i = 0;
  for (; val[i] && i + 1 < len; i++) {
    char c = val[i];
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '+' || c == '-';
    out[i] = keep ? c : '_';
  }
  if (len) out[i] = '\0';
}

bool slt_sweep_match(const char *name, const char *pattern) {
  if (strpbrk(pattern, "*?[")) return fnmatch(pattern, name, 0) == 0;
  return strstr(name, pattern) != NULL;
}

/* Runs in the sweep (grid product × zipped length × seeds), or -1 beyond MAX_RUNS. */
static long count_runs(const slt_sweep *s) {
  long n = s->nzip ? s->zip[0].n : 1;
  if (s->seeds.n) n *= s->seeds.n;
  for (int i = 0; i < s->ngrid && n <= MAX_RUNS; i++) n *= s->grid[i].n;
  return n <= MAX_RUNS ? n : -1;
}

static int apply(slt_sweep_run *r, const slt_sweep_axis *a, int choice) {
  char assign[1024];
  snprintf(assign, sizeof assign, "%s=%s", a->key, a->vals[choice]);
  r->axis[r->nvary] = a;
  r->vals[r->nvary++] = a->vals[choice];
  return slt_config_override(&r->cfg, assign); /* checked when the file was read */
}

/* Run idx's overrides: seeds vary fastest, then the zipped lists, then the grid's last key. */
static int choose(const slt_sweep *s, long idx, slt_sweep_run *r) {
  int seed = 0, zip = 0, g[SLT_SWEEP_MAX_KEYS];
  if (s->seeds.n) seed = (int)(idx % s->seeds.n), idx /= s->seeds.n;
  if (s->nzip) zip = (int)(idx % s->zip[0].n), idx /= s->zip[0].n;
  for (int i = s->ngrid - 1; i >= 0; i--) g[i] = (int)(idx % s->grid[i].n), idx /= s->grid[i].n;
  r->cfg = s->base_cfg;
  int rc = 0;
  for (int i = 0; i < s->ngrid; i++) rc |= apply(r, &s->grid[i], g[i]);
  for (int i = 0; i < s->nzip; i++) rc |= apply(r, &s->zip[i], zip);
  if (s->seeds.n) rc |= apply(r, &s->seeds, seed);
  return rc;
}

/* "short=value,..." from the varying keys ("run" when nothing varies), and the directory. */
static int name_run(const slt_sweep *s, slt_sweep_run *r) {
  size_t used = 0;
  r->name[0] = '\0';
  for (int i = 0; i < r->nvary; i++) {
    char val[SLT_SWEEP_NAME];
    slt_sweep_sanitize(r->vals[i], val, sizeof val);
    used += (size_t)snprintf(r->name + used, used < sizeof r->name ? sizeof r->name - used : 0,
                             "%s%s=%s", i ? "," : "", r->axis[i]->short_key, val);
    if (used >= sizeof r->name) {
      slt_err_set("%s: run name '%.40s...' is longer than %d characters (vary fewer keys)", s->path,
                  r->name, SLT_SWEEP_NAME - 1);
      return -1;
    }
  }
  if (!r->nvary) snprintf(r->name, sizeof r->name, "run");
  int len = snprintf(r->dir, sizeof r->dir, "%s/%s", s->out, r->name);
  if (len >= (int)sizeof r->dir || len >= SLT_CFG_STR) {
    slt_err_set("%s: out: run directory '%s/%s' is longer than out_dir allows (%d)", s->path,
                s->out, r->name, SLT_CFG_STR - 1);
    return -1;
  }
  snprintf(r->cfg.out_dir, sizeof r->cfg.out_dir, "%s", r->dir);
  return 0;
}

static const char *derive_key(slt_sweep_derive d) {
  return d == SLT_DERIVE_TOKENS ? "tokens" : d == SLT_DERIVE_FLOPS ? "flops" : "tokens_per_param";
}

/* train.steps from the token or FLOP budget. */
static int derive_steps(const slt_sweep *s, slt_sweep_run *r) {
  double n =
      s->params_total ? (double)r->counts.total : (double)(r->counts.total - r->counts.embedding);
  double tokens = s->derive == SLT_DERIVE_TOKENS  ? s->derive_value
                  : s->derive == SLT_DERIVE_FLOPS ? s->derive_value / r->flops_per_token
                                                  : s->derive_value * n;
  /* The quotient of two exact integers can land a hair above its integer value. */
  double q = tokens / (double)r->tokens_per_step, steps = ceil(q * (1 - 1e-12));
  char assign[64];
  snprintf(assign, sizeof assign, "train.steps=%.0f", steps > 0 && steps < 1e18 ? steps : -1.0);
  if (!(steps >= 1 && steps < 1e18) || slt_config_override(&r->cfg, assign)) {
    slt_err_set("%s:%d: derive: %s: run '%s': %.6g tokens are %.6g steps of %lld tokens, outside "
                "train.steps' range",
                s->path, s->derive_line, derive_key(s->derive), r->name, tokens, q,
                (long long)r->tokens_per_step);
    return -1;
  }
  return 0;
}

/* Counts and FLOPs from the declared model, the derived steps, the totals; then the whole
 * config is checked as `slt train` would. */
static int resolve(const slt_sweep *s, slt_sweep_run *r) {
  slt_model *m = slt_model_build(&r->cfg.model, SLT_MODEL_DECLARE);
  if (!m) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s", slt_err_msg());
    slt_err_set("%s: run '%s': %s", s->path, r->name, msg);
    return -1;
  }
  r->counts = slt_model_count(m);
  r->flops_per_token = slt_model_flops_per_token(m, r->cfg.model.seq_len);
  slt_model_free(m);
  const slt_config_train *t = &r->cfg.train;
  r->tokens_per_step = (int64_t)t->micro_batch * t->grad_accum * r->cfg.model.seq_len * s->ranks;
  if (s->derive && derive_steps(s, r)) return -1;
  r->steps = slt_sgt_total_steps(&r->cfg);
  r->tokens = r->steps * r->tokens_per_step;
  r->flops = r->flops_per_token * (double)r->tokens;
  if (slt_config_validate(&r->cfg)) {
    char msg[900];
    snprintf(msg, sizeof msg, "%s", slt_err_msg());
    slt_err_set("%s: run '%s': %s", s->path, r->name, msg);
    return -1;
  }
  return 0;
}

/* Two runs under one name would share a directory. */
static int check_unique(const slt_sweep *s, const slt_sweep_run *runs, int n) {
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (!strcmp(runs[i].name, runs[j].name)) {
        slt_err_set("%s: two runs are both named '%s' (repeated values, or values that differ only "
                    "in characters a name cannot hold)",
                    s->path, runs[i].name);
        return -1;
      }
  return 0;
}

slt_sweep_run *slt_sweep_expand(const slt_sweep *s, int *n) {
  long total = count_runs(s);
  *n = 0;
  if (total < 0) {
    slt_err_set("%s: more than %d runs", s->path, MAX_RUNS);
    return NULL;
  }
  slt_sweep_run *runs = calloc((size_t)total, sizeof *runs);
  if (!runs) {
    slt_err_set("out of memory expanding %s", s->path);
    return NULL;
  }
  for (long i = 0; i < total; i++) {
    slt_sweep_run *r = &runs[i];
    if (choose(s, i, r) || name_run(s, r) || resolve(s, r)) {
      free(runs);
      return NULL;
    }
  }
  if (check_unique(s, runs, (int)total)) {
    free(runs);
    return NULL;
  }
  *n = (int)total;
  return runs;
}
