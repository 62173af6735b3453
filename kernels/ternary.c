#include "ternary.h"

#include "autograd/error.h"
#include "kernels/lowbit_kern.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int slt_tern_alloc(slt_tern *m, int64_t out, int64_t in, int nshards) {
  memset(m, 0, sizeof *m);
  if (out < 1 || in < 1 || in > SLT_TERN_MAX_IN || out > ((int64_t)1 << 31)) {
    slt_err_set("ternary: bad shape (%lld, %lld): rows up to %lld", (long long)out, (long long)in,
                (long long)SLT_TERN_MAX_IN);
    return -1;
  }
  if (nshards < 1 || out % nshards) {
    slt_err_set("ternary: %d shards do not split %lld rows equally", nshards, (long long)out);
    return -1;
  }
  m->out = out;
  m->in = in;
  m->nshards = nshards;
  m->row_bytes = (in + SLT_LB_BLOCK - 1) / SLT_LB_BLOCK * 64;
  m->qs = aligned_alloc(64, (size_t)(out * m->row_bytes));
  m->gamma = malloc(sizeof(float) * (size_t)nshards);
  if (!m->qs || !m->gamma) {
    slt_tern_free(m);
    slt_err_set("ternary: out of memory for (%lld, %lld)", (long long)out, (long long)in);
    return -1;
  }
  memset(m->qs, 0x55, (size_t)(out * m->row_bytes)); /* every code 1: weight 0 */
  for (int s = 0; s < nshards; s++) m->gamma[s] = 1.0f;
  return 0;
}

void slt_tern_free(slt_tern *m) {
  free(m->qs);
  free(m->gamma);
  memset(m, 0, sizeof *m);
}

/* Codes of one row from w (in values); the padding keeps code 1. */
static void pack_row(uint8_t *row, int64_t row_bytes, const int8_t *w, int64_t in) {
  memset(row, 0, (size_t)row_bytes);
  for (int64_t e = 0; e < row_bytes * 4; e++) slt_lb_set_code(row, e, e < in ? w[e] + 1 : 1);
}

int slt_tern_pack(slt_tern *m, const int8_t *w, int64_t out, int64_t in, const float *gamma,
                  int nshards) {
  for (int64_t i = 0; i < out * in; i++)
    if (w[i] < -1 || w[i] > 1) {
      slt_err_set("ternary: weight (%lld, %lld) is %d, not -1, 0 or 1", (long long)(i / in),
                  (long long)(i % in), w[i]);
      return -1;
    }
  if (slt_tern_alloc(m, out, in, nshards)) return -1;
  for (int64_t r = 0; r < out; r++)
    pack_row(m->qs + r * m->row_bytes, m->row_bytes, w + r * in, in);
  memcpy(m->gamma, gamma, sizeof(float) * (size_t)nshards);
  return 0;
}

int slt_tern_pack_float(slt_tern *m, const float *W, int64_t out, int64_t in, int nshards) {
  if (nshards < 1 || out % nshards) return slt_tern_alloc(m, out, in, nshards);
  int64_t per = out / nshards;
  float *gamma = malloc(sizeof(float) * (size_t)nshards);
  int8_t *w = malloc((size_t)(out * in));
  int rc = gamma && w ? 0 : -1;
  if (rc) slt_err_set("ternary: out of memory for (%lld, %lld)", (long long)out, (long long)in);
  for (int s = 0; s < nshards && !rc; s++) {
    float g = 0.0f;
    for (int64_t i = s * per * in; i < (s + 1) * per * in; i++) g = fmaxf(g, fabsf(W[i]));
    gamma[s] = g > 0.0f ? g : 1e-5f;
    for (int64_t i = s * per * in; i < (s + 1) * per * in && !rc; i++) {
      w[i] = W[i] == 0.0f ? 0 : W[i] == g ? 1 : W[i] == -g ? -1 : 0;
      if (W[i] != 0.0f && !w[i]) {
        slt_err_set("ternary: weight (%lld, %lld) = %g is neither 0 nor ±%g (its shard's max)",
                    (long long)(i / in), (long long)(i % in), W[i], g);
        rc = -1;
      }
    }
  }
  if (!rc) rc = slt_tern_pack(m, w, out, in, gamma, nshards);
  free(gamma);
  free(w);
  return rc;
}

void slt_tern_unpack(const slt_tern *m, int8_t *w) {
  for (int64_t r = 0; r < m->out; r++)
    for (int64_t e = 0; e < m->in; e++)
      w[r * m->in + e] = (int8_t)(slt_lb_code(m->qs + r * m->row_bytes, e) - 1);
}

