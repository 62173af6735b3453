/* Activations: gelu_tanh, silu, swiglu, relu². Backward recomputes from the input instead of
 * saving anything: one exp per element is cheaper than another activation-sized buffer. */
#include "ops.h"

#include "fastmath.h"

#include "op_util.h"
#include "parallel.h"

#include <stdint.h>
#include <string.h>


#define GELU_K 0.7978845608028654f /* √(2/π) */
#define GELU_C 0.044715f

/* 0.5·x·(1 + tanh(u)) = x·σ(2u): the σ form needs one exp and has no cancellation near 0.
 * With e = exp(−z), σ = 1/(1+e) and 1 − σ = e·σ. */
static inline float gelu_f(float x) {
  float z = 2.0f * GELU_K * (x + GELU_C * x * x * x);
  return x / (1.0f + slt_expf(-z));
}
static inline float gelu_df(float x) {
  float z = 2.0f * GELU_K * (x + GELU_C * x * x * x);
  float e = slt_expf(-z), s = 1.0f / (1.0f + e);
  float dz = 2.0f * GELU_K * (1.0f + 3.0f * GELU_C * x * x);
  return s + (x * s) * (e * s) * dz;
}
static inline float silu_f(float x) {
  return x / (1.0f + slt_expf(-x));
}
/* σ + x·σ(1 − σ), grouped so no intermediate overflows for large |x| */
static inline float silu_df(float x) {
  float e = slt_expf(-x), s = 1.0f / (1.0f + e);
  return s * (1.0f + x * (e * s));
}
static inline float relu2_f(float x) {
  return x > 0.0f ? x * x : 0.0f;
}
static inline float relu2_df(float x) {
  return x > 0.0f ? 2.0f * x : 0.0f;
}

enum { ACT_GELU, ACT_SILU, ACT_RELU2 };
static const char *const act_names[] = {"gelu_tanh", "silu", "relu2"};

/* The kind switch sits outside the loops so each loop is a plain vectorisable map. */
static void act_forward(int kind, const float *x, float *y, int64_t n) {
  switch (kind) {
  case ACT_GELU:
#pragma omp parallel for simd schedule(static) if (n >= SLT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = gelu_f(x[i]);
    break;
  case ACT_SILU:
#pragma omp parallel for simd schedule(static) if (n >= SLT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = silu_f(x[i]);
    break;
  default:
#pragma omp parallel for simd schedule(static) if (n >= SLT_PAR_MIN)
    for (int64_t i = 0; i < n; i++) y[i] = relu2_f(x[i]);
  }
}

/* dx = dy·f'(x), or dx += when the gradient already holds something: two loops, so each one
 * vectorises (a select inside one loop does not). */
#define ACT_BACKWARD(df)                                                                          \
  do {                                                                                            \
    if (set) {                                                                                    \
      _Pragma("omp parallel for simd schedule(static) if (N >= SLT_PAR_MIN)")                    \
      for (int64_t i = 0; i < N; i++) dx[i] = dy[i] * df(x[i]);                                  \
    } else {                                                                                      \
      _Pragma("omp parallel for simd schedule(static) if (N >= SLT_PAR_MIN)")                    \
      for (int64_t i = 0; i < N; i++) dx[i] += dy[i] * df(x[i]);                                 \
    }                                                                                             \
  } while (0)

static void act_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  int kind = *(const int *)n->saved;
  const float *x = n->in[0]->data, *dy = n->out->grad;
  float *dx = n->in[0]->grad;
  int64_t N = n->in[0]->numel;
  bool set = slt_grad_take(n->in[0]);
  switch (kind) {
  case ACT_GELU: ACT_BACKWARD(gelu_df); break;
  case ACT_SILU: ACT_BACKWARD(silu_df); break;
  default: ACT_BACKWARD(relu2_df);
  }
}

static slt_tensor *act(slt_ctx *c, int kind, slt_tensor *x) {
  if (!x) return NULL;
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  act_forward(kind, x->data, y->data, x->numel);
  if (slt_needs_grad(c, 1, &x)) {
    slt_node *n = slt_record(c, act_names[kind], act_backward, y, 1, &x, sizeof(int));
    if (!n) return NULL;
    *(int *)n->saved = kind;
    n->assigns = true;
  }
  return y;
}

slt_tensor *slt_gelu_tanh(slt_ctx *c, slt_tensor *x) {
  return act(c, ACT_GELU, x);
}
slt_tensor *slt_silu(slt_ctx *c, slt_tensor *x) {
  return act(c, ACT_SILU, x);
}
slt_tensor *slt_relu2(slt_ctx *c, slt_tensor *x) {
  return act(c, ACT_RELU2, x);
}

/* ---- swiglu: x (rows, 2F) = [a | u] -> silu(a) ⊙ u (rows, F) ---- */

static void swiglu_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const float *x = n->in[0]->data, *dy = n->out->grad;
  float *dx = n->in[0]->grad;
  int F = slt_tensor_cols(n->out);
  int64_t rows = slt_tensor_rows(n->out);
  bool set = slt_grad_take(n->in[0]);
#pragma omp parallel for schedule(static) if (rows * F >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *a = x + r * 2 * F, *u = a + F, *g = dy + r * F;
    float *da = dx + r * 2 * F, *du = da + F;
    if (set) /* two loops: each vectorises, a select inside one does not */
      for (int j = 0; j < F; j++) {
        da[j] = g[j] * u[j] * silu_df(a[j]);
        du[j] = g[j] * silu_f(a[j]);
      }
    else
      for (int j = 0; j < F; j++) {
        da[j] += g[j] * u[j] * silu_df(a[j]);
        du[j] += g[j] * silu_f(a[j]);
      }
  }
}

slt_tensor *slt_swiglu(slt_ctx *c, slt_tensor *x) {
  if (!x) return NULL;
  int C = slt_tensor_cols(x);
  if (C % 2) return slt_op_shape_error("swiglu", "last dim must be even ([a | u] halves)", x, NULL);
  int F = C / 2, shape[SLT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = F;
  slt_tensor *y = slt_new(c, x->ndim, shape);
  if (!y) return NULL;
  int64_t rows = slt_tensor_rows(x);
#pragma omp parallel for schedule(static) if (rows * F >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *a = x->data + r * 2 * F, *u = a + F;
    float *o = y->data + r * F;
    for (int j = 0; j < F; j++) o[j] = silu_f(a[j]) * u[j];
  }
  if (slt_needs_grad(c, 1, &x)) {
    slt_node *n = slt_record(c, "swiglu", swiglu_backward, y, 1, &x, 0);
    if (!n) return NULL;
    n->assigns = true;
  }
  return y;
}
