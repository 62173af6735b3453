/* Fake-quant ops (SPEC §5): integer affine and LSQ against PyTorch, FP formats and MX against a
 * numpy reference written from the SPEC and against published value lists, straight-through
 * backward checked bitwise against masks built here, thread-count independence, and the spec
 * checks. Fixtures: tests/reference/quant_reference.py -> tests/fixtures/quant_*.bin. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "autograd/quant.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- fixtures: records of (name, count, float32 values) ---- */

typedef struct {
  char name[256];
  uint32_t n;
  float *v;
} fx_rec;
typedef struct {
  fx_rec *r;
  int n;
} fx_file;

static fx_file fx_int, fx_lsq, fx_fp;

static int fx_load(fx_file *f, const char *file) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", SLT_FIXTURES, file);
  FILE *fp = fopen(path, "rb");
  if (!fp) return printf("\n  cannot open fixture %s\n", path), -1;
  unsigned char len;
  while (fread(&len, 1, 1, fp) == 1) {
    fx_rec *r = realloc(f->r, (f->n + 1) * sizeof *r);
    if (!r) break;
    f->r = r;
    r = &f->r[f->n];
    memset(r, 0, sizeof *r);
    if (fread(r->name, 1, len, fp) != len || fread(&r->n, 4, 1, fp) != 1) break;
    r->v = malloc((r->n ? r->n : 1) * sizeof(float));
    if (!r->v || fread(r->v, 4, r->n, fp) != r->n) break;
    f->n++;
  }
  bool ok = feof(fp);
  fclose(fp);
  return ok && f->n ? 0 : (printf("\n  fixture %s is truncated\n", path), -1);
}

static void fx_free(fx_file *f) {
  for (int i = 0; i < f->n; i++) free(f->r[i].v);
  free(f->r);
  memset(f, 0, sizeof *f);
}

/* The values of record "<base>.<key>" (count into *n when n is given); NULL and a failed
 * assertion when missing. */
static const float *fx(const fx_file *f, const char *base, const char *key, uint32_t *n) {
  char name[256];
  snprintf(name, sizeof name, "%s.%s", base, key);
  for (int i = 0; i < f->n; i++)
    if (!strcmp(f->r[i].name, name)) {
      if (n) *n = f->r[i].n;
      return f->r[i].v;
    }
  printf("\n  fixture record %s missing\n", name);
  CU_FAIL("fixture record missing");
  return NULL;
}

static int suite_init(void) {
  if (fx_load(&fx_int, "quant_int.bin") || fx_load(&fx_lsq, "quant_lsq.bin") ||
      fx_load(&fx_fp, "quant_fp.bin"))
    return -1;
  return 0;
}
static int suite_clean(void) {
  fx_free(&fx_int), fx_free(&fx_lsq), fx_free(&fx_fp);
  return 0;
}

/* ---- helpers ---- */

/* A heap tensor holding a copy of data (with a zeroed grad when grad). */
static slt_tensor *mk(int ndim, const int *shape, const float *data, bool grad) {
  slt_tensor *t = slt_tensor_new(ndim, shape);
  if (!t) return NULL;
  memcpy(t->data, data, t->numel * sizeof(float));
  if (grad) slt_tensor_alloc_grad(t);
  return t;
}

/* Elements where |a − b| > tol·|b| (tol 0: bitwise equal values); prints the first. */
static int64_t n_off(const char *what, const float *a, const float *b, int64_t n, double tol) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++) {
    bool ok = tol > 0 ? fabs((double)a[i] - b[i]) <= tol * fabs((double)b[i]) : a[i] == b[i];
    if (!ok && !bad++) printf("\n  %s: [%lld] %.9g vs %.9g", what, (long long)i, a[i], b[i]);
  }
  if (bad) printf(" (%lld of %lld off)\n", (long long)bad, (long long)n);
  return bad;
}

/* Backward of y seeded with dy; 0 on success. */
static int seed(slt_ctx *c, slt_tensor *y, const float *dy) {
  return slt_backward_seed(c, y, dy);
}

/* ---- integer affine with fixed qparams: torch.fake_quantize_per_{tensor,channel}_affine ---- */

