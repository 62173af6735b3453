#include "cplx2.h"

#include "autograd/error.h"
#include "kernels/lowbit_kern.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const int8_t slt_cplx2_lut[4][16] = {
    {2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1}, /* u_R, lo */
    {2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1}, /* u_R, hi */
    {1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0, 1, 2, 1, 0}, /* u_I, lo */
    {1, 1, 1, 1, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0}, /* u_I, hi */
};

int slt_cplx2_alloc(slt_cplx2 *m, int64_t out, int64_t in) {
  memset(m, 0, sizeof *m);
  if (out < 1 || in < 1 || in > SLT_CPLX2_MAX_IN || out > ((int64_t)1 << 31)) {
    slt_err_set("cplx2: bad shape (%lld, %lld): rows up to %lld", (long long)out, (long long)in,
                (long long)SLT_CPLX2_MAX_IN);
    return -1;
  }
  m->out = out;
  m->in = in;
  m->row_bytes = (in + SLT_LB_BLOCK - 1) / SLT_LB_BLOCK * 64;
  m->qs = aligned_alloc(64, (size_t)(out * m->row_bytes));
  if (!m->qs) {
    slt_err_set("cplx2: out of memory for (%lld, %lld)", (long long)out, (long long)in);
    return -1;
  }
  memset(m->qs, 0, (size_t)(out * m->row_bytes));
  m->s_re = m->s_im = 1.0f;
  return 0;
}

void slt_cplx2_free(slt_cplx2 *m) {
  free(m->qs);
  memset(m, 0, sizeof *m);
}

int slt_cplx2_pack(slt_cplx2 *m, const uint8_t *k, int64_t out, int64_t in, float s_re,
                   float s_im) {
  for (int64_t i = 0; i < out * in; i++)
    if (k[i] > 3) {
      slt_err_set("cplx2: code (%lld, %lld) is %d, not 0..3", (long long)(i / in),
                  (long long)(i % in), k[i]);
      return -1;
    }
  if (slt_cplx2_alloc(m, out, in)) return -1;
  for (int64_t r = 0; r < out; r++)
    for (int64_t e = 0; e < in; e++) slt_lb_set_code(m->qs + r * m->row_bytes, e, k[r * in + e]);
  m->s_re = s_re;
  m->s_im = s_im;
  return 0;
}

/* Code of a dequantized weight, or -1 when it is not one of the four. */
static int code_of(float re, float im, float s_re, float s_im) {
  if (im == 0.0f && re == s_re) return 0;
  if (re == 0.0f && im == s_im) return 1;
  if (im == 0.0f && re == -s_re) return 2;
  if (re == 0.0f && im == -s_im) return 3;
  return -1;
}

int slt_cplx2_pack_float(slt_cplx2 *m, const float *W_re, const float *W_im, int64_t out,
                         int64_t in) {
  float s_re = 0.0f, s_im = 0.0f;
  for (int64_t i = 0; i < out * in; i++) {
    s_re = fmaxf(s_re, fabsf(W_re[i]));
    s_im = fmaxf(s_im, fabsf(W_im[i]));
  }
  uint8_t *k = malloc((size_t)(out * in));
  if (!k) {
    slt_err_set("cplx2: out of memory for (%lld, %lld)", (long long)out, (long long)in);
    return -1;
  }
  for (int64_t i = 0; i < out * in; i++) {
    int c = code_of(W_re[i], W_im[i], s_re, s_im);
    if (c < 0) {
      slt_err_set("cplx2: weight (%lld, %lld) = %g%+gi is not ±%g or ±%gi", (long long)(i / in),
                  (long long)(i % in), W_re[i], W_im[i], s_re, s_im);
      free(k);
      return -1;
    }
    k[i] = (uint8_t)c;
  }
  int rc = slt_cplx2_pack(m, k, out, in, s_re > 0.0f ? s_re : 1e-5f, s_im > 0.0f ? s_im : 1e-5f);
  free(k);
  return rc;
}

void slt_cplx2_unpack(const slt_cplx2 *m, uint8_t *k) {
  for (int64_t r = 0; r < m->out; r++)
    for (int64_t e = 0; e < m->in; e++)
      k[r * m->in + e] = (uint8_t)slt_lb_code(m->qs + r * m->row_bytes, e);
}

int slt_cplx_act_alloc(slt_cplx_act *a, int n, int64_t in) {
  memset(a, 0, sizeof *a);
  if (slt_act8_alloc(&a->re, n, in) || slt_act8_alloc(&a->im, n, in)) {
    slt_cplx_act_free(a);
    return -1;
  }
  return 0;
}

void slt_cplx_act_free(slt_cplx_act *a) {
  slt_act8_free(&a->re);
  slt_act8_free(&a->im);
}

void slt_cplx2_quantize(slt_cplx_act *a, const float *x, int64_t ldx) {
  slt_act8_quantize(&a->re, x, ldx, -127);
  slt_act8_quantize(&a->im, x + a->re.in, ldx, -127);
}

/* ---- portable kernel: sign and swap per weight, no multiplication ---- */

