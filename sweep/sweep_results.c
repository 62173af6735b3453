/* A run directory's state: its metrics log read back, its config written (or checked against
 * the sweep's), and the DONE / FAILED markers, each written whole (temp file, fsync, rename) so
 * a kill at any moment leaves either the old state or the new one. */
#include "sweep.h"
#include "sweep_int.h"

#include "autograd/durable.h"
#include "autograd/error.h"
#include "ckpt/checkpoint.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *slt_sweep_status_name(slt_sweep_status st) {
  static const char *const names[] = {"pending", "partial", "done", "failed"};
  return names[st];
}

/* The number after "key": in a JSON record (null: NAN); false when the key is absent. */
static bool json_num(const char *line, const char *key, double *out) {
  char pat[64];
  snprintf(pat, sizeof pat, "\"%s\":", key);
  const char *p = strstr(line, pat);
  if (!p) return false;
  p += strlen(pat);
  char *end;
  *out = strncmp(p, "null", 4) ? strtod(p, &end) : NAN;
  return !strncmp(p, "null", 4) || end != p;
}

/* One record: step, loss, tokens, tok_per_s, val_loss (NAN when absent). */
static bool parse_record(const char *line, bool csv, double v[5]) {
  v[4] = NAN;
  if (csv) {
    /* step,loss,lr,grad_norm,tokens,tok_per_s,mfu,val_loss */
    int got = sscanf(line, "%lf,%lf,%*f,%*f,%lf,%lf,%*f,%lf", &v[0], &v[1], &v[2], &v[3], &v[4]);
    return got >= 4;
  }
  json_num(line, "val_loss", &v[4]);
  return json_num(line, "step", &v[0]) && json_num(line, "loss", &v[1]) &&
         json_num(line, "tokens", &v[2]) && json_num(line, "tok_per_s", &v[3]);
}

void slt_sweep_metrics_path(const slt_config *cfg, char *buf, size_t len) {
  bool csv = cfg->train.metrics == SLT_METRICS_CSV;
  snprintf(buf, len, "%s/metrics.%s", cfg->out_dir, csv ? "csv" : "jsonl");
}

int slt_sweep_read_metrics(const slt_config *cfg, slt_sweep_result *r) {
  *r = (slt_sweep_result){0, 0, NAN, NAN, NAN, 0};
  char path[PATH_MAX];
  slt_sweep_metrics_path(cfg, path, sizeof path);
  bool csv = cfg->train.metrics == SLT_METRICS_CSV;
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char *line = NULL;
  size_t cap = 0;
  int lineno = 0, rc = 0;
  double prev_tokens = 0;
  while (getline(&line, &cap, f) > 0) {
    double v[5];
    if (++lineno == 1 && csv) continue; /* the header */
    if (!strchr(line, '\n')) break;     /* a record being written (or cut by a kill) */
    if (!parse_record(line, csv, v)) {
      slt_err_set("%s:%d: not a metrics record", path, lineno);
      rc = -1;
      break;
    }
    r->step = (int64_t)v[0], r->train_loss = v[1], r->tokens = (int64_t)v[2];
    if (v[3] > 0) r->seconds += (v[2] - prev_tokens) / v[3];
    prev_tokens = v[2];
    r->val_loss = v[4];
    if (isfinite(v[4]) && !(v[4] >= r->best_val_loss)) r->best_val_loss = v[4];
  }
  free(line);
  fclose(f);
  return rc;
}

int slt_sweep_last_record(const slt_config *cfg, int64_t *step, double *loss) {
  char path[PATH_MAX], buf[4096];
  slt_sweep_metrics_path(cfg, path, sizeof path);
  FILE *f = fopen(path, "r");
  if (!f) return -1;
  long size = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
  long from = size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0;
  size_t got = size >= 0 && !fseek(f, from, SEEK_SET) ? fread(buf, 1, sizeof buf - 1, f) : 0;
  fclose(f);
  buf[got] = '\0';
  char *end = strrchr(buf, '\n'), *start;
  if (!end) return -1;
  *end = '\0';
  start = strrchr(buf, '\n');
  start = start ? start + 1 : buf;
  double v[5];
  if (!parse_record(start, cfg->train.metrics == SLT_METRICS_CSV, v)) return -1;
  *step = (int64_t)v[0], *loss = v[1];
  return 0;
}

