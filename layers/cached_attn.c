#include "cached_attn.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

void slt_cached_attend_row(const float *q, const float *K, const float *V, int n_keys, int width,
                           float scale, float *acc) {
  float mx = -INFINITY, sum = 0.0f;
  memset(acc, 0, (size_t)width * sizeof(float));
  for (int j = 0; j < n_keys; j++) {
    float s = 0.0f;
    for (int e = 0; e < width; e++) s += q[e] * K[(size_t)j * width + e];
    s *= scale;
    if (s > mx) { /* a new maximum: rescale what was summed so far */
      float r = expf(mx - s);
      sum *= r;
      for (int e = 0; e < width; e++) acc[e] *= r;
      mx = s;
    }
    float w = expf(s - mx);
    sum += w;
    for (int e = 0; e < width; e++) acc[e] += w * V[(size_t)j * width + e];
  }
  for (int e = 0; e < width; e++) acc[e] /= sum;
}
