/* Every CUnit suite, registered by the runner. A test file defines one register function. */
#ifndef SLT_SUITES_H
#define SLT_SUITES_H

int register_engine_suite(void); /* test_engine.c: arena, tape, params, determinism */
int register_ops_basic_suite(
    void); /* test_ops_basic.c: matmul, pointwise, reduce, shapes, embedding */
int register_ops_norm_act_suite(void);  /* test_ops_norm_act.c: norms, activations, softmax, rope */
int register_ops_attention_suite(void); /* test_ops_attention.c: fused causal attention */
int register_ops_loss_suite(void);      /* test_ops_loss.c: embedding, cross-entropy */
int register_config_suite(void);        /* test_config.c: YAML configs, overrides, validation */
int register_config_parse_suite(void); /* test_config_parse.c: loader fast paths vs references */
int register_data_suite(void);          /* test_data.c: token shards, synthetic Markov source */
int register_gpt_suite(void);           /* test_gpt.c: the model against PyTorch fixtures */
int register_tokenizer_suite(void);     /* test_tokenizer.c: GPT-2 BPE, bytes tokenizer */
int register_ingest_suite(void);        /* test_ingest.c: JSONL and parquet readers */
int register_checkpoint_suite(void);    /* test_checkpoint.c: HDF5 checkpoints, resume */
int register_checkpoint_damage_suite(void); /* test_checkpoint_damage.c: damaged checkpoints */
int register_optim_suite(void);             /* test_optim.c: AdamW/AdamP/SGDP, groups, schedules */
int register_prepare_suite(void);           /* test_prepare.c: documents -> shards */
int register_structured_suite(void); /* test_structured.c: LowRank, BlockDense, BlockShuffle */
int register_sgt_suite(void);        /* test_sgt.c: self-guided training */
int register_export_suite(void);     /* test_export.c: slt export --merge, generation forms */
int register_dist_suite(void);       /* test_dist.c: MPI data parallelism (single-process parts) */
int register_lowbit_ops_suite(void); /* test_lowbit_ops.c, test_lowbit_cplx.c: ternary, complex ops */
int register_ifairy_suite(void);     /* test_ifairy.c: the complex iFairy model against PyTorch */
int register_ifairy_model_suite(void); /* test_ifairy_model.c: ifairy/fairy2i behind the seam */
int register_transform_suite(void);  /* test_transform.c: the Linear transform seam, STE gradcheck */
int register_gguf_suite(void);       /* test_gguf.c: GGUF v3 writer, llama map, TQ2_0, vocab */
int register_quant_suite(void);      /* test_quant.c: fake-quant ops (int, LSQ, fp, mx) */
int register_kernels_suite(void);    /* test_kernels.c: packed ternary and {±1, ±i} kernels */
int register_fit_suite(void);        /* test_fit.c: scaling-law fits, results tables */
int register_packed_suite(void);     /* test_packed.c: slt export --packed, packed inference */
int register_packed_cplx_suite(void); /* test_packed_cplx.c: packed {±1, ±i} ifairy inference */
int register_gemm_suite(void);       /* test_gemm.c: GEMM backends, bf16 products, bitwise runs */
int register_sweep_suite(void);      /* test_sweep.c: sweep files, names, derived steps, results */
int register_quant_model_suite(void); /* test_quant_model.c: model.quant, parity, export codes */
int register_trainer_ref_suite(void); /* test_trainer_ref.c: trainer steps, clipping vs PyTorch */
int register_recipes_suite(void);     /* test_recipes.c: configs/recipes, published shapes */

#define SLT_SUITES                                                                                 \
  X(engine, register_engine_suite)                                                                 \
  X(ops_basic, register_ops_basic_suite)                                                           \
  X(ops_norm_act, register_ops_norm_act_suite)                                                     \
  X(ops_attention, register_ops_attention_suite)                                                   \
  X(ops_loss, register_ops_loss_suite)                                                             \
  X(config, register_config_suite)                                                                 \
  X(config_parse, register_config_parse_suite)                                                     \
  X(data, register_data_suite)                                                                     \
  X(gpt, register_gpt_suite)                                                                       \
  X(tokenizer, register_tokenizer_suite)                                                           \
  X(ingest, register_ingest_suite)                                                                 \
  X(checkpoint, register_checkpoint_suite)                                                         \
  X(checkpoint_damage, register_checkpoint_damage_suite)                                           \
  X(optim, register_optim_suite)                                                                   \
  X(prepare, register_prepare_suite)                                                               \
  X(structured, register_structured_suite)                                                         \
  X(sgt, register_sgt_suite)                                                                       \
  X(export, register_export_suite)                                                                 \
  X(dist, register_dist_suite)                                                                     \
  X(lowbit_ops, register_lowbit_ops_suite)                                                         \
  X(ifairy, register_ifairy_suite)                                                                 \
  X(ifairy_model, register_ifairy_model_suite)                                                     \
  X(transform, register_transform_suite)                                                           \
  X(gguf, register_gguf_suite)                                                                     \
  X(quant, register_quant_suite)                                                                   \
  X(kernels, register_kernels_suite)                                                               \
  X(fit, register_fit_suite)                                                                       \
  X(gemm, register_gemm_suite)                                                                     \
  X(sweep, register_sweep_suite)                                                                   \
  X(quant_model, register_quant_model_suite)                                                       \
  X(trainer_ref, register_trainer_ref_suite)                                                       \
  X(packed, register_packed_suite)                                                                 \
  X(packed_cplx, register_packed_cplx_suite)                                                       \
  X(trainer_ref, register_trainer_ref_suite)                                                       \
  X(recipes, register_recipes_suite)

#endif
