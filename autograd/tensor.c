#include "tensor.h"

#include "error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slt_tensor_set_shape(slt_tensor *t, int ndim, const int *shape) {
  if (ndim < 1 || ndim > SLT_MAX_DIMS) {
    slt_err_set("tensor rank %d out of range 1..%d", ndim, SLT_MAX_DIMS);
    return -1;
  }
  int64_t n = 1;
  for (int i = 0; i < ndim; i++) {
    if (shape[i] < 1) {
      slt_err_set("tensor dim %d has size %d, expected >= 1", i, shape[i]);
      return -1;
    }
    n *= shape[i];
  }
  t->ndim = ndim;
  for (int i = 0; i < SLT_MAX_DIMS; i++) t->shape[i] = i < ndim ? shape[i] : 1;
  t->numel = n;
  return 0;
}

bool slt_tensor_same_shape(const slt_tensor *a, const slt_tensor *b) {
  if (a->ndim != b->ndim) return false;
  for (int i = 0; i < a->ndim; i++)
    if (a->shape[i] != b->shape[i]) return false;
  return true;
}

const char *slt_tensor_shape_str(const slt_tensor *t, char *buf, int len) {
  int n = snprintf(buf, len, "(");
  for (int i = 0; i < t->ndim && n < len; i++)
    n += snprintf(buf + n, len - n, i ? ", %d" : "%d", t->shape[i]);
  if (n < len) snprintf(buf + n, len - n, ")");
  return buf;
}

int64_t slt_tensor_rows(const slt_tensor *t) { return t->numel / t->shape[t->ndim - 1]; }

int slt_tensor_cols(const slt_tensor *t) { return t->shape[t->ndim - 1]; }

slt_tensor *slt_tensor_new(int ndim, const int *shape) {
  slt_tensor *t = calloc(1, sizeof *t);
  if (!t) goto oom;
  if (slt_tensor_set_shape(t, ndim, shape)) {
    free(t);
    return NULL;
  }
  t->data = calloc((size_t)t->numel, sizeof(float));
  if (!t->data) {
    free(t);
    goto oom;
  }
  return t;
oom:
  slt_err_set("out of memory allocating a tensor");
  return NULL;
}

int slt_tensor_alloc_grad(slt_tensor *t) {
  free(t->grad);
  t->grad = calloc((size_t)t->numel, sizeof(float));
  if (!t->grad) {
    slt_err_set("out of memory allocating a gradient");
    return -1;
  }
  t->requires_grad = true;
  return 0;
}

void slt_tensor_free(slt_tensor *t) {
  if (!t) return;
  free(t->data);
  free(t->grad);
  free(t);
}
