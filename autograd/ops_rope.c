/* Rotary position embedding, "rotate halves" (HF/LLaMA rotate_half, SPEC §1): for i < D/2,
 *   out[i] = x[i]·cos θ − x[i+D/2]·sin θ,   out[i+D/2] = x[i+D/2]·cos θ + x[i]·sin θ,
 * θ = pos·inv_freq[i]. Backward is the inverse rotation (θ → −θ). */
#include "ops.h"

#include "op_util.h"
#include "parallel.h"

#include <math.h>

typedef struct {
  const float *cos, *sin; /* (T, D/2) */
} rope_saved;

/* cos/sin (T, half) for positions pos0 .. pos0+T−1, rounded as PyTorch does it in float32:
 * inv_freq = 1/(base ** (arange(0, D, 2).float() / D)), freqs = pos.float() * inv_freq,
 * then cos/sin of that float angle (computed in double, rounded once). inv: scratch (half). */
static void rope_table(float *cs, float *sn, float *inv, int T, int half, int pos0, float base) {
  for (int i = 0; i < half; i++) {
    inv[i] = 1.0f / (float)pow((double)base, (double)((float)(2 * i) / (float)(2 * half)));
  }
  /* Two double-precision trig calls per entry: worth threads far below SLT_PAR_MIN. */
#pragma omp parallel for schedule(static) if ((int64_t)T * half >= SLT_PAR_MIN / 16)
  for (int t = 0; t < T; t++)
    for (int i = 0; i < half; i++) {
      float angle = (float)((int64_t)pos0 + t) * inv[i];
      cs[(int64_t)t * half + i] = (float)cos((double)angle);
      sn[(int64_t)t * half + i] = (float)sin((double)angle);
    }
}

/* Rotate every row of x (rows, 2·half) by its table row (row r is position r mod T);
 * sign = −1 rotates backwards. acc: add into y instead of overwriting. */
static void rotate(const float *x, float *y, const float *cs, const float *sn, int64_t rows, int T,
                   int half, float sign, bool acc) {
#pragma omp parallel for schedule(static) if (rows * 2 * half >= SLT_PAR_MIN)
  for (int64_t r = 0; r < rows; r++) {
    const float *x1 = x + r * 2 * half, *x2 = x1 + half;
    const float *c = cs + (r % T) * half, *s = sn + (r % T) * half;
    float *y1 = y + r * 2 * half, *y2 = y1 + half;
    for (int i = 0; i < half; i++) {
      float a = x1[i] * c[i] - sign * x2[i] * s[i], b = x2[i] * c[i] + sign * x1[i] * s[i];
      y1[i] = acc ? y1[i] + a : a;
      y2[i] = acc ? y2[i] + b : b;
    }
  }
}

static void rope_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const rope_saved *s = n->saved;
  const slt_tensor *x = n->in[0];
  int half = x->shape[3] / 2;
  bool set = slt_grad_take(n->in[0]);
  rotate(n->out->grad, x->grad, s->cos, s->sin, slt_tensor_rows(x), x->shape[2], half, -1.0f, !set);
}

slt_tensor *slt_rope(slt_ctx *c, slt_tensor *x, int pos0, float base) {
  if (!x) return NULL;
  if (x->ndim != 4 || x->shape[3] % 2)
    return slt_op_shape_error("rope", "expected x (B, H, T, D) with D even", x, NULL);
  if (pos0 < 0 || !(base > 0.0f) || isinf(base)) {
    slt_err_set("rope: need pos0 >= 0 and a finite base > 0, got pos0 %d, base %g", pos0, base);
    return NULL;
  }
  int T = x->shape[2], half = x->shape[3] / 2;
  float *cs = slt_arena_alloc(&c->arena, (size_t)T * half * sizeof(float));
  float *sn = slt_arena_alloc(&c->arena, (size_t)T * half * sizeof(float));
  float *inv = slt_arena_alloc(&c->arena, (size_t)half * sizeof(float));
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!cs || !sn || !inv || !y) return NULL;
  rope_table(cs, sn, inv, T, half, pos0, base);
  // x, y (B, H, T, D); cos, sin (T, D/2)
  rotate(x->data, y->data, cs, sn, slt_tensor_rows(x), T, half, 1.0f, false);
  if (slt_needs_grad(c, 1, &x)) {
    slt_node *n = slt_record(c, "rope", rope_backward, y, 1, &x, sizeof(rope_saved));
    if (n) n->assigns = true;
    if (!n) return NULL;
    *(rope_saved *)n->saved = (rope_saved){cs, sn};
  }
  return y;
}
