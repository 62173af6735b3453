/* Internal (kernels/ AVX2 files only): the horizontal sum of eight int32 lanes. */
#ifndef SLT_KERNELS_AVX2_HSUM_H
#define SLT_KERNELS_AVX2_HSUM_H

#if defined(__x86_64__)
#include <immintrin.h>
#include <stdint.h>

/* v[0] + ... + v[7]. */
__attribute__((target("avx2"), always_inline)) static inline int32_t slt_hsum_avx2(__m256i v) {
  __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0x4e));
  s = _mm_add_epi32(s, _mm_shuffle_epi32(s, 0xb1));
  return _mm_cvtsi128_si32(s);
}
#endif

#endif
