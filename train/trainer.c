/* The training loop. */
#include "autograd/sys.h"
#include "kernels/gemm.h"
#include "trainer.h"

#include "autograd/error.h"
#include "autograd/ops.h"
#include "optim/clip.h"
#include "ckpt/checkpoint.h"
#include "train/dist.h"
#include "train/trainer_dist.h"
#include "train/trainer_gemm.h"

#include <malloc.h>
#include <math.h>
#include <stdio.h>

/* One micro-batch forward and backward; the loss is scaled so accumulated gradients, summed
 * over ranks after the last micro-batch, are the mean over the global batch's micro-batches.
 * The unscaled loss goes to *value: a NaN there is a diverged run (the caller says so), not an
 * error. Returns 0, or -1 with the error recorded. */
static int micro_step(slt_trainer *t, bool last, double *value) {
  const slt_config *c = &t->cfg;
  int B = c->train.micro_batch, T = c->model.seq_len;
  /* The batch at the loader's cursor (step, micro step), so a checkpoint stores where the data
   * stands and a resumed loader continues from there. */
  if (slt_loader_next(t->loader, t->x, t->y)) return -1;
  slt_tensor *loss = slt_model_loss(t->model, &t->ctx, t->x, t->y, B, T);
  if (!loss) {
    slt_ctx_reset(&t->ctx);
    return -1;
  }
  *value = loss->data[0];
  float n = (float)c->train.grad_accum * (float)slt_dist_world();
  slt_tensor *scaled = slt_scale(&t->ctx, loss, 1.0f / n);
  int rc = slt_trainer_dist_backward(t, scaled, last);
  slt_ctx_reset(&t->ctx);
  return rc;
}

slt_params *slt_trainer_guide(slt_trainer *t) {
  return slt_sgt_active(&t->sgt) ? &t->sgt.guide.params : NULL;
}

/* After the optimizer step that brings α to 0: free the guides and their optimizer state. */
static void end_guidance(slt_trainer *t) {
  double before = slt_rss_mb();
  int64_t bytes = slt_sgt_bytes(&t->sgt);
  slt_sgt_release(&t->sgt, t->model);
  malloc_trim(0); /* hand the freed pages back to the system now, not at the next growth */
  slt_metrics_say(&t->metrics, "sgt: guidance over after step %lld: freed the guides and their "
                  "optimizer state (%.1f MB); resident memory %.1f -> %.1f MB",
                  (long long)t->step, bytes / 1e6, before, slt_rss_mb());
}

/* SGT after an optimizer step: the guides' own update; then α of the next step (which an
 * evaluation now also uses), the guides' end, and fixedflop's return to the start of the data. */
static void sgt_after_step(slt_trainer *t, slt_schedule_point pt) {
  if (slt_sgt_active(&t->sgt))
    slt_optim_step(t->sgt.opt, &t->sgt.guide.params, (float)pt.lr, (float)pt.wd_scale, t->sgt.wd,
                   t->sgt.lr_mult);
}

static int sgt_next_step(slt_trainer *t) {
  if (slt_sgt_active(&t->sgt)) {
    t->sgt.guide.alpha = (float)slt_sgt_alpha(&t->cfg, t->step);
    if (t->sgt.guide.alpha <= 0) end_guidance(t);
  }
  int64_t data_step = slt_sgt_data_step(&t->cfg, t->step);
  if (slt_loader_get_cursor(t->loader).step != data_step)
    return slt_loader_seek(t->loader, data_step);
  return 0;
}

int slt_trainer_step(slt_trainer *t, double *loss, double *grad_norm) {
  const slt_config *c = &t->cfg;
  slt_params *guide = slt_trainer_guide(t);
  slt_params_zero_grad(t->model->params);
  if (guide) slt_params_zero_grad(guide);
  double sum = 0;
  int rc = 0;
  slt_trainer_gemm_weights_begin(t); /* bf16: each weight rounded once for the whole step */
  for (int micro = 0; micro < c->train.grad_accum && !rc; micro++) {
    double l = 0;
    rc = micro_step(t, micro == c->train.grad_accum - 1, &l);
    sum += l;
  }
  slt_trainer_gemm_weights_end(); /* the optimizer changes them next */
  if (rc) return -1;
  *loss = slt_trainer_dist_mean(sum, c->train.grad_accum);
  slt_params *stores[2] = {t->model->params, guide};
  *grad_norm = slt_clip_grad_norm_multi(stores, guide ? 2 : 1, c->optim.clip);
  slt_schedule_point pt = slt_schedule_at(&t->sched, t->step);
  slt_optim_step(t->opt, t->model->params, (float)pt.lr, (float)pt.wd_scale, t->wd, t->lr_mult);
  sgt_after_step(t, pt);
  t->step++;
  t->tokens += (int64_t)c->train.grad_accum * c->train.micro_batch * c->model.seq_len *
               slt_dist_world();
  return sgt_next_step(t);
}