static void test_int_fixed(void) {
  const char *cases[] = {"t_pow2", "t_recip", "t_quint8", "c_sym", "c_asym4"};
  for (int k = 0; k < 5; k++) {
    const char *n = cases[k];
    const float *cfg = fx(&fx_int, n, "cfg", NULL), *scale = fx(&fx_int, n, "scale", NULL);
    const float *zero = fx(&fx_int, n, "zero", NULL), *dy = fx(&fx_int, n, "dy", NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg && scale && zero && dy ? cfg : NULL);
    int shape[2] = {(int)cfg[0], (int)cfg[1]}, qmin = (int)cfg[2], qmax = (int)cfg[3];
    int64_t block = (int64_t)cfg[4], numel = (int64_t)shape[0] * shape[1];
    slt_tensor *x = mk(2, shape, fx(&fx_int, n, "x", NULL), true);
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *y = slt_quant_affine(&c, x, scale, zero, block, qmin, qmax);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_EQUAL(n_off(n, y->data, fx(&fx_int, n, "y", NULL), numel, 1e-6), 0);
    CU_ASSERT_EQUAL_FATAL(seed(&c, y, dy), 0);
    CU_ASSERT_EQUAL(n_off(n, x->grad, fx(&fx_int, n, "dx", NULL), numel, 0), 0);
    /* STE: the mask built here from SPEC §5, q = nearbyint(x·(1/s)) + z unclamped */
    float *want = malloc(numel * sizeof(float));
    int64_t inside = 0;
    for (int64_t i = 0; i < numel; i++) {
      float inv = 1.0f / scale[i / block], q = nearbyintf(x->data[i] * inv) + zero[i / block];
      bool in = q >= qmin && q <= qmax;
      want[i] = in ? dy[i] : 0.0f;
      inside += in;
    }
    CU_ASSERT(inside > 0 && inside < numel); /* both sides of the clamp are exercised */
    CU_ASSERT_EQUAL(n_off(n, x->grad, want, numel, 0), 0);
    free(want);
    slt_ctx_free(&c);
    slt_tensor_free(x);
  }
}

/* The spec a fixture "a_*"/"m_*" case describes: cfg = ndim, shape..., bits, gran, group,
 * minmax, narrow. */
static slt_quant_spec case_spec(const float *cfg, int *ndim, int *shape) {
  *ndim = (int)cfg[0];
  for (int d = 0; d < *ndim; d++) shape[d] = (int)cfg[1 + d];
  const float *p = cfg + 1 + *ndim;
  slt_quant_spec s = {.kind = SLT_QUANT_INT,
                      .bits = (int)p[0],
                      .granularity = (slt_quant_gran)p[1],
                      .group_size = (int)p[2],
                      .scale = p[3] ? SLT_QSCALE_MINMAX : SLT_QSCALE_ABSMAX,
                      .narrow = p[4] != 0};
  return s;
}

static void test_int_spec(void) {
  const char *cases[] = {"a_chan8",   "a_group4", "a_token8", "a_tensor8n",
                         "m_tensor8", "m_chan4",  "m_tie4"};
  for (int k = 0; k < 7; k++) {
    const char *n = cases[k];
    uint32_t ns = 0, nz = 0;
    const float *cfg = fx(&fx_int, n, "cfg", NULL), *dy = fx(&fx_int, n, "dy", NULL);
    const float *scale = fx(&fx_int, n, "scale", &ns), *zero = fx(&fx_int, n, "zero", &nz);
    CU_ASSERT_PTR_NOT_NULL_FATAL(cfg && dy && scale && zero ? cfg : NULL);
    int ndim, shape[4];
    slt_quant_spec s = case_spec(cfg, &ndim, shape);
    slt_tensor *x = mk(ndim, shape, fx(&fx_int, n, "x", NULL), true);
    int64_t rows = slt_tensor_rows(x);
    int cols = slt_tensor_cols(x);
    CU_ASSERT_EQUAL_FATAL(slt_quant_nscales(&s, rows, cols), ns);
    /* the on-the-fly qparams against torch's (absmax: computed there in float32) */
    float got_s[64], got_z[64];
    CU_ASSERT_EQUAL_FATAL(slt_quant_qparams(x, &s, got_s, got_z), 0);
    CU_ASSERT_EQUAL(n_off(n, got_s, scale, ns, 1e-6), 0);
    CU_ASSERT_EQUAL(n_off(n, got_z, zero, nz, 0), 0);
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *y = slt_quant_apply(&c, x, &s, NULL, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(y);
    CU_ASSERT_EQUAL(n_off(n, y->data, fx(&fx_int, n, "y", NULL), x->numel, 1e-6), 0);
    CU_ASSERT_EQUAL_FATAL(seed(&c, y, dy), 0);
    CU_ASSERT_EQUAL(n_off(n, x->grad, fx(&fx_int, n, "dx", NULL), x->numel, 0), 0);
    slt_ctx_free(&c);
    slt_tensor_free(x);
  }
}

/* ---- LSQ against torch's _LearnableFakeQuantize, LSQ+ against a torch autograd expression ---- */

/* |got − want| ≤ 1e-6·Σ|terms| per block: the sums' own rounding scale. */
static int64_t n_off_sum(const char *what, const float *got, const float *want, const float *abs,
                         int64_t n) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; i++)
    if (!(fabs((double)got[i] - want[i]) <= 1e-6 * abs[i] + 1e-30) && !bad++)
      printf("\n  %s: [%lld] %.9g vs %.9g (sum of |terms| %.3g)\n", what, (long long)i, got[i],
             want[i], abs[i]);
  return bad;
}

