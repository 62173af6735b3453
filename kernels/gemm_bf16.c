/* bf16 products (SPEC §10): operands rounded to nearest even, fp32 accumulation and output, on
 * oneDNN. Weights are declared by range (slt_gemm_weights): an operand inside a declared range
 * reads a bf16 mirror of that range, each span of which is rounded once per declaration (once per
 * optimizer step), however many products read it. Anything else (activations, gradients, the
 * arena's transformed weights) is rounded into per-thread scratch on every use. */
#include "gemm_internal.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

/* Spans of one range rounded so far, open-addressed by offset; a span counts only when its
 * generation is the range's. A run's weights are a few hundred spans. */
#define SPANS 2048

typedef struct {
  int64_t off, len;
  uint64_t gen;
} span;

typedef struct {
  const float *base;
  int64_t n;
  uint64_t gen; /* bumped by every declaration */
  uint16_t *mirror;
  int64_t cap;
  span *spans;
} weight_range;

static weight_range ranges[SLT_GEMM_WEIGHT_SLOTS];
static uint64_t generation;
/* Per-thread rounding scratch: [0] A, [1] B, [2] the held operand (slt_gemm_hold). */
static _Thread_local uint16_t *scratch[3];
static _Thread_local int64_t scratch_cap[3];

/* What scratch[which] holds when it is the rounding of a held operand (slt_gemm_hold). */
typedef struct {
  const float *p;
  int rows, cols, ld;
  uint64_t hold;
} scratch_source;
static _Thread_local scratch_source scratch_src[3];
static _Thread_local const float *held;
static _Thread_local uint64_t hold_count;

/* Held ranges (slt_gemm_hold_ranges): rounded whole when declared, then only read. */
typedef struct {
  const float *base;
  int64_t n, cap;
  uint16_t *mirror;
} held_range;
static held_range held_ranges[SLT_GEMM_HELD_RANGES];
static int n_held;

static void round_flat(const float *x, uint16_t *y, int64_t n);

void slt_gemm_hold_ranges(int n, const float *const *base, const int64_t *len) {
  n_held = 0;
  if (slt_gemm_precision() != SLT_PRECISION_BF16) return;
  for (int i = 0; i < n && i < SLT_GEMM_HELD_RANGES; i++) {
    held_range *h = &held_ranges[n_held];
    if (h->cap < len[i]) {
      free(h->mirror);
      h->mirror = aligned_alloc(64, ((size_t)len[i] * 2 + 63) / 64 * 64);
      h->cap = h->mirror ? len[i] : 0;
      if (!h->mirror) continue; /* products round that operand per use instead */
    }
    round_flat(base[i], h->mirror, len[i]);
    h->base = base[i], h->n = len[i];
    n_held++;
  }
}

/* The caller's copy of one range (slt_gemm_hold_copy), per thread. */
static _Thread_local held_range own_copy;

void slt_gemm_hold_copy(const float *p, int64_t n, uint16_t *copy, bool fill) {
  own_copy = (held_range){p && copy ? p : NULL, n, n, copy};
  if (own_copy.base && fill) round_flat(p, copy, n);
}

/* The held copy of [p, p + len), or NULL. Read-only: safe inside parallel regions. */
static const uint16_t *held_copy(const float *p, int64_t len) {
  if (own_copy.base && p >= own_copy.base && p + len <= own_copy.base + own_copy.n)
    return own_copy.mirror + (p - own_copy.base);
  for (int i = 0; i < n_held; i++) {
    const held_range *h = &held_ranges[i];
    if (p >= h->base && p + len <= h->base + h->n) return h->mirror + (p - h->base);
  }
  return NULL;
}

void slt_gemm_hold(const float *p) {
  held = p;
  hold_count++;
}

/* scratch[which] already holds the bf16 copy of this held operand. */
static bool scratch_has(int which, const float *p, int rows, int cols, int ld) {
  const scratch_source *s = &scratch_src[which];
  return held && p == held && s->p == p && s->rows == rows && s->cols == cols && s->ld == ld &&
         s->hold == hold_count;
}

/* Large conversions outside our own parallel regions are split across the team. */
#define PAR_MIN (1 << 16)

void slt_bf16_round(const float *x, uint16_t *y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) y[i] = slt_bf16_from_f32(x[i]);
}

static void round_flat(const float *x, uint16_t *y, int64_t n) {
  enum { CHUNK = 1 << 14 };
  int64_t chunks = (n + CHUNK - 1) / CHUNK;
#pragma omp parallel for schedule(static) if (n >= PAR_MIN && !omp_in_parallel())
  for (int64_t c = 0; c < chunks; c++) {
    int64_t b = c * CHUNK, e = b + CHUNK < n ? b + CHUNK : n;
    slt_bf16_round(x + b, y + b, e - b);
  }
}

