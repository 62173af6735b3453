/* Packed low-bit kernels (kernels/): every path this CPU can run against plain scalar references
 * written here from the SPEC's formulas — exact integers, then bit-identical floats from the
 * same epilogue formula — on odd shapes, the int16/int32 worst cases and TQ2_0's byte layout. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "kernels/act8.h"
#include "kernels/cplx2.h"
#include "kernels/cpu.h"
#include "kernels/ternary.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Shapes that are not multiples of 32, 64 or 256, and tiny ones. */
static const int shapes[][2] = {{1, 1},   {3, 255},  {17, 257}, {5, 1000},
                                {6, 300}, {33, 513}, {2, 2048}};
#define NSHAPES ((int)(sizeof shapes / sizeof *shapes))
static const int ntoks[] = {1, 2, 3, 5, 16, 19};
#define NTOKS ((int)(sizeof ntoks / sizeof *ntoks))

/* Every path this CPU supports; the others are reported as skipped once. */
static int paths(slt_isa *out) {
  int n = 0;
  for (int i = 0; i < SLT_ISA_COUNT; i++) {
    if (slt_cpu_supports((slt_isa)i))
      out[n++] = (slt_isa)i;
    else
      test_skip(slt_cpu_isa_name((slt_isa)i), "this CPU cannot run the path");
  }
  return n;
}