static void lsq_case(const char *n, bool plus) {
  uint32_t nb = 0;
  const float *cfg = fx(&fx_lsq, n, "cfg", NULL), *dy = fx(&fx_lsq, n, "dy", NULL);
  const float *scale = fx(&fx_lsq, n, "scale", &nb), *zero = fx(&fx_lsq, n, "zero", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(cfg && dy && scale && zero ? cfg : NULL);
  int shape[2] = {(int)cfg[0], (int)cfg[1]}, qmin = (int)cfg[2], qmax = (int)cfg[3];
  int64_t block = (int64_t)cfg[4];
  bool sym = cfg[5] != 0, gs = cfg[6] != 0;
  slt_tensor *x = mk(2, shape, fx(&fx_lsq, n, "x", NULL), true);
  slt_tensor *s = mk(1, (int[]){(int)nb}, scale, true), *z = mk(1, (int[]){(int)nb}, zero, true);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *y = plus ? slt_quant_lsq_plus(&c, x, s, z, block, qmin, qmax, gs)
                       : slt_quant_lsq(&c, x, s, sym ? NULL : z, block, qmin, qmax, gs);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_EQUAL(n_off(n, y->data, fx(&fx_lsq, n, "y", NULL), x->numel, 1e-6), 0);
  CU_ASSERT_EQUAL_FATAL(seed(&c, y, dy), 0);
  /* torch's LSQ+ dx comes through its autograd chain, dy·s·(1/s): within rounding of dy */
  CU_ASSERT_EQUAL(n_off(n, x->grad, fx(&fx_lsq, n, "dx", NULL), x->numel, plus ? 1e-6 : 0), 0);
  if (plus) { /* STE exactly: the mask built here, v = (x − β)·(1/s) in [qmin, qmax] */
    float *want = malloc(x->numel * sizeof(float));
    for (int64_t i = 0; i < x->numel; i++) {
      float v = (x->data[i] - zero[i / block]) * (1.0f / scale[i / block]);
      want[i] = v >= qmin && v <= qmax ? dy[i] : 0.0f;
    }
    CU_ASSERT_EQUAL(n_off(n, x->grad, want, x->numel, 0), 0);
    free(want);
  }
  const float *ds_abs = fx(&fx_lsq, n, "ds_abs", NULL), *dz_abs = fx(&fx_lsq, n, "dz_abs", NULL);
  CU_ASSERT_EQUAL(n_off_sum(n, s->grad, fx(&fx_lsq, n, "ds", NULL), ds_abs, nb), 0);
  if (!sym) CU_ASSERT_EQUAL(n_off_sum(n, z->grad, fx(&fx_lsq, n, "dz", NULL), dz_abs, nb), 0);
  if (sym) CU_ASSERT(z->grad[0] == 0); /* not an input: untouched */
  slt_ctx_free(&c);
  slt_tensor_free(x), slt_tensor_free(s), slt_tensor_free(z);
}

static void test_lsq(void) {
  const char *cases[] = {"l_t4", "l_t4g", "l_tq8g", "l_c4g", "l_cq4"};
  for (int k = 0; k < 5; k++) lsq_case(cases[k], false);
  lsq_case("p_t4g", true);
  lsq_case("p_c4", true);
}

static void test_lsq_init(void) {
  const float *x = fx(&fx_lsq, "init", "x", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(x);
  slt_tensor *t = mk(2, (int[]){5, 24}, x, false);
  float s[5], b[5];
  slt_quant_spec sp = {.kind = SLT_QUANT_LSQ, .bits = 4, .granularity = SLT_QGRAN_CHANNEL};
  CU_ASSERT_EQUAL(slt_quant_lsq_init(t, &sp, s, NULL), 0);
  CU_ASSERT_EQUAL(n_off("lsq init chan", s, fx(&fx_lsq, "init", "lsq_chan", NULL), 5, 1e-6), 0);
  sp.granularity = SLT_QGRAN_TENSOR;
  CU_ASSERT_EQUAL(slt_quant_lsq_init(t, &sp, s, NULL), 0);
  CU_ASSERT_EQUAL(n_off("lsq init tensor", s, fx(&fx_lsq, "init", "lsq_tensor", NULL), 1, 1e-6), 0);
  sp.granularity = SLT_QGRAN_CHANNEL, sp.scale = SLT_QSCALE_MINMAX;
  CU_ASSERT_EQUAL(slt_quant_lsq_init(t, &sp, s, b), 0);
  CU_ASSERT_EQUAL(n_off("lsq+ init s", s, fx(&fx_lsq, "init", "plus_scale", NULL), 5, 1e-6), 0);
  CU_ASSERT_EQUAL(n_off("lsq+ init beta", b, fx(&fx_lsq, "init", "plus_beta", NULL), 5, 0), 0);
  slt_tensor_free(t);
}

/* ---- floating-point formats ---- */

static const char *const fmt_names[5] = {"e4m3", "e5m2", "e3m2", "e2m3", "e2m1"};

/* Q on the reference grid (positive values; Q(−x) = −Q(x) checked here), both roundings. */
static void test_fp_grid(void) {
  for (int f = 0; f < 5; f++) {
    uint32_t n;
    const float *g = fx(&fx_fp, fmt_names[f], "grid", &n);
    const float *want[2] = {fx(&fx_fp, fmt_names[f], "away", NULL),
                            fx(&fx_fp, fmt_names[f], "even", NULL)};
    CU_ASSERT_PTR_NOT_NULL_FATAL(g && want[0] && want[1] ? g : NULL);
    float *got = malloc(n * sizeof(float)), *neg = malloc(n * sizeof(float));
    for (int even = 0; even < 2; even++) {
      for (uint32_t i = 0; i < n; i++) {
        got[i] = slt_quant_fp_round(g[i], (slt_quant_format)f, even);
        neg[i] = -slt_quant_fp_round(-g[i], (slt_quant_format)f, even);
      }
      CU_ASSERT_EQUAL(n_off(fmt_names[f], got, want[even], n, 0), 0);
      CU_ASSERT_EQUAL(n_off(fmt_names[f], neg, want[even], n, 0), 0);
    }
    free(got), free(neg);
  }
}

/* Published values, as literals: the E2M1 (FP4) magnitudes of the OCP MX spec, and E4M3's max
 * 448, smallest normal 2^-6 and smallest subnormal 2^-9. */
static void test_fp_published(void) {
  static const float e2m1[8] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6};
  /* ties between neighbours: {x, away from zero, to even (even mantissa: 0, 1, 2, 4 are) } */
  static const float ties[7][3] = {{0.25f, 0.5f, 0}, {0.75f, 1, 1}, {1.25f, 1.5f, 1}, {1.75f, 2, 2},
                                   {2.5f, 3, 2},     {3.5f, 4, 4},  {5, 6, 4}};
  slt_quant_format F = SLT_QFMT_E2M1;
  for (int e = 0; e < 2; e++) {
    for (int i = 0; i < 8; i++) {
      CU_ASSERT(slt_quant_fp_round(e2m1[i], F, e) == e2m1[i]);
      CU_ASSERT(slt_quant_fp_round(-e2m1[i], F, e) == -e2m1[i]);
    }
    for (int i = 0; i < 7; i++) CU_ASSERT(slt_quant_fp_round(ties[i][0], F, e) == ties[i][1 + e]);
    CU_ASSERT(slt_quant_fp_round(7, F, e) == 6 && slt_quant_fp_round(-1e30f, F, e) == -6);
    for (int k = 0; k <= 1024; k++) { /* a sweep: the result is the nearest table value */
      float x = k / 128.0f, q = slt_quant_fp_round(x, F, e);
      bool in_table = false, nearest = true;
      for (int i = 0; i < 8; i++) {
        in_table |= q == e2m1[i];
        nearest &= fabsf(q - x) <= fabsf(e2m1[i] - x);
      }
      if (!in_table || !nearest) printf("\n  e2m1: Q(%g) = %g\n", x, q);
      CU_ASSERT(in_table && nearest);
    }
  }
  slt_quant_format G = SLT_QFMT_E4M3;
  const float max = 448, min_normal = 0.015625f, min_sub = 0.001953125f;
  CU_ASSERT(slt_quant_fp_max(G) == max);
  CU_ASSERT(slt_quant_fp_max(SLT_QFMT_E5M2) == 57344 && slt_quant_fp_max(SLT_QFMT_E3M2) == 28 &&
            slt_quant_fp_max(SLT_QFMT_E2M3) == 7.5f && slt_quant_fp_max(F) == 6);
  for (int e = 0; e < 2; e++) {
    CU_ASSERT(slt_quant_fp_round(max, G, e) == max && slt_quant_fp_round(1e6f, G, e) == max);
    CU_ASSERT(slt_quant_fp_round(-470, G, e) == -max); /* 480 would be next: saturates */
    CU_ASSERT(slt_quant_fp_round(min_normal, G, e) == min_normal);
    CU_ASSERT(slt_quant_fp_round(min_sub, G, e) == min_sub);
    CU_ASSERT(slt_quant_fp_round(min_sub / 2, G, e) == (e ? 0 : min_sub)); /* the tie with 0 */
    CU_ASSERT(slt_quant_fp_round(min_sub * 0.49f, G, e) == 0);
    CU_ASSERT(slt_quant_fp_round(min_sub * 0.51f, G, e) == min_sub);
  }
  /* every E4M3 code 1..126 (127 is NaN) decoded by hand is a fixed point, and the midpoint of
   * two neighbours goes away from zero, or to the even code */
  float prev = 0;
  for (int code = 1; code <= 126; code++) {
    int ex = code >> 3, m = code & 7;
    float v = ex ? ldexpf(1 + m / 8.0f, ex - 7) : ldexpf(m / 8.0f, -6);
    CU_ASSERT(slt_quant_fp_round(v, G, false) == v && slt_quant_fp_round(v, G, true) == v);
    float mid = 0.5f * (prev + v);
    CU_ASSERT(slt_quant_fp_round(mid, G, false) == v);
    CU_ASSERT(slt_quant_fp_round(mid, G, true) == (m % 2 ? prev : v));
    prev = v;
  }
  CU_ASSERT(prev == max);
}

static void test_fp_scaled(void) {
  const char *grans[3] = {"tensor", "chan", "group8"};
  int64_t blocks[3] = {256, 64, 8};
  for (int f = 0; f < 5; f++) {
    const char *n = fmt_names[f];
    slt_tensor *x = mk(2, (int[]){4, 64}, fx(&fx_fp, n, "x", NULL), false);
    slt_tensor *xm = mk(2, (int[]){4, 64}, fx(&fx_fp, n, "mx.x", NULL), false);
    slt_ctx c;
    slt_ctx_init(&c);
    for (int e = 0; e < 2; e++) {
      char key[32];
      for (int g = 0; g < 3; g++) {
        snprintf(key, sizeof key, "%s.%s", grans[g], e ? "even" : "away");
        slt_tensor *y = slt_quant_fp(&c, x, (slt_quant_format)f, blocks[g], e);
        CU_ASSERT_PTR_NOT_NULL_FATAL(y);
        CU_ASSERT_EQUAL(n_off(n, y->data, fx(&fx_fp, n, key, NULL), 256, 1e-6), 0);
      }
      /* the same through the spec seam: group of 8 */
      slt_quant_spec s = {.kind = SLT_QUANT_FP,
                          .format = (slt_quant_format)f,
                          .granularity = SLT_QGRAN_GROUP,
                          .group_size = 8,
                          .round_even = e};
      slt_tensor *y = slt_quant_apply(&c, x, &s, NULL, NULL);
      snprintf(key, sizeof key, "group8.%s", e ? "even" : "away");
      CU_ASSERT_PTR_NOT_NULL_FATAL(y);
      CU_ASSERT_EQUAL(n_off(n, y->data, fx(&fx_fp, n, key, NULL), 256, 1e-6), 0);
      s.kind = SLT_QUANT_MX, s.group_size = 32;
      y = slt_quant_apply(&c, xm, &s, NULL, NULL);
      snprintf(key, sizeof key, "mx.%s", e ? "even" : "away");
      CU_ASSERT_PTR_NOT_NULL_FATAL(y);
      CU_ASSERT_EQUAL(n_off(n, y->data, fx(&fx_fp, n, key, NULL), 256, 1e-6), 0);
    }
    slt_ctx_free(&c);
    slt_tensor_free(x), slt_tensor_free(xm);
  }
}

/* MX scale of a block as SPEC §5 says, computed here: 2^clamp(floor(log2 amax) − emax, ±127). */
static float mx_scale(const float *v, int emax) {
  float amax = 0;
  for (int i = 0; i < 32; i++) amax = fmaxf(amax, fabsf(v[i]));
  int e = -126;
  if (amax > 0) frexpf(amax, &e), e -= 1;
  e -= emax;
  return ldexpf(1.0f, e < -127 ? -127 : e > 127 ? 127 : e);
}

/* STE: fp and mx pass dy through bitwise; mx with ste_mask zeroes exactly the saturated. */
static void test_fp_ste(void) {
  slt_tensor *x = test_randn(71, 2, (int[]){6, 64}, 3.0f, true);
  slt_tensor *dy = test_randn(72, 2, (int[]){6, 64}, 1.0f, false);
  float want[6 * 64];
  for (int k = 0; k < 3; k++) {
    memset(x->grad, 0, sizeof want);
    slt_ctx c;
    slt_ctx_init(&c);
    slt_tensor *y = k == 0   ? slt_quant_fp(&c, x, SLT_QFMT_E4M3, 8, false)
                    : k == 1 ? slt_quant_mx(&c, x, SLT_QFMT_E2M1, false, false)
                             : slt_quant_mx(&c, x, SLT_QFMT_E2M1, true, true);
    CU_ASSERT_EQUAL_FATAL(seed(&c, y, dy->data), 0);
    int masked = 0;
    for (int b = 0; b < 12; b++) {
      float s = mx_scale(x->data + 32 * b, 2);
      for (int i = 32 * b; i < 32 * b + 32; i++) {
        bool keep = k < 2 || fabsf(x->data[i] / s) <= 6.0f;
        want[i] = keep ? dy->data[i] : 0.0f;
        masked += !keep;
      }
    }
    if (k == 2) CU_ASSERT(masked > 0 && masked < 6 * 64); /* the mask can be told apart */
    CU_ASSERT_EQUAL(n_off("fp ste", x->grad, want, 6 * 64, 0), 0);
    slt_ctx_free(&c);
  }
  slt_tensor_free(x), slt_tensor_free(dy);
}

/* ---- thread-count independence ---- */

enum {
  T_INT_CHAN,
  T_INT_GROUP,
  T_INT_TENSOR_MM,
  T_INT_TOKEN,
  T_LSQ_TENSOR,
  T_LSQ_CHAN,
  T_LSQP_TENSOR,
  T_FP,
  T_MX,
  T_CASES
};

/* One case forward + backward on `threads` threads; y, dx and dscale/doffset into out. */
static void run_case(int k, int threads, slt_tensor *x, slt_tensor *s, slt_tensor *o,
                     const float *dy, float *out) {
  int saved = omp_get_max_threads();
  omp_set_num_threads(threads);
  memset(x->grad, 0, x->numel * sizeof(float));
  memset(s->grad, 0, s->numel * sizeof(float));
  memset(o->grad, 0, o->numel * sizeof(float));
  slt_quant_spec sp = {.kind = SLT_QUANT_INT, .bits = 8, .granularity = SLT_QGRAN_CHANNEL};
  if (k == T_INT_GROUP) sp.bits = 4, sp.granularity = SLT_QGRAN_GROUP, sp.group_size = 64;
  if (k == T_INT_TENSOR_MM) sp.granularity = SLT_QGRAN_TENSOR, sp.scale = SLT_QSCALE_MINMAX;
  if (k == T_INT_TOKEN) sp.granularity = SLT_QGRAN_TOKEN;
  int64_t n = x->numel, cols = x->shape[1];
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *y = k <= T_INT_TOKEN     ? slt_quant_apply(&c, x, &sp, NULL, NULL)
                  : k == T_LSQ_TENSOR  ? slt_quant_lsq(&c, x, s, NULL, n, -8, 7, true)
                  : k == T_LSQ_CHAN    ? slt_quant_lsq(&c, x, s, o, cols, 0, 15, true)
                  : k == T_LSQP_TENSOR ? slt_quant_lsq_plus(&c, x, s, o, n, 0, 15, true)
                  : k == T_FP          ? slt_quant_fp(&c, x, SLT_QFMT_E4M3, n, false)
                                       : slt_quant_mx(&c, x, SLT_QFMT_E2M1, false, true);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_EQUAL(seed(&c, y, dy), 0);
  memcpy(out, y->data, n * sizeof(float));
  memcpy(out + n, x->grad, n * sizeof(float));
  memcpy(out + 2 * n, s->grad, s->numel * sizeof(float));
  memcpy(out + 2 * n + s->numel, o->grad, o->numel * sizeof(float));
  slt_ctx_free(&c);
  omp_set_num_threads(saved);
}

static void test_threads(void) {
  int R = 300, C = 256; /* above SLT_PAR_MIN; per-tensor sums span many tasks */
  slt_tensor *x = test_randn(81, 2, (int[]){R, C}, 1.0f, true);
  slt_tensor *dy = test_randn(82, 2, (int[]){R, C}, 1.0f, false);
  int64_t n = x->numel, len = 2 * n + 2 * R;
  float *a = malloc(len * sizeof(float)), *b = malloc(len * sizeof(float));
  for (int k = 0; k < T_CASES; k++) {
    int ns = k == T_LSQ_CHAN ? R : 1;
    float sv[300], ov[300];
    for (int i = 0; i < ns; i++) sv[i] = k == T_LSQ_CHAN ? 0.1f + 0.001f * i : 0.2f, ov[i] = 3;
    if (k == T_LSQP_TENSOR) ov[0] = -1.0f;
    slt_tensor *s = mk(1, &ns, sv, true), *o = mk(1, &ns, ov, true);
    memset(a, 0, len * sizeof(float)), memset(b, 0, len * sizeof(float));
    run_case(k, 1, x, s, o, dy->data, a);
    run_case(k, 3, x, s, o, dy->data, b);
    if (memcmp(a, b, len * sizeof(float))) printf("\n  thread case %d differs\n", k);
    CU_ASSERT(memcmp(a, b, len * sizeof(float)) == 0);
    if (k >= T_LSQ_TENSOR && k <= T_LSQP_TENSOR) CU_ASSERT(a[2 * n] != 0); /* ds was summed */
    slt_tensor_free(s), slt_tensor_free(o);
  }
  free(a), free(b);
  slt_tensor_free(x), slt_tensor_free(dy);
}

/* ---- the spec: checks, text, seam; op errors ---- */

typedef struct {
  slt_quant_spec s;
  int cols;
  const char *want;
} bad_spec;

static void test_check(void) {
  const slt_quant_kind I = SLT_QUANT_INT, L = SLT_QUANT_LSQ, P = SLT_QUANT_FP, M = SLT_QUANT_MX;
  const slt_quant_gran GRP = SLT_QGRAN_GROUP;
  const bad_spec bad[] = {
      {{.kind = I, .bits = 1}, 64, "bits must be 2..16, got 1"},
      {{.kind = I, .bits = 17}, 64, "bits must be 2..16"},
      {{.kind = I, .bits = 4, .granularity = GRP, .group_size = 48},
       64,
       "group_size 48 does not divide"},
      {{.kind = P, .bits = 8, .format = SLT_QFMT_E2M1}, 64, "format e2m1 is 4 bits, got bits 8"},
      {{.kind = M, .format = SLT_QFMT_E2M1, .granularity = GRP, .group_size = 64},
       128,
       "blocks are 32"},
      {{.kind = M, .format = SLT_QFMT_E2M1, .group_size = 32}, 128, "granularity group"},
      {{.kind = M, .format = SLT_QFMT_E4M3, .granularity = GRP, .group_size = 32},
       48,
       "does not divide the row width 48"},
      {{.kind = L, .bits = 4, .granularity = SLT_QGRAN_TOKEN}, 64, "per-token"},
      {{.kind = I, .bits = 8, .scale = SLT_QSCALE_MINMAX, .narrow = true}, 64, "narrow"},
      {{.kind = P, .format = SLT_QFMT_E4M3, .scale = SLT_QSCALE_MINMAX}, 64, "absmax"},
      {{.kind = I, .bits = 8, .ste_mask = true}, 64, "ste_mask applies to mx only"},
      {{.kind = P, .format = SLT_QFMT_E4M3, .ste_mask = true}, 64, "ste_mask applies to mx only"},
      {{.kind = I, .bits = 8, .round_even = true}, 64, "round: even"},
      {{.kind = I, .bits = 8, .grad_scaling = true}, 64, "grad_scaling applies to lsq"},
      {{.kind = P, .format = (slt_quant_format)7}, 64, "unknown format"},
      {{.kind = (slt_quant_kind)9}, 64, "unknown kind"},
  };
  char err[256];
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    err[0] = 0;
    CU_ASSERT_EQUAL(slt_quant_check(&bad[i].s, 4, bad[i].cols, err, sizeof err), -1);
    if (!strstr(err, bad[i].want))
      printf("\n  bad spec %zu: \"%s\" lacks \"%s\"\n", i, err, bad[i].want);
    CU_ASSERT(strstr(err, bad[i].want) != NULL);
    CU_ASSERT(test_err_has(bad[i].want, NULL));
  }
  const bad_spec good[] = {
      {{.kind = SLT_QUANT_NONE, .bits = 1, .group_size = 7}, 64, NULL},
      {{.kind = I, .bits = 8, .granularity = SLT_QGRAN_CHANNEL, .group_size = 48}, 64, NULL},
      {{.kind = I, .bits = 4, .granularity = GRP, .group_size = 32, .narrow = true}, 64, NULL},
      {{.kind = L, .bits = 4, .scale = SLT_QSCALE_MINMAX, .grad_scaling = true}, 64, NULL},
      {{.kind = P, .bits = 8, .format = SLT_QFMT_E4M3, .round_even = true}, 64, NULL},
      {{.kind = M, .format = SLT_QFMT_E2M1, .granularity = GRP, .group_size = 32, .ste_mask = true},
       64,
       NULL},
  };
  for (size_t i = 0; i < sizeof good / sizeof *good; i++)
    CU_ASSERT_EQUAL(slt_quant_check(&good[i].s, 4, good[i].cols, NULL, 0), 0);
  slt_quant_spec g = good[2].s;
  CU_ASSERT(slt_quant_block(&g, 4, 64) == 32 && slt_quant_nscales(&g, 4, 64) == 8);
  int qmin, qmax;
  slt_quant_range(&g, &qmin, &qmax);
  CU_ASSERT(qmin == -7 && qmax == 7);
  slt_quant_range(&good[3].s, &qmin, &qmax);
  CU_ASSERT(qmin == 0 && qmax == 15);
}