/* ---- portable kernel: the byte at b of a block holds the codes of positions 64l + b ---- */

void slt_tern_kern_portable(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *q,
                            int64_t qstride, const int32_t *qsum, int n, int32_t *out) {
  for (int r = 0; r < nrows; r++)
    for (int t = 0; t < n; t++) {
      const uint8_t *row = w + r * row_bytes;
      const int8_t *x = q + t * qstride;
      int32_t acc = 0;
      for (int64_t b = 0; b < row_bytes; b += 64)
        for (int l = 0; l < 4; l++)
          for (int i = 0; i < 64; i++) acc += ((row[b + i] >> (2 * l)) & 3) * x[4 * b + 64 * l + i];
      out[r * n + t] = acc - qsum[t];
    }
}

/* ---- driver ---- */

static inline float epilogue_one(int32_t dot, float gamma, float s) {
  return (float)dot * (gamma / s);
}

static slt_tern_kern kernel_for(slt_isa isa) {
  return isa == SLT_ISA_AVX512 ? slt_tern_kern_avx512
         : isa == SLT_ISA_AVX2 ? slt_tern_kern_avx2
                               : slt_tern_kern_portable;
}

static int check(const slt_tern *m, const slt_act8 *a, slt_isa isa) {
  if (!m || !a || !m->qs || !a->q || a->in != m->in) {
    slt_err_set("ternary: activations of %lld elements for a (%lld, %lld) matrix",
                a ? (long long)a->in : 0LL, m ? (long long)m->out : 0LL,
                m ? (long long)m->in : 0LL);
    return -1;
  }
  if (!slt_cpu_supports(isa)) {
    slt_err_set("ternary: this CPU cannot run the %s path", slt_cpu_isa_name(isa));
    return -1;
  }
  return 0;
}

/* Row tiles over OpenMP; each tile writes dots and/or y. Tiles are disjoint: no reductions. */
static void run(const slt_tern *m, const slt_act8 *a, slt_tern_kern k, int32_t *dots, float *y,
                int64_t ldy) {
  int64_t tiles = (m->out + SLT_LB_ROWS - 1) / SLT_LB_ROWS, per = m->out / m->nshards;
#pragma omp parallel for schedule(static) if (m->out * m->row_bytes * a->n >= (1 << 16))
  for (int64_t c = 0; c < tiles; c++) {
    int64_t r0 = c * SLT_LB_ROWS;
    int nr = (int)(m->out - r0 < SLT_LB_ROWS ? m->out - r0 : SLT_LB_ROWS);
    for (int t0 = 0; t0 < a->n; t0 += SLT_LB_TOK) {
      int nt = a->n - t0 < SLT_LB_TOK ? a->n - t0 : SLT_LB_TOK;
      int32_t buf[SLT_LB_ROWS * SLT_LB_TOK];
      k(m->qs + r0 * m->row_bytes, m->row_bytes, nr, a->q + t0 * a->stride, a->stride, a->sum + t0,
        nt, buf);
      for (int r = 0; r < nr; r++)
        for (int t = 0; t < nt; t++) {
          int32_t d = buf[r * nt + t];
          if (dots) dots[(t0 + t) * m->out + r0 + r] = d;
          if (y)
            y[(t0 + t) * ldy + r0 + r] =
                epilogue_one(d, m->gamma[(r0 + r) / per], a->scale[t0 + t]);
        }
    }
  }
}

int slt_tern_dots(const slt_tern *m, const slt_act8 *a, int32_t *dots, slt_isa isa) {
  if (check(m, a, isa)) return -1;
  run(m, a, kernel_for(isa), dots, NULL, 0);
  return 0;
}

void slt_tern_epilogue(const slt_tern *m, const slt_act8 *a, const int32_t *dots, float *y,
                       int64_t ldy) {
  int64_t per = m->out / m->nshards;
  for (int t = 0; t < a->n; t++)
    for (int64_t r = 0; r < m->out; r++)
      y[t * ldy + r] = epilogue_one(dots[t * m->out + r], m->gamma[r / per], a->scale[t]);
}

int slt_tern_gemm_isa(const slt_tern *m, const slt_act8 *a, float *y, int64_t ldy, slt_isa isa) {
  if (check(m, a, isa)) return -1;
  run(m, a, kernel_for(isa), NULL, y, ldy);
  return 0;
}

int slt_tern_gemm(const slt_tern *m, const slt_act8 *a, float *y, int64_t ldy) {
  return slt_tern_gemm_isa(m, a, y, ldy, slt_cpu_isa());
}
