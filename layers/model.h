/* The model seam: what the trainer, checkpoints, eval, generate, export and sweeps see of a
 * model. A model is its parameters plus a few calls (loss, logits, FLOPs, parameter counts),
 * built from the config's `model` section by one slt_model_build. Nothing above floor 2 names a
 * concrete model: adding an architecture is one implementation file and one model.arch name. */
#ifndef SLT_MODEL_H
#define SLT_MODEL_H

#include "autograd/params.h"
#include "autograd/rng.h"
#include "autograd/tape.h"
#include "layers/quant_config.h"
#include "layers/structured.h"

#include <stdbool.h>
#include <stdint.h>

/* Enum-valued keys: slt_<x>_names[value] is the YAML spelling (NULL-terminated). */
typedef enum { SLT_ARCH_GPT, SLT_ARCH_IFAIRY, SLT_ARCH_FAIRY2I } slt_arch;
typedef enum { SLT_NORM_LAYERNORM, SLT_NORM_RMSNORM } slt_norm_kind;
typedef enum { SLT_POS_ROPE, SLT_POS_LEARNED, SLT_POS_NONE } slt_pos_kind;
typedef enum { SLT_ACT_GELU_TANH, SLT_ACT_SWIGLU, SLT_ACT_RELU2 } slt_act_kind;
extern const char *const slt_arch_names[];
extern const char *const slt_norm_names[];
extern const char *const slt_pos_names[];
extern const char *const slt_act_names[];
/* Activation quantization of the complex models' ComplexLinears (model.act_quant). */
typedef enum { SLT_ACT_QUANT_NONE, SLT_ACT_QUANT_INT8 } slt_act_quant_kind;
extern const char *const slt_act_quant_names[];

/* The config's `model` section, owned here and embedded by config/ as it is (plain data). */
typedef struct slt_model_config {
  slt_arch arch;
  int vocab_size, seq_len, layers, d_model, heads;
  int kv_heads; /* 0 = heads; use slt_model_kv_heads() */
  int ffn_dim;  /* 0 = 4·d_model; use slt_model_ffn_dim() */
  slt_norm_kind norm;
  double norm_eps;
  slt_pos_kind pos;
  double rope_base;
  slt_act_kind act;
  bool bias, tie_embeddings;
  double init_std;
  slt_ffn_config ffn;
  slt_quant_config quant; /* layers/quant_config.h */
  /* ifairy / fairy2i only (layers/ifairy.h): PhaseQuant stages of every complex weight (0 full
   * precision, 1 {±1, ±i}, 2 residual) and 8-bit activations into every complex linear */
  struct {
    int stages;
  } phasequant;
  slt_act_quant_kind act_quant;
} slt_model_config;

static inline int slt_model_kv_heads(const slt_model_config *m) {
  return m->kv_heads ? m->kv_heads : m->heads;
}
static inline int slt_model_ffn_dim(const slt_model_config *m) {
  return m->ffn_dim ? m->ffn_dim : 4 * m->d_model;
}
/* cfg with kv_heads and ffn_dim resolved (never 0), as every built model holds it. */
static inline slt_model_config slt_model_resolved(const slt_model_config *cfg) {
  slt_model_config r = *cfg;
  r.kv_heads = slt_model_kv_heads(cfg);
  r.ffn_dim = slt_model_ffn_dim(cfg);
  return r;
}
/* True when some FFN linear of a model of cfg is structured (there is something to merge). */
bool slt_model_has_structured_ffn(const slt_model_config *cfg);
/* cfg with dense FFNs: kind dense, rank and nblocks 0, init auto; everything else kept. */
slt_model_config slt_model_dense_config(const slt_model_config *cfg);

/* Parameter counts (weights and biases alike). */
typedef struct slt_model_counts {
  int64_t total;
  int64_t embedding; /* token and position tables (a tied head counts once, here) */
  int64_t ffn;       /* every FFN linear, structured factors as stored */
  int64_t ffn_dense; /* the same FFNs if they were dense */
} slt_model_counts;

typedef enum {
  SLT_MODEL_ALLOC,  /* parameters allocated (zero) and drawn by init_weights */
  SLT_MODEL_DECLARE /* names and shapes only: no data, for checking a checkpoint's layout */
} slt_model_mode;

typedef struct slt_model slt_model;
typedef struct slt_decoder slt_decoder;
struct slt_guide;
struct slt_packed_cplx;

/* The FFN form of a decoder's forwards: auto times both and picks per token count. */
enum { SLT_FFN_FORM_AUTO = -1, SLT_FFN_FORM_FACTORED = 0, SLT_FFN_FORM_MERGED = 1 };

/* How a decoder runs: positions to cache, and for structured FFNs the form of each forward. */
typedef struct slt_decoder_opts {
  int cap;
  int ffn_form; /* SLT_FFN_FORM_* */
  int prefill; /* prompt tokens, for auto's timing */
} slt_decoder_opts;

/* Generation with a KV cache: run ids at the next positions -> logits (1, n, V) in c's arena. */
struct slt_decoder {
  slt_tensor *(*forward)(slt_decoder *d, slt_ctx *c, const int32_t *ids, int n);
  void (*free)(slt_decoder *d);
  char note[320]; /* what the decoder chose (e.g. the FFN form), "" when nothing to say */
};

