/* One query row against a KV cache, for the decoders (gpt_infer.c, ifairy_infer.c). */
#ifndef SLT_CACHED_ATTN_H
#define SLT_CACHED_ATTN_H

/* acc (width) = softmax_j(scale·q·K[j]) · V[j] over cached rows j < n_keys of K, V (rows of
 * width floats): one pass, with a running max and sum, so no score row is stored. */
void slt_cached_attend_row(const float *q, const float *K, const float *V, int n_keys, int width,
                           float scale, float *acc);

#endif
