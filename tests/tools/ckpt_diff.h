/* Comparing two checkpoint files tensor by tensor, read with plain HDF5 calls (none of the
 * checkpoint reader's code), for slt_ckpt_cmp and the resume tests. */
#ifndef SLT_TEST_CKPT_DIFF_H
#define SLT_TEST_CKPT_DIFF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ckpt_diff_result {
  int64_t floats;   /* compared */
  int64_t differ;   /* not bitwise equal */
  double rel, maxabs; /* ||a - b|| / ||b||, largest |a - b| */
  int tensors;      /* datasets compared */
  char first[1024]; /* the first differing dataset ("/optim/wte.weight/m"), "" when none */
} ckpt_diff_result;

/* Compare every float32 dataset under /model (and, with optim, under /optim plus its step
 * attribute) of a with the same path in b; a dataset missing from either or of another shape is
 * an error. 0 with r filled, or -1 with the reason in r->first. */
int ckpt_diff(const char *a, const char *b, bool optim, ckpt_diff_result *r);
/* True when r is within tol: bitwise equal for tol 0, else both rel and maxabs at most tol. */
bool ckpt_diff_within(const ckpt_diff_result *r, double tol);

#endif
