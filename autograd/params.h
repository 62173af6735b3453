/* The parameter store: every parameter and its gradient live in two flat buffers, each
 * parameter a named view (PyTorch-style dotted name, PyTorch shape). Flat buffers make the
 * optimizer one loop, the gradient all-reduce one call and the checkpoint one pass.
 * Use: slt_params_add for every parameter, then slt_params_alloc once. */
#ifndef SLT_PARAMS_H
#define SLT_PARAMS_H

#include "tensor.h"

#include <stdint.h>

#define SLT_PARAM_NAME_MAX 96

typedef struct slt_param {
  char name[SLT_PARAM_NAME_MAX];
  slt_tensor t;   /* data/grad point into the flat buffers after slt_params_alloc */
  int64_t offset; /* index of the first element in the flat buffers */
} slt_param;

typedef struct slt_params {
  slt_param **items;
  int count, cap;
  int64_t numel;
  float *data, *grad; /* NULL until slt_params_alloc */
} slt_params;

void slt_params_init(slt_params *p);
void slt_params_free(slt_params *p);
/* Declare a parameter; the returned tensor stays valid for the store's life and gets its
 * data after slt_params_alloc. NULL (error recorded) on a bad shape, a duplicate name or
 * when the store is already allocated. */
slt_tensor *slt_params_add(slt_params *p, const char *name, int ndim, const int *shape);
/* Allocate the flat buffers (zero-filled) and point every parameter at its slice. */
int slt_params_alloc(slt_params *p);
/* The parameter of that name, or NULL. */
slt_param *slt_params_find(const slt_params *p, const char *name);
/* Zero every gradient. */
void slt_params_zero_grad(slt_params *p);

#endif
