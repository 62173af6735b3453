/* slt's side of tests/gguf_llama.sh.
 *
 *   slt_logits CKPT IDS [--q8k]   load CKPT (slt_ckpt_load_model), run the comma-separated ids
 *                                 through slt_gpt_logits and print the last position's logits,
 *                                 one per line. --q8k first rounds the input of every block linear
 *                                 as llama.cpp's CPU backend does before a TQ2_0 product (Q8_K:
 *                                 per 256 values, q = nearest(-127/max · x) capped at 127, x̂ =
 * q/iscale, max the value of largest magnitude; quantize_row_q8_K_ref). slt_logits --ternarize IN
 * OUT write OUT, IN with every block linear weight made ternary: w -> g·clamp(round(w/g), -1, 1), g
 * = mean |w| of the tensor rounded to an fp16 number (so TQ2_0 stores it exactly). No optimizer
 * state.
 *
 * Exit status 0, or 1 with one line on stderr. */
#include "autograd/error.h"
#include "autograd/tape.h"
#include "ckpt/fp16.h"
#include "layers/gpt.h"
#include "ckpt/checkpoint.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QK 256

static const slt_lin_kind *dense_kind; /* the block linears' own kind, wrapped by q8k_kind */

/* Round x[0..QK) through Q8_K and back, exactly as ggml's quantize_row_q8_K_ref. */
static void q8k_block(const float *x, float *y) {
  float max = 0.0f, amax = 0.0f;
  for (int j = 0; j < QK; j++)
    if (fabsf(x[j]) > amax) amax = fabsf(x[j]), max = x[j];
  if (!amax) {
    memset(y, 0, QK * sizeof *y);
    return;
  }
  float iscale = -127.0f / max, d = 1.0f / iscale;
  for (int j = 0; j < QK; j++) {
    long v = lrintf(iscale * x[j]); /* ggml's nearest_int: round half to even */
    y[j] = (float)(v > 127 ? 127 : v) * d;
  }
}

static slt_tensor *q8k_forward(slt_lin *l, slt_ctx *c, slt_tensor *x) {
  slt_tensor *y = slt_new(c, x->ndim, x->shape);
  if (!y) return NULL;
  for (int64_t i = 0; i < x->numel; i += QK) q8k_block(x->data + i, y->data + i);
  return dense_kind->forward(l, c, y);
}

static slt_lin_kind q8k_kind;

/* Every block linear rounds its input to Q8_K first. 0 or -1 (rows not whole blocks). */
static int use_q8k(slt_gpt *m) {
  for (int i = 0; i < m->cfg.layers; i++) {
    slt_lin *ls[] = {&m->blocks[i].qkv, &m->blocks[i].proj, &m->blocks[i].fc1, &m->blocks[i].fc2};
    for (int k = 0; k < 4; k++) {
      if (ls[k]->in % QK || !ls[k]->weight) {
        fprintf(stderr,
                "slt_logits: --q8k needs dense block linears with inputs a multiple of %d\n", QK);
        return -1;
      }
      dense_kind = ls[k]->kind;
      q8k_kind = *dense_kind;
      q8k_kind.forward = q8k_forward;
      ls[k]->kind = &q8k_kind;
    }
  }
  return 0;
}

static int print_logits(const char *path, const char *list, bool q8k) {
  int32_t ids[4096];
  int n = 0;
  for (char *end; *list && n < 4096; list = *end ? end + 1 : end) {
    ids[n++] = (int32_t)strtol(list, &end, 10);
    if (end == list) return 1;
  }
  slt_config cfg;
  slt_gpt *m = (slt_gpt *)slt_ckpt_load_model(path, &cfg); /* a gpt arch: its first member */
  if (!m) {
    fprintf(stderr, "slt_logits: %s\n", slt_err_msg());
    return 1;
  }
  int rc = q8k && use_q8k(m) ? 1 : 0;
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  slt_tensor *lg = rc ? NULL : slt_gpt_logits(m, &c, ids, 1, n, 0);
  int V = m->cfg.vocab_size;
  for (int v = 0; lg && v < V; v++) printf("%.9g\n", lg->data[(int64_t)(n - 1) * V + v]);
  if (!rc && !lg) fprintf(stderr, "slt_logits: %s\n", slt_err_msg()), rc = 1;
  slt_ctx_free(&c);
  slt_model_free(&m->model);
  return rc;
}

static void ternarize(slt_tensor *w) {
  double s = 0;
  for (int64_t i = 0; i < w->numel; i++) s += fabs(w->data[i]);
  float g = slt_fp16_to_f32(slt_fp16_from_f32((float)(s / (double)w->numel)));
  for (int64_t i = 0; i < w->numel; i++) {
    float t = rintf(w->data[i] / g);
    w->data[i] = (t > 1 ? 1 : t < -1 ? -1 : t) * g;
  }
}

static int write_ternary(const char *in, const char *out) {
  slt_ckpt ck;
  slt_config cfg;
  slt_gpt *m = slt_ckpt_open(&ck, in) ? NULL : (slt_gpt *)slt_ckpt_load_model(in, &cfg);
  if (!m) {
    fprintf(stderr, "slt_logits: %s\n", slt_err_msg());
    return 1;
  }
  for (int i = 0; i < m->cfg.layers; i++) {
    slt_gpt_block *b = &m->blocks[i];
    ternarize(b->qkv.weight);
    ternarize(b->proj.weight);
    ternarize(b->fc1.weight);
    ternarize(b->fc2.weight);
  }
  slt_ckpt_data d = {.cfg = &ck.cfg,
                     .params = &m->params,
                     .optim = {.name = "none", .step = 0, .nslots = 0},
                     .state = ck.state};
  int rc = slt_ckpt_write(out, &d) ? 1 : 0;
  if (rc) fprintf(stderr, "slt_logits: %s\n", slt_err_msg());
  slt_model_free(&m->model);
  slt_ckpt_close(&ck);
  return rc;
}

int main(int argc, char **argv) {
  if (argc == 4 && !strcmp(argv[1], "--ternarize")) return write_ternary(argv[2], argv[3]);
  if (argc == 3 || (argc == 4 && !strcmp(argv[3], "--q8k")))
    return print_logits(argv[1], argv[2], argc == 4);
  fprintf(stderr, "usage: slt_logits CKPT IDS [--q8k] | slt_logits --ternarize IN OUT\n");
  return 1;
}