static bool exists(const char *dir, const char *name) {
  char path[PATH_MAX];
  struct stat st;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return stat(path, &st) == 0;
}

/* A metrics log or a checkpoint: the run has started. */
static bool started(const slt_sweep_run *r) {
  char path[PATH_MAX];
  struct stat st;
  slt_sweep_metrics_path(&r->cfg, path, sizeof path);
  if (!stat(path, &st) && st.st_size > 0) return true;
  DIR *d = opendir(r->dir);
  bool ckpt = false;
  for (struct dirent *e; d && !ckpt && (e = readdir(d));)
    ckpt = !strncmp(e->d_name, "ckpt_", 5) && strstr(e->d_name, ".h5");
  if (d) closedir(d);
  return ckpt;
}

slt_sweep_status slt_sweep_run_status(const slt_sweep_run *r) {
  if (exists(r->dir, "DONE")) return SLT_RUN_DONE;
  if (exists(r->dir, "FAILED")) return SLT_RUN_FAILED;
  return started(r) ? SLT_RUN_PARTIAL : SLT_RUN_PENDING;
}

int slt_sweep_write_file(const char *path, const char *text) {
  char tmp[PATH_MAX + 32];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  FILE *f = fopen(tmp, "w");
  bool ok = f && fputs(text, f) >= 0 && !fflush(f) && !fsync(fileno(f));
  if (!f || fclose(f) || !ok) {
    slt_err_set("%s: cannot write: %s", path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  return slt_durable_rename(tmp, path);
}

int slt_sweep_mkdirs(const char *dir) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1;; p++) {
    if (*p && *p != '/') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(buf, 0777) && errno != EEXIST) {
      slt_err_set("cannot create directory '%s': %s", buf, strerror(errno));
      return -1;
    }
    if (!(*p = c)) return 0;
  }
}

int slt_sweep_check_config(const slt_sweep_run *r) {
  char path[PATH_MAX + 16], diff[1024];
  snprintf(path, sizeof path, "%s/config.yaml", r->dir);
  if (access(path, F_OK)) return 0;
  slt_config there;
  slt_config_defaults(&there);
  if (slt_config_load_file(&there, path)) return -1;
  there.train.threads = r->cfg.train.threads; /* the runner chooses it per launch */
  if (slt_config_diff(&there, &r->cfg, "", diff, sizeof diff)) {
    slt_err_set("%s: the run's config differs from what the sweep file now gives: %s (there vs "
                "now); restore the sweep file or move the run directory away",
                path, diff);
    return -1;
  }
  return 0;
}

int slt_sweep_prepare(const slt_sweep_run *r) {
  char path[PATH_MAX + 16];
  snprintf(path, sizeof path, "%s/config.yaml", r->dir);
  if (slt_sweep_mkdirs(r->dir)) return -1;
  return access(path, F_OK) ? slt_config_save(&r->cfg, path) : slt_sweep_check_config(r);
}

/* The step of the newest complete checkpoint (-1 without one). */
static int64_t checkpoint_step(const char *dir) {
  char path[PATH_MAX];
  if (slt_ckpt_latest(dir, path, sizeof path, NULL, 0) != 1) return -1;
  const char *base = strrchr(path, '/');
  long long step;
  return sscanf(base ? base + 1 : path, "ckpt_%lld.h5", &step) == 1 ? step : -1;
}

int slt_sweep_finish(const slt_sweep *s, const slt_sweep_run *r) {
  slt_sweep_result res;
  if (checkpoint_step(r->dir) != r->steps) return 0;
  if (slt_sweep_read_metrics(&r->cfg, &res)) return -1;
  if (res.step != r->steps) return 0;
  char line[16384], path[PATH_MAX + 8];
  slt_sweep_result_json(s, r, &res, SLT_RUN_DONE, line, sizeof line - 1);
  strcat(line, "\n");
  snprintf(path, sizeof path, "%s/DONE", r->dir);
  if (slt_sweep_write_file(path, line)) return -1;
  snprintf(path, sizeof path, "%s/FAILED", r->dir);
  unlink(path); /* an earlier attempt's; DONE wins anyway */
  return 1;
}

int slt_sweep_mark_failed(const slt_sweep_run *r, const char *line) {
  char path[PATH_MAX + 8], text[2048];
  snprintf(path, sizeof path, "%s/FAILED", r->dir);
  snprintf(text, sizeof text, "%s\n", line);
  return slt_sweep_write_file(path, text);
}
