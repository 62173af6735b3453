/* Export a LLaMA-shaped slt GPT (RMSNorm, SwiGLU, RoPE, no biases, dense FFNs) as a GGUF file
 * that llama.cpp's "llama" architecture runs with the same logits (SPEC §8):
 *
 *   wte.weight                 -> token_embd.weight
 *   blocks.N.ln1.weight        -> blk.N.attn_norm.weight
 *   blocks.N.attn.qkv.weight   -> blk.N.attn_q / attn_k / attn_v.weight (rows split; q and k rows
 *                                 permuted within each head: slt rotates halves, llama.cpp pairs)
 *   blocks.N.attn.proj.weight  -> blk.N.attn_output.weight
 *   blocks.N.ln2.weight        -> blk.N.ffn_norm.weight
 *   blocks.N.ffn.fc1.weight    -> blk.N.ffn_gate.weight (first ffn_dim rows), ffn_up (the rest)
 *   blocks.N.ffn.fc2.weight    -> blk.N.ffn_down.weight
 *   ln_f.weight                -> output_norm.weight
 *   lm_head.weight             -> output.weight (absent when tied: llama.cpp reuses token_embd)
 *
 * Norm gains are always f32. f16 stores every matrix as f16; tq2_0 stores the block linears as
 * TQ2_0 (ternary weights only) and the embedding and head as f32. */
#ifndef SLT_GGUF_LLAMA_H
#define SLT_GGUF_LLAMA_H

#include "ckpt/gguf.h"
#include "layers/model.h"

#include <stdint.h>

/* What --type asks for. */
typedef enum { SLT_GGUF_OUT_F32, SLT_GGUF_OUT_F16, SLT_GGUF_OUT_TQ2_0 } slt_gguf_out_type;

/* The tokenizer metadata: tokens by id (exactly the model's vocab_size of them, all distinct),
 * their types (1 normal, 3 control), the BPE merges "left right", and the special ids (-1: none).
 */
typedef struct slt_gguf_vocab {
  int n;
  char **tokens;
  int32_t *types;
  int64_t n_merges;
  char **merges;
  int32_t bos, eos;
} slt_gguf_vocab;

/* A bytes-like vocabulary of n tokens: id < 256 is the byte's GPT-2 byte-to-unicode string, 256
 * is "<|endoftext|>" (control, bos/eos), ids above are "<|pad_ID|>" (control). No merges, so
 * llama.cpp's byte-level BPE maps text to one token per byte, as slt's bytes tokenizer does.
 * 0 or -1. */
int slt_gguf_vocab_bytes(slt_gguf_vocab *v, int n);
/* The GPT-2 BPE of dir (encoder.json + vocab.bpe, or vocab.json + merges.txt) padded to n tokens
 * ("<|pad_ID|>", control); n below the tokenizer's 50257 is refused. 0 or -1. */
int slt_gguf_vocab_gpt2(slt_gguf_vocab *v, const char *dir, int n);
/* Free and zero; a zeroed vocab is fine. */
void slt_gguf_vocab_free(slt_gguf_vocab *v);

/* 0 when m has the llama shape; else -1 with one line saying why (LayerNorm, GELU, biases,
 * learned or no positions, a structured FFN not merged). */
int slt_gguf_llama_check(const slt_model *m);
/* w (n_head·head_dim, in) with each head's rows in rotate-halves order -> out in adjacent-pairs
 * order: w.reshape(n_head, 2, head_dim/2, in).swapaxes(1, 2).reshape(n_head·head_dim, in). */
void slt_gguf_llama_permute(const float *w, float *out, int n_head, int head_dim, int in);
/* Write m with vocabulary v as path (see above); name goes to general.name. 0, or -1 with the
 * error recorded (nothing left at path). */
int slt_gguf_llama_write(const slt_model *m, const slt_gguf_vocab *v, slt_gguf_out_type type,
                         const char *name, const char *path);

#endif