static void test_text(void) {
  slt_quant_spec s = {0};
  char buf[64];
  CU_ASSERT_STRING_EQUAL(slt_quant_describe(&s, buf, sizeof buf), "none");
  CU_ASSERT(!slt_quant_parse(&s, "kind", "int") && !slt_quant_parse(&s, "bits", "4") &&
            !slt_quant_parse(&s, "granularity", "group") &&
            !slt_quant_parse(&s, "group_size", "64"));
  CU_ASSERT_STRING_EQUAL(slt_quant_describe(&s, buf, sizeof buf), "int4 group64 absmax");
  CU_ASSERT(!slt_quant_parse(&s, "kind", "mx") && !slt_quant_parse(&s, "format", "fp4") &&
            !slt_quant_parse(&s, "bits", "0") && !slt_quant_parse(&s, "round", "even") &&
            !slt_quant_parse(&s, "ste_mask", "true"));
  CU_ASSERT(s.format == SLT_QFMT_E2M1 && s.round_even && s.ste_mask);
  CU_ASSERT_STRING_EQUAL(slt_quant_describe(&s, buf, sizeof buf), "mx e2m1 group64 even ste_mask");
  CU_ASSERT_EQUAL(slt_quant_parse(&s, "bits", "8x"), -1);
  CU_ASSERT(test_err_has("bits", "'8x'"));
  CU_ASSERT_EQUAL(slt_quant_parse(&s, "granularity", "row"), -1);
  CU_ASSERT(test_err_has("'row'", "tensor|channel|token|group"));
  CU_ASSERT_EQUAL(slt_quant_parse(&s, "narrow", "yes"), -1);
  CU_ASSERT(test_err_has("narrow", "false|true"));
  CU_ASSERT_EQUAL(slt_quant_parse(&s, "colour", "red"), -1);
  CU_ASSERT(test_err_has("unknown key 'colour'", NULL));
  CU_ASSERT_STRING_EQUAL(slt_quant_format_name(SLT_QFMT_E3M2), "e3m2");
  CU_ASSERT(slt_quant_format_bits(SLT_QFMT_E2M3) == 6 &&
            slt_quant_format_name((slt_quant_format)5) == NULL);
}