typedef struct slt_model_vt {
  /* ids (B, T) at positions pos0.. -> logits (B, T, V). */
  slt_tensor *(*logits)(slt_model *m, slt_ctx *c, const int32_t *ids, int B, int T, int pos0);
  /* Mean next-token cross-entropy of targets y (B, T) given inputs x (B, T). */
  slt_tensor *(*loss)(slt_model *m, slt_ctx *c, const int32_t *x, const int32_t *y, int B, int T);
  /* Training FLOPs per token (forward + backward) at context T. */
  double (*flops_per_token)(const slt_model *m, int T);
  void (*counts)(const slt_model *m, slt_model_counts *n);
  /* Draw the initial weights from seed. */
  void (*init_weights)(slt_model *m, uint64_t seed);
  /* Self-guided training: attach / detach dense guides (NULL: the model has none). */
  int (*guide_attach)(slt_model *m, struct slt_guide *g, bool reduce_flop, slt_rng *coin);
  void (*guide_detach)(slt_model *m, struct slt_guide *g);
  /* The same model with every structured FFN merged to dense (NULL, error recorded, on failure). */
  slt_model *(*merged)(const slt_model *m);
  /* A KV-cache decoder (NULL, error recorded, e.g. when it does not fit in memory). */
  slt_decoder *(*decoder)(slt_model *m, const slt_decoder_opts *o);
  /* Bytes of KV cache one position takes. */
  double (*kv_bytes_per_position)(const slt_model *m);
  /* The linear whose weight is parameter `param` ("blocks.0.ffn.fc1.weight"), or NULL (no error
   * recorded); NULL member: the model exposes none (packed inference, layers/packed_linear.h). */
  struct slt_lin *(*linear)(slt_model *m, const char *param);
  /* Where the complex linear whose weight is `param` ("blocks.0.attn.q_proj.weight") keeps its
   * packed form (layers/packed_cplx.h), its complex (out, in) into shape; NULL when none (no error
   * recorded); NULL member: the model has no complex linears. */
  struct slt_packed_cplx **(*cplx_slot)(slt_model *m, const char *param, int shape[2]);
  void (*free)(slt_model *m);
} slt_model_vt;

struct slt_model {
  const slt_model_vt *vt;
  slt_params *params;           /* every parameter, PyTorch names and shapes */
  const slt_model_config *cfg;  /* resolved: kv_heads and ffn_dim never 0 */
  const slt_quant_set *quant;   /* its linears' quantization, or NULL */
  struct slt_packed_set *packed; /* packed low-bit linears (layers/packed_linear.h), or NULL */
};

/* Check cfg's sizes and their relations for its architecture (the one place attention's rules
 * live); 0 or -1 with one message naming the key. */
int slt_model_check(const slt_model_config *cfg);
/* Build the model cfg describes (checked first: a bad size names its key). NULL on error. */
slt_model *slt_model_build(const slt_model_config *cfg, slt_model_mode mode);
/* Free a built model (NULL is fine). */
void slt_model_free(slt_model *m);

static inline slt_tensor *slt_model_logits(slt_model *m, slt_ctx *c, const int32_t *ids, int B,
                                           int T, int pos0) {
  return m->vt->logits(m, c, ids, B, T, pos0);
}
static inline slt_tensor *slt_model_loss(slt_model *m, slt_ctx *c, const int32_t *x,
                                         const int32_t *y, int B, int T) {
  return m->vt->loss(m, c, x, y, B, T);
}
static inline double slt_model_flops_per_token(const slt_model *m, int T) {
  return m->vt->flops_per_token(m, T);
}
static inline void slt_model_init_weights(slt_model *m, uint64_t seed) {
  m->vt->init_weights(m, seed);
}
/* Parameter counts of m. */
slt_model_counts slt_model_count(const slt_model *m);
/* "4 layers, d_model 256, 4 heads (4 kv), ffn 1024 (lowrank), vocab 8192, T 256" into buf. */
void slt_model_describe(const slt_model *m, char *buf, size_t len);
/* The quantized linears' transforms (and with shares, ternary code shares) as lines into buf
 * (layers/quant_config.h); 0 bytes when the model is not quantized. Returns the bytes wanted. */
size_t slt_model_describe_quant(const slt_model *m, bool shares, char *buf, size_t len);
/* Attach SGT guides (error when the architecture has none). 0 or -1. */
int slt_model_guide_attach(slt_model *m, struct slt_guide *g, bool reduce_flop, slt_rng *coin);
/* Detach them (m may be NULL). */
void slt_model_guide_detach(slt_model *m, struct slt_guide *g);
/* The merged dense twin, or NULL (error recorded). */
slt_model *slt_model_merged(const slt_model *m);
/* A decoder for generation, or NULL (error recorded). */
slt_decoder *slt_model_decoder(slt_model *m, const slt_decoder_opts *o);
/* A decoder without a cache (layers/prefix_decoder.c): each forward reruns the model's logits
 * over the whole prefix. For models that have no KV-cache decoder of their own. */
slt_decoder *slt_prefix_decoder_new(slt_model *m, const slt_decoder_opts *o);
static inline void slt_decoder_free(slt_decoder *d) {
  if (d) d->free(d);
}
/* Draw a token from logits (V): temperature <= 0 takes the argmax, top_k > 0 keeps the k most
 * likely. Deterministic for a given rng state. */
int slt_model_sample(const float *logits, int V, float temperature, int top_k, slt_rng *rng);

#endif
