/* Quantization-aware training: fake-quant ops (SPEC §5). Every op computes in fp32, returns a
 * new arena tensor of x's shape and records a backward node like the other ops.
 *
 * Scales are per block of `block` consecutive elements of the flat tensor: block = numel is
 * per tensor, block = cols is per row (an (out, in) weight's output channel, or an activation
 * (..., C)'s token), block = G is per group of G consecutive elements along a row.
 *
 * One entry for layers: slt_quant_apply(ctx, x, spec, scale, offset) with a slt_quant_spec,
 * checked by slt_quant_check. The lower-level ops below it are public for tests and tools. */
#ifndef SLT_QUANT_H
#define SLT_QUANT_H

#include "tape.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
  SLT_QUANT_NONE, /* identity: apply returns x itself */
  SLT_QUANT_INT,  /* integer affine, scales from the data on the fly (not differentiated) */
  SLT_QUANT_LSQ,  /* integer with a learned scale tensor (LSQ; LSQ+ with minmax) */
  SLT_QUANT_FP,   /* small float format, scale amax/max_norm per block */
  SLT_QUANT_MX    /* small float format, power-of-two (E8M0) scale per block of 32 */
} slt_quant_kind;

typedef enum {
  SLT_QGRAN_TENSOR,  /* one scale */
  SLT_QGRAN_CHANNEL, /* one per row of an (out, in) weight */
  SLT_QGRAN_TOKEN,   /* one per row of an activation (..., C); not for lsq */
  SLT_QGRAN_GROUP    /* one per group_size consecutive elements of a row */
} slt_quant_gran;

typedef enum {
  SLT_QFMT_E4M3, /* OCP FP8, max 448, no infinities */
  SLT_QFMT_E5M2, /* FP8, max 57344 */
  SLT_QFMT_E3M2, /* FP6, max 28 */
  SLT_QFMT_E2M3, /* FP6, max 7.5 */
  SLT_QFMT_E2M1  /* FP4, values 0 0.5 1 1.5 2 3 4 6 */
} slt_quant_format;

typedef enum {
  SLT_QSCALE_ABSMAX, /* symmetric: z = 0, range [-2^(b-1), 2^(b-1)-1], s = amax/qmax */
  SLT_QSCALE_MINMAX  /* asymmetric: range [0, 2^b-1], PyTorch MinMaxObserver's s and z */
} slt_quant_scale;

#define SLT_QUANT_MX_BLOCK 32

/* What to do to one tensor. Zero-initialised it is kind none. */
typedef struct slt_quant_spec {
  slt_quant_kind kind;
  int bits;                   /* int, lsq: 2..16; fp, mx: 0 or the format's own width */
  slt_quant_format format;    /* fp, mx */
  slt_quant_gran granularity; /* mx: group */
  int group_size;             /* granularity group: G dividing the row (mx: 32) */
  slt_quant_scale scale;      /* int, lsq (minmax = LSQ+ offset β); fp, mx: absmax only */
  bool narrow;                /* symmetric int, lsq: qmin = -(2^(b-1)-1) */
  bool round_even;            /* fp, mx: ties to even instead of away from zero */
  bool ste_mask;              /* mx: zero the gradient where |x/s| > max_norm (saturated) */
  bool grad_scaling;          /* lsq: ds, dβ scaled by 1/sqrt(numel·qmax) (else 1) */
} slt_quant_spec;

/* ---- the spec (quant.c) ---- */

/* 0 when spec can quantize a (rows, cols) matrix view (rows <= 0: not known yet, not checked);
 * else -1 with one message naming what is wrong, in err (when given) and slt_err_set. */
int slt_quant_check(const slt_quant_spec *spec, int64_t rows, int cols, char *err, size_t errlen);
/* Elements per scale for a (rows, cols) view (rows·cols per tensor, cols per row, G, 32). */
int64_t slt_quant_block(const slt_quant_spec *spec, int64_t rows, int cols);
/* Number of scales for a (rows, cols) view: the numel of lsq's scale (and offset) tensors. */
int64_t slt_quant_nscales(const slt_quant_spec *spec, int64_t rows, int cols);
/* The integer range [qmin, qmax] of an int or lsq spec. */
void slt_quant_range(const slt_quant_spec *spec, int *qmin, int *qmax);
/* Set one field from text: kind, bits, format, granularity, group_size, scale, narrow, round
 * (away|even), ste_mask, grad_scaling. 0, or -1 with a message naming the key and value. */
int slt_quant_parse(slt_quant_spec *spec, const char *key, const char *value);
/* A short description ("int8 channel absmax", "mx e2m1", "none") into buf; returns buf. */
const char *slt_quant_describe(const slt_quant_spec *spec, char *buf, size_t len);
/* Fake-quantize x (seen as (rows, last dim)) as spec says. lsq: scale has nscales elements
 * and offset (β) is required with minmax, NULL with absmax; both may require grad. Other
 * kinds: scale and offset NULL. kind none returns x itself. NULL (error recorded) on error. */
slt_tensor *slt_quant_apply(slt_ctx *c, slt_tensor *x, const slt_quant_spec *spec,
                            slt_tensor *scale, slt_tensor *offset);

/* ---- integer affine and LSQ (ops_quant_int.c) ---- */

/* PyTorch fake_quantize_per_{tensor,channel}_affine with block b's scale[b] and integer-valued
 * zero[b] (NULL: 0): q = nearbyint(x·(1/s)) + z, y = (clamp(q, qmin, qmax) − z)·s,
 * dx = dy·[qmin ≤ q ≤ qmax]. The scales are copied; they are not differentiated. */