static void test_errors(void) {
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *x = test_randn(91, 2, (int[]){4, 64}, 1.0f, true);
  slt_tensor *s1 = test_randn(92, 1, (int[]){1}, 1.0f, true),
             *s3 = test_randn(93, 1, (int[]){3}, 1.0f, true);
  float one = 1;
  slt_quant_spec none = {0}, lsq = {.kind = SLT_QUANT_LSQ, .bits = 4},
                 in8 = {.kind = SLT_QUANT_INT, .bits = 8};
  CU_ASSERT(slt_quant_apply(&c, x, &none, NULL, NULL) == x);
  CU_ASSERT_PTR_NULL(slt_quant_apply(&c, NULL, &in8, NULL, NULL));
  CU_ASSERT_PTR_NULL(slt_quant_apply(&c, x, &in8, s1, NULL));
  CU_ASSERT(test_err_has("quant int: only lsq takes scale", NULL));
  CU_ASSERT_PTR_NULL(slt_quant_apply(&c, x, &lsq, NULL, NULL));
  CU_ASSERT(test_err_has("needs a scale tensor", NULL));
  CU_ASSERT_PTR_NULL(slt_quant_apply(&c, x, &lsq, s1, s1));
  CU_ASSERT(test_err_has("no offset", NULL));
  CU_ASSERT_PTR_NULL(slt_quant_apply(&c, x, &lsq, s3, NULL));
  CU_ASSERT(test_err_has("lsq: scale must have 1 elements", "got 3"));
  CU_ASSERT_PTR_NULL(slt_quant_affine(&c, x, &one, NULL, 7, -8, 7));
  CU_ASSERT(test_err_has("quant_affine: block 7 does not divide the 256 elements", "(4, 64)"));
  CU_ASSERT_PTR_NULL(slt_quant_affine(&c, x, &one, NULL, 256, 7, 7));
  CU_ASSERT(test_err_has("qmin 7 must be below qmax 7", NULL));
  CU_ASSERT_PTR_NULL(slt_quant_lsq_plus(&c, x, s1, NULL, 256, 0, 15, false));
  CU_ASSERT(test_err_has("lsq+: needs a scale and a beta tensor", NULL));
  slt_tensor *x48 = test_randn(94, 2, (int[]){2, 48}, 1.0f, false);
  CU_ASSERT_PTR_NULL(slt_quant_mx(&c, x48, SLT_QFMT_E2M1, false, false));
  CU_ASSERT(test_err_has("quant_mx: the last dim must be a multiple of 32", "(2, 48)"));
  CU_ASSERT_PTR_NULL(slt_quant_fp(&c, x, (slt_quant_format)11, 64, false));
  CU_ASSERT(test_err_has("quant_fp: unknown format 11", NULL));
  CU_ASSERT_EQUAL(c.nodes, 0);
  slt_tensor_free(x), slt_tensor_free(s1), slt_tensor_free(s3), slt_tensor_free(x48);
  slt_ctx_free(&c);
}