double slt_trainer_eval(slt_trainer *t) {
  const slt_config *c = &t->cfg;
  int B = c->train.micro_batch, T = c->model.seq_len;
  bool was = slt_ctx_set_no_grad(&t->ctx, true);
  slt_trainer_gemm_weights_begin(t);
  double sum = 0;
  int n = 0;
  for (int i = 0; i < c->train.eval_batches; i++) {
    if (slt_loader_val_batch(t->loader, i, t->x, t->y)) break;
    slt_tensor *loss = slt_model_loss(t->model, &t->ctx, t->x, t->y, B, T);
    if (!loss) break;
    sum += loss->data[0];
    n++;
    slt_ctx_reset(&t->ctx);
  }
  slt_ctx_reset(&t->ctx);
  slt_ctx_set_no_grad(&t->ctx, was);
  slt_trainer_gemm_weights_end();
  /* Every rank evaluates its own val rows; one that failed makes the mean NAN everywhere. */
  bool ok = n == c->train.eval_batches && n > 0;
  double mean = slt_trainer_dist_mean(ok ? sum : NAN, c->train.eval_batches);
  if (ok && isnan(mean)) slt_err_set("evaluation failed (or gave NaN) on another rank");
  return mean;
}

/* Where the run stops: the total steps (SGT's fixedflop adds some), or earlier for stop_after. */
static int64_t last_step(const slt_trainer *t) {
  int64_t last = t->total_steps;
  int64_t stop = t->cfg.train.stop_after;
  if (stop > 0 && stop < last) last = stop;
  return last;
}

typedef struct {
  double t_start, t_mark; /* run start; start of the current logging interval */
  int64_t tokens_mark;
  int64_t step0;          /* step the run started at (after a resume) */
  double step_s, eval_s;  /* estimates of a training step's and an evaluation's seconds */
} run_clock;

/* The sgemm peak measured at start understates the machine when something else was running
 * then; a rate above it says so. Measure again and keep the best (about a second, rarely). */
static void recheck_peak(slt_trainer *t, double tok_per_s) {
  double flops = tok_per_s * t->flops_per_token / slt_dist_world(); /* this rank's */
  if (t->peak_gflops > 0 && flops > t->peak_gflops * 1e9) {
    double again = slt_gemm_peak_gflops();
    if (again > t->peak_gflops) t->peak_gflops = again;
  }
}

static void fill_record(slt_trainer *t, run_clock *clk, slt_step_record *r, double loss,
                        double grad_norm) {
  double now = slt_now(), dt = now - clk->t_mark;
  *r = (slt_step_record){.step = t->step, .total_steps = t->total_steps, .loss = loss,
                         .lr = slt_schedule_at(&t->sched, t->step - 1).lr,
                         .grad_norm = grad_norm, .tokens = t->tokens, .val_loss = NAN};
  r->tok_per_s = dt > 0 ? (double)(t->tokens - clk->tokens_mark) / dt : 0;
  recheck_peak(t, r->tok_per_s);
  double peak = t->peak_gflops * 1e9 * slt_dist_world(); /* tokens are every rank's */
  r->mfu = peak > 0 ? r->tok_per_s * t->flops_per_token / peak : 0;
  int64_t done = t->step - clk->step0;
  double per_step = (now - clk->t_start) / (double)(done > 0 ? done : 1);
  r->eta_s = per_step * (double)(last_step(t) - t->step);
  clk->t_mark = slt_now(); /* after a peak re-measurement, which is not training time */
  clk->tokens_mark = t->tokens;
}

/* Every eval_every steps and at the end of training; not at a stop_after or time_limit stop,
 * so a run split in pieces logs exactly what the straight run logs. */
static bool is_eval_step(const slt_trainer *t, int64_t step) {
  int64_t every = t->cfg.train.eval_every;
  return every > 0 && (step % every == 0 || step == t->total_steps);
}

/* Seconds the final checkpoint will take: the last one's time, or before any was written the
 * checkpoint's size at a slow disk's 100 MB/s, so the first estimate errs on the safe side. */
static double ckpt_estimate(const slt_trainer *t) {
  if (t->ckpt_step >= 0 && t->ckpt_s > 0) return t->ckpt_s;
  return (double)t->model->params->numel * 3 * sizeof(float) / 100e6;
}

/* train.time_limit: would the next step, its evaluation and the checkpoint written on stopping
 * end after the limit? Counted from the trainer's creation, as a job scheduler counts. */
static bool out_of_time(const slt_trainer *t, const run_clock *clk, int64_t last) {
  double limit = t->cfg.train.time_limit;
  if (limit <= 0 || t->step >= last) return false;
  double next = clk->step_s + (is_eval_step(t, t->step + 1) ? clk->eval_s : 0);
  return slt_now() - t->t_created + next + ckpt_estimate(t) > limit;
}