static void round_rows(const float *x, int rows, int cols, int64_t ld, uint16_t *y) {
#pragma omp parallel for schedule(static) if ((int64_t)rows * cols >= PAR_MIN && !omp_in_parallel())
  for (int r = 0; r < rows; r++) slt_bf16_round(x + r * ld, y + (int64_t)r * cols, cols);
}

void slt_gemm_weights(int slot, const float *base, int64_t n) {
  if (slot < 0 || slot >= SLT_GEMM_WEIGHT_SLOTS) return;
  weight_range *w = &ranges[slot];
  w->base = base;
  w->n = base ? n : 0;
  w->gen = ++generation;
}

/* The span's bf16 copy in the mirror, rounded now unless it already was since the range was
 * declared; NULL when the mirror cannot be had (the caller rounds into scratch instead). */
static const uint16_t *mirror_span(weight_range *w, int64_t off, int64_t len) {
  if (w->cap < w->n) {
    free(w->mirror);
    w->mirror = aligned_alloc(64, ((size_t)w->n * 2 + 63) / 64 * 64);
    w->cap = w->mirror ? w->n : 0;
    if (!w->mirror) return NULL;
  }
  if (!w->spans && !(w->spans = calloc(SPANS, sizeof(span)))) return NULL;
  uint64_t h = (uint64_t)off * 0x9E3779B97F4A7C15ull ^ (uint64_t)len;
  for (int probe = 0; probe < 32; probe++) {
    span *s = &w->spans[(h + probe) & (SPANS - 1)];
    if (s->len && (s->off != off || s->len != len) && s->gen == w->gen) continue;
    if (s->len && s->off == off && s->len == len && s->gen == w->gen) return w->mirror + off;
    round_flat(w->base + off, w->mirror + off, len); /* free, stale, or this span: (re)use */
    *s = (span){off, len, w->gen};
    return w->mirror + off;
  }
  round_flat(w->base + off, w->mirror + off, len); /* table crowded: round, do not remember */
  return w->mirror + off;
}

/* Operand stored as rows×cols with leading dimension ld, as bf16: *ld_out is the copy's. */
static const uint16_t *operand(const float *p, int rows, int cols, int ld, int which, int *ld_out) {
  int64_t len = (int64_t)(rows - 1) * ld + cols;
  *ld_out = ld;
  const uint16_t *h = held_copy(p, len);
  if (h) return h;
  if (!omp_in_parallel())
    for (int i = 0; i < SLT_GEMM_WEIGHT_SLOTS; i++) {
      weight_range *w = &ranges[i];
      if (w->base && p >= w->base && p + len <= w->base + w->n) {
        const uint16_t *m = mirror_span(w, p - w->base, len);
        if (m) return m;
      }
    }
  int64_t need = (int64_t)rows * cols;
  if (held && p == held) which = 2; /* its own slot, so the other operand cannot evict it */
  if (scratch_has(which, p, rows, cols, ld)) {
    *ld_out = cols;
    return scratch[which];
  }
  scratch_src[which] = (scratch_source){p == held ? p : NULL, rows, cols, ld, hold_count};
  if (scratch_cap[which] < need) {
    free(scratch[which]);
    scratch[which] = aligned_alloc(64, ((size_t)need * 2 + 63) / 64 * 64);
    scratch_cap[which] = scratch[which] ? need : 0;
    scratch_src[which].p = NULL;
    if (!scratch[which]) return NULL;
  }
  round_rows(p, rows, cols, ld, scratch[which]);
  *ld_out = cols;
  return scratch[which];
}

void slt_bf16_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const float *A, int lda,
                   const float *B, int ldb, float beta, float *C, int ldc) {
  int la, lb;
  const uint16_t *a = operand(A, ta ? K : M, ta ? M : K, lda, 0, &la);
  const uint16_t *b = operand(B, tb ? N : K, tb ? K : N, ldb, 1, &lb);
  /* Out of memory or a shape oneDNN refuses: the fp32 product, rather than no product. */
  if (!a || !b || slt_onednn_gemm(ta, tb, M, N, K, alpha, a, la, b, lb, beta, C, ldc, true))
    slt_blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void slt_bf16_release(void) {
  for (int i = 0; i < SLT_GEMM_WEIGHT_SLOTS; i++) {
    free(ranges[i].mirror);
    free(ranges[i].spans);
    memset(&ranges[i], 0, sizeof ranges[i]);
  }
  for (int i = 0; i < 3; i++) {
    free(scratch[i]);
    scratch[i] = NULL;
    scratch_cap[i] = 0;
    scratch_src[i].p = NULL;
  }
  for (int i = 0; i < SLT_GEMM_HELD_RANGES; i++) {
    free(held_ranges[i].mirror);
    held_ranges[i] = (held_range){0};
  }
  n_held = 0;
}
