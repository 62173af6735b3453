/* model.quant: quantization-aware training of a model's linears (SPEC §5), from the config.
 * `weight` and `act` set every block linear's transforms; `rules` ('GLOB w=SPEC a=SPEC; ...',
 * later rules win) change them by linear name ("blocks.0.attn.qkv", "blocks.1.ffn.fc1",
 * "lm_head"); embeddings stay fp32 and the head too unless a rule names it. A built model keeps
 * one slt_quant_set: each linear's weight transform (on every factor and SGT guide, through the
 * seam of layers/linear.h), its activation transform, and LSQ's learned scales as parameters
 * "<factor>.lsq_scale" (and "<factor>.lsq_offset" for LSQ+). */
#ifndef SLT_QUANT_CONFIG_H
#define SLT_QUANT_CONFIG_H

#include "autograd/quant.h"
#include "autograd/ternary.h"
#include "layers/linear.h"

#include <stdbool.h>
#include <stddef.h>

#define SLT_QUANT_RULES_MAX 512

/* A side's kind: autograd/quant.h's kinds, ternary weights (autograd/ternary.h) and BitNet's
 * per-token absmax8 activations (slt_act_quant_absmax8: s = 127/max|x|, x_q = q/s — not the
 * same floats as int 8 token, whose y = q·(amax/127) is PyTorch's fake_quantize formula). */
typedef enum {
  SLT_QC_NONE,
  SLT_QC_INT,
  SLT_QC_LSQ,
  SLT_QC_FP,
  SLT_QC_MX,
  SLT_QC_TERNARY,
  SLT_QC_ABSMAX8
} slt_qc_kind;

/* YAML spellings, NULL-terminated, indexed by slt_qc_kind, slt_quant_format, slt_quant_gran and
 * slt_quant_scale. */
extern const char *const slt_qc_kind_names[];
extern const char *const slt_qc_format_names[];
extern const char *const slt_qc_gran_names[];
extern const char *const slt_qc_scale_names[];

/* model.quant.weight or model.quant.act. */
typedef struct slt_quant_side {
  slt_qc_kind kind;
  int bits; /* int, lsq: 2..16, 0 = 8; fp, mx: 0 (the format's width) or that width */
  slt_quant_format format;
  slt_quant_gran granularity; /* mx: ignored (blocks of 32 along the row) */
  int group_size;
  slt_quant_scale scale;
  bool narrow, grad_scaling;
  int shards; /* ternary weights: one scale per each of shards equal row blocks */
} slt_quant_side;

/* The config's model.quant section (plain data). */
typedef struct slt_quant_config {
  slt_quant_side weight, act;
  bool bitlinear_norm; /* BitLinear: parameterless RMSNorm before every block linear's act quant */
  char rules[SLT_QUANT_RULES_MAX];
} slt_quant_config;

/* True when q changes anything (a kind, bitlinear_norm or a rule set). */
bool slt_quant_config_active(const slt_quant_config *q);
/* Check kinds against options and the rules' syntax, without shapes (those are checked when a
 * model is built); rmsnorm: the model's norm is RMSNorm. 0 or -1 with one message naming the key. */
int slt_quant_config_check(const slt_quant_config *q, bool rmsnorm);
/* True when the global weight side or some rule's w= has this kind. */
bool slt_quant_config_uses(const slt_quant_config *q, slt_qc_kind kind);
/* q with weight transforms off (kind none, the rules' w= dropped): a model whose weights were
 * already quantized and dequantized (slt export --quantize). 0 or -1 (rules do not parse). */
int slt_quant_config_strip_weights(slt_quant_config *q);
/* The autograd spec of an int, lsq, fp or mx side (bits 0 resolved, mx's block of 32). */
slt_quant_spec slt_quant_side_spec(const slt_quant_side *s);
/* "int4/group64", "fp:e2m1/channel", "ternary", "none" into buf; returns buf. */
const char *slt_quant_side_describe(const slt_quant_side *s, char *buf, size_t len);

/* ---- a model's transforms (quant_set.c) ---- */

typedef struct slt_quant_set slt_quant_set;

/* An empty set for q (rules parsed); norm_eps: BitLinear's RMSNorm epsilon. NULL on error. */
slt_quant_set *slt_quant_set_new(const slt_quant_config *q, float norm_eps);
/* Resolve linear name's transforms (block: a block linear, which the global sides cover), check
 * them against l's real shapes, declare LSQ parameters in p and point l->wt / l->at at them.
 * A non-block linear no rule names is left alone. 0, or -1 with "name: key: why" recorded. */
int slt_quant_set_attach(slt_quant_set *s, slt_lin *l, const char *name, bool block,
                         slt_params *p);
/* After every attach: -1 (recorded) when a rule matched no linear (a likely typo). */
int slt_quant_set_finish(const slt_quant_set *s);
/* LSQ scales (and LSQ+ offsets) from the current weights, per SPEC §5. 0 or -1. */
int slt_quant_set_init(slt_quant_set *s);
/* Free s (NULL is fine); the linears it attached to must not be used after. */
void slt_quant_set_free(slt_quant_set *s);
/* One line per distinct transform over linear ranges ("blocks.1-3.ffn.*: w=int4/group64
 * a=int8/token\n"); with shares, a line per ternary linear with its -1/0/+1 shares. Returns the
 * number of bytes it wanted (0: no quantization). */
size_t slt_quant_set_describe(const slt_quant_set *s, bool shares, char *buf, size_t len);

/* One quantized weight factor, for export. */
typedef struct slt_quant_weight {
  const char *name;       /* the parameter's name */
  const slt_tensor *w;    /* its fp32 values */
  slt_qc_kind kind;       /* int, lsq, fp, mx or ternary */
  slt_quant_spec spec;    /* int, lsq, fp, mx */
  int shards;             /* ternary */
  const slt_tensor *scale, *offset; /* lsq's learned tensors (offset: LSQ+), else NULL */
} slt_quant_weight;

/* Call fn on every quantized weight factor in attach order; stops at and returns fn's non-zero. */
int slt_quant_set_each(const slt_quant_set *s, int (*fn)(const slt_quant_weight *w, void *user),
                       void *user);
/* True when parameter name is one of s's LSQ scales or offsets. */
bool slt_quant_set_is_lsq_param(const slt_quant_set *s, const char *name);

#endif
