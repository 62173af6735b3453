/* Inference-only Linear kinds over packed low-bit weights (SPEC §8): a ternary block linear of a
 * trained model runs from its 2-bit codes and γ per shard (kernels/ternary.h) instead of fp32.
 * The forward quantizes its input to int8 per token (absmax, as BitNet's training transform does:
 * kernels/act8.h) and calls slt_tern_gemm; it works under no-grad only (eval, generation) and
 * keeps the linear's activation transform (BitLinear's RMSNorm, fake-quant), which
 * slt_lin_forward applies first, so the GPT forward and its KV cache run unchanged. */
#ifndef SLT_PACKED_LINEAR_H
#define SLT_PACKED_LINEAR_H

#include "kernels/ternary.h"
#include "layers/linear.h"
#include "layers/model.h"

/* The packed linears of one model, owned by it (slt_model.packed, freed by slt_model_free). */
typedef struct slt_packed_set slt_packed_set;

/* Make parameter `param`'s linear ("blocks.0.attn.qkv.weight") of m run from w, which is taken
 * over (zeroed on success). The linear must be a dense (out, in) linear of w's shape; its weight
 * transform is dropped (w already holds the quantized weights). 0, or -1 with the error recorded. */
int slt_packed_install_ternary(slt_model *m, const char *param, slt_tern *w);
/* Packed linears of m, ternary and complex (layers/packed_cplx.h); 0 when none. */
int slt_packed_count(const slt_model *m);
/* Bytes of packed codes and scales of m's packed linears. */
int64_t slt_packed_bytes(const slt_model *m);
/* Free a set (NULL is fine). */
void slt_packed_set_free(slt_packed_set *s);

#endif
