/* Packed ternary linears: the kind's state lives next to its vtable, so the slt_lin (and the
 * copy slt_lin_forward makes of it) finds it from l->kind alone. */
#include "packed_linear.h"
#include "packed_internal.h"

#include "autograd/error.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct packed_lin {
  slt_lin_kind kind; /* first: l->kind points here */
  slt_tern w;
  slt_act8 act; /* int8 activations, grown to the largest token count seen */
  int cap;
} packed_lin;

/* One packed linear of any kind, freed with the model. */
typedef struct {
  void *p;
  void (*free)(void *);
  int64_t bytes;
} packed_entry;

struct slt_packed_set {
  packed_entry *v;
  int n, cap;
};

static packed_lin *state_of(const slt_lin *l) { return (packed_lin *)(void *)l->kind; }

/* p->act for n tokens (the buffers kept when large enough). */
static int act_for(packed_lin *p, int n) {
  if (n > p->cap) {
    slt_act8_free(&p->act);
    p->cap = 0;
    if (slt_act8_alloc(&p->act, n, p->w.in)) return -1;
    p->cap = n;
  }
  p->act.n = n;
  return 0;
}

static slt_tensor *packed_forward(slt_lin *l, slt_ctx *c, slt_tensor *x) {
  packed_lin *p = state_of(l);
  if (!c->no_grad) {
    slt_err_set("a packed linear (slt export --packed) runs under no-grad only: it has no "
                "gradient (train from the fp32 checkpoint)");
    return NULL;
  }
  if (x->shape[x->ndim - 1] != l->in) {
    slt_err_set("packed linear: input has %d features, expected %d", x->shape[x->ndim - 1], l->in);
    return NULL;
  }
  int64_t n = x->numel / l->in;
  int shape[SLT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = l->out;
  slt_tensor *y = slt_new(c, x->ndim, shape);
  if (!y || n > INT32_MAX || act_for(p, (int)n)) return NULL;
  /* qmin -128 as the training transform (slt_act_quant_absmax8); the maddubs/VNNI paths take it */
  slt_act8_quantize(&p->act, x->data, l->in, -128);
  if (slt_tern_gemm(&p->w, &p->act, y->data, l->out)) return NULL;
  if (l->bias)
    for (int64_t t = 0; t < n; t++)
      for (int j = 0; j < l->out; j++) y->data[t * l->out + j] += l->bias->data[j];
  return y;
}

static void packed_init(slt_lin *l, slt_rng *rng, float std) {
  (void)l, (void)rng, (void)std; /* inference only: the weights come from the file */
}

static int packed_merge(const slt_lin *l, float *w) {
  const slt_tern *t = &state_of(l)->w;
  int8_t *codes = malloc((size_t)(t->out * t->in));
  if (!codes) return slt_err_set("out of memory merging a packed linear"), -1;
  slt_tern_unpack(t, codes);
  int64_t rows = t->out / t->nshards;
  for (int64_t i = 0; i < t->out * t->in; i++) w[i] = codes[i] * t->gamma[i / t->in / rows];
  free(codes);
  return 0;
}

int slt_packed_set_add(slt_model *m, void *p, void (*free_fn)(void *), int64_t bytes) {
  slt_packed_set *s = m->packed;
  if (!s && !(s = m->packed = calloc(1, sizeof *s))) return -1;
  if (s->n == s->cap) {
    int cap = s->cap ? 2 * s->cap : 16;
    packed_entry *v = realloc(s->v, (size_t)cap * sizeof *v);
    if (!v) return -1;
    s->v = v, s->cap = cap;
  }
  s->v[s->n++] = (packed_entry){p, free_fn, bytes};
  return 0;
}

static void packed_lin_free(void *v) {
  packed_lin *p = v;
  slt_tern_free(&p->w);
  slt_act8_free(&p->act);
  free(p);
}

int slt_packed_install_ternary(slt_model *m, const char *param, slt_tern *w) {
  slt_lin *l = m->vt->linear ? m->vt->linear(m, param) : NULL;
  if (!l) {
    slt_err_set("%s: no linear of this model has that weight (packed weights are block linears' "
                "dense weights)", param);
    return -1;
  }
  if (!l->weight || l->out != w->out || l->in != w->in) {
    slt_err_set("%s: packed (%lld, %lld) but the model's linear is %s (%d, %d)", param,
                (long long)w->out, (long long)w->in, l->weight ? "dense" : "factored", l->out,
                l->in);
    return -1;
  }
  packed_lin *p = calloc(1, sizeof *p);
  int64_t bytes = w->out * w->row_bytes + w->nshards * (int64_t)sizeof(float);
  if (!p || slt_packed_set_add(m, p, packed_lin_free, bytes)) {
    free(p);
    slt_err_set("out of memory installing %s", param);
    return -1;
  }
  p->kind = (slt_lin_kind){"packed_ternary", packed_forward, packed_init, packed_merge};
  p->w = *w;
  memset(w, 0, sizeof *w);
  l->kind = &p->kind;
  l->wt = NULL;
  return 0;
}

int slt_packed_count(const slt_model *m) { return m->packed ? m->packed->n : 0; }

int64_t slt_packed_bytes(const slt_model *m) {
  int64_t b = 0;
  for (int i = 0; m->packed && i < m->packed->n; i++) b += m->packed->v[i].bytes;
  return b;
}

void slt_packed_set_free(slt_packed_set *s) {
  if (!s) return;
  for (int i = 0; i < s->n; i++) s->v[i].free(s->v[i].p);
  free(s->v);
  free(s);
}