/* SPEC §5 activation quantizer, scalar: s = 127/max(amax, 1e-5), q = clamp(rint(x·s)). */
static float ref_quant(const float *x, int64_t in, int qmin, int8_t *q) {
  float amax = 0;
  for (int64_t i = 0; i < in; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
  float s = 127.0f / (amax > 1e-5f ? amax : 1e-5f);
  for (int64_t i = 0; i < in; i++) {
    float v = nearbyintf(x[i] * s);
    q[i] = (int8_t)(v < qmin ? qmin : v > 127 ? 127 : v);
  }
  return s;
}

static void rand_ternary(slt_rng *r, int8_t *w, int64_t n) {
  for (int64_t i = 0; i < n; i++) w[i] = (int8_t)((int)slt_rng_below(r, 3) - 1);
}

/* ---- cpu ---- */

static void test_cpu(void) {
  CU_ASSERT(slt_cpu_supports(SLT_ISA_PORTABLE));
  CU_ASSERT(slt_cpu_supports(slt_cpu_best()));
  CU_ASSERT(slt_cpu_supports(slt_cpu_isa()));
  for (int i = 0; i < SLT_ISA_COUNT; i++) {
    slt_isa back;
    CU_ASSERT(slt_cpu_isa_parse(slt_cpu_isa_name((slt_isa)i), &back) == 0 && back == (slt_isa)i);
  }
  slt_isa isa;
  CU_ASSERT(slt_cpu_isa_parse("avx1024", &isa) == -1 && test_err_has("avx1024", "avx512"));
  char *old = getenv("SLT_ISA") ? strdup(getenv("SLT_ISA")) : NULL;
  setenv("SLT_ISA", "bogus", 1);
  CU_ASSERT(slt_cpu_isa_env(&isa) == -1 && test_err_has("SLT_ISA=bogus", NULL));
  CU_ASSERT(isa == slt_cpu_best());
  setenv("SLT_ISA", "portable", 1);
  CU_ASSERT(slt_cpu_isa_env(&isa) == 0 && isa == SLT_ISA_PORTABLE);
  if (old)
    setenv("SLT_ISA", old, 1);
  else
    unsetenv("SLT_ISA");
  free(old);
  CU_ASSERT(strlen(slt_cpu_model()) > 0);
  char flags[256];
  slt_cpu_flags(flags, sizeof flags);
  CU_ASSERT(slt_cpu_supports(SLT_ISA_AVX2) == (strstr(flags, "avx2") != NULL));
}

/* ---- activations ---- */

static void test_act8(void) {
  slt_rng r;
  slt_rng_seed(&r, 5);
  int n = 3, in = 300;
  float *x = malloc(sizeof(float) * n * in);
  slt_rng_fill_normal(&r, x, n * in, 0.0f, 2.0f);
  for (int i = 0; i < in; i++) x[2 * in + i] = 0.0f; /* all zero: s = 127/1e-5, q = 0 */
  /* Token 1: amax 127 makes s exactly 1, so ties round half to even. */
  x[in + 0] = 127.0f, x[in + 1] = 2.5f, x[in + 2] = 3.5f, x[in + 3] = -2.5f, x[in + 4] = -0.5f;
  slt_act8 a;
  CU_ASSERT_FATAL(slt_act8_alloc(&a, n, in) == 0);
  CU_ASSERT(a.stride == 512);
  slt_act8_quantize(&a, x, in, -128);
  int8_t q[300], got[300];
  for (int t = 0; t < n; t++) {
    float s = ref_quant(x + t * in, in, -128, q);
    slt_act8_get(&a, t, got);
    CU_ASSERT(a.scale[t] == s && memcmp(q, got, in) == 0);
    int32_t sum = 0;
    for (int i = 0; i < in; i++) sum += q[i];
    CU_ASSERT(a.sum[t] == sum);
    for (int i = in; i < a.stride; i++) CU_ASSERT(a.q[t * a.stride + slt_act8_pos(i)] == 0);
  }
  slt_act8_get(&a, 1, got);
  CU_ASSERT(got[1] == 2 && got[2] == 4 && got[3] == -2 && got[4] == 0);
  CU_ASSERT(a.scale[2] == 127.0f / 1e-5f);
  /* The permutation is one: positions of a block hit every slot once. */
  int seen[256] = {0};
  for (int e = 0; e < 256; e++) seen[slt_act8_pos(e)]++;
  for (int p = 0; p < 256; p++) CU_ASSERT(seen[p] == 1);
  CU_ASSERT(slt_act8_pos(128 + 32 * 3 + 5) == 64 * 3 + 32 + 5);
  slt_act8_free(&a);
  free(x);
}

/* ---- ternary packing ---- */

/* SPEC §8's TQ2_0 element formula, applied to one packed row. */
static int tq2_code(const uint8_t *row, int64_t e) {
  int64_t blk = e / 256, k = e % 256, j = k / 128, l = (k % 128) / 32, m = k % 32;
  return (row[blk * 64 + 32 * j + m] >> (2 * l)) & 3;
}

static void test_tern_pack(void) {
  slt_rng r;
  slt_rng_seed(&r, 11);
  for (int s = 0; s < NSHAPES; s++) {
    int out = shapes[s][0], in = shapes[s][1];
    int8_t *w = malloc(out * in), *back = malloc(out * in);
    rand_ternary(&r, w, out * in);
    float gamma[1] = {0.25f};
    slt_tern m;
    CU_ASSERT_FATAL(slt_tern_pack(&m, w, out, in, gamma, 1) == 0);
    CU_ASSERT(m.row_bytes == (in + 255) / 256 * 64);
    slt_tern_unpack(&m, back);
    CU_ASSERT(memcmp(w, back, out * in) == 0);
    int bad = 0;
    for (int o = 0; o < out; o++)
      for (int e = 0; e < m.row_bytes * 4; e++) /* TQ2_0 codes w + 1; padding weight 0 */
        bad += tq2_code(m.qs + o * m.row_bytes, e) != (e < in ? w[o * in + e] + 1 : 1);
    CU_ASSERT(bad == 0);
    slt_tern_free(&m);
    free(w);
    free(back);
  }
  int8_t w2[6] = {0, 1, -1, 2, 0, 0};
  float g2[2] = {1, 1};
  slt_tern m;
  CU_ASSERT(slt_tern_pack(&m, w2, 2, 3, g2, 1) == -1 && test_err_has("(1, 0)", "2"));
  w2[3] = 1;
  CU_ASSERT(slt_tern_pack(&m, w2, 2, 3, g2, 3) == -1 && test_err_has("3 shards", NULL));
  CU_ASSERT(slt_tern_alloc(&m, 2, SLT_TERN_MAX_IN + 1, 1) == -1);
}

/* Dequantized weights (0, ±γ per shard) pack losslessly; anything else is refused. */
static void test_tern_pack_float(void) {
  slt_rng r;
  slt_rng_seed(&r, 12);
  int out = 6, in = 70;
  int8_t w[6 * 70], back[6 * 70];
  rand_ternary(&r, w, out * in);
  for (int i = 2 * in; i < 4 * in; i++) w[i] = 0; /* shard 1 all zero */
  float g[3] = {0.031f, 7.0f, 1e-3f}, W[6 * 70];
  for (int i = 0; i < out * in; i++) W[i] = w[i] * g[i / (2 * in)];
  slt_tern m;
  CU_ASSERT_FATAL(slt_tern_pack_float(&m, W, out, in, 3) == 0);
  slt_tern_unpack(&m, back);
  CU_ASSERT(memcmp(w, back, sizeof w) == 0);
  CU_ASSERT(m.gamma[0] == g[0] && m.gamma[1] == 1e-5f && m.gamma[2] == g[2]);
  slt_tern_free(&m);
  W[5 * in + 3] = 0.5f * g[2];
  CU_ASSERT(slt_tern_pack_float(&m, W, out, in, 3) == -1 && test_err_has("(5, 3)", NULL));
}

/* ---- ternary products ---- */

/* Quantize random activations for n tokens; natural-order q and scales for the reference. */
static void make_act(slt_rng *r, int n, int in, int qmin, slt_act8 *a, int8_t *q, float *s) {
  float *x = malloc(sizeof(float) * n * in);
  slt_rng_fill_normal(r, x, (int64_t)n * in, 0.0f, 1.0f);
  CU_ASSERT_FATAL(slt_act8_alloc(a, n, in) == 0);
  slt_act8_quantize(a, x, in, qmin);
  for (int t = 0; t < n; t++) s[t] = ref_quant(x + t * in, in, qmin, q + t * in);
  free(x);
}

/* Reference dots (n, out) = Σ w q in int64, and y = (float)dot · (γ / s). */
static void ref_tern(const int8_t *w, const float *gamma, int nshards, int out, int in,
                     const int8_t *q, const float *s, int n, int64_t *dots, float *y) {
  for (int t = 0; t < n; t++)
    for (int o = 0; o < out; o++) {
      int64_t d = 0;
      for (int i = 0; i < in; i++) d += (int64_t)w[o * in + i] * q[t * in + i];
      dots[t * out + o] = d;
      y[t * out + o] = (float)d * (gamma[o / (out / nshards)] / s[t]);
    }
}

/* Every path: dots exact, y bit-identical, against the reference. */
static int check_tern(const slt_tern *m, const slt_act8 *a, const int64_t *dots, const float *y,
                      const char *label) {
  slt_isa isa[SLT_ISA_COUNT];
  int np = paths(isa), bad = 0;
  int64_t nout = (int64_t)a->n * m->out;
  int32_t *d = malloc(sizeof(int32_t) * nout);
  float *yy = malloc(sizeof(float) * nout);
  for (int p = 0; p < np; p++) {
    int rc = slt_tern_dots(m, a, d, isa[p]) | slt_tern_gemm_isa(m, a, yy, m->out, isa[p]);
    int64_t bd = 0, by = 0;
    for (int64_t i = 0; i < nout; i++) bd += d[i] != dots[i], by += memcmp(&yy[i], &y[i], 4) != 0;
    if (rc || bd || by) {
      printf("\n%s on %s: rc %d, %lld dots and %lld floats differ\n", label,
             slt_cpu_isa_name(isa[p]), rc, (long long)bd, (long long)by);
      bad++;
    }
  }
  free(d);
  free(yy);
  return bad;
}

static void test_tern_products(void) {
  slt_rng r;
  slt_rng_seed(&r, 13);
  for (int s = 0; s < NSHAPES; s++)
    for (int k = 0; k < NTOKS; k++) {
      int out = shapes[s][0], in = shapes[s][1], n = ntoks[k];
      int nsh = out % 3 == 0 ? 3 : out;
      int8_t *w = malloc(out * in), *q = malloc((size_t)n * in);
      float gamma[64], sc[32], *y = malloc(sizeof(float) * n * out);
      int64_t *dots = malloc(sizeof(int64_t) * n * out);
      for (int i = 0; i < nsh; i++) gamma[i] = 0.01f * (i + 1) + 0.003f;
      rand_ternary(&r, w, out * in);
      slt_tern m;
      slt_act8 a;
      CU_ASSERT_FATAL(slt_tern_pack(&m, w, out, in, gamma, nsh) == 0);
      make_act(&r, n, in, -128, &a, q, sc);
      ref_tern(w, gamma, nsh, out, in, q, sc, n, dots, y);
      char label[64];
      snprintf(label, sizeof label, "ternary (%d, %d) x %d tokens", out, in, n);
      CU_ASSERT(check_tern(&m, &a, dots, y, label) == 0);
      slt_tern_free(&m);
      slt_act8_free(&a);
      free(w), free(q), free(y), free(dots);
    }
}

/* Longest rows of one sign against the extreme activations: int16 partial sums (AVX2) and the
 * 4^l-scaled int32 lanes (AVX-512) at their limits. */
static void test_tern_extremes(void) {
  const int64_t lens[] = {256 * 129 + 7, SLT_TERN_MAX_IN};
  for (int li = 0; li < 2; li++)
    for (int wv = -1; wv <= 1; wv += 2)
      for (int qv = -128; qv <= 127; qv += 255) {
        int64_t in = lens[li];
        int out = 3;
        int8_t *w = malloc(out * in), *q = malloc(in);
        memset(w, wv, out * in);
        memset(q, qv, in);
        float gamma = 1.0f, sc = 2.0f, y[3];
        int64_t dots[3];
        slt_tern m;
        slt_act8 a;
        CU_ASSERT_FATAL(slt_tern_pack(&m, w, out, in, &gamma, 1) == 0);
        CU_ASSERT_FATAL(slt_act8_alloc(&a, 1, in) == 0);
        slt_act8_set(&a, 0, q);
        a.scale[0] = sc;
        ref_tern(w, &gamma, 1, out, in, q, &sc, 1, dots, y);
        CU_ASSERT(dots[0] == (int64_t)wv * qv * in);
        char label[80];
        snprintf(label, sizeof label, "ternary extremes in=%lld w=%d q=%d", (long long)in, wv, qv);
        CU_ASSERT(check_tern(&m, &a, dots, y, label) == 0);
        slt_tern_free(&m);
        slt_act8_free(&a);
        free(w), free(q);
      }
}

/* Dequantized weights times float activations: within the activation rounding bound
 * γ Σ|w| · 0.5/s (plus float slack) of the float product. */
static void test_tern_float(void) {
  slt_rng r;
  slt_rng_seed(&r, 14);
  int out = 40, in = 777, n = 4;
  int8_t *w = malloc(out * in);
  float *W = malloc(sizeof(float) * out * in), *x = malloc(sizeof(float) * n * in);
  float *y = malloc(sizeof(float) * n * out);
  rand_ternary(&r, w, out * in);
  for (int i = 0; i < out * in; i++) W[i] = w[i] * 0.02f;
  slt_rng_fill_normal(&r, x, n * in, 0.0f, 1.0f);
  slt_tern m;
  slt_act8 a;
  CU_ASSERT_FATAL(slt_tern_pack_float(&m, W, out, in, 1) == 0);
  CU_ASSERT_FATAL(slt_act8_alloc(&a, n, in) == 0);
  slt_act8_quantize(&a, x, in, -128);
  CU_ASSERT_FATAL(slt_tern_gemm(&m, &a, y, out) == 0);
  int bad = 0;
  for (int t = 0; t < n; t++)
    for (int o = 0; o < out; o++) {
      double ref = 0, l1 = 0;
      for (int i = 0; i < in; i++)
        ref += (double)W[o * in + i] * x[t * in + i], l1 += fabs(W[o * in + i]);
      double bound = l1 * 0.5 / a.scale[t] * (1 + 1e-4) + 1e-6 * fabs(ref);
      bad += fabs(y[t * out + o] - ref) > bound;
    }
  CU_ASSERT(bad == 0);
  slt_act8 wrong;
  CU_ASSERT_FATAL(slt_act8_alloc(&wrong, 1, in + 1) == 0);
  CU_ASSERT(slt_tern_gemm(&m, &wrong, y, out) == -1 && test_err_has("778", "(40, 777)"));
  slt_act8_free(&wrong);
  slt_tern_free(&m);
  slt_act8_free(&a);
  free(w), free(W), free(x), free(y);
}

/* ---- {±1, ±i} ---- */

static const int wre_of[4] = {1, 0, -1, 0}, wim_of[4] = {0, 1, 0, -1}; /* i^k */

/* Reference with complex multiplications: (w_re + i w_im)·(q_re − i q_im) summed per row:
 * A = Σ w_re q_re, B = Σ w_im q_im, C = −Σ w_re q_im, D = Σ w_im q_re. */
static void ref_cplx_sums(const uint8_t *k, int out, int in, const int8_t *qr, const int8_t *qi,
                          int n, int64_t *sums) {
  for (int t = 0; t < n; t++)
    for (int o = 0; o < out; o++) {
      int64_t A = 0, B = 0, C = 0, D = 0;
      for (int i = 0; i < in; i++) {
        int wr = wre_of[k[o * in + i]], wi = wim_of[k[o * in + i]];
        int xr = qr[t * in + i], xi = qi[t * in + i];
        A += wr * xr, B += wi * xi, C -= wr * xi, D += wi * xr;
      }
      int64_t *s = sums + (t * out + o) * 4;
      s[0] = A, s[1] = B, s[2] = C, s[3] = D;
    }
}

typedef struct {
  const slt_cplx2 *m;
  const slt_cplx_act *a;
  const int64_t *sums; /* (n, out, 4) */
} cplx_case;

/* Every path: sums exact; y bit-identical to the epilogue formula on the reference sums, and
 * within float rounding of the complex product done in double with multiplications. */
static int check_cplx(cplx_case c, const uint8_t *k, const int8_t *qr, const int8_t *qi,
                      const char *label) {
  const slt_cplx2 *m = c.m;
  int n = c.a->re.n, out = (int)m->out, in = (int)m->in;
  slt_isa isa[SLT_ISA_COUNT];
  int np = paths(isa), bad = 0;
  int32_t *s = malloc(sizeof(int32_t) * n * out * 4);
  float *y = malloc(sizeof(float) * n * out * 2);
  for (int p = 0; p < np; p++) {
    int rc = slt_cplx2_sums(m, c.a, s, isa[p]) | slt_cplx2_gemm_isa(m, c.a, y, 2 * out, isa[p]);
    int64_t bs = 0, by = 0, bf = 0;
    for (int64_t i = 0; i < (int64_t)n * out * 4; i++) bs += s[i] != c.sums[i];
    for (int t = 0; t < n; t++) {
      float ar = c.a->re.scale[t], ai = c.a->im.scale[t];
      for (int o = 0; o < out; o++) {
        const int64_t *S = c.sums + (t * out + o) * 4;
        float yr = fmaf((float)S[0], m->s_re / ar, (float)S[1] * (m->s_im / ai));
        float yi = fmaf((float)S[2], m->s_re / ai, (float)S[3] * (m->s_im / ar));
        by += memcmp(&yr, &y[t * 2 * out + o], 4) || memcmp(&yi, &y[t * 2 * out + out + o], 4);
        double dr = 0, di = 0, mag = 0;
        for (int i = 0; i < in; i++) {
          double wr = m->s_re * wre_of[k[o * in + i]], wi = m->s_im * wim_of[k[o * in + i]];
          double xr = qr[t * in + i] / (double)ar, xi = -qi[t * in + i] / (double)ai;
          dr += wr * xr - wi * xi, di += wr * xi + wi * xr;
          mag += fabs(wr * xr) + fabs(wi * xi) + fabs(wr * xi) + fabs(wi * xr);
        }
        bf += fabs(y[t * 2 * out + o] - dr) > 1e-6 * mag + 1e-30 ||
              fabs(y[t * 2 * out + out + o] - di) > 1e-6 * mag + 1e-30;
      }
    }
    if (rc || bs || by || bf) {
      printf("\n%s on %s: rc %d, %lld sums, %lld floats differ, %lld off the complex product\n",
             label, slt_cpu_isa_name(isa[p]), rc, (long long)bs, (long long)by, (long long)bf);
      bad++;
    }
  }
  free(s);
  free(y);
  return bad;
}

static void test_cplx_products(void) {
  slt_rng r;
  slt_rng_seed(&r, 21);
  for (int sh = 0; sh < NSHAPES; sh++)
    for (int kk = 0; kk < NTOKS; kk++) {
      int out = shapes[sh][0], in = shapes[sh][1], n = ntoks[kk];
      uint8_t *k = malloc(out * in);
      for (int i = 0; i < out * in; i++) k[i] = (uint8_t)slt_rng_below(&r, 4);
      float *x = malloc(sizeof(float) * n * 2 * in);
      slt_rng_fill_normal(&r, x, (int64_t)n * 2 * in, 0.0f, 1.0f);
      for (int i = 0; i < in; i++) x[i] *= 5.0f; /* token 0: re and im scales differ */
      int8_t *qr = malloc((size_t)n * in), *qi = malloc((size_t)n * in);
      slt_cplx2 m;
      slt_cplx_act a;
      CU_ASSERT_FATAL(slt_cplx2_pack(&m, k, out, in, 0.03f, 0.017f) == 0);
      CU_ASSERT_FATAL(slt_cplx_act_alloc(&a, n, in) == 0);
      slt_cplx2_quantize(&a, x, 2 * in);
      for (int t = 0; t < n; t++) {
        CU_ASSERT(a.re.scale[t] == ref_quant(x + t * 2 * in, in, -127, qr + t * in));
        CU_ASSERT(a.im.scale[t] == ref_quant(x + t * 2 * in + in, in, -127, qi + t * in));
      }
      int64_t *sums = malloc(sizeof(int64_t) * n * out * 4);
      ref_cplx_sums(k, out, in, qr, qi, n, sums);
      char label[64];
      snprintf(label, sizeof label, "cplx2 (%d, %d) x %d tokens", out, in, n);
      CU_ASSERT(check_cplx((cplx_case){&m, &a, sums}, k, qr, qi, label) == 0);
      slt_cplx2_free(&m);
      slt_cplx_act_free(&a);
      free(k), free(x), free(qr), free(qi), free(sums);
    }
}

/* One code everywhere against ±127 over long rows: every sum at its largest magnitude. */
static void test_cplx_extremes(void) {
  int64_t in = 256 * 65 + 3;
  enum { out = 5 }; /* the AVX-512 four-row GEMV tile and a single row */
  for (int code = 0; code < 4; code++)
    for (int qv = -127; qv <= 127; qv += 254) {
      uint8_t *k = malloc(out * in);
      int8_t *qr = malloc(in), *qi = malloc(in);
      memset(k, code, out * in);
      memset(qr, qv, in);
      memset(qi, -qv, in);
      slt_cplx2 m;
      slt_cplx_act a;
      CU_ASSERT_FATAL(slt_cplx2_pack(&m, k, out, (int)in, 1.0f, 2.0f) == 0);
      CU_ASSERT_FATAL(slt_cplx_act_alloc(&a, 1, in) == 0);
      slt_act8_set(&a.re, 0, qr);
      slt_act8_set(&a.im, 0, qi);
      int64_t sums[4 * out];
      ref_cplx_sums(k, out, (int)in, qr, qi, 1, sums);
      CU_ASSERT(llabs(sums[0]) + llabs(sums[1]) == 127 * in);
      char label[64];
      snprintf(label, sizeof label, "cplx2 extremes code %d q %d", code, qv);
      CU_ASSERT(check_cplx((cplx_case){&m, &a, sums}, k, qr, qi, label) == 0);
      slt_cplx2_free(&m);
      slt_cplx_act_free(&a);
      free(k), free(qr), free(qi);
    }
}

static void test_cplx_pack(void) {
  slt_rng r;
  slt_rng_seed(&r, 22);
  for (int s = 0; s < NSHAPES; s++) {
    int out = shapes[s][0], in = shapes[s][1];
    uint8_t *k = malloc(out * in), *back = malloc(out * in);
    for (int i = 0; i < out * in; i++) k[i] = (uint8_t)slt_rng_below(&r, 4);
    float *Wr = malloc(sizeof(float) * out * in), *Wi = malloc(sizeof(float) * out * in);
    for (int i = 0; i < out * in; i++) Wr[i] = 0.2f * wre_of[k[i]], Wi[i] = 0.07f * wim_of[k[i]];
    slt_cplx2 m;
    CU_ASSERT_FATAL(slt_cplx2_pack_float(&m, Wr, Wi, out, in) == 0);
    slt_cplx2_unpack(&m, back);
    CU_ASSERT(memcmp(k, back, out * in) == 0);
    int has_re = 0, has_im = 0, bad = 0;
    for (int i = 0; i < out * in; i++) has_re |= !(k[i] & 1), has_im |= k[i] & 1;
    CU_ASSERT(m.s_re == (has_re ? 0.2f : 1e-5f) && m.s_im == (has_im ? 0.07f : 1e-5f));
    for (int o = 0; o < out; o++) /* the TQ2_0 byte order, code i^k, padding 0 */
      for (int e = 0; e < m.row_bytes * 4; e++)
        bad += tq2_code(m.qs + o * m.row_bytes, e) != (e < in ? k[o * in + e] : 0);
    CU_ASSERT(bad == 0);
    slt_cplx2_free(&m);
    if (out * in > 1) {
      Wr[1] = 0.1f, Wi[1] = 0.0f; /* not ±s_re */
      CU_ASSERT(slt_cplx2_pack_float(&m, Wr, Wi, out, in) == -1 && test_err_has("not", "0.2"));
    }
    free(k), free(back), free(Wr), free(Wi);
  }
  uint8_t k4[2] = {0, 4};
  slt_cplx2 m;
  CU_ASSERT(slt_cplx2_pack(&m, k4, 1, 2, 1, 1) == -1 && test_err_has("(0, 1)", "4"));
}

int register_kernels_suite(void) {
  CU_pSuite s = CU_add_suite("kernels", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "cpu: paths, SLT_ISA, model", test_cpu) ||
         !CU_add_test(s, "act8: absmax, half-to-even, kernel order", test_act8) ||
         !CU_add_test(s, "ternary pack/unpack, TQ2_0 bytes, errors", test_tern_pack) ||
         !CU_add_test(s, "ternary pack from dequantized floats", test_tern_pack_float) ||
         !CU_add_test(s, "ternary products: every path = reference", test_tern_products) ||
         !CU_add_test(s, "ternary extremes: int16/int32 limits", test_tern_extremes) ||
         !CU_add_test(s, "ternary vs float product within rounding", test_tern_float) ||
         !CU_add_test(s, "cplx2 pack/unpack, TQ2_0 bytes, errors", test_cplx_pack) ||
         !CU_add_test(s, "cplx2 products: every path = complex reference", test_cplx_products) ||
         !CU_add_test(s, "cplx2 extremes", test_cplx_extremes);
}
