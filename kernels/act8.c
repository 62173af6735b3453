#include "act8.h"

#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int slt_act8_alloc(slt_act8 *a, int n, int64_t in) {
  memset(a, 0, sizeof *a);
  if (n < 1 || in < 1 || in > ((int64_t)1 << 40)) {
    slt_err_set("act8: bad shape (%d tokens, %lld elements)", n, (long long)in);
    return -1;
  }
  a->n = n;
  a->in = in;
  a->stride = (in + SLT_LB_BLOCK - 1) / SLT_LB_BLOCK * SLT_LB_BLOCK;
  a->q = aligned_alloc(64, (size_t)(n * a->stride)); /* a multiple of 256 bytes */
  a->scale = malloc(sizeof(float) * (size_t)n);
  a->sum = calloc((size_t)n, sizeof(int32_t));
  if (!a->q || !a->scale || !a->sum) {
    slt_act8_free(a);
    slt_err_set("act8: out of memory for %d x %lld activations", n, (long long)in);
    return -1;
  }
  memset(a->q, 0, (size_t)(n * a->stride));
  for (int t = 0; t < n; t++) a->scale[t] = 1.0f;
  return 0;
}

void slt_act8_free(slt_act8 *a) {
  free(a->q);
  free(a->scale);
  free(a->sum);
  memset(a, 0, sizeof *a);
}

/* One token: absmax, scale, rounding (half to even under the default rounding mode), clamp. */
static void quantize_token(slt_act8 *a, int t, const float *x, int qmin) {
  float amax = 0.0f;
  for (int64_t i = 0; i < a->in; i++) amax = fmaxf(amax, fabsf(x[i]));
  float s = 127.0f / fmaxf(amax, 1e-5f);
  int8_t *q = a->q + t * a->stride;
  int32_t sum = 0;
  for (int64_t i = 0; i < a->in; i++) {
    float v = fminf(fmaxf(nearbyintf(x[i] * s), (float)qmin), 127.0f); /* NaN -> qmin */
    q[slt_act8_pos(i)] = (int8_t)v;
    sum += (int32_t)v;
  }
  a->scale[t] = s;
  a->sum[t] = sum;
}

void slt_act8_quantize(slt_act8 *a, const float *x, int64_t ldx, int qmin) {
#pragma omp parallel for schedule(static) if (a->n * a->in >= 65536)
  for (int t = 0; t < a->n; t++) quantize_token(a, t, x + t * ldx, qmin);
}

void slt_act8_set(slt_act8 *a, int t, const int8_t *q) {
  int8_t *dst = a->q + t * a->stride;
  int32_t sum = 0;
  for (int64_t i = 0; i < a->in; i++) {
    dst[slt_act8_pos(i)] = q[i];
    sum += q[i];
  }
  a->sum[t] = sum;
}

void slt_act8_get(const slt_act8 *a, int t, int8_t *q) {
  const int8_t *src = a->q + t * a->stride;
  for (int64_t i = 0; i < a->in; i++) q[i] = src[slt_act8_pos(i)];
}
