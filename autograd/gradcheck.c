#include "gradcheck.h"

#include "error.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* L = Σ out ⊙ R in double, with nothing recorded. The context is reused across the many
 * evaluations: a fresh arena per call would cost a large allocation each time. */
static int eval_loss(slt_ctx *c, slt_gc_fn f, slt_tensor *const *inputs, const void *user,
                     const float *R, int64_t nout, double *L) {
  slt_ctx_reset(c);
  c->no_grad = true;
  slt_tensor *out = f(c, inputs, user);
  int rc = -1;
  if (out && out->numel == nout) {
    double s = 0;
    for (int64_t i = 0; i < nout; i++) s += (double)out->data[i] * R[i];
    *L = s;
    rc = 0;
  } else if (out) {
    slt_err_set("gradcheck: output size changed between calls");
  }
  return rc;
}

/* One backward pass seeded with R; adds into the inputs' grads. Reports the output size. */
static int analytic_pass(slt_gc_fn f, slt_tensor *const *inputs, const void *user,
                         slt_rng *rng, float **R, int64_t *nout) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *out = f(&c, inputs, user);
  int rc = -1;
  if (out) {
    if (!*R) {
      *nout = out->numel;
      *R = malloc((size_t)out->numel * sizeof(float));
      if (*R) slt_rng_fill_normal(rng, *R, out->numel, 0.0f, 1.0f);
    }
    rc = *R ? slt_backward_seed(&c, out, *R) : -1;
  }
  /* Input grads are heap buffers: they survive the arena. */
  slt_ctx_free(&c);
  return rc;
}

static int numeric_grad(slt_ctx *c, slt_gc_fn f, slt_tensor *const *inputs, const void *user,
                        slt_tensor *x, const float *R, int64_t nout, double h, double *g) {
  static const double offs[4] = {1, -1, 2, -2};
  for (int64_t i = 0; i < x->numel; i++) {
    float saved = x->data[i];
    double L[4];
    for (int k = 0; k < 4; k++) {
      x->data[i] = (float)(saved + offs[k] * h);
      if (eval_loss(c, f, inputs, user, R, nout, &L[k])) {
        x->data[i] = saved;
        return -1;
      }
    }
    x->data[i] = saved;
    g[i] = (8.0 * (L[0] - L[1]) - (L[2] - L[3])) / (12.0 * h);
  }
  return 0;
}

static double rel_norm_err(const float *a, const double *n, int64_t len, double scale) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < len; i++) {
    double d = scale * a[i] - n[i];
    num += d * d;
    den += n[i] * n[i];
  }
  return sqrt(num) / fmax(sqrt(den), 1e-30);
}

static double accum_err(const float *once, const float *twice, int64_t len) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < len; i++) {
    double d = twice[i] - 2.0 * once[i];
    num += d * d;
    den += 4.0 * once[i] * once[i];
  }
  return sqrt(num) / fmax(sqrt(den), 1e-30);
}

int slt_gradcheck(slt_gc_fn f, int nin, slt_tensor *const *inputs, const void *user, double h,
                  uint64_t seed, slt_gc_result *res) {
  memset(res, 0, sizeof *res);
  res->min_injected_err = INFINITY;
  if (nin > SLT_GC_MAX_IN) {
    slt_err_set("gradcheck: %d inputs, at most %d", nin, SLT_GC_MAX_IN);
    return -1;
  }
  slt_rng rng;
  slt_rng_seed(&rng, seed);
  float *R = NULL, *once[SLT_GC_MAX_IN] = {0};
  double *num = NULL;
  int64_t nout = 0;
  int rc = -1;
  slt_ctx ctx;
  slt_ctx_init(&ctx);
  for (int i = 0; i < nin; i++)
    if (inputs[i]->requires_grad) memset(inputs[i]->grad, 0, inputs[i]->numel * sizeof(float));
  if (analytic_pass(f, inputs, user, &rng, &R, &nout)) goto done;
  for (int i = 0; i < nin; i++) {
    if (!inputs[i]->requires_grad) continue;
    once[i] = malloc(inputs[i]->numel * sizeof(float));
    if (!once[i]) goto done;
    memcpy(once[i], inputs[i]->grad, inputs[i]->numel * sizeof(float));
  }
  if (analytic_pass(f, inputs, user, &rng, &R, &nout)) goto done;
  for (int i = 0; i < nin; i++) {
    slt_tensor *x = inputs[i];
    if (!x->requires_grad) continue;
    num = realloc(num, x->numel * sizeof(double));
    if (!num || numeric_grad(&ctx, f, inputs, user, x, R, nout, h, num)) goto done;
    res->rel_err[i] = rel_norm_err(once[i], num, x->numel, 1.0);
    res->injected_err[i] = rel_norm_err(once[i], num, x->numel, 1.01);
    res->accum_err[i] = accum_err(once[i], x->grad, x->numel);
    res->max_rel_err = fmax(res->max_rel_err, res->rel_err[i]);
    res->min_injected_err = fmin(res->min_injected_err, res->injected_err[i]);
    res->max_accum_err = fmax(res->max_accum_err, res->accum_err[i]);
  }
  rc = 0;
done:
  if (rc && !*slt_err_msg()) slt_err_set("gradcheck: out of memory");
  slt_ctx_free(&ctx);
  for (int i = 0; i < nin; i++) free(once[i]);
  free(num);
  free(R);
  return rc;
}

int64_t slt_gradcheck_ste(slt_gc_fn f, slt_tensor *x, const void *user, const float *mask,
                          uint64_t seed) {
  slt_rng rng;
  slt_rng_seed(&rng, seed);
  float *R = NULL;
  int64_t nout = 0;
  memset(x->grad, 0, (size_t)x->numel * sizeof(float));
  slt_tensor *const in[1] = {x};
  if (analytic_pass(f, in, user, &rng, &R, &nout)) {
    free(R);
    return -1;
  }
  if (nout != x->numel) {
    slt_err_set("gradcheck_ste: the output has %lld elements, the input %lld",
                (long long)nout, (long long)x->numel);
    free(R);
    return -1;
  }
  int64_t bad = 0;
  for (int64_t i = 0; i < x->numel; i++) {
    float want = mask[i] * R[i];
    bad += !(x->grad[i] == want); /* exact; -0 equals 0 (a zero mask times a negative R) */
  }
  free(R);
  return bad;
}
