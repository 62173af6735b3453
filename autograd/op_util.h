/* Small helpers shared by the op files. */
#ifndef SLT_OP_UTIL_H
#define SLT_OP_UTIL_H

#include "error.h"
#include "tensor.h"

#include "kernels/gemm.h"

/* Record "op: <what>, got a (..) and b (..)" and return NULL. */
static inline slt_tensor *slt_op_shape_error(const char *op, const char *what, const slt_tensor *a,
                                             const slt_tensor *b) {
  char sa[64], sb[64] = "";
  slt_tensor_shape_str(a, sa, sizeof sa);
  if (b) slt_tensor_shape_str(b, sb, sizeof sb);
  slt_err_set("%s: %s, got %s%s%s", op, what, sa, b ? " and " : "", sb);
  return NULL;
}

#endif
