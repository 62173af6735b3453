#include "metrics.h"

#include "autograd/error.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The message sink (slt_metrics_set_sink); NULL: stdout. */
static slt_say_fn say_sink;
static void *say_user;

int slt_metrics_open(slt_metrics *m, const char *out_dir, slt_metrics_format fmt, bool append) {
  memset(m, 0, sizeof *m);
  m->format = fmt;
  m->tty = isatty(STDOUT_FILENO);
  char path[SLT_CFG_STR + 32];
  snprintf(path, sizeof path, "%s/metrics.%s", out_dir, fmt == SLT_METRICS_CSV ? "csv" : "jsonl");
  m->log = fopen(path, append ? "a" : "w");
  if (!m->log) {
    slt_err_set("%s: cannot open the metrics log: %s", path, strerror(errno));
    return -1;
  }
  if (fmt == SLT_METRICS_CSV && ftell(m->log) == 0)
    fprintf(m->log, "step,loss,lr,grad_norm,tokens,tok_per_s,mfu,val_loss\n");
  return 0;
}

void slt_metrics_close(slt_metrics *m) {
  if (m->line_pending) putchar('\n');
  m->line_pending = false;
  if (m->log) fclose(m->log);
  m->log = NULL;
}

/* JSON has no NaN: a missing value is null. */
static void json_num(FILE *f, const char *key, double v) {
  if (isfinite(v)) fprintf(f, ",\"%s\":%.9g", key, v);
  else fprintf(f, ",\"%s\":null", key);
}

void slt_metrics_log(slt_metrics *m, const slt_step_record *r) {
  if (!m->log) return;
  if (m->format == SLT_METRICS_CSV) {
    fprintf(m->log, "%lld,%.9g,%.9g,%.9g,%lld,%.6g,%.6g,", (long long)r->step, r->loss, r->lr,
            r->grad_norm, (long long)r->tokens, r->tok_per_s, r->mfu);
    if (isfinite(r->val_loss)) fprintf(m->log, "%.9g", r->val_loss);
    fputc('\n', m->log);
  } else {
    fprintf(m->log, "{\"step\":%lld", (long long)r->step);
    json_num(m->log, "loss", r->loss);
    json_num(m->log, "lr", r->lr);
    json_num(m->log, "grad_norm", r->grad_norm);
    fprintf(m->log, ",\"tokens\":%lld", (long long)r->tokens);
    json_num(m->log, "tok_per_s", r->tok_per_s);
    json_num(m->log, "mfu", r->mfu);
    if (isfinite(r->val_loss)) json_num(m->log, "val_loss", r->val_loss);
    fputs("}\n", m->log);
  }
  fflush(m->log);
}

static void format_eta(double s, char *buf, size_t len) {
  if (!isfinite(s) || s < 0) s = 0;
  long t = (long)(s + 0.5);
  if (t >= 3600) snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

void slt_metrics_progress(slt_metrics *m, const slt_step_record *r) {
  if (say_sink) return; /* a library caller reads the records from the log */
  char eta[32], val[48] = "";
  format_eta(r->eta_s, eta, sizeof eta);
  if (isfinite(r->val_loss)) snprintf(val, sizeof val, " | val %.4f", r->val_loss);
  char line[256];
  snprintf(line, sizeof line,
           "step %*lld/%lld | loss %.4f%s | lr %.3e | %.0f tok/s | MFU %.1f%% | ETA %s",
           (int)snprintf(NULL, 0, "%lld", (long long)r->total_steps), (long long)r->step,
           (long long)r->total_steps, r->loss, val, r->lr, r->tok_per_s, 100.0 * r->mfu, eta);
  if (m->tty) {
    /* Eval results stay on screen; ordinary steps rewrite the line. */
    printf("\r\033[K%s", line);
    m->line_pending = !isfinite(r->val_loss);
    if (!m->line_pending) putchar('\n');
  } else {
    printf("%s\n", line);
  }
  fflush(stdout);
}

void slt_metrics_set_sink(slt_say_fn fn, void *user) {
  say_sink = fn;
  say_user = user;
}

void slt_metrics_say(slt_metrics *m, const char *fmt, ...) {
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (say_sink) {
    say_sink(line, say_user);
    return;
  }
  if (m && m->line_pending) {
    putchar('\n');
    m->line_pending = false;
  }
  printf("%s\n", line);
  fflush(stdout);
}
