/* A GGUF v3 writer (SPEC §8, ggml docs/gguf.md), little-endian:
 *
 *   "GGUF", u32 version 3, u64 tensor count, u64 metadata count
 *   metadata: u64-length key, u32 type, value (arrays: u32 element type, u64 count, elements)
 *   tensor infos: name, u32 n_dims, u64 dims in ggml order (a PyTorch (out, in) weight is [in,
 * out]), u32 ggml type, u64 offset from the data start (a multiple of the alignment) zero padding
 * to the alignment (32), then each tensor's data, padded to 32.
 *
 * The builder converts every tensor to its file type when it is added (so a tensor that cannot be
 * stored, e.g. TQ2_0 rows not a multiple of 256, is refused before anything is written) and owns
 * the bytes; slt_gguf_write writes OUT.tmp beside OUT, fsyncs it and renames it. */
#ifndef SLT_GGUF_H
#define SLT_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SLT_GGUF_VERSION 3
#define SLT_GGUF_ALIGN 32
#define SLT_GGUF_MAX_DIMS 4
#define SLT_GGUF_TQ2_0_BLOCK 256 /* weights per TQ2_0 block */
#define SLT_GGUF_TQ2_0_BYTES 66  /* uint8 qs[64], fp16 d */

/* Metadata value types of the format. */
typedef enum {
  SLT_GGUF_U32 = 4,
  SLT_GGUF_I32 = 5,
  SLT_GGUF_F32 = 6,
  SLT_GGUF_BOOL = 7,
  SLT_GGUF_STRING = 8,
  SLT_GGUF_ARRAY = 9,
  SLT_GGUF_U64 = 10
} slt_gguf_kv_type;

/* The ggml tensor types this writer stores (ggml's own numbers). */
typedef enum { SLT_GGML_F32 = 0, SLT_GGML_F16 = 1, SLT_GGML_TQ2_0 = 35 } slt_ggml_type;

typedef struct slt_gguf slt_gguf;

/* An empty file description; NULL when out of memory (error recorded). */
slt_gguf *slt_gguf_new(void);
/* Free; NULL is fine. */
void slt_gguf_free(slt_gguf *g);

/* Metadata, in the order set; a key set twice is an error. 0 or -1 (error recorded). */
int slt_gguf_set_u32(slt_gguf *g, const char *key, uint32_t v);
int slt_gguf_set_i32(slt_gguf *g, const char *key, int32_t v);
int slt_gguf_set_u64(slt_gguf *g, const char *key, uint64_t v);
int slt_gguf_set_f32(slt_gguf *g, const char *key, float v);
int slt_gguf_set_bool(slt_gguf *g, const char *key, bool v);
int slt_gguf_set_str(slt_gguf *g, const char *key, const char *v);
/* An array of n strings (copied; n may be 0). */
int slt_gguf_set_arr_str(slt_gguf *g, const char *key, const char *const *v, int64_t n);
/* An array of n int32 (copied). */
int slt_gguf_set_arr_i32(slt_gguf *g, const char *key, const int32_t *v, int64_t n);

/* Add tensor name with PyTorch shape (ndim <= 4, outermost first) from float32 data, stored as
 * type. TQ2_0 needs the innermost dim a multiple of 256 and weights that are ternary per block
 * ({-d, 0, d}, see slt_gguf_pack_tq2_0). 0, or -1 naming the tensor. */
int slt_gguf_add_tensor(slt_gguf *g, const char *name, int ndim, const int64_t *shape,
                        slt_ggml_type type, const float *data);
/* Number of tensors added, and whether any is quantized (neither f32 nor f16). */
int slt_gguf_tensor_count(const slt_gguf *g);
bool slt_gguf_any_quantized(const slt_gguf *g);

/* Write the file to path atomically (path.tmp, fsync, rename, directory fsync). 0, or -1 with
 * the error recorded (the temporary removed). */
int slt_gguf_write(const slt_gguf *g, const char *path);

/* Bytes of n elements of type (n a multiple of 256 for TQ2_0). */
size_t slt_gguf_type_bytes(slt_ggml_type type, int64_t n);
/* Pack n weights (a multiple of 256) as TQ2_0 blocks into out (n/256·66 bytes). Each block's d is
 * its absmax rounded to fp16 and its codes round(w/d)+1, so dequantized ternary weights
 * (every |w| 0 or the block's absmax) come back exactly when d is an fp16 number. A block with any
 * other value is refused: -1, *bad_index the offending element. */
int slt_gguf_pack_tq2_0(const float *w, int64_t n, uint8_t *out, int64_t *bad_index);

#endif
