/* Fairy2i's conversion (SPEC §6): a real LLaMA-style GPT's parameters into the widely-linear
 * complex model of fairy2i.h, by name (wte, blocks.N.{ln1,ln2,attn.qkv,attn.proj,ffn.fc1,ffn.fc2},
 * ln_f, lm_head). */
#include "fairy2i.h"

#include "autograd/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int slt_fairy2i_config_from_gpt(const slt_model_config *g, int stages, slt_act_quant_kind act_quant,
                                slt_model_config *out) {
  int F = slt_model_ffn_dim(g);
  const char *why = g->arch != SLT_ARCH_GPT             ? "model.arch is not gpt"
                    : g->norm != SLT_NORM_RMSNORM       ? "model.norm is not rmsnorm"
                    : g->act != SLT_ACT_SWIGLU          ? "model.act is not swiglu"
                    : g->pos != SLT_POS_ROPE            ? "model.pos is not rope"
                    : g->bias                           ? "model.bias is true"
                    : slt_model_kv_heads(g) != g->heads ? "model.kv_heads differs from model.heads"
                    : slt_model_has_structured_ffn(g)   ? "model.ffn.kind is not dense"
                    : g->d_model % (2 * g->heads)       ? "the head size d_model/heads is odd"
                    : F % 2                             ? "the FFN width is odd"
                                                        : NULL;
  if (why) {
    slt_err_set("fairy2i: the source must be a LLaMA-style GPT (rmsnorm, swiglu, rope, no biases, "
                "no GQA, dense FFNs, even widths): %s",
                why);
    return -1;
  }
  *out = *g;
  out->arch = SLT_ARCH_FAIRY2I;
  out->d_model = g->d_model / 2;
  out->ffn_dim = F / 2;
  out->kv_heads = 0;
  out->tie_embeddings = false;
  out->phasequant.stages = stages;
  out->act_quant = act_quant;
  return slt_model_check(out);
}

static float *find(const slt_params *p, const char *name, int64_t numel) {
  slt_param *q = slt_params_find(p, name);
  if (!q || q->t.numel != numel) {
    slt_err_set("fairy2i: %s %s", name, q ? "has an unexpected size" : "is missing");
    return NULL;
  }
  return q->t.data;
}

/* A real (2no, 2ni) matrix gathered from src (leading dimension ld): row r is src row
 * row0 + rows[r] (rows NULL: r), column j is src column cols[j] (NULL: j). */
typedef struct {
  const float *src;
  int ld, row0;
  const int *rows, *cols;
} gather;

static float at(const gather *g, int r, int j) {
  int sr = g->row0 + (g->rows ? g->rows[r] : r), sc = g->cols ? g->cols[j] : j;
  return g->src[(int64_t)sr * g->ld + sc];
}

/* U = ½(A11 + A22) + i·½(A21 − A12), W = ½(A11 − A22) + i·½(A12 + A21) into the fairy2i
 * parameters "<prefix>.{u_re,u_im,w_re,w_im}" of shape (no, ni). */
static int to_wl(const gather *A, const slt_params *f, const char *prefix, int no, int ni) {
  static const char *const leaf[4] = {"u_re", "u_im", "w_re", "w_im"};
  float *t[4];
  for (int k = 0; k < 4; k++) {
    char name[SLT_PARAM_NAME_MAX];
    snprintf(name, sizeof name, "%s.%s", prefix, leaf[k]);
    if (!(t[k] = find(f, name, (int64_t)no * ni))) return -1;
  }
  for (int i = 0; i < no; i++)
    for (int j = 0; j < ni; j++) {
      float a11 = at(A, i, j), a12 = at(A, i, ni + j), a21 = at(A, no + i, j),
            a22 = at(A, no + i, ni + j);
      int64_t o = (int64_t)i * ni + j;
      t[0][o] = 0.5f * (a11 + a22), t[1][o] = 0.5f * (a21 - a12);
      t[2][o] = 0.5f * (a11 - a22), t[3][o] = 0.5f * (a12 + a21);
    }
  return 0;
}

