/* Sampling a token from logits: argmax, temperature and top-k, deterministic per rng state. */
#include "model.h"

#include <math.h>
#include <stdlib.h>

typedef struct {
  float v;
  int i;
} scored;

/* Descending by value, ties by index: a total order, so top-k is deterministic. */
static int by_score(const void *a, const void *b) {
  const scored *x = a, *y = b;
  if (x->v != y->v) return x->v < y->v ? 1 : -1;
  return (x->i > y->i) - (x->i < y->i);
}

static int argmax(const float *x, int n) {
  int best = 0;
  for (int i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

int slt_model_sample(const float *logits, int V, float temperature, int top_k, slt_rng *rng) {
  scored *s = temperature > 0 && top_k != 1 ? malloc((size_t)V * sizeof *s) : NULL;
  if (!s) return argmax(logits, V);
  for (int i = 0; i < V; i++) s[i] = (scored){logits[i], i};
  int k = top_k > 0 && top_k < V ? top_k : V;
  if (k < V) qsort(s, (size_t)V, sizeof *s, by_score);
  float mx = s[0].v;
  for (int i = 1; i < k; i++) mx = s[i].v > mx ? s[i].v : mx;
  double sum = 0;
  for (int i = 0; i < k; i++) sum += exp((double)(s[i].v - mx) / temperature);
  double u = slt_rng_uniform(rng) * sum, acc = 0;
  int pick = s[k - 1].i;
  for (int i = 0; i < k; i++) {
    acc += exp((double)(s[i].v - mx) / temperature);
    if (u < acc) {
      pick = s[i].i;
      break;
    }
  }
  free(s);
  return pick;
}
