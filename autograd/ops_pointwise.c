/* add, sub, mul (b same shape as a, or a row vector broadcast over a's rows) and scale. */
#include "ops.h"

#include "op_util.h"
#include "parallel.h"

enum { OP_ADD, OP_SUB, OP_MUL };
static const char *const op_names[] = {"add", "sub", "mul"};

typedef struct {
  int kind;
  bool broadcast;
} binary_saved;

static void binary_backward(slt_ctx *c, slt_node *n) {
  const binary_saved *s = n->saved;
  slt_tensor *a = n->in[0], *b = n->in[1];
  const float *g = n->out->grad;
  int64_t N = a->numel;
  int cols = slt_tensor_cols(a);
  if (a->requires_grad) {
    float *da = a->grad;
    bool set = slt_grad_take(a);
    if (s->kind == OP_MUL) {
#pragma omp parallel for schedule(static) if (N >= SLT_PAR_MIN)
      for (int64_t i = 0; i < N; i++)
        da[i] = slt_grad_acc(set, da[i], g[i] * b->data[s->broadcast ? i % cols : i]);
    } else {
#pragma omp parallel for schedule(static) if (N >= SLT_PAR_MIN)
      for (int64_t i = 0; i < N; i++) da[i] = slt_grad_acc(set, da[i], g[i]);
    }
  }
  if (b->requires_grad) {
    float sign = s->kind == OP_SUB ? -1.0f : 1.0f;
    const float *w = s->kind == OP_MUL ? a->data : NULL;
    if (s->broadcast) {
      float *scratch = slt_arena_alloc(&c->arena, sizeof(float) * SLT_COLSUM_PIECES * cols);
      slt_column_sums(slt_grad_of(c, b), g, w, N / cols, cols, sign, scratch);
    } else {
      float *db = b->grad;
      bool set = slt_grad_take(b);
#pragma omp parallel for schedule(static) if (N >= SLT_PAR_MIN)
      for (int64_t i = 0; i < N; i++)
        db[i] = slt_grad_acc(set, db[i], sign * g[i] * (w ? w[i] : 1.0f));
    }
  }
}

static slt_tensor *binary(slt_ctx *c, int kind, slt_tensor *a, slt_tensor *b) {
  if (!a || !b) return NULL;
  int cols = slt_tensor_cols(a);
  bool same = slt_tensor_same_shape(a, b);
  bool broadcast = !same && b->numel == cols;
  if (!same && !broadcast)
    return slt_op_shape_error(op_names[kind],
                              "b must have a's shape or be a row of a's last dim", a, b);
  slt_tensor *out = slt_new(c, a->ndim, a->shape);
  if (!out) return NULL;
  const float *x = a->data, *y = b->data;
  float *o = out->data;
  int64_t N = a->numel;
#pragma omp parallel for schedule(static) if (N >= SLT_PAR_MIN)
  for (int64_t i = 0; i < N; i++) {
    float yi = y[broadcast ? i % cols : i];
    o[i] = kind == OP_ADD ? x[i] + yi : kind == OP_SUB ? x[i] - yi : x[i] * yi;
  }
  slt_tensor *in[2] = {a, b};
  if (slt_needs_grad(c, 2, in)) {
    slt_node *n = slt_record(c, op_names[kind], binary_backward, out, 2, in, sizeof(binary_saved));
    if (n) n->assigns = true;
    if (!n) return NULL;
    *(binary_saved *)n->saved = (binary_saved){kind, broadcast};
  }
  return out;
}

slt_tensor *slt_add(slt_ctx *c, slt_tensor *a, slt_tensor *b) { return binary(c, OP_ADD, a, b); }
slt_tensor *slt_sub(slt_ctx *c, slt_tensor *a, slt_tensor *b) { return binary(c, OP_SUB, a, b); }
slt_tensor *slt_mul(slt_ctx *c, slt_tensor *a, slt_tensor *b) { return binary(c, OP_MUL, a, b); }

static void scale_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  float s = *(const float *)n->saved;
  slt_tensor *a = n->in[0];
  const float *g = n->out->grad;
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < a->numel; i++) a->grad[i] += s * g[i];
}

slt_tensor *slt_scale(slt_ctx *c, slt_tensor *a, float s) {
  if (!a) return NULL;
  slt_tensor *out = slt_new(c, a->ndim, a->shape);
  if (!out) return NULL;
#pragma omp parallel for schedule(static) if (a->numel >= SLT_PAR_MIN)
  for (int64_t i = 0; i < a->numel; i++) out->data[i] = s * a->data[i];
  if (slt_needs_grad(c, 1, &a)) {
    slt_node *n = slt_record(c, "scale", scale_backward, out, 1, &a, sizeof(float));
    if (!n) return NULL;
    *(float *)n->saved = s;
  }
  return out;
}
