/* GPT behind the model seam (layers/model.h): the vtable's calls on an slt_gpt, and its KV-cache
 * decoder, which for structured FFNs keeps a merged twin and picks the faster form per forward. */
#include "gpt.h"
#include "gpt_merge.h"
#include "guided.h"

#include "autograd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static slt_gpt *gpt_of(const slt_model *m) { return (slt_gpt *)m; } /* model is its first member */

static slt_tensor *gpt_logits(slt_model *m, slt_ctx *c, const int32_t *ids, int B, int T,
                              int pos0) {
  return slt_gpt_logits(gpt_of(m), c, ids, B, T, pos0);
}

static slt_tensor *gpt_loss(slt_model *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B,
                            int T) {
  return slt_gpt_loss(gpt_of(m), c, x, y, B, T);
}

static double gpt_flops(const slt_model *m, int T) { return slt_gpt_flops_per_token(gpt_of(m), T); }

static void gpt_counts(const slt_model *m, slt_model_counts *n) {
  const slt_gpt *g = gpt_of(m);
  n->total = 0; /* the store's numel includes alignment padding */
  for (int i = 0; i < g->params.count; i++) n->total += g->params.items[i]->t.numel;
  n->embedding = g->wte->numel + (g->wpe ? g->wpe->numel : 0);
  n->ffn = slt_gpt_ffn_params(g);
  n->ffn_dense = slt_gpt_dense_ffn_params(&g->cfg);
}

static void gpt_init(slt_model *m, uint64_t seed) { slt_gpt_init_weights(gpt_of(m), seed); }

static int gpt_guide_attach(slt_model *m, struct slt_guide *g, bool reduce_flop, slt_rng *coin) {
  return slt_guide_attach(g, gpt_of(m), reduce_flop, coin);
}

static void gpt_guide_detach(slt_model *m, struct slt_guide *g) {
  slt_guide_detach(g, gpt_of(m));
}

static void gpt_free(slt_model *m) {
  slt_gpt_free(gpt_of(m));
  free(gpt_of(m));
}

static slt_model *gpt_merged(const slt_model *m) {
  slt_gpt *twin = calloc(1, sizeof *twin);
  if (!twin) {
    slt_err_set("out of memory merging the model");
    return NULL;
  }
  if (slt_gpt_merge(gpt_of(m), twin)) {
    free(twin);
    return NULL;
  }
  return &twin->model;
}

static double gpt_kv_bytes(const slt_model *m) {
  const slt_model_config *g = m->cfg;
  return 2.0 * sizeof(float) * g->layers * g->kv_heads * (g->d_model / g->heads);
}

/* ---- the decoder ---- */

typedef struct {
  slt_decoder base;
  slt_gpt_kv kv;
  slt_gpt_forms forms;
  slt_gpt *twin; /* the merged form, or NULL */
} gpt_decoder;

static slt_tensor *decoder_forward(slt_decoder *d, slt_ctx *c, const int32_t *ids, int n) {
  gpt_decoder *g = (gpt_decoder *)d;
  return slt_gpt_forms_forward(&g->forms, c, &g->kv, ids, n);
}

static void decoder_free(slt_decoder *d) {
  gpt_decoder *g = (gpt_decoder *)d;
  slt_gpt_kv_free(&g->kv);
  if (g->twin) gpt_free(&g->twin->model);
  free(g);
}

/* The seam's form numbers are the forms' own (and index slt_gpt_forms.model). */
_Static_assert(SLT_FFN_FORM_FACTORED == (int)SLT_GPT_FACTORED &&
                   SLT_FFN_FORM_MERGED == (int)SLT_GPT_MERGED,
               "slt_gpt_form and SLT_FFN_FORM_* must agree");

static const char *form_name(slt_gpt_form f) {
  return f == SLT_GPT_MERGED ? "merged" : "factored";
}

