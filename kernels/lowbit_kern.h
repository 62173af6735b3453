/* Internal: the per-ISA row kernels behind kernels/ternary.h and kernels/cplx2.h. Each computes a
 * tile of nrows packed rows (starting at w, row_bytes apart) × n tokens (n <= SLT_LB_TOK; token t's
 * activations at q + t·qstride in kernel order) and writes exact integers, row-major by row then
 * token. Only kernels/ includes this. */
#ifndef SLT_KERNELS_LOWBIT_KERN_H
#define SLT_KERNELS_LOWBIT_KERN_H

#include <stdint.h>

#define SLT_LB_TOK 16  /* tokens per kernel call */
#define SLT_LB_ROWS 16 /* rows per kernel call (and per OpenMP work item) */
/* Software prefetch distance along a packed row (bytes): one thread streaming weights from DRAM
 * reads ~20% faster with it than with the hardware prefetchers alone (measured, 4 streams). */
#define SLT_LB_PREFETCH 1024

/* Ternary: out[r·n + t] = Σ_i (code − 1) · q. qsum[t] = Σ q of token t. */
typedef void (*slt_tern_kern)(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                              int64_t qstride, const int32_t *qsum, int n, int32_t *out);
void slt_tern_kern_portable(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                            int64_t qstride, const int32_t *qsum, int n, int32_t *out);
void slt_tern_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                        int64_t qstride, const int32_t *qsum, int n, int32_t *out);
void slt_tern_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                          int64_t qstride, const int32_t *qsum, int n, int32_t *out);

/* The {±1, ±i} kernels' vpshufb tables: u = 1 + f by nibble n, lo tables reading the code in bits
 * 0-1 of n, hi tables bits 2-3; u_R = (2, 1, 0, 1)[k], u_I = (1, 2, 1, 0)[k]; rows u_R lo, u_R hi,
 * u_I lo, u_I hi (each broadcast to every 16-byte lane). Defined in cplx2.c. */
extern const int8_t slt_cplx2_lut[4][16];

/* {±1, ±i}: out[(r·n + t)·4 + {0,1,2,3}] = the sums A, B, C, D of kernels/cplx2.h. sre[t],
 * sim[t] = Σ q_re, Σ q_im of token t (for the kernels that use unsigned weight coefficients). */
typedef void (*slt_cplx2_kern)(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                               const int8_t *qim, int64_t qstride, const int32_t *sre,
                               const int32_t *sim, int n, int32_t *out);
void slt_cplx2_kern_portable(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                             const int8_t *qim, int64_t qstride, const int32_t *sre,
                             const int32_t *sim, int n, int32_t *out);
void slt_cplx2_kern_avx2(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                         const int8_t *qim, int64_t qstride, const int32_t *sre, const int32_t *sim,
                         int n, int32_t *out);
void slt_cplx2_kern_avx512(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                           const int8_t *qim, int64_t qstride, const int32_t *sre,
                           const int32_t *sim, int n, int32_t *out);

/* 2-bit code of element e (natural order) in a packed row: TQ2_0's qs byte order. */
static inline int slt_lb_code(const uint8_t *row, int64_t e) {
  int64_t r = e % 256;
  return (row[e / 256 * 64 + 32 * (r / 128) + r % 32] >> (2 * ((r % 128) / 32))) & 3;
}

/* Set the 2-bit code of element e (the bits must be clear). */
static inline void slt_lb_set_code(uint8_t *row, int64_t e, int code) {
  int64_t r = e % 256;
  row[e / 256 * 64 + 32 * (r / 128) + r % 32] |= (uint8_t)(code << (2 * ((r % 128) / 32)));
}

#endif
