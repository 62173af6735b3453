/* The execution context: the per-step arena and the tape of recorded ops.
 * Ops run eagerly; when any input requires a gradient (and no-grad is off) they record a node
 * holding their backward function, inputs, output and saved context. slt_backward walks the
 * tape in reverse; backward functions accumulate (+=) into the inputs' gradients. */
#ifndef SLT_TAPE_H
#define SLT_TAPE_H

#include "arena.h"
#include "tensor.h"

#include <stddef.h>

#define SLT_NODE_MAX_IN 4

typedef struct slt_ctx slt_ctx;
typedef struct slt_node slt_node;
typedef void (*slt_backward_fn)(slt_ctx *c, slt_node *n);
/* Called after each node's backward (e.g. to start reducing gradients that are complete). */
typedef void (*slt_backward_hook)(void *user, const slt_node *n);

struct slt_node {
  slt_backward_fn backward;
  const char *op; /* name, for messages */
  slt_tensor *out;
  slt_tensor *in[SLT_NODE_MAX_IN];
  int nin;
  void *saved; /* op-specific context, zero-filled, lives in the arena */
  /* Its backward writes each input gradient through slt_grad_take (assigning the first time)
   * or slt_grad_of (accumulating), so the input gradients need not be zero-filled first. */
  bool assigns;
  slt_node *prev;
};

struct slt_ctx {
  slt_arena arena;
  slt_node *tape; /* most recently recorded node */
  int64_t nodes;
  bool no_grad;
  slt_backward_hook hook; /* optional; NULL: none (slt_ctx_set_hook) */
  void *hook_user;
};

void slt_ctx_init(slt_ctx *c);
void slt_ctx_free(slt_ctx *c);
/* Drop the tape and every arena tensor; call after backward (at least once per step). */
void slt_ctx_reset(slt_ctx *c);
/* Turn no-grad mode on or off (eval, generation); returns the previous setting. */
bool slt_ctx_set_no_grad(slt_ctx *c, bool on);
/* Call fn(user, node) after every node's backward from now on (fn NULL: stop). */
void slt_ctx_set_hook(slt_ctx *c, slt_backward_hook fn, void *user);

/* A new arena tensor with uninitialised data; NULL (error recorded) on a bad shape or OOM. */
slt_tensor *slt_new(slt_ctx *c, int ndim, const int *shape);
/* Same, zero-filled. */
slt_tensor *slt_zeros(slt_ctx *c, int ndim, const int *shape);
/* A leaf wrapping caller-owned data (inputs, constants); it does not require grad. */
slt_tensor *slt_wrap(slt_ctx *c, float *data, int ndim, const int *shape);

/* True when an op on these inputs must record a node. */
bool slt_needs_grad(const slt_ctx *c, int nin, slt_tensor *const *in);
/* Record a node producing out; marks out as requiring grad. saved_bytes of zeroed context are
 * reserved at node->saved. Returns NULL (error recorded) only when out of memory. */
slt_node *slt_record(slt_ctx *c, const char *op, slt_backward_fn fn, slt_tensor *out, int nin,
                     slt_tensor *const *in, size_t saved_bytes);
/* The gradient buffer of t, allocated zero-filled from the arena on first use (and zero-filled
 * now if it was allocated unset): the buffer to accumulate into. */
float *slt_grad_of(slt_ctx *c, slt_tensor *t);
/* True when t's gradient buffer holds nothing yet: the caller (an `assigns` backward) must then
 * write every element (=) instead of adding (+=). Either way it counts as written afterwards.
 * Skipping the zero fill saves a pass over every activation's gradient per step. */
bool slt_grad_take(slt_tensor *t);
/* The GEMM beta that accumulates into t's gradient: 0 when it holds nothing yet, else 1. */
static inline float slt_grad_beta(slt_tensor *t) { return slt_grad_take(t) ? 0.0f : 1.0f; }
/* old + v, or v when the buffer was unset (set from slt_grad_take, hoisted out of loops). */
static inline float slt_grad_acc(bool set, float old, float v) { return set ? v : old + v; }

/* Backpropagate from a scalar loss (its gradient seeded with 1). Returns 0 or -1. */
int slt_backward(slt_ctx *c, slt_tensor *loss);
/* Backpropagate from any tensor with a given output gradient (numel floats). */
int slt_backward_seed(slt_ctx *c, slt_tensor *t, const float *seed);

#endif
