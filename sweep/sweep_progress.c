/* What a running sweep shows: one line per active run (name, step/total from its metrics log,
 * loss) and an overall line (runs done/total, ETA from the FLOPs trained so far in this sweep),
 * redrawn in place on a terminal; plain lines otherwise, so a log file stays readable. */
#include "sweep_int.h"

#include "autograd/sys.h"

#include <math.h>
#include <stdarg.h>
#include <string.h>

enum { PLAIN_EVERY_S = 30 };

double slt_sweep_work(const slt_sweep_run *r, int64_t from, int64_t to) {
  if (to < from) return 0;
  return (double)(to - from) * (double)r->tokens_per_step * r->flops_per_token;
}

/* Remove the last redraw (the cursor goes back to its first line). */
static void erase(slt_sweep_runner *R) {
  if (!R->tty || !R->drawn) return;
  fprintf(R->o->out, "\033[%dA\033[J", R->drawn);
  R->drawn = 0;
}

void slt_sweep_event(slt_sweep_runner *R, const char *fmt, ...) {
  if (!R->o->out) return;
  erase(R);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(R->o->out, fmt, ap);
  va_end(ap);
  fputc('\n', R->o->out);
  fflush(R->o->out);
  if (R->tty) R->t_drawn = 0; /* redraw at the next chance */
}

static void format_eta(double s, char *buf, size_t len) {
  if (!isfinite(s) || s < 0) {
    snprintf(buf, len, "--");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, len, "%ldh%02ldm", t / 3600, t / 60 % 60);
  else
    snprintf(buf, len, "%ldm%02lds", t / 60, t % 60);
}

/* FLOPs done and left in this sweep: ended runs, the active ones, the queue. */
static void workload(slt_sweep_runner *R, double *done, double *left) {
  *done = R->work_done, *left = 0;
  for (int j = 0; j < R->o->jobs; j++) {
    const slt_sweep_slot *sl = &R->slot[j];
    if (!sl->pid) continue;
    *done += slt_sweep_work(sl->run, sl->step0, sl->step);
    *left += slt_sweep_work(sl->run, sl->step, sl->run->steps);
  }
  for (int q = R->next; q < R->nqueue; q++) {
    const slt_sweep_run *r = &R->runs[R->queue[q]];
    *left += slt_sweep_work(r, 0, r->steps); /* a partial run counts whole: errs long */
  }
}

static void overall(slt_sweep_runner *R, char *buf, size_t len) {
  double done, left, el = slt_now() - R->t_start;
  workload(R, &done, &left);
  char eta[32];
  format_eta(done > 0 ? left / (done / el) : NAN, eta, sizeof eta);
  const slt_sweep_summary *m = R->sum;
  snprintf(buf, len, "sweep: %d/%d runs done (%d failed), %d running, %d queued | ETA %s",
           m->skipped_done + m->done, m->selected, m->failed + m->skipped_failed, R->active,
           R->nqueue - R->next, eta);
}

void slt_sweep_draw(slt_sweep_runner *R, bool force) {
  double now = slt_now();
  if (!R->o->out || (!force && now - R->t_drawn < (R->tty ? 1 : PLAIN_EVERY_S))) return;
  R->t_drawn = now;
  erase(R);
  char line[512];
  for (int j = 0; j < R->o->jobs; j++) {
    slt_sweep_slot *sl = &R->slot[j];
    if (!sl->pid) continue;
    slt_sweep_last_record(&sl->run->cfg, &sl->step, &sl->loss);
    if (sl->step > 0)
      fprintf(R->o->out, "  %s  step %lld/%lld  loss %.4f\n", sl->run->name, (long long)sl->step,
              (long long)sl->run->steps, sl->loss);
    else
      fprintf(R->o->out, "  %s  starting (%lld steps)\n", sl->run->name, (long long)sl->run->steps);
    R->drawn++;
  }
  overall(R, line, sizeof line);
  fprintf(R->o->out, "%s\n", line);
  R->drawn++;
  if (!R->tty) R->drawn = 0;
  fflush(R->o->out);
}
