/* Generation: the GPT forward of gpt.c for one sequence, keeping every layer's rotated keys
 * and values so each new token costs one position's work instead of the whole prefix.
 * Same ops as training (norms, linears, rope, FFN) except attention, which here reads the cache:
 * queries at positions pos0.. attend to cached positions 0..their own. */
#include "gpt.h"
#include "cached_attn.h"

#include "autograd/error.h"
#include "autograd/ops.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

int slt_gpt_kv_init(slt_gpt_kv *kv, const slt_gpt *m, int cap) {
  const slt_model_config *g = &m->cfg;
  memset(kv, 0, sizeof *kv);
  if (cap < 1) {
    slt_err_set("KV cache: %d positions requested; need at least 1", cap);
    return -1;
  }
  if (g->pos == SLT_POS_LEARNED && cap > g->seq_len) {
    slt_err_set("KV cache: %d positions requested; the model (learned positions) has %d", cap,
                g->seq_len);
    return -1;
  }
  *kv = (slt_gpt_kv){g->layers, g->kv_heads, g->d_model / g->heads, cap, 0, NULL, NULL};
  size_t n = (size_t)kv->layers * kv->kv_heads * cap * kv->head_dim;
  kv->k = malloc(n * sizeof(float));
  kv->v = malloc(n * sizeof(float));
  if (!kv->k || !kv->v) {
    slt_gpt_kv_free(kv);
    slt_err_set("out of memory for a KV cache of %d positions", cap);
    return -1;
  }
  return 0;
}

void slt_gpt_kv_free(slt_gpt_kv *kv) {
  free(kv->k);
  free(kv->v);
  kv->k = kv->v = NULL;
}

/* Cache rows of layer l, kv head h: (cap, head_dim). */
static float *cache_at(const slt_gpt_kv *kv, float *base, int l, int h) {
  return base + ((size_t)l * kv->kv_heads + h) * kv->cap * kv->head_dim;
}

/* Append k, v (1, Hkv, n, D) at positions pos0.. of layer l. */
static void cache_put(slt_gpt_kv *kv, int l, const slt_tensor *k, const slt_tensor *v, int pos0) {
  int n = k->shape[2], D = kv->head_dim;
  for (int h = 0; h < kv->kv_heads; h++) {
    size_t src = (size_t)h * n * D, bytes = (size_t)n * D * sizeof(float);
    memcpy(cache_at(kv, kv->k, l, h) + (size_t)pos0 * D, k->data + src, bytes);
    memcpy(cache_at(kv, kv->v, l, h) + (size_t)pos0 * D, v->data + src, bytes);
  }
}

/* q (1, H, n, D) at positions pos0.. -> out (1, H, n, D): softmax(q·kᵀ/√D)·v over cached
 * positions 0..pos, online (running max and sum), so no score buffer. GQA: head h reads kv head
 * h / (H/Hkv), as slt_attention. */
static void cached_attention(const slt_gpt_kv *kv, int l, const slt_tensor *q, float *out,
                             int pos0) {
  int H = q->shape[1], n = q->shape[2], D = kv->head_dim, group = H / kv->kv_heads;
  float scale = 1.0f / sqrtf((float)D);
#pragma omp parallel for schedule(static) collapse(2)
  for (int h = 0; h < H; h++)
    for (int i = 0; i < n; i++) {
      slt_cached_attend_row(q->data + ((size_t)h * n + i) * D, cache_at(kv, kv->k, l, h / group),
                            cache_at(kv, kv->v, l, h / group), pos0 + i + 1, D, scale,
                            out + ((size_t)h * n + i) * D);
    }
}

/* x (1, n, C) -> attention output (1, n, C), keys and values appended to layer l's cache. */
static slt_tensor *attention(slt_gpt *m, int l, slt_ctx *c, slt_gpt_kv *kv, slt_tensor *x,
                             int pos0) {
  slt_gpt_block *b = &m->blocks[l];
  slt_tensor *q, *k, *v;
  slt_gpt_qkv(m, b, c, x, pos0, &q, &k, &v);
  slt_tensor *a = q ? slt_new(c, 4, q->shape) : NULL;
  if (!a || !k || !v) return NULL;
  cache_put(kv, l, k, v, pos0);
  cached_attention(kv, l, q, a->data, pos0);
  return slt_lin_forward(&b->proj, c, slt_merge_heads(c, a));
}

static slt_tensor *embed(slt_gpt *m, slt_ctx *c, const int32_t *ids, int n, int pos0) {
  slt_tensor *x = slt_embedding(c, m->wte, ids, 1, n); /* (1, n, C) */
  if (!m->wpe || !x) return x;
  int32_t *pos = slt_arena_alloc(&c->arena, (size_t)n * sizeof *pos);
  if (!pos) return NULL;
  for (int t = 0; t < n; t++) pos[t] = pos0 + t;
  return slt_add(c, x, slt_embedding(c, m->wpe, pos, 1, n));
}

static slt_tensor *forward(slt_gpt *m, slt_ctx *c, slt_gpt_kv *kv, const int32_t *ids, int n) {
  int pos0 = kv->len;
  slt_tensor *x = embed(m, c, ids, n, pos0);
  for (int l = 0; l < m->cfg.layers && x; l++) {
    slt_gpt_block *b = &m->blocks[l];
    slt_tensor *h = slt_gpt_norm(m, c, x, b->ln1_w, b->ln1_b);
    x = h ? slt_add(c, x, attention(m, l, c, kv, h, pos0)) : NULL;
    x = slt_add(c, x, slt_gpt_ffn(m, l, c, slt_gpt_norm(m, c, x, b->ln2_w, b->ln2_b)));
  }
  return slt_gpt_head(m, c, slt_gpt_norm(m, c, x, m->lnf_w, m->lnf_b));
}

