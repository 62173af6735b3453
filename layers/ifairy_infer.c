/* Generation for the iFairy model: its forward (ifairy.c's pieces: the same norms, linears, fp32
 * or packed, RoPE and MLP) for one sequence, keeping every layer's rotated keys and values so a
 * new token costs one position's work instead of the whole prefix. Only attention differs from
 * training: queries at positions pos0.. read the cache, scores Re(q·conj k)/√(2·head_dim) being
 * the real dot over a head's 2·head_dim [re | im] columns (autograd/complex.h). */
#include "ifairy.h"
#include "cached_attn.h"

#include "autograd/complex.h"
#include "autograd/error.h"
#include "autograd/ops.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  slt_decoder base;
  slt_ifairy *m;
  int layers, heads, width; /* width: 2·head_dim floats per cached row */
  int cap, len;
  float *k, *v; /* (layers, heads, cap, width) */
} ifairy_decoder;

/* Cache rows of layer l, head h: (cap, width). */
static float *cache_at(const ifairy_decoder *d, float *base, int l, int h) {
  return base + ((size_t)l * d->heads + h) * d->cap * d->width;
}

/* Append k, v (1, heads, n, width) at positions pos0.. of layer l. */
static void cache_put(ifairy_decoder *d, int l, const slt_tensor *k, const slt_tensor *v,
                      int pos0) {
  int n = k->shape[2], W = d->width;
  for (int h = 0; h < d->heads; h++) {
    size_t src = (size_t)h * n * W, bytes = (size_t)n * W * sizeof(float);
    memcpy(cache_at(d, d->k, l, h) + (size_t)pos0 * W, k->data + src, bytes);
    memcpy(cache_at(d, d->v, l, h) + (size_t)pos0 * W, v->data + src, bytes);
  }
}

/* One query row qi of head h at position pos against the cached positions 0..pos, into acc
 * (width); scores Re(q·conj k)/√width, width = 2·head_dim (SPEC §6). */
static void attend_row(const ifairy_decoder *d, int l, int h, const float *qi, int pos,
                       float *acc) {
  slt_cached_attend_row(qi, cache_at(d, d->k, l, h), cache_at(d, d->v, l, h), pos + 1, d->width,
                        1.0f / sqrtf((float)d->width), acc);
}

/* q (1, heads, n, width) at positions pos0.. -> out of q's shape. */
static void cached_attention(const ifairy_decoder *d, int l, const slt_tensor *q, float *out,
                             int pos0) {
  int H = q->shape[1], n = q->shape[2], W = d->width;
#pragma omp parallel for schedule(static) collapse(2) if (H * n > 1)
  for (int h = 0; h < H; h++)
    for (int i = 0; i < n; i++) {
      size_t at = ((size_t)h * n + i) * W;
      attend_row(d, l, h, q->data + at, pos0 + i, out + at);
    }
}

static slt_tensor *attention(ifairy_decoder *d, int l, slt_ctx *c, slt_tensor *x, int pos0) {
  const slt_ifairy_block *b = &d->m->blocks[l];
  slt_tensor *q, *k, *v;
  if (slt_ifairy_qkv(d->m, b, c, x, pos0, &q, &k, &v)) return NULL;
  slt_tensor *a = slt_new(c, 4, q->shape);
  if (!a) return NULL;
  cache_put(d, l, k, v, pos0);
  cached_attention(d, l, q, a->data, pos0);
  return slt_ifairy_attn_out(d->m, b, c, a);
}

static slt_tensor *forward(ifairy_decoder *d, slt_ctx *c, const int32_t *ids, int n) {
  const slt_ifairy *m = d->m;
  float eps = m->cfg.norm_eps;
  slt_tensor *x = slt_embedding(c, m->embed, ids, 1, n); /* (1, n, 2H) = [re | im] */
  for (int l = 0; l < m->cfg.layers && x; l++) {
    const slt_ifairy_block *b = &m->blocks[l];
    slt_tensor *h = slt_cplx_rmsnorm(c, x, b->attn_norm, eps);
    x = h ? slt_add(c, x, attention(d, l, c, h, d->len)) : NULL;
    x = slt_add(c, x, slt_ifairy_mlp(m, b, c, slt_cplx_rmsnorm(c, x, b->mlp_norm, eps)));
  }
  return x ? slt_ifairy_head(m, c, x) : NULL;
}

static slt_tensor *decoder_forward(slt_decoder *base, slt_ctx *c, const int32_t *ids, int n) {
  ifairy_decoder *d = (ifairy_decoder *)base;
  if (n < 1 || n > d->cap - d->len) {
    slt_err_set("KV cache: %d more positions do not fit (%d of %d used)", n, d->len, d->cap);
    return NULL;
  }
  bool was = slt_ctx_set_no_grad(c, true);
  slt_tensor *logits = forward(d, c, ids, n);
  slt_ctx_set_no_grad(c, was);
  if (logits) d->len += n;
  return logits;
}

static void decoder_free(slt_decoder *base) {
  ifairy_decoder *d = (ifairy_decoder *)base;
  free(d->k);
  free(d->v);
  free(d);
}

slt_decoder *slt_ifairy_decoder_new(slt_ifairy *m, const slt_decoder_opts *o) {
  if (o->cap < 1) {
    slt_err_set("KV cache: %d positions requested; need at least 1", o->cap);
    return NULL;
  }
  const slt_ifairy_config *g = &m->cfg;
  ifairy_decoder *d = calloc(1, sizeof *d);
  if (!d) goto oom;
  *d = (ifairy_decoder){.base = {.forward = decoder_forward, .free = decoder_free},
                        .m = m,
                        .layers = g->layers,
                        .heads = g->heads,
                        .width = 2 * (g->hidden / g->heads),
                        .cap = o->cap};
  size_t n = (size_t)d->layers * d->heads * d->cap * d->width;
  d->k = malloc(n * sizeof(float));
  d->v = malloc(n * sizeof(float));
  if (d->k && d->v) return &d->base;
  decoder_free(&d->base);
oom:
  slt_err_set("out of memory for a KV cache of %d positions", o->cap);
  return NULL;
}

slt_cweight *slt_ifairy_cweight(slt_ifairy *m, const char *param, int shape[2]) {
  static const char *const names[7] = {"attn.q_proj",   "attn.k_proj", "attn.v_proj",
                                       "attn.o_proj",   "mlp.gate_proj", "mlp.up_proj",
                                       "mlp.down_proj"};
  int l, end = 0;
  if (sscanf(param, "blocks.%d.%n", &l, &end) != 1 || !end || l < 0 || l >= m->cfg.layers)
    return NULL;
  slt_ifairy_block *b = &m->blocks[l];
  slt_cweight *w[7] = {&b->q, &b->k, &b->v, &b->o, &b->gate, &b->up, &b->down};
  for (int j = 0; j < 7; j++) {
    size_t len = strlen(names[j]);
    if (strncmp(param + end, names[j], len) || strcmp(param + end + len, ".weight")) continue;
    shape[0] = w[j]->re->shape[0], shape[1] = w[j]->re->shape[1];
    return w[j];
  }
  return NULL;
}
