/* The oneDNN backend: a row-major product is one matmul primitive whose memory descriptors carry
 * the transposes and leading dimensions as strides, alpha as an output scale and beta as a sum
 * post-op. Creating a primitive costs far more than running a small one, so each thread keeps
 * its own table of primitives keyed by everything that shapes them (no lock: attention calls
 * products from inside its own OpenMP team). */
#include "gemm_internal.h"

#include "autograd/error.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  int M, N, K, lda, ldb, ldc, nthr;
  float alpha, beta;
  bool ta, tb, bf16;
} prim_key;

typedef struct {
  prim_key key;
  dnnl_primitive_t prim;
  dnnl_memory_t mem[3]; /* src, weights, dst: handles set per call */
} prim_entry;

/* A power of two; the shapes of a run (linears, the attention blocks' key lengths) are a few
 * hundred at most. Past that a product still runs, with a primitive made for the call. */
#define TABLE 1024

static dnnl_engine_t engine;
static int engine_state; /* 0 not tried, 1 ready, -1 unavailable */
static _Thread_local prim_entry *table[TABLE];
static _Thread_local dnnl_stream_t stream;

static int engine_ready(void) {
#pragma omp critical(slt_onednn_engine)
  if (!engine_state)
    engine_state = dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? 1 : -1;
  return engine_state;
}

bool slt_onednn_available(void) { return engine_ready() == 1; }

bool slt_onednn_bf16(void) {
  /* avx512_core_bf16 and the AMX level above it both have native bf16 dot products; below
   * them oneDNN would emulate bf16, slower than fp32. */
  return slt_onednn_available() && dnnl_get_effective_cpu_isa() >= dnnl_cpu_isa_avx512_core_bf16 &&
         dnnl_get_effective_cpu_isa() != dnnl_cpu_isa_avx2_vnni;
}

const char *slt_onednn_isa(void) {
  if (!slt_onednn_available()) return "none";
  switch (dnnl_get_effective_cpu_isa()) {
  case dnnl_cpu_isa_sse41: return "sse41";
  case dnnl_cpu_isa_avx: return "avx";
  case dnnl_cpu_isa_avx2: return "avx2";
  case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni";
  case dnnl_cpu_isa_avx512_core: return "avx512_core";
  case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni";
  case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16";
  case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx";
  default: return "other";
  }
}

/* A 2-D descriptor of rows×cols whose element (i, j) sits at i·rs + j·cs. */
static int md2(dnnl_memory_desc_t *md, int rows, int cols, int64_t rs, int64_t cs, bool bf16) {
  dnnl_dims_t dims = {rows, cols}, strides = {rs, cs};
  return dnnl_memory_desc_init_by_strides(md, 2, dims, bf16 ? dnnl_bf16 : dnnl_f32, strides) ==
                 dnnl_success
             ? 0
             : -1;
}

static dnnl_primitive_attr_t make_attr(float alpha, float beta) {
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
  int bad = alpha != 1.0f && dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha);
  if (!bad && beta != 0.0f)
    bad = dnnl_post_ops_create(&po) || dnnl_post_ops_append_sum(po, beta) ||
          dnnl_primitive_attr_set_post_ops(attr, po);
  if (po) dnnl_post_ops_destroy(po);
  if (bad) {
    dnnl_primitive_attr_destroy(attr);
    return NULL;
  }
  return attr;
}

static void entry_free(prim_entry *e) {
  if (!e) return;
  for (int i = 0; i < 3; i++)
    if (e->mem[i]) dnnl_memory_destroy(e->mem[i]);
  if (e->prim) dnnl_primitive_destroy(e->prim);
  free(e);
}

/* A primitive and its memory objects for the key; NULL (error recorded) when oneDNN refuses. */
static prim_entry *entry_new(const prim_key *k) {
  dnnl_memory_desc_t a, b, c;
  if (md2(&a, k->M, k->K, k->ta ? 1 : k->lda, k->ta ? k->lda : 1, k->bf16) ||
      md2(&b, k->K, k->N, k->tb ? 1 : k->ldb, k->tb ? k->ldb : 1, k->bf16) ||
      md2(&c, k->M, k->N, k->ldc, 1, false)) {
    slt_err_set("onednn: bad product shape %dx%dx%d", k->M, k->N, k->K);
    return NULL;
  }
  prim_entry *e = calloc(1, sizeof *e);
  dnnl_primitive_attr_t attr = make_attr(k->alpha, k->beta);
  dnnl_matmul_desc_t desc;
  dnnl_primitive_desc_t pd = NULL;
  int bad = !e || !attr || dnnl_matmul_desc_init(&desc, &a, &b, NULL, &c) ||
            dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL) ||
            dnnl_primitive_create(&e->prim, pd) ||
            dnnl_memory_create(&e->mem[0], &a, engine, DNNL_MEMORY_NONE) ||
            dnnl_memory_create(&e->mem[1], &b, engine, DNNL_MEMORY_NONE) ||
            dnnl_memory_create(&e->mem[2], &c, engine, DNNL_MEMORY_NONE);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (attr) dnnl_primitive_attr_destroy(attr);
  if (bad) {
    entry_free(e);
    slt_err_set("onednn: no matmul for %dx%dx%d (%s)", k->M, k->N, k->K,
                k->bf16 ? "bf16" : "fp32");
    return NULL;
  }
  e->key = *k;
  return e;
}

