/* Decode speed of a packed ternary model against its fp32 twin (SPEC §8, issue 19 item 5):
 * batch 1 with the KV cache, tokens/s of single-token forwards after a short prefill.
 *
 *   bench_lowbit_decode make DIR [VOCAB]      write DIR/src.h5 (a TriLM-99M-shaped ternary GPT:
 *                                             16 layers, d 512, SwiGLU 1280, 8 heads, RMSNorm,
 *                                             RoPE, no biases, untied; random weights; absmax8
 *                                             activations) and DIR/packed.h5 (slt export --packed)
 *   bench_lowbit_decode make-ifairy DIR [VOCAB]
 *                                             the same for an ifairy model of that layout in complex
 *                                             dims (16 layers, hidden 512, relu² MLP 1280, 8 heads;
 *                                             PhaseQuant {±1, ±i}, int8 re/im activations): the same
 *                                             packed bytes (2 bits per complex weight), an fp32 twin
 *                                             of two floats per weight
 *   bench_lowbit_decode run PACKED THREADS REPS TOKENS
 *                                             load PACKED twice, packed and as dequantized fp32
 *                                             weights (the same model), and time TOKENS decode
 *                                             steps of each, interleaved, REPS times; prints one
 *                                             "slt-packed|slt-fp32 THREADS tok/s" line per run and
 *                                             the medians
 * experiments/bench/lowbit_decode.sh runs this next to llama.cpp's TQ2_0 on the same model. */
#include "autograd/error.h"
#include "autograd/parallel.h"
#include "ckpt/checkpoint.h"
#include "kernels/cpu.h"
#include "layers/packed_linear.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PREFILL 8
#define MAXREP 64

static void die(const char *what) {
  fprintf(stderr, "bench_lowbit_decode: %s: %s\n", what, slt_err_msg());
  exit(1);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static int make(const char *dir, int vocab, bool cplx) {
  slt_config c;
  slt_config_defaults(&c);
  slt_model_config *g = &c.model;
  g->vocab_size = vocab, g->seq_len = 2048, g->layers = 16, g->d_model = 512, g->heads = 8;
  g->ffn_dim = 1280, g->norm = SLT_NORM_RMSNORM, g->act = SLT_ACT_SWIGLU, g->bias = false;
  g->pos = SLT_POS_ROPE, g->tie_embeddings = false;
  if (cplx) {
    g->arch = SLT_ARCH_IFAIRY, g->act = SLT_ACT_RELU2;
    g->phasequant.stages = 1, g->act_quant = SLT_ACT_QUANT_INT8;
  } else {
    g->quant.weight.kind = SLT_QC_TERNARY, g->quant.weight.shards = 1;
    g->quant.act.kind = SLT_QC_ABSMAX8;
  }
  slt_model *m = slt_model_build(g, SLT_MODEL_ALLOC);
  if (!m) die("build");
  slt_model_init_weights(m, 1);
  slt_loader_cursor cur = {0};
  slt_ckpt_data d = {.cfg = &c, .params = m->params, .optim = {.name = "none"},
                     .state = {.world = 1, .cursors = &cur}};
  char src[1024], out[1024];
  snprintf(src, sizeof src, "%s/src.h5", dir);
  snprintf(out, sizeof out, "%s/packed.h5", dir);
  int count;
  int64_t bytes;
  if (slt_ckpt_write(src, &d)) die(src);
  if (slt_ckpt_write_packed(out, &d, m, &count, &bytes)) die(out);
  printf("%s: %d low-bit tensors packed (%.2f MB); %s: the fake-quant source\n", out, count,
         bytes / 1e6, src);
  slt_model_free(m);
  return 0;
}

/* Seconds per decoded token over `tokens` steps after a PREFILL-token prompt. */
static double decode(slt_model *m, int tokens) {
  slt_decoder *dec = slt_model_decoder(m, &(slt_decoder_opts){.cap = PREFILL + tokens + 1,
                                                               .ffn_form = SLT_FFN_FORM_FACTORED,
                                                               .prefill = PREFILL});
  if (!dec) die("decoder");
  slt_ctx c;
  slt_ctx_init(&c);
  int32_t ids[PREFILL];
  for (int i = 0; i < PREFILL; i++) ids[i] = (7 * i + 3) % m->cfg->vocab_size;
  if (!dec->forward(dec, &c, ids, PREFILL)) die("prefill");
  int32_t next = 1;
  double t0 = now();
  for (int t = 0; t < tokens; t++) {
    slt_ctx_reset(&c);
    slt_tensor *y = dec->forward(dec, &c, &next, 1);
    if (!y) die("decode");
    next = (int32_t)((next * 31 + 7) % m->cfg->vocab_size); /* independent of the logits */
  }
  double s = (now() - t0) / tokens;
  slt_ctx_free(&c);
  slt_decoder_free(dec);
  return s;
}

static int run(const char *path, int threads, int reps, int tokens) {
  slt_threads_set(threads);
  slt_config cfg;
  slt_model *pk = slt_ckpt_load_model_ex(path, &cfg, true);
  slt_model *fp = pk ? slt_ckpt_load_model_ex(path, &cfg, false) : NULL;
  if (!fp) die(path);
  char flags[256];
  slt_cpu_flags(flags, sizeof flags);
  printf("# CPU: %s\n# flags: %s\n# packed path: %s; %d packed linears, %.2f MB of codes\n",
         slt_cpu_model(), flags, slt_cpu_isa_name(slt_cpu_isa()), slt_packed_count(pk),
         slt_packed_bytes(pk) / 1e6);
  double a[MAXREP], b[MAXREP];
  if (reps > MAXREP) reps = MAXREP;
  decode(pk, 4), decode(fp, 4); /* warm-up: page in the weights */
  for (int r = 0; r < reps; r++) {
    a[r] = 1 / decode(pk, tokens);
    b[r] = 1 / decode(fp, tokens);
    printf("slt-packed %d %.2f\nslt-fp32 %d %.2f\n", threads, a[r], threads, b[r]);
    fflush(stdout);
  }
  double ma = median(a, reps), mb = median(b, reps);
  printf("# median tok/s, %d threads: packed %.1f, fp32 %.1f, ratio %.2f\n", threads, ma, mb,
         ma / mb);
  slt_model_free(pk);
  slt_model_free(fp);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && !strcmp(argv[1], "make"))
    return make(argv[2], argc > 3 ? atoi(argv[3]) : 256, false);
  if (argc >= 3 && !strcmp(argv[1], "make-ifairy"))
    return make(argv[2], argc > 3 ? atoi(argv[3]) : 256, true);
  if (argc == 6 && !strcmp(argv[1], "run"))
    return run(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]));
  fprintf(stderr, "usage: bench_lowbit_decode make|make-ifairy DIR [VOCAB] | run PACKED THREADS REPS "
                  "TOKENS\n");
  return 2;
}
