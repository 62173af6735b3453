#include "tape.h"

#include "error.h"

#include <string.h>

void slt_ctx_init(slt_ctx *c) { memset(c, 0, sizeof *c); }

void slt_ctx_free(slt_ctx *c) {
  slt_arena_free(&c->arena);
  c->tape = NULL;
  c->nodes = 0;
}

void slt_ctx_reset(slt_ctx *c) {
  slt_arena_reset(&c->arena);
  c->tape = NULL;
  c->nodes = 0;
}

bool slt_ctx_set_no_grad(slt_ctx *c, bool on) {
  bool was = c->no_grad;
  c->no_grad = on;
  return was;
}

void slt_ctx_set_hook(slt_ctx *c, slt_backward_hook fn, void *user) {
  c->hook = fn;
  c->hook_user = user;
}

static slt_tensor *tensor_header(slt_ctx *c, int ndim, const int *shape) {
  slt_tensor tmp = {0};
  if (slt_tensor_set_shape(&tmp, ndim, shape)) return NULL;
  slt_tensor *t = slt_arena_alloc(&c->arena, sizeof *t);
  if (t) *t = tmp;
  return t;
}

slt_tensor *slt_new(slt_ctx *c, int ndim, const int *shape) {
  slt_tensor *t = tensor_header(c, ndim, shape);
  if (!t) return NULL;
  t->data = slt_arena_alloc(&c->arena, (size_t)t->numel * sizeof(float));
  return t->data ? t : NULL;
}

slt_tensor *slt_zeros(slt_ctx *c, int ndim, const int *shape) {
  slt_tensor *t = slt_new(c, ndim, shape);
  if (t) memset(t->data, 0, (size_t)t->numel * sizeof(float));
  return t;
}

slt_tensor *slt_wrap(slt_ctx *c, float *data, int ndim, const int *shape) {
  slt_tensor *t = tensor_header(c, ndim, shape);
  if (t) t->data = data;
  return t;
}

bool slt_needs_grad(const slt_ctx *c, int nin, slt_tensor *const *in) {
  if (c->no_grad) return false;
  for (int i = 0; i < nin; i++)
    if (in[i] && in[i]->requires_grad) return true;
  return false;
}

slt_node *slt_record(slt_ctx *c, const char *op, slt_backward_fn fn, slt_tensor *out, int nin,
                     slt_tensor *const *in, size_t saved_bytes) {
  slt_node *n = slt_arena_calloc(&c->arena, sizeof *n);
  if (!n) return NULL;
  if (saved_bytes) {
    n->saved = slt_arena_calloc(&c->arena, saved_bytes);
    if (!n->saved) return NULL;
  }
  n->backward = fn;
  n->op = op;
  n->out = out;
  n->nin = nin;
  for (int i = 0; i < nin; i++) n->in[i] = in[i];
  n->prev = c->tape;
  c->tape = n;
  c->nodes++;
  out->node = n;
  out->requires_grad = true;
  return n;
}

float *slt_grad_of(slt_ctx *c, slt_tensor *t) {
  if (!t->grad) t->grad = slt_arena_calloc(&c->arena, (size_t)t->numel * sizeof(float));
  else if (t->grad_unset) memset(t->grad, 0, (size_t)t->numel * sizeof(float));
  t->grad_unset = false;
  return t->grad;
}

bool slt_grad_take(slt_tensor *t) {
  bool set = t->grad_unset;
  t->grad_unset = false;
  return set;
}

/* The input gradients of n before its backward: an `assigns` node gets unset buffers, any other
 * node zero-filled ones. 0, or -1 out of memory. */
static int prepare_input_grads(slt_ctx *c, slt_node *n) {
  for (int i = 0; i < n->nin; i++) {
    slt_tensor *t = n->in[i];
    if (!t->requires_grad) continue;
    if (!t->grad && n->assigns) {
      t->grad = slt_arena_alloc(&c->arena, (size_t)t->numel * sizeof(float));
      t->grad_unset = t->grad != NULL;
    }
    if (!n->assigns && !slt_grad_of(c, t)) return -1;
    if (!t->grad) return -1;
  }
  return 0;
}

/* After an `assigns` backward: a gradient it left unwritten (an input it had no gradient for)
 * becomes zeros, as a zero-filled buffer would have been. */
static void settle_input_grads(slt_ctx *c, slt_node *n) {
  for (int i = 0; i < n->nin; i++)
    if (n->in[i]->requires_grad && n->in[i]->grad_unset) slt_grad_of(c, n->in[i]);
}

int slt_backward_seed(slt_ctx *c, slt_tensor *t, const float *seed) {
  if (!t) return -1; /* the forward failed; its error is already recorded */
  if (!t->requires_grad) {
    slt_err_set("backward: the tensor does not depend on anything that requires grad");
    return -1;
  }
  float *g = slt_grad_of(c, t);
  if (!g) return -1;
  for (int64_t i = 0; i < t->numel; i++) g[i] += seed[i];
  /* Nodes recorded before t are its possible ancestors; later ones are skipped because no
   * gradient reaches their output. */
  for (slt_node *n = c->tape; n; n = n->prev) {
    if (!n->out->grad) continue;
    if (prepare_input_grads(c, n)) return -1;
    n->backward(c, n);
    if (n->assigns) settle_input_grads(c, n);
    if (c->hook) c->hook(c->hook_user, n);
  }
  return 0;
}

int slt_backward(slt_ctx *c, slt_tensor *loss) {
  if (!loss) return -1;
  if (loss->numel != 1) {
    char s[64];
    slt_err_set("backward: loss must be a scalar, got shape %s",
                slt_tensor_shape_str(loss, s, sizeof s));
    return -1;
  }
  const float one = 1.0f;
  return slt_backward_seed(c, loss, &one);
}