static int copy(const slt_params *g, const char *from, const slt_params *f, const char *to,
                int64_t n) {
  const float *s = find(g, from, n);
  float *d = s ? find(f, to, n) : NULL;
  if (d) memcpy(d, s, (size_t)n * sizeof *d);
  return d ? 0 : -1;
}

/* perm[r'] = the real head-major index of complex-layout index r' (width C = heads·hd): the
 * layout's re half holds each head's first half, its im half each head's second half. */
static void head_perm(int *perm, int C, int heads) {
  int hd = C / heads, D = hd / 2, H = C / 2;
  for (int r = 0; r < C; r++) {
    int im = r >= H, k = r - im * H;
    perm[r] = (k / D) * hd + im * D + k % D;
  }
}

static int convert_block(const slt_params *g, const slt_params *f, const slt_model_config *c, int i,
                         const int *perm) {
  int C = c->d_model, F = slt_model_ffn_dim(c), H = C / 2;
  char a[96], b[96];
#define NAME(buf, fmt) (snprintf(buf, sizeof buf, "blocks.%d." fmt, i), buf)
  const float *qkv = find(g, NAME(a, "attn.qkv.weight"), (int64_t)3 * C * C);
  const float *proj = find(g, NAME(a, "attn.proj.weight"), (int64_t)C * C);
  const float *fc1 = find(g, NAME(a, "ffn.fc1.weight"), (int64_t)2 * F * C);
  const float *fc2 = find(g, NAME(a, "ffn.fc2.weight"), (int64_t)C * F);
  if (!qkv || !proj || !fc1 || !fc2) return -1;
  static const char *const qkv_name[3] = {"attn.q_proj", "attn.k_proj", "attn.v_proj"};
  for (int k = 0; k < 3; k++) {
    gather A = {qkv, C, k * C, perm, NULL};
    snprintf(b, sizeof b, "blocks.%d.%s", i, qkv_name[k]);
    if (to_wl(&A, f, b, H, H)) return -1;
  }
  gather o = {proj, C, 0, NULL, perm}, gate = {fc1, C, 0, NULL, NULL}, up = {fc1, C, F, NULL, NULL},
         down = {fc2, F, 0, NULL, NULL};
  return to_wl(&o, f, NAME(b, "attn.o_proj"), H, H) ||
                 to_wl(&gate, f, NAME(b, "mlp.gate_proj"), F / 2, H) ||
                 to_wl(&up, f, NAME(b, "mlp.up_proj"), F / 2, H) ||
                 to_wl(&down, f, NAME(b, "mlp.down_proj"), H, F / 2) ||
                 copy(g, NAME(a, "ln1.weight"), f, NAME(b, "attn_norm.weight"), C) ||
                 copy(g, NAME(a, "ln2.weight"), f, NAME(b, "mlp_norm.weight"), C)
             ? -1
             : 0;
#undef NAME
}

int slt_fairy2i_convert(const slt_model *gm, slt_model *fm) {
  const slt_model_config *c = gm->cfg;
  const slt_params *g = gm->params, *f = fm->params;
  if (fm->cfg->arch != SLT_ARCH_FAIRY2I || fm->cfg->d_model * 2 != c->d_model) {
    slt_err_set("fairy2i: the target is not the fairy2i model of this GPT");
    return -1;
  }
  int64_t VC = (int64_t)c->vocab_size * c->d_model;
  int *perm = malloc((size_t)c->d_model * sizeof *perm);
  if (!perm) {
    slt_err_set("out of memory converting the model");
    return -1;
  }
  head_perm(perm, c->d_model, c->heads);
  int rc = copy(g, "wte.weight", f, "embed.weight", VC) ||
           copy(g, c->tie_embeddings ? "wte.weight" : "lm_head.weight", f, "lm_head.weight", VC) ||
           copy(g, "ln_f.weight", f, "norm.weight", c->d_model);
  for (int i = 0; !rc && i < c->layers; i++) rc = convert_block(g, f, c, i, perm);
  free(perm);
  return rc ? -1 : 0;
}
