/* Model shapes shared by the benchmarks. */
#ifndef SLT_BENCH_MODELS_H
#define SLT_BENCH_MODELS_H

#include "layers/model.h"

/* The paper's "s" size (configs/models/s.yaml) with dense FFNs. */
static inline slt_model_config bench_s_model(void) {
  return (slt_model_config){.vocab_size = 32000, .seq_len = 1024, .layers = 12, .d_model = 768,
                          .heads = 12, .kv_heads = 12, .ffn_dim = 3072,
                          .norm = SLT_NORM_LAYERNORM, .norm_eps = 1e-5f, .pos = SLT_POS_ROPE,
                          .rope_base = 10000.0f, .act = SLT_ACT_GELU_TANH, .bias = true,
                          .tie_embeddings = true, .init_std = 0.02f};
}

#endif
