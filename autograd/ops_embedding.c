/* Token embedding: a row lookup in a (V, C) table.
 * Backward scatters the output gradient into the table's rows. Several tokens may share an id,
 * so threads never split tokens: each owns a slice of columns and walks every token in order,
 * which makes each element's sum order fixed (bitwise identical for any thread count) and the
 * writes race-free. */
#include "ops.h"

#include "op_util.h"
#include "parallel.h"

#include <string.h>

/* Columns per piece of the backward: one 64-byte line of floats. */
#define EMB_PIECE 16

typedef struct {
  int64_t n;     /* tokens, B·T */
  int32_t ids[]; /* copied: the caller's buffer may change before backward */
} emb_saved;

/* dtable (V, C) += Σ_i onehot(ids[i]) ⊗ dout[i], dout (n, C). */
static void embedding_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  const emb_saved *s = n->saved;
  slt_tensor *table = n->in[0];
  const float *g = n->out->grad;
  float *dt = table->grad;
  int C = table->shape[1], pieces = (C + EMB_PIECE - 1) / EMB_PIECE;
#pragma omp parallel for schedule(static) if (s->n * C >= SLT_PAR_MIN)
  for (int p = 0; p < pieces; p++) {
    int j0 = p * EMB_PIECE, j1 = j0 + EMB_PIECE < C ? j0 + EMB_PIECE : C;
    for (int64_t i = 0; i < s->n; i++) {
      float *dst = dt + (int64_t)s->ids[i] * C;
      const float *src = g + i * C;
      for (int j = j0; j < j1; j++) dst[j] += src[j];
    }
  }
}

/* 0 when every id is in [0, V); otherwise records an error naming the first bad one. */
static int check_ids(const int32_t *ids, int B, int T, int V) {
  for (int64_t i = 0; i < (int64_t)B * T; i++)
    if (ids[i] < 0 || ids[i] >= V) {
      slt_err_set("embedding: id %d at position %lld (batch %lld, time %lld) is outside the "
                  "vocabulary [0, %d)",
                  ids[i], (long long)i, (long long)(i / T), (long long)(i % T), V);
      return -1;
    }
  return 0;
}

slt_tensor *slt_embedding(slt_ctx *c, slt_tensor *table, const int32_t *ids, int B, int T) {
  if (!table) return NULL;
  if (table->ndim != 2)
    return slt_op_shape_error("embedding", "expected a table (V, C)", table, NULL);
  if (!ids || B < 1 || T < 1) {
    slt_err_set("embedding: expected ids for B·T >= 1 tokens, got %s with B %d, T %d",
                ids ? "ids" : "NULL ids", B, T);
    return NULL;
  }
  int V = table->shape[0], C = table->shape[1];
  if (check_ids(ids, B, T, V)) return NULL;
  slt_tensor *out = slt_new(c, 3, (int[]){B, T, C});
  if (!out) return NULL;
  int64_t n = (int64_t)B * T;
  /* out (B, T, C): row i = table[ids[i]] */
#pragma omp parallel for schedule(static) if (n * C >= SLT_PAR_MIN)
  for (int64_t i = 0; i < n; i++)
    memcpy(out->data + i * C, table->data + (int64_t)ids[i] * C, (size_t)C * sizeof(float));
  if (slt_needs_grad(c, 1, &table)) {
    slt_node *nd = slt_record(c, "embedding", embedding_backward, out, 1, &table,
                              sizeof(emb_saved) + (size_t)n * sizeof(int32_t));
    if (!nd) return NULL;
    emb_saved *s = nd->saved;
    s->n = n;
    memcpy(s->ids, ids, (size_t)n * sizeof(int32_t));
  }
  return out;
}