slt_tensor *slt_gpt_forward_cached(slt_gpt *m, slt_ctx *c, slt_gpt_kv *kv, const int32_t *ids,
                                   int n) {
  if (n < 1 || kv->len + n > kv->cap) {
    slt_err_set("KV cache: %d more positions do not fit (%d of %d used)", n, kv->len, kv->cap);
    return NULL;
  }
  bool was = slt_ctx_set_no_grad(c, true);
  slt_tensor *logits = forward(m, c, kv, ids, n);
  slt_ctx_set_no_grad(c, was);
  if (logits) kv->len += n;
  return logits;
}

/* ---- the faster FFN form by tokens in flight ---- */

/* Timed runs per form and n, after one warm-up; the best counts. Short runs repeat until
 * FORM_MIN_S has passed, so one preempted run on a busy machine does not decide. */
enum { FORM_REPS = 3, FORM_MAX_REPS = 100 };
#define FORM_MIN_S 0.02

/* The last block whose FFN is structured (all have the same shapes), or -1. */
static int structured_block(const slt_gpt *m) {
  for (int l = m->cfg.layers - 1; l >= 0; l--)
    if (strcmp(m->blocks[l].fc1.kind->name, "dense") ||
        strcmp(m->blocks[l].fc2.kind->name, "dense"))
      return l;
  return -1;
}

/* Best seconds of block l's FFN on x (1, n, C); the first run only warms up (arena growth,
 * BLAS buffers, caches). -1 on error. */
static double time_ffn(slt_gpt *m, int l, slt_ctx *c, float *x, int n) {
  double best = INFINITY, spent = 0;
  for (int r = 0; r <= FORM_REPS || (spent < FORM_MIN_S && r <= FORM_MAX_REPS); r++) {
    slt_tensor *in = slt_wrap(c, x, 3, (int[]){1, n, m->cfg.d_model});
    double t0 = omp_get_wtime();
    slt_tensor *y = in ? slt_gpt_ffn(m, l, c, in) : NULL;
    double dt = omp_get_wtime() - t0;
    slt_ctx_reset(c);
    if (!y) return -1;
    if (r > 0 && dt < best) best = dt;
    spent += dt;
  }
  return best;
}

static int check_times_request(const slt_gpt_forms *f, int l, const int *ns, int count) {
  if (!f->model[SLT_GPT_MERGED] || l < 0) {
    slt_err_set("timing FFN forms needs a structured model and its merged twin");
    return -1;
  }
  if (count < 1 || count > SLT_GPT_FORM_TIMES) {
    slt_err_set("%d token counts to time; 1 to %d allowed", count, SLT_GPT_FORM_TIMES);
    return -1;
  }
  for (int k = 0; k < count; k++)
    if (ns[k] < 1 || (k && ns[k] <= ns[k - 1])) {
      slt_err_set("token counts to time must be ascending and >= 1");
      return -1;
    }
  return 0;
}

int slt_gpt_forms_time(slt_gpt_forms *f, const int *ns, int count) {
  slt_gpt *fac = f->model[SLT_GPT_FACTORED];
  int l = structured_block(fac);
  if (check_times_request(f, l, ns, count)) return -1;
  int C = fac->cfg.d_model;
  float *x = malloc((size_t)ns[count - 1] * C * sizeof *x);
  if (!x) {
    slt_err_set("out of memory timing the FFN forms");
    return -1;
  }
  slt_rng rng;
  slt_rng_seed(&rng, 1);
  slt_rng_fill_normal(&rng, x, (int64_t)ns[count - 1] * C, 0.0f, 1.0f);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  int rc = 0;
  for (int k = 0; !rc && k < count; k++) {
    slt_gpt_form_time *t = &f->times[k];
    t->n = ns[k];
    for (int form = 0; form < 2 && !rc; form++) {
      t->s[form] = time_ffn(f->model[form], l, &c, x, ns[k]);
      if (t->s[form] < 0) rc = -1;
    }
  }
  f->ntimes = rc ? 0 : count;
  slt_ctx_free(&c);
  free(x);
  return rc;
}

/* A form's seconds at n: the line through the measured points on either side of n (the first
 * or last two past the ends); one point is a constant. */
static double time_at(const slt_gpt_form_time *t, int count, int form, int n) {
  if (count == 1) return t[0].s[form];
  int k = 1;
  while (k < count - 1 && t[k].n < n) k++;
  const slt_gpt_form_time *a = &t[k - 1], *b = &t[k];
  return a->s[form] + (b->s[form] - a->s[form]) * (double)(n - a->n) / (double)(b->n - a->n);
}

slt_gpt_form slt_gpt_form_pick(const slt_gpt_form_time *t, int count, int n) {
  if (count < 1) return SLT_GPT_FACTORED;
  return time_at(t, count, SLT_GPT_MERGED, n) < time_at(t, count, SLT_GPT_FACTORED, n)
             ? SLT_GPT_MERGED
             : SLT_GPT_FACTORED;
}

slt_gpt_form slt_gpt_forms_choice(const slt_gpt_forms *f, int n) {
  if (!f->model[SLT_GPT_MERGED]) return SLT_GPT_FACTORED;
  if (f->forced >= 0) return (slt_gpt_form)f->forced;
  return slt_gpt_form_pick(f->times, f->ntimes, n);
}

slt_tensor *slt_gpt_forms_forward(slt_gpt_forms *f, slt_ctx *c, slt_gpt_kv *kv, const int32_t *ids,
                                  int n) {
  return slt_gpt_forward_cached(f->model[slt_gpt_forms_choice(f, n)], c, kv, ids, n);
}