void slt_cplx2_kern_portable(const uint8_t *w, int64_t row_bytes, int nrows, const int8_t *qre,
                             const int8_t *qim, int64_t qstride, const int32_t *sre,
                             const int32_t *sim, int n, int32_t *out) {
  (void)sre, (void)sim; /* signed per-weight terms: no offset to undo */
  for (int r = 0; r < nrows; r++)
    for (int t = 0; t < n; t++) {
      const uint8_t *row = w + r * row_bytes;
      const int8_t *xr = qre + t * qstride, *xi = qim + t * qstride;
      int32_t A = 0, B = 0, C = 0, D = 0;
      for (int64_t b = 0; b < row_bytes; b += 64)
        for (int l = 0; l < 4; l++)
          for (int i = 0; i < 64; i++) {
            int k = (row[b + i] >> (2 * l)) & 3;
            int32_t sr = xr[4 * b + 64 * l + i], si = xi[4 * b + 64 * l + i];
            if (k & 2) sr = -sr, si = -si;
            if (k & 1)
              B += si, D += sr;
            else
              A += sr, C -= si;
          }
      int32_t *o = out + (r * n + t) * 4;
      o[0] = A, o[1] = B, o[2] = C, o[3] = D;
    }
}

/* ---- driver ---- */

/* y_re and y_im of one (row, token); fmaf fixes the rounding whatever the compiler contracts. */
static inline void epilogue_one(const int32_t *s, float cre_r, float cim_i, float cre_i,
                                float cim_r, float *yre, float *yim) {
  *yre = fmaf((float)s[0], cre_r, (float)s[1] * cim_i);
  *yim = fmaf((float)s[2], cre_i, (float)s[3] * cim_r);
}

static slt_cplx2_kern kernel_for(slt_isa isa) {
  return isa == SLT_ISA_AVX512 ? slt_cplx2_kern_avx512
         : isa == SLT_ISA_AVX2 ? slt_cplx2_kern_avx2
                               : slt_cplx2_kern_portable;
}

static int check(const slt_cplx2 *m, const slt_cplx_act *a, slt_isa isa) {
  if (!m || !a || !m->qs || !a->re.q || !a->im.q || a->re.in != m->in || a->im.in != m->in ||
      a->re.n != a->im.n) {
    slt_err_set("cplx2: activations of %lld elements for a (%lld, %lld) matrix",
                a ? (long long)a->re.in : 0LL, m ? (long long)m->out : 0LL,
                m ? (long long)m->in : 0LL);
    return -1;
  }
  if (!slt_cpu_supports(isa)) {
    slt_err_set("cplx2: this CPU cannot run the %s path", slt_cpu_isa_name(isa));
    return -1;
  }
  return 0;
}

/* Scales of token t: s_re/a_re, s_im/a_im, s_re/a_im, s_im/a_re. */
static void token_scales(const slt_cplx2 *m, const slt_cplx_act *a, int t, float c[4]) {
  c[0] = m->s_re / a->re.scale[t];
  c[1] = m->s_im / a->im.scale[t];
  c[2] = m->s_re / a->im.scale[t];
  c[3] = m->s_im / a->re.scale[t];
}

static void run(const slt_cplx2 *m, const slt_cplx_act *a, slt_cplx2_kern k, int32_t *sums,
                float *y, int64_t ldy) {
  int64_t tiles = (m->out + SLT_LB_ROWS - 1) / SLT_LB_ROWS;
  int n = a->re.n;
#pragma omp parallel for schedule(static) if (m->out * m->row_bytes * n >= (1 << 15))
  for (int64_t c = 0; c < tiles; c++) {
    int64_t r0 = c * SLT_LB_ROWS;
    int nr = (int)(m->out - r0 < SLT_LB_ROWS ? m->out - r0 : SLT_LB_ROWS);
    for (int t0 = 0; t0 < n; t0 += SLT_LB_TOK) {
      int nt = n - t0 < SLT_LB_TOK ? n - t0 : SLT_LB_TOK;
      int32_t buf[SLT_LB_ROWS * SLT_LB_TOK * 4];
      k(m->qs + r0 * m->row_bytes, m->row_bytes, nr, a->re.q + t0 * a->re.stride,
        a->im.q + t0 * a->re.stride, a->re.stride, a->re.sum + t0, a->im.sum + t0, nt, buf);
      for (int t = 0; t < nt; t++) {
        float cs[4];
        token_scales(m, a, t0 + t, cs);
        for (int r = 0; r < nr; r++) {
          const int32_t *s = buf + (r * nt + t) * 4;
          if (sums) memcpy(sums + ((t0 + t) * m->out + r0 + r) * 4, s, 4 * sizeof *s);
          if (y) {
            float *yt = y + (t0 + t) * ldy;
            epilogue_one(s, cs[0], cs[1], cs[2], cs[3], yt + r0 + r, yt + m->out + r0 + r);
          }
        }
      }
    }
  }
}

int slt_cplx2_sums(const slt_cplx2 *m, const slt_cplx_act *a, int32_t *sums, slt_isa isa) {
  if (check(m, a, isa)) return -1;
  run(m, a, kernel_for(isa), sums, NULL, 0);
  return 0;
}

void slt_cplx2_epilogue(const slt_cplx2 *m, const slt_cplx_act *a, const int32_t *sums, float *y,
                        int64_t ldy) {
  for (int t = 0; t < a->re.n; t++) {
    float cs[4];
    token_scales(m, a, t, cs);
    for (int64_t r = 0; r < m->out; r++)
      epilogue_one(sums + (t * m->out + r) * 4, cs[0], cs[1], cs[2], cs[3], y + t * ldy + r,
                   y + t * ldy + m->out + r);
  }
}

int slt_cplx2_gemm_isa(const slt_cplx2 *m, const slt_cplx_act *a, float *y, int64_t ldy,
                       slt_isa isa) {
  if (check(m, a, isa)) return -1;
  run(m, a, kernel_for(isa), NULL, y, ldy);
  return 0;
}

int slt_cplx2_gemm(const slt_cplx2 *m, const slt_cplx_act *a, float *y, int64_t ldy) {
  return slt_cplx2_gemm_isa(m, a, y, ldy, slt_cpu_isa());
}