slt_tensor *slt_quant_affine(slt_ctx *c, slt_tensor *x, const float *scale, const float *zero,
                             int64_t block, int qmin, int qmax);
/* The scales (and zero points) an int spec computes for x: absmax s = amax/qmax (s = 1 when
 * amax/qmax is below FLT_MIN, so an all-zero block stays 0), z = 0; minmax as PyTorch's
 * MinMaxObserver. scale, zero: nscales floats each (zero may be NULL for absmax). 0 or -1. */
int slt_quant_qparams(const slt_tensor *x, const slt_quant_spec *spec, float *scale, float *zero);
/* LSQ as PyTorch's _LearnableFakeQuantize: scale (nblocks) learned, zero (nblocks) a learned
 * zero point or NULL (z = 0). Forward as slt_quant_affine with s = max(scale, FLT_EPSILON) and
 * z = clamp(nearbyint(zero)); in range dx = dy, ds = dy·(y − x)/s, dz = 0; below (above) dx = 0,
 * ds = dy·(qmin − z) (qmax − z), dz = −dy·s; ds, dz summed per block times
 * g = 1/sqrt(numel·qmax) when grad_scaling (numel of the whole x), else 1. */
slt_tensor *slt_quant_lsq(slt_ctx *c, slt_tensor *x, slt_tensor *scale, slt_tensor *zero,
                          int64_t block, int qmin, int qmax, bool grad_scaling);
/* LSQ+: y = nearbyint(clamp((x − β)·(1/s), qmin, qmax))·s + β with scale and beta (nblocks)
 * learned. With v = (x − β)/s: in range dx = dy, ds = dy·(nearbyint(v) − v), dβ = 0; below
 * (above) dx = 0, ds = dy·qmin (qmax), dβ = dy; ds, dβ summed per block times g as above. */
slt_tensor *slt_quant_lsq_plus(slt_ctx *c, slt_tensor *x, slt_tensor *scale, slt_tensor *beta,
                               int64_t block, int qmin, int qmax, bool grad_scaling);
/* Initial LSQ parameters from x per block: absmax s = 2·mean|x|/sqrt(qmax) (the LSQ paper);
 * minmax (LSQ+) s = (max − min)/(qmax − qmin), β = min. Floors s at FLT_EPSILON. 0 or -1. */
int slt_quant_lsq_init(const slt_tensor *x, const slt_quant_spec *spec, float *scale,
                       float *offset);

/* ---- floating-point formats and MX (ops_quant_fp.c) ---- */

/* The format's name ("e4m3", ...), or NULL for a value outside the enum. */
const char *slt_quant_format_name(slt_quant_format f);
/* Its width in bits, sign included (8, 8, 6, 6, 4); 0 outside the enum. */
int slt_quant_format_bits(slt_quant_format f);
/* The largest finite value of a format (448, 57344, 28, 7.5, 6). */
float slt_quant_fp_max(slt_quant_format f);
/* The format's value nearest x (microxcaling's elementwise quantizer, saturating): ties away
 * from zero, or to even. */
float slt_quant_fp_round(float x, slt_quant_format f, bool round_even);
/* y = s·Q(x/s) with s = amax(block)/max_norm (s = 1 for a block whose s is below FLT_MIN);
 * STE backward dx = dy. (No mask: an absmax scale never clips.) */
slt_tensor *slt_quant_fp(slt_ctx *c, slt_tensor *x, slt_quant_format f, int64_t block,
                         bool round_even);
/* The per-block scales slt_quant_fp (mx false) or slt_quant_mx (mx true, block 32) use for x,
 * into scale (numel/block floats). 0 or -1. */
int slt_quant_fp_scales(const slt_tensor *x, slt_quant_format f, int64_t block, bool mx,
                        float *scale);
/* MX: blocks of 32 along the last dim (which 32 must divide) share the scale 2^k,
 * k = clamp(floor(log2 amax) − emax(f), −127, 127) (an all-zero block: floor(log2 amax) = −126);
 * y = 2^k·Q(x/2^k); STE backward dx = dy, or with ste_mask dy·[|x/2^k| ≤ max_norm] (the
 * block's largest elements can lie beyond max_norm and saturate). */
slt_tensor *slt_quant_mx(slt_ctx *c, slt_tensor *x, slt_quant_format f, bool round_even,
                         bool ste_mask);

/* ---- integer codes for export (quant_codes.c) ---- */

/* The codes and per-block parameters of spec's fake-quant of x (int, lsq, fp, mx), such that
 * slt_quant_dequant gives slt_quant_apply's output bit for bit. q (numel): int, lsq: the integer
 * level (clamped to [qmin, qmax]); fp, mx: the format's bit pattern (sign, exponent, mantissa).
 * scale, zero (nscales each): the step and zero point (int minmax), lsq's floored step and
 * offset (LSQ: integer zero point 0; LSQ+: β), fp/mx's scale (zero 0). lsq_scale, lsq_offset:
 * the learned tensors' data (lsq only). 0 or -1. */
int slt_quant_codes(const slt_tensor *x, const slt_quant_spec *spec, const float *lsq_scale,
                    const float *lsq_offset, float *q, float *scale, float *zero);
/* y (n) from codes q and the per-block scale and zero of blocks of `block` elements, as
 * slt_quant_codes wrote them. */
void slt_quant_dequant(const slt_quant_spec *spec, int64_t n, int64_t block, const float *q,
                       const float *scale, const float *zero, float *y);
/* The value of a format's bit pattern (NaN for E4M3's NaN code), and the bit pattern of a
 * value the format holds exactly (-1 when it does not). */
float slt_quant_fp_decode(slt_quant_format f, int code);
int slt_quant_fp_encode(slt_quant_format f, float v);

#endif