/* Field by field after zeroing, so the padding is zero too: keys are hashed and compared as bytes.
 * The thread count is part of the key: oneDNN blocks a primitive for the threads it will have. */
static prim_key make_key(bool ta, bool tb, int M, int N, int K, float alpha, int lda, int ldb,
                         float beta, int ldc, bool bf16) {
  prim_key k;
  memset(&k, 0, sizeof k);
  k.M = M, k.N = N, k.K = K, k.lda = lda, k.ldb = ldb, k.ldc = ldc;
  k.nthr = omp_get_max_threads();
  k.alpha = alpha, k.beta = beta, k.ta = ta, k.tb = tb, k.bf16 = bf16;
  return k;
}

static uint32_t key_hash(const prim_key *k) {
  uint32_t h = 2166136261u;
  const unsigned char *p = (const unsigned char *)k;
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 16777619u;
  return h;
}

/* The calling thread's primitive for the key, made on first use; *owned when it is not in the
 * table (full) and the caller must free it. */
static prim_entry *lookup(const prim_key *k, bool *owned) {
  uint32_t h = key_hash(k);
  *owned = false;
  for (int probe = 0; probe < 16; probe++) {
    prim_entry **slot = &table[(h + probe) & (TABLE - 1)];
    if (*slot && !memcmp(&(*slot)->key, k, sizeof *k)) return *slot;
    if (!*slot) return *slot = entry_new(k);
  }
  *owned = true;
  return entry_new(k);
}

int slt_onednn_gemm(bool ta, bool tb, int M, int N, int K, float alpha, const void *A, int lda,
                    const void *B, int ldb, float beta, float *C, int ldc, bool bf16) {
  if (engine_ready() != 1) {
    slt_err_set("onednn: no CPU engine");
    return -1;
  }
  if (!stream && dnnl_stream_create(&stream, engine, dnnl_stream_default_flags)) {
    slt_err_set("onednn: cannot create a stream");
    return -1;
  }
  prim_key k = make_key(ta, tb, M, N, K, alpha, lda, ldb, beta, ldc, bf16);
  bool owned;
  prim_entry *e = lookup(&k, &owned);
  if (!e) return -1;
  dnnl_memory_set_data_handle(e->mem[0], (void *)A);
  dnnl_memory_set_data_handle(e->mem[1], (void *)B);
  dnnl_memory_set_data_handle(e->mem[2], C);
  dnnl_exec_arg_t args[3] = {
      {DNNL_ARG_SRC, e->mem[0]}, {DNNL_ARG_WEIGHTS, e->mem[1]}, {DNNL_ARG_DST, e->mem[2]}};
  int rc = dnnl_primitive_execute(e->prim, stream, 3, args) || dnnl_stream_wait(stream) ? -1 : 0;
  if (owned) entry_free(e);
  if (rc) slt_err_set("onednn: matmul %dx%dx%d failed", M, N, K);
  return rc;
}

const char *slt_onednn_impl(bool ta, bool tb, int M, int N, int K, bool bf16) {
  static _Thread_local char name[64];
  prim_key k = make_key(ta, tb, M, N, K, 1.0f, ta ? M : K, tb ? K : N, 0.0f, N, bf16);
  prim_entry *e = engine_ready() == 1 ? entry_new(&k) : NULL;
  const_dnnl_primitive_desc_t pd;
  const char *impl = NULL;
  snprintf(name, sizeof name, "none");
  if (e && !dnnl_primitive_get_primitive_desc(e->prim, &pd) &&
      !dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) && impl)
    snprintf(name, sizeof name, "%s", impl);
  entry_free(e);
  return name;
}

void slt_onednn_release(void) {
  for (int i = 0; i < TABLE; i++) {
    entry_free(table[i]);
    table[i] = NULL;
  }
  if (stream) dnnl_stream_destroy(stream);
  stream = NULL;
}
