/* fp32 tensors: contiguous, row-major, 1 to 4 dims. A tensor is a view: it does not own its
 * data; the per-step arena, the parameter store or the caller does. */
#ifndef SLT_TENSOR_H
#define SLT_TENSOR_H

#include <stdbool.h>
#include <stdint.h>

#define SLT_MAX_DIMS 4

struct slt_node;

typedef struct slt_tensor {
  float *data;
  float *grad;           /* NULL until a gradient reaches it (params: a slice of the flat buffer) */
  struct slt_node *node; /* the op that produced it; NULL for leaves */
  int64_t numel;
  int ndim;
  int shape[SLT_MAX_DIMS];
  bool requires_grad;
  bool grad_unset; /* grad allocated this backward but not yet written (see slt_grad_take) */
} slt_tensor;

/* Fill shape and numel; returns 0, or -1 (error recorded) for a bad rank or a size < 1. */
int slt_tensor_set_shape(slt_tensor *t, int ndim, const int *shape);
/* True when both tensors have the same rank and sizes. */
bool slt_tensor_same_shape(const slt_tensor *a, const slt_tensor *b);
/* "(2, 3, 4)" into buf; returns buf. */
const char *slt_tensor_shape_str(const slt_tensor *t, char *buf, int len);
/* Product of every dim but the last: the number of rows of the tensor seen as a matrix. */
int64_t slt_tensor_rows(const slt_tensor *t);
/* The last dim. */
int slt_tensor_cols(const slt_tensor *t);

/* A tensor owning heap data (tests, benchmarks, tools); data zero-filled, grad NULL.
 * Free with slt_tensor_free. Returns NULL (error recorded) on failure. */
slt_tensor *slt_tensor_new(int ndim, const int *shape);
/* Allocate a zero-filled heap grad for a tensor made by slt_tensor_new. */
int slt_tensor_alloc_grad(slt_tensor *t);
void slt_tensor_free(slt_tensor *t);

#endif
