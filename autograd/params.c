#include "params.h"

#include "error.h"

#include <stdlib.h>
#include <string.h>

/* Parameters start on 16-float (64 B) boundaries so every view is SIMD-aligned. */
#define PARAM_ALIGN_FLOATS 16

void slt_params_init(slt_params *p) { memset(p, 0, sizeof *p); }

void slt_params_free(slt_params *p) {
  for (int i = 0; i < p->count; i++) free(p->items[i]);
  free(p->items);
  free(p->data);
  free(p->grad);
  memset(p, 0, sizeof *p);
}

slt_param *slt_params_find(const slt_params *p, const char *name) {
  for (int i = 0; i < p->count; i++)
    if (strcmp(p->items[i]->name, name) == 0) return p->items[i];
  return NULL;
}

slt_tensor *slt_params_add(slt_params *p, const char *name, int ndim, const int *shape) {
  if (p->data) {
    slt_err_set("parameter '%s' added after the store was allocated", name);
    return NULL;
  }
  if (strlen(name) >= SLT_PARAM_NAME_MAX) {
    slt_err_set("parameter name '%s' longer than %d characters", name, SLT_PARAM_NAME_MAX - 1);
    return NULL;
  }
  if (slt_params_find(p, name)) {
    slt_err_set("duplicate parameter name '%s'", name);
    return NULL;
  }
  if (p->count == p->cap) {
    int cap = p->cap ? 2 * p->cap : 64;
    slt_param **items = realloc(p->items, (size_t)cap * sizeof *items);
    if (!items) goto oom;
    p->items = items;
    p->cap = cap;
  }
  slt_param *q = calloc(1, sizeof *q);
  if (!q) goto oom;
  if (slt_tensor_set_shape(&q->t, ndim, shape)) {
    free(q);
    return NULL;
  }
  strcpy(q->name, name);
  q->t.requires_grad = true;
  q->offset = p->numel;
  p->numel += (q->t.numel + PARAM_ALIGN_FLOATS - 1) / PARAM_ALIGN_FLOATS * PARAM_ALIGN_FLOATS;
  p->items[p->count++] = q;
  return &q->t;
oom:
  slt_err_set("out of memory declaring parameter '%s'", name);
  return NULL;
}

int slt_params_alloc(slt_params *p) {
  size_t bytes = (size_t)(p->numel ? p->numel : 1) * sizeof(float);
  p->data = aligned_alloc(64, bytes);
  p->grad = aligned_alloc(64, bytes);
  if (!p->data || !p->grad) {
    slt_err_set("out of memory allocating %lld parameters", (long long)p->numel);
    return -1;
  }
  memset(p->data, 0, bytes);
  memset(p->grad, 0, bytes);
  for (int i = 0; i < p->count; i++) {
    p->items[i]->t.data = p->data + p->items[i]->offset;
    p->items[i]->t.grad = p->grad + p->items[i]->offset;
  }
  return 0;
}

void slt_params_zero_grad(slt_params *p) {
  if (p->grad) memset(p->grad, 0, (size_t)p->numel * sizeof(float));
}
