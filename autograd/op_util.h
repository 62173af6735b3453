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

/* A (B, T, row) tensor holding H heads of D columns from col0 (with parts 2 also the same
 * columns part_cols later: the im half of a complex [re | im] row) against a (B, H, T, parts·D)
 * tensor whose head rows hold the parts side by side (ops_shape.c). */
typedef struct {
  int B, T, row, col0, H, D, parts, part_cols;
} slt_heads_layout;

/* Copy (or, accumulate, add) between the two layouts; to_heads picks the direction. */
void slt_permute_heads(const slt_heads_layout *L, const float *src, float *dst, bool to_heads,
                       bool accumulate);

#endif
