/* Packed ternary weights and their int8 GEMV/GEMM (SPEC §5 BitNet/TriLM, §8).
 *
 * Layout. An (out, in) matrix of weights w ∈ {-1, 0, +1} is stored row by row; each row is padded
 * with zero weights to a multiple of 256 and cut into 64-byte blocks of 256 weights, with
 * code = w + 1 ∈ {0, 1, 2} at 2 bits per weight. Within a block the bytes are TQ2_0's qs bytes
 * (ggml type 35, without its fp16 scale): element e = 128j + 32l + m has its code in bits 2l..2l+1
 * of byte 32j + m. Matching activations are stored permuted (kernels/act8.h), so one 64-byte load
 * of codes masked with 3 << 2l lines up with 64 contiguous activations for each l.
 * Scales: one γ per shard, a shard being out / nshards consecutive rows (nshards = 1: per tensor);
 * the real weight is w · γ.
 *
 * Products. y[t, r] = dot · γ / s_t with dot = Σ_i w[r, i] · q[t, i] exact in int32 (rows up to
 * SLT_TERN_MAX_IN). The AVX-512 path runs vpdpbusd on the unsigned codes (masked in place, some
 * scaled by 4 and shifted back exactly) and subtracts Σ q; the AVX2 path runs maddubs on the codes,
 * flushing int16 sums to int32 every 256 weights; the portable path is plain C. All paths give the
 * same integers and share one float epilogue, so their outputs are identical. */
#ifndef SLT_KERNELS_TERNARY_H
#define SLT_KERNELS_TERNARY_H

#include "kernels/act8.h"
#include "kernels/cpu.h"

#include <stdint.h>

/* Longest row: the AVX-512 lanes sum up to 4·128·128 per block without overflowing int32. */
#define SLT_TERN_MAX_IN ((int64_t)1 << 22)

typedef struct {
  int64_t out, in;   /* logical shape */
  int64_t row_bytes; /* bytes per packed row: in rounded up to 256, / 4 */
  int nshards;       /* scales: one per out / nshards rows */
  uint8_t *qs;       /* (out, row_bytes), 64-byte aligned */
  float *gamma;      /* (nshards) */
} slt_tern;

/* An all-zero matrix (codes 1, γ = 1); nshards must divide out. 0 or -1 with a message. */
int slt_tern_alloc(slt_tern *m, int64_t out, int64_t in, int nshards);
/* Free the buffers (a zeroed struct is fine). */
void slt_tern_free(slt_tern *m);
/* Pack w (out, in) ∈ {-1, 0, 1} with gamma[nshards]; -1 (message) on a bad value or shape. */
int slt_tern_pack(slt_tern *m, const int8_t *w, int64_t out, int64_t in, const float *gamma,
                  int nshards);
/* Pack dequantized ternary weights W ∈ {0, ±γ_shard} losslessly: γ = a shard's max |W| (1e-5 for
 * an all-zero shard); -1 naming the first element that is neither 0 nor ±γ. */
int slt_tern_pack_float(slt_tern *m, const float *W, int64_t out, int64_t in, int nshards);
/* The weights back as int8 (out, in) ∈ {-1, 0, 1}. */
void slt_tern_unpack(const slt_tern *m, int8_t *w);

/* Integer products dots (a->n, out) = q · wᵀ on path isa (which this CPU must support);
 * 0 or -1 with a message (shape mismatch, unsupported path). OpenMP over rows. */
int slt_tern_dots(const slt_tern *m, const slt_act8 *a, int32_t *dots, slt_isa isa);
/* The float epilogue every path shares: y[t, r] = (float)dots[t, r] · (γ_shard(r) / s_t). */
void slt_tern_epilogue(const slt_tern *m, const slt_act8 *a, const int32_t *dots, float *y,
                       int64_t ldy);
/* y (a->n, out; row stride ldy) from quantized activations on path isa. */
int slt_tern_gemm_isa(const slt_tern *m, const slt_act8 *a, float *y, int64_t ldy, slt_isa isa);
/* The same on the selected path (slt_cpu_isa). */
int slt_tern_gemm(const slt_tern *m, const slt_act8 *a, float *y, int64_t ldy);

#endif
