/* The training loop. */
#include "trainer.h"

#include "autograd/error.h"
#include "autograd/ops.h"
#include "optim/clip.h"

#include <math.h>
#include <stdio.h>

/* One micro-batch forward and backward; the loss is scaled so accumulated gradients are the
 * mean over the step's micro-batches. Returns the unscaled loss, NAN on error. */
static double micro_step(slt_trainer *t, int micro) {
  const slt_config *c = &t->cfg;
  int B = c->train.micro_batch, T = c->model.seq_len;
  if (slt_loader_batch(t->loader, t->step, micro, t->x, t->y)) return NAN;
  slt_tensor *loss = slt_gpt_loss(&t->model, &t->ctx, t->x, t->y, B, T);
  double value = loss ? loss->data[0] : NAN;
  slt_tensor *scaled = slt_scale(&t->ctx, loss, 1.0f / (float)c->train.grad_accum);
  int rc = slt_backward(&t->ctx, scaled);
  slt_ctx_reset(&t->ctx);
  return rc ? NAN : value;
}

int slt_trainer_step(slt_trainer *t, double *loss, double *grad_norm) {
  const slt_config *c = &t->cfg;
  slt_params_zero_grad(&t->model.params);
  double sum = 0;
  for (int micro = 0; micro < c->train.grad_accum; micro++) {
    double l = micro_step(t, micro);
    if (isnan(l)) return -1;
    sum += l;
  }
  *loss = sum / c->train.grad_accum;
  *grad_norm = slt_clip_grad_norm(&t->model.params, c->optim.clip);
  slt_schedule_point pt = slt_schedule_at(&t->sched, t->step);
  slt_adamw_step(&t->opt, &t->model.params, (float)pt.lr, (float)pt.wd_scale, t->wd, NULL);
  t->step++;
  t->tokens += (int64_t)c->train.grad_accum * c->train.micro_batch * c->model.seq_len;
  return 0;
}

double slt_trainer_eval(slt_trainer *t) {
  const slt_config *c = &t->cfg;
  int B = c->train.micro_batch, T = c->model.seq_len;
  bool was = slt_ctx_set_no_grad(&t->ctx, true);
  double sum = 0;
  int n = 0;
  for (int i = 0; i < c->train.eval_batches; i++) {
    if (slt_loader_val_batch(t->loader, i, t->x, t->y)) break;
    slt_tensor *loss = slt_gpt_loss(&t->model, &t->ctx, t->x, t->y, B, T);
    if (!loss) break;
    sum += loss->data[0];
    n++;
    slt_ctx_reset(&t->ctx);
  }
  slt_ctx_reset(&t->ctx);
  slt_ctx_set_no_grad(&t->ctx, was);
  return n == c->train.eval_batches && n > 0 ? sum / n : NAN;
}

/* Where the run stops: train.steps, or earlier for stop_after. */
static int64_t last_step(const slt_config *c) {
  int64_t last = c->train.steps;
  if (c->train.stop_after > 0 && c->train.stop_after < last) last = c->train.stop_after;
  return last;
}

typedef struct {
  double t_start, t_mark; /* run start; start of the current logging interval */
  int64_t tokens_mark;
} run_clock;

static void fill_record(const slt_trainer *t, run_clock *clk, slt_step_record *r, double loss,
                        double grad_norm) {
  double now = slt_now(), dt = now - clk->t_mark;
  *r = (slt_step_record){.step = t->step, .total_steps = t->cfg.train.steps, .loss = loss,
                         .lr = slt_schedule_at(&t->sched, t->step - 1).lr,
                         .grad_norm = grad_norm, .tokens = t->tokens, .val_loss = NAN};
  r->tok_per_s = dt > 0 ? (double)(t->tokens - clk->tokens_mark) / dt : 0;
  r->mfu = t->peak_gflops > 0 ? r->tok_per_s * t->flops_per_token / (t->peak_gflops * 1e9) : 0;
  double per_step = (now - clk->t_start) / (double)(t->step > 0 ? t->step : 1);
  r->eta_s = per_step * (double)(last_step(&t->cfg) - t->step);
  clk->t_mark = now;
  clk->tokens_mark = t->tokens;
}

int slt_trainer_run(slt_trainer *t, volatile sig_atomic_t *stop) {
  const slt_config *c = &t->cfg;
  int64_t last = last_step(c);
  run_clock clk = {slt_now(), slt_now(), t->tokens};
  double loss = NAN, grad_norm = NAN, val = NAN;
  slt_step_record r;
  while (t->step < last) {
    if (slt_trainer_step(t, &loss, &grad_norm)) return -1;
    if (!isfinite(loss)) {
      slt_err_set("loss is %g at step %lld: training diverged (lower optim.lr?)", loss,
                  (long long)t->step);
      return -1;
    }
    bool interrupted = stop && *stop;
    bool out_of_time = c->train.time_limit > 0 && slt_now() - clk.t_start >= c->train.time_limit;
    bool eval_now = c->train.eval_every > 0 &&
                    (t->step % c->train.eval_every == 0 || t->step == last);
    bool log_now = t->step % c->train.log_every == 0 || t->step == last || eval_now ||
                   interrupted || out_of_time;
    if (!log_now) continue;
    fill_record(t, &clk, &r, loss, grad_norm);
    if (eval_now) {
      double t0 = slt_now();
      r.val_loss = val = slt_trainer_eval(t);
      if (isnan(val)) return -1;
      clk.t_mark += slt_now() - t0; /* eval time is not training throughput */
    }
    slt_metrics_log(&t->metrics, &r);
    slt_metrics_progress(&t->metrics, &r);
    if (interrupted || out_of_time) {
      slt_metrics_say(&t->metrics, "%s: stopping cleanly after step %lld",
                      interrupted ? "interrupted" : "train.time_limit reached", (long long)t->step);
      break;
    }
  }
  double elapsed = slt_now() - clk.t_start;
  slt_metrics_say(&t->metrics, "done: %lld steps, %lld tokens in %.1f s; final train loss %.4f",
                  (long long)t->step, (long long)t->tokens, elapsed, loss);
  if (isfinite(val)) {
    if (isfinite(t->loss_floor))
      slt_metrics_say(&t->metrics, "final val loss %.4f; entropy floor %.4f (gap %.4f nats)", val,
                      t->loss_floor, val - t->loss_floor);
    else
      slt_metrics_say(&t->metrics, "final val loss %.4f (ppl %.2f)", val, exp(val));
  }
  return 0;
}