int register_quant_suite(void) {
  CU_pSuite s = CU_add_suite("quant", suite_init, suite_clean);
  if (!s) return -1;
  return !CU_add_test(s, "int affine = torch fake_quantize_per_{tensor,channel}_affine, STE mask",
                      test_int_fixed) ||
         !CU_add_test(s, "int specs (absmax channel/group/token/tensor, minmax) = torch",
                      test_int_spec) ||
         !CU_add_test(s, "LSQ = torch _LearnableFakeQuantize; LSQ+ = torch autograd", test_lsq) ||
         !CU_add_test(s, "LSQ and LSQ+ inits", test_lsq_init) ||
         !CU_add_test(s, "fp formats = numpy reference on grids and ties", test_fp_grid) ||
         !CU_add_test(s, "fp formats: published E2M1 and E4M3 values", test_fp_published) ||
         !CU_add_test(s, "fp scaled per tensor/channel/group and MX = numpy", test_fp_scaled) ||
         !CU_add_test(s, "fp/mx straight-through backward, mx mask", test_fp_ste) ||
         !CU_add_test(s, "thread-count independent (1 vs 3 threads)", test_threads) ||
         !CU_add_test(s, "spec checks name what is wrong", test_check) ||
         !CU_add_test(s, "spec text: parse and describe", test_text) ||
         !CU_add_test(s, "op and seam errors", test_errors);
}