/* "factored for prefill (n=64: factored 0.8 ms, merged 1.3 ms per FFN)" into buf. */
static void describe_choice(const slt_gpt_forms *f, const char *what, int n, char *buf,
                            size_t len) {
  for (int k = 0; k < f->ntimes; k++)
    if (f->times[k].n == n)
      snprintf(buf, len, "%s for %s (n=%d: factored %.3g ms, merged %.3g ms per FFN)",
               form_name(slt_gpt_forms_choice(f, n)), what, n,
               1e3 * f->times[k].s[SLT_GPT_FACTORED], 1e3 * f->times[k].s[SLT_GPT_MERGED]);
}

/* For a structured model: build the merged twin (unless the factored form is forced) and, for
 * auto, time both forms at the decode (1) and prefill (n) token counts; the choice goes to the
 * decoder's note. 0 or -1. */
static int prepare_forms(gpt_decoder *g, const slt_decoder_opts *o) {
  slt_gpt_forms *f = &g->forms;
  if (!slt_gpt_has_structured_ffn(f->model[SLT_GPT_FACTORED]) || o->ffn_form == SLT_GPT_FACTORED)
    return 0;
  slt_model *twin = gpt_merged(&f->model[SLT_GPT_FACTORED]->model);
  if (!twin) return -1;
  g->twin = gpt_of(twin);
  f->model[SLT_GPT_MERGED] = g->twin;
  if (o->ffn_form == SLT_GPT_MERGED) return 0;
  int n = o->prefill, ns[2] = {1, n};
  if (slt_gpt_forms_time(f, ns, n > 1 ? 2 : 1)) return -1;
  char decode[160] = "", prefill[160] = "";
  describe_choice(f, "decode", 1, decode, sizeof decode);
  if (n > 1) describe_choice(f, "prefill", n, prefill, sizeof prefill);
  snprintf(g->base.note, sizeof g->base.note, "ffn form: %s%s%s", n > 1 ? prefill : decode,
           n > 1 ? ", " : "", n > 1 ? decode : "");
  return 0;
}

static slt_decoder *gpt_decoder_new(slt_model *m, const slt_decoder_opts *o) {
  gpt_decoder *g = calloc(1, sizeof *g);
  if (!g) {
    slt_err_set("out of memory for the decoder");
    return NULL;
  }
  g->base = (slt_decoder){.forward = decoder_forward, .free = decoder_free};
  g->forms = (slt_gpt_forms){.model = {gpt_of(m), NULL}, .forced = o->ffn_form};
  if (slt_gpt_kv_init(&g->kv, gpt_of(m), o->cap) || prepare_forms(g, o)) {
    decoder_free(&g->base);
    return NULL;
  }
  return &g->base;
}

/* "blocks.<i>.<attn.qkv|attn.proj|ffn.fc1|ffn.fc2>.weight" -> that block linear. */
static struct slt_lin *gpt_linear(slt_model *m, const char *param) {
  slt_gpt *g = gpt_of(m);
  static const char *const leaf[4] = {"attn.qkv", "attn.proj", "ffn.fc1", "ffn.fc2"};
  int i, n = -1;
  char rest[64];
  if (sscanf(param, "blocks.%d.%63s%n", &i, rest, &n) != 2 || n < 0 || i < 0 ||
      i >= g->cfg.layers)
    return NULL;
  slt_gpt_block *b = &g->blocks[i];
  slt_lin *lins[4] = {&b->qkv, &b->proj, &b->fc1, &b->fc2};
  for (int k = 0; k < 4; k++) {
    char want[64];
    snprintf(want, sizeof want, "%s.weight", leaf[k]);
    if (!strcmp(rest, want)) return lins[k];
  }
  return NULL;
}

static const slt_model_vt gpt_vt = {
    .linear = gpt_linear,
    .logits = gpt_logits,
    .loss = gpt_loss,
    .flops_per_token = gpt_flops,
    .counts = gpt_counts,
    .init_weights = gpt_init,
    .guide_attach = gpt_guide_attach,
    .guide_detach = gpt_guide_detach,
    .merged = gpt_merged,
    .decoder = gpt_decoder_new,
    .kv_bytes_per_position = gpt_kv_bytes,
    .free = gpt_free,
};

void slt_gpt_bind(slt_gpt *m) { m->model = (slt_model){.vt = &gpt_vt, .params = &m->params, .cfg = &m->cfg, .quant = m->quant}; }