/* A step's time varies (page faults, other load): follow increases at once, decreases slowly. */
static void update_estimate(double *est, double seconds) {
  *est = seconds > *est ? seconds : 0.9 * *est + 0.1 * seconds;
}

static int checkpoint(slt_trainer *t) {
  char path[SLT_CFG_STR + 32];
  if (slt_trainer_save(t, path, sizeof path)) return -1;
  slt_metrics_say(&t->metrics, "checkpoint: %s (%.2f s)", path, t->ckpt_s);
  return 0;
}

static void report_end(slt_trainer *t, const run_clock *clk, double loss, double val) {
  double elapsed = slt_now() - clk->t_start;
  t->last_loss = loss, t->last_val = val, t->run_seconds = elapsed;
  slt_metrics_say(&t->metrics, "done: %lld steps, %lld tokens in %.1f s; final train loss %.4f",
                  (long long)t->step, (long long)t->tokens, elapsed, loss);
  if (isfinite(val)) {
    if (isfinite(t->loss_floor))
      slt_metrics_say(&t->metrics, "final val loss %.4f; entropy floor %.4f (gap %.4f nats)", val,
                      t->loss_floor, val - t->loss_floor);
    else
      slt_metrics_say(&t->metrics, "final val loss %.4f (ppl %.2f)", val, exp(val));
  }
}

/* The progress line, the metrics record when `record` (and the evaluation on eval steps); 0,
 * or -1 when evaluation failed. */
static int log_step(slt_trainer *t, run_clock *clk, double loss, double grad_norm, bool eval,
                    bool record, double *val) {
  slt_step_record r;
  fill_record(t, clk, &r, loss, grad_norm);
  if (eval) {
    double e0 = slt_now();
    r.val_loss = *val = slt_trainer_eval(t);
    if (isnan(*val)) return -1;
    if (!(*val >= t->best_val)) t->best_val = *val; /* NAN best: the first one */
    update_estimate(&clk->eval_s, slt_now() - e0);
    clk->t_mark += slt_now() - e0; /* eval time is not training throughput */
  }
  if (record) slt_metrics_log(&t->metrics, &r);
  slt_metrics_progress(&t->metrics, &r);
  return 0;
}

int slt_trainer_run(slt_trainer *t, volatile sig_atomic_t *stop) {
  const slt_config *c = &t->cfg;
  int64_t last = last_step(t);
  run_clock clk = {slt_now(), slt_now(), t->tokens, t->step, 0, 0};
  double loss = NAN, grad_norm = NAN, val = NAN;
  t->last_loss = t->last_val = t->best_val = NAN;
  t->interrupted = false;
  if (t->step >= last) {
    slt_metrics_say(&t->metrics, "nothing to do: already at step %lld of %lld",
                    (long long)t->step, (long long)last);
    return 0;
  }
  while (t->step < last) {
    double t0 = slt_now();
    if (slt_trainer_step(t, &loss, &grad_norm)) return -1;
    update_estimate(&clk.step_s, slt_now() - t0);
    if (!isfinite(loss)) {
      slt_err_set("loss is %g at step %lld: training diverged (lower optim.lr?)", loss,
                  (long long)t->step);
      return -1;
    }
    bool eval_now = is_eval_step(t, t->step);
    /* A signal to any rank stops all; one during the last step changes nothing (it completes). */
    bool interrupted = t->step < last && slt_trainer_dist_any(stop && *stop);
    /* The metrics log gets the same records however the run is split; a stop only shows. */
    bool record = t->step % c->train.log_every == 0 || eval_now || t->step == t->total_steps;
    bool shown = record || t->step == last || interrupted;
    if (shown && log_step(t, &clk, loss, grad_norm, eval_now, record, &val)) return -1;
    /* Decided after this step's evaluation, which the estimate cannot know about. */
    bool late = !interrupted && c->train.time_limit > 0 &&
                slt_trainer_dist_any(out_of_time(t, &clk, last));
    if (late && !shown && log_step(t, &clk, loss, grad_norm, false, false, &val)) return -1;
    if (t->step == last || interrupted || late ||
        (c->train.ckpt_every > 0 && t->step % c->train.ckpt_every == 0)) {
      double k0 = slt_now();
      if (checkpoint(t)) return -1;
      clk.t_mark += slt_now() - k0; /* nor is checkpoint time */
    }
    if (interrupted || late) {
      t->interrupted = interrupted;
      slt_metrics_say(&t->metrics, "%s: stopped cleanly after step %lld",
                      interrupted ? "interrupted" : "train.time_limit reached", (long long)t->step);
      break;
    }
  }
  report_end(t, &clk, loss, val);
  return 0;
}
