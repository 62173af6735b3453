/* GGUF export at the format level (SPEC §8): files are parsed back by a minimal reader written
 * here from ggml's docs/gguf.md (not the writer's code); fp16 conversion against IEEE values;
 * TQ2_0 blocks decoded by the SPEC's formula; the q/k row permutation against RoPE itself; the
 * llama tensor map and keys of a random model; refusals of models llama cannot run. The logits
 * of real llama.cpp are compared in tests/gguf_llama.sh. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "ckpt/fp16.h"
#include "ckpt/gguf_llama.h"
#include "layers/gpt.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the reader ---- */

typedef struct {
  char key[96];
  uint32_t type, atype;
  uint64_t u, alen; /* scalars widened to u; arrays: element type and count */
  float f;
  char s[128];
  size_t aoff; /* file offset of an array's first element */
} rkv;

typedef struct {
  char name[96];
  uint32_t nd, type;
  uint64_t dims[4], off;
} rti;

typedef struct {
  uint8_t *b;
  size_t n, pos, data; /* data: where the tensor data starts */
  bool bad;
  uint64_t nt, nkv;
  rkv kv[64];
  rti t[64];
} rfile;

static uint64_t rd(rfile *f, int bytes) {
  uint64_t v = 0;
  if (f->pos + bytes > f->n) {
    f->bad = true;
    return 0;
  }
  for (int i = 0; i < bytes; i++) v |= (uint64_t)f->b[f->pos + i] << (8 * i); /* little-endian */
  f->pos += bytes;
  return v;
}

static void rd_str(rfile *f, char *out, size_t cap) {
  uint64_t n = rd(f, 8);
  if (f->bad || f->pos + n > f->n) {
    f->bad = true;
    return;
  }
  size_t k = n < cap - 1 ? n : cap - 1;
  memcpy(out, f->b + f->pos, k);
  out[k] = 0;
  f->pos += n;
}

static int scalar_bytes(uint32_t type) {
  return type == SLT_GGUF_BOOL ? 1 : type == SLT_GGUF_U64 ? 8 : 4;
}

static void rd_value(rfile *f, rkv *k) {
  if (k->type == SLT_GGUF_STRING) {
    rd_str(f, k->s, sizeof k->s);
  } else if (k->type == SLT_GGUF_ARRAY) {
    k->atype = (uint32_t)rd(f, 4);
    k->alen = rd(f, 8);
    k->aoff = f->pos;
    char skip[8];
    for (uint64_t i = 0; i < k->alen && !f->bad; i++)
      if (k->atype == SLT_GGUF_STRING)
        rd_str(f, skip, sizeof skip);
      else
        rd(f, scalar_bytes(k->atype));
  } else {
    k->u = rd(f, scalar_bytes(k->type));
    uint32_t w = (uint32_t)k->u;
    memcpy(&k->f, &w, 4);
  }
}

/* Parse path; false (printed) when the layout is wrong. */
static bool rparse(rfile *f, const char *path) {
  memset(f, 0, sizeof *f);
  FILE *fp = fopen(path, "rb");
  if (!fp) return false;
  fseek(fp, 0, SEEK_END);
  f->n = (size_t)ftell(fp);
  rewind(fp);
  f->b = malloc(f->n);
  bool ok = f->b && fread(f->b, 1, f->n, fp) == f->n;
  fclose(fp);
  if (!ok || f->n < 24 || memcmp(f->b, "GGUF", 4)) return false;
  f->pos = 4;
  uint32_t version = (uint32_t)rd(f, 4);
  f->nt = rd(f, 8);
  f->nkv = rd(f, 8);
  if (version != 3 || f->nt > 64 || f->nkv > 64) return false;
  for (uint64_t i = 0; i < f->nkv && !f->bad; i++) {
    rd_str(f, f->kv[i].key, sizeof f->kv[i].key);
    f->kv[i].type = (uint32_t)rd(f, 4);
    rd_value(f, &f->kv[i]);
  }
  for (uint64_t i = 0; i < f->nt && !f->bad; i++) {
    rti *t = &f->t[i];
    rd_str(f, t->name, sizeof t->name);
    t->nd = (uint32_t)rd(f, 4);
    for (uint32_t d = 0; d < t->nd && d < 4; d++) t->dims[d] = rd(f, 8);
    t->type = (uint32_t)rd(f, 4);
    t->off = rd(f, 8);
  }
  f->data = (f->pos + 31) / 32 * 32;
  for (size_t i = f->pos; i < f->data && i < f->n; i++) f->bad |= f->b[i] != 0; /* zero padding */
  return !f->bad;
}

static const rkv *rkey(const rfile *f, const char *key) {
  for (uint64_t i = 0; i < f->nkv; i++)
    if (!strcmp(f->kv[i].key, key)) return &f->kv[i];
  return NULL;
}

static const rti *rtensor(const rfile *f, const char *name) {
  for (uint64_t i = 0; i < f->nt; i++)
    if (!strcmp(f->t[i].name, name)) return &f->t[i];
  return NULL;
}

/* Element i of a string array into out. */
static void rarr_str(const rfile *f, const rkv *k, uint64_t i, char *out, size_t cap) {
  rfile w = *f;
  w.pos = k->aoff;
  char skip[2];
  for (uint64_t j = 0; j < i; j++) rd_str(&w, skip, sizeof skip);
  rd_str(&w, out, cap);
}

static const uint8_t *rdata(const rfile *f, const rti *t) {
  return f->b + f->data + t->off;
}

/* The SPEC's TQ2_0 decoding of element e of a row of blocks. */
static float tq2_elem(const uint8_t *row, int64_t e) {
  const uint8_t *blk = row + (e / 256) * 66;
  int r = (int)(e % 256), j = r / 128, l = (r % 128) / 32, m = r % 32;
  uint16_t dh = (uint16_t)(blk[64] | blk[65] << 8);
  int code = (blk[32 * j + m] >> (2 * l)) & 3;
  return (float)(code - 1) * slt_fp16_to_f32(dh);
}

/* ---- tests ---- */

/* IEEE binary16 facts: exact values both ways, then values that round (ties to even, overflow
 * to inf, underflow to zero, 1/3 to 0x3555). */
static void test_fp16(void) {
  static const struct {
    float f;
    uint16_t h;
  } exact[] = {{1.0f, 0x3C00},     {-2.0f, 0xC000},    {65504.0f, 0x7BFF},
               {0x1p-24f, 0x0001}, {0x1p-14f, 0x0400}, {1.0f + 0x1p-10f, 0x3C01},
               {0.0f, 0x0000},     {-0.0f, 0x8000},    {-0x1.8p-20f, 0x8018}},
    rounded[] = {{1.0f + 0x1p-11f, 0x3C00}, {1.0f + 3 * 0x1p-11f, 0x3C02}, {65520.0f, 0x7C00},
                 {0x1p-26f, 0x0000},        {1.0f / 3.0f, 0x3555},         {-1e9f, 0xFC00}};
  for (size_t i = 0; i < sizeof exact / sizeof *exact; i++) {
    CU_ASSERT_EQUAL(slt_fp16_from_f32(exact[i].f), exact[i].h);
    CU_ASSERT_EQUAL(slt_fp16_to_f32(exact[i].h), exact[i].f);
  }
  for (size_t i = 0; i < sizeof rounded / sizeof *rounded; i++)
    CU_ASSERT_EQUAL(slt_fp16_from_f32(rounded[i].f), rounded[i].h);
  CU_ASSERT(isinf(slt_fp16_to_f32(0x7C00)));
  CU_ASSERT(isnan(slt_fp16_to_f32(slt_fp16_from_f32(NAN))));
}

/* Every metadata type and one tensor of each storage type, parsed back. */
static void test_writer_round_trip(void) {
  slt_gguf *g = slt_gguf_new();
  const char *strs[] = {"a", "", "three words here"};
  int32_t ints[] = {-7, 0, 1 << 30};
  float m[3 * 5], h[2 * 4] = {1, -2, 0.5f, 65504, 0, -0.25f, 3, 1024}, t[2 * 512];
  for (int i = 0; i < 15; i++) m[i] = (float)i * 0.37f - 2.0f;
  for (int i = 0; i < 1024; i++) t[i] = (float)((i * 7) % 3 - 1) * (i < 512 ? 0.5f : 0.125f);
  CU_ASSERT_FATAL(
      g && !slt_gguf_set_u32(g, "k.u32", 4000000000u) && !slt_gguf_set_i32(g, "k.i32", -5) &&
      !slt_gguf_set_u64(g, "k.u64", 1ull << 40) && !slt_gguf_set_f32(g, "k.f32", 1.5e-5f) &&
      !slt_gguf_set_bool(g, "k.bool", true) && !slt_gguf_set_str(g, "k.str", "llama") &&
      !slt_gguf_set_arr_str(g, "k.astr", strs, 3) && !slt_gguf_set_arr_str(g, "k.empty", NULL, 0) &&
      !slt_gguf_set_arr_i32(g, "k.ai32", ints, 3));
  CU_ASSERT(slt_gguf_set_u32(g, "k.u32", 1) == -1 && test_err_has("k.u32", "twice"));
  CU_ASSERT_FATAL(!slt_gguf_add_tensor(g, "m", 2, (int64_t[]){3, 5}, SLT_GGML_F32, m) &&
                  !slt_gguf_add_tensor(g, "h", 2, (int64_t[]){2, 4}, SLT_GGML_F16, h) &&
                  !slt_gguf_add_tensor(g, "t", 2, (int64_t[]){2, 512}, SLT_GGML_TQ2_0, t));
  CU_ASSERT(slt_gguf_any_quantized(g));
  CU_ASSERT(slt_gguf_write(g, test_tpath("no/such/dir.gguf")) == -1 &&
            test_err_has("no/such/dir.gguf.tmp", "cannot create"));
  CU_ASSERT_FATAL(!slt_gguf_write(g, test_tpath("rt.gguf")));
  slt_gguf_free(g);
  rfile f;
  CU_ASSERT_FATAL(rparse(&f, test_tpath("rt.gguf")));
  CU_ASSERT(f.nkv == 9 && f.nt == 3);
  CU_ASSERT(rkey(&f, "k.u32")->type == 4 && rkey(&f, "k.u32")->u == 4000000000u);
  CU_ASSERT(rkey(&f, "k.i32")->type == 5 && (int32_t)rkey(&f, "k.i32")->u == -5);
  CU_ASSERT(rkey(&f, "k.u64")->type == 10 && rkey(&f, "k.u64")->u == 1ull << 40);
  CU_ASSERT(rkey(&f, "k.f32")->type == 6 && rkey(&f, "k.f32")->f == 1.5e-5f);
  CU_ASSERT(rkey(&f, "k.bool")->type == 7 && rkey(&f, "k.bool")->u == 1);
  CU_ASSERT(rkey(&f, "k.str")->type == 8 && !strcmp(rkey(&f, "k.str")->s, "llama"));
  const rkv *as = rkey(&f, "k.astr"), *ai = rkey(&f, "k.ai32");
  CU_ASSERT_FATAL(as && ai && rkey(&f, "k.empty"));
  CU_ASSERT(as->type == 9 && as->atype == 8 && as->alen == 3);
  CU_ASSERT(rkey(&f, "k.empty")->atype == 8 && rkey(&f, "k.empty")->alen == 0);
  char s[64];
  for (int i = 0; i < 3; i++) {
    rarr_str(&f, as, (uint64_t)i, s, sizeof s);
    CU_ASSERT_STRING_EQUAL(s, strs[i]);
  }
  CU_ASSERT(ai->atype == 5 && ai->alen == 3 && !memcmp(f.b + ai->aoff, ints, sizeof ints));
  const rti *tm = rtensor(&f, "m"), *th = rtensor(&f, "h"), *tt = rtensor(&f, "t");
  CU_ASSERT_FATAL(tm && th && tt);
  /* dims reversed: (3, 5) is [5, 3]; offsets aligned, in order, each padded to 32 */
  CU_ASSERT(tm->nd == 2 && tm->dims[0] == 5 && tm->dims[1] == 3 && tm->type == 0 && tm->off == 0);
  CU_ASSERT(th->dims[0] == 4 && th->dims[1] == 2 && th->type == 1 && th->off == 64);
  CU_ASSERT(tt->dims[0] == 512 && tt->dims[1] == 2 && tt->type == 35 && tt->off == 96);
  CU_ASSERT(f.n == f.data + 96 + 4 * 66 + 24); /* TQ2_0: 4 blocks of 66 bytes, padded */
  CU_ASSERT(!memcmp(rdata(&f, tm), m, sizeof m));
  static const uint16_t hh[8] = {0x3C00, 0xC000, 0x3800, 0x7BFF, 0, 0xB400, 0x4200, 0x6400};
  CU_ASSERT(!memcmp(rdata(&f, th), hh, sizeof hh));
  int bad = 0;
  for (int64_t e = 0; e < 1024; e++) bad += tq2_elem(rdata(&f, tt), e) != t[e];
  CU_ASSERT_EQUAL(bad, 0);
  free(f.b);
}

/* Ternary weights with an fp16 scale come back exactly; other scales within fp16 rounding;
 * anything else is refused at the offending element, and a row of 300 by name. */
static void test_tq2_0_pack(void) {
  slt_rng rng;
  slt_rng_seed(&rng, 5);
  float w[1024];
  uint8_t out[4 * 66];
  for (int pass = 0; pass < 2; pass++) {
    float g = pass ? 0.0123456f : slt_fp16_to_f32(slt_fp16_from_f32(0.0123456f));
    for (int i = 0; i < 1024; i++) w[i] = (float)((int)(slt_rng_uniform(&rng) * 3.0f) - 1) * g;
    w[3] = g; /* every block holds some +g (its absmax) */
    w[300] = w[600] = w[900] = -g;
    CU_ASSERT_FATAL(!slt_gguf_pack_tq2_0(w, 1024, out, NULL));
    double worst = 0;
    for (int e = 0; e < 1024; e++) worst = fmax(worst, fabs(tq2_elem(out, e) - w[e]));
    if (!pass) CU_ASSERT_EQUAL(worst, 0.0);
    if (pass) CU_ASSERT(worst > 0 && worst <= g * 0x1p-11);
  }
  w[700] = 0.5f * w[3];
  int64_t bad = -1;
  CU_ASSERT(slt_gguf_pack_tq2_0(w, 1024, out, &bad) == -1 && bad == 700);
  slt_gguf *g = slt_gguf_new();
  float r[2 * 300] = {0};
  CU_ASSERT(slt_gguf_add_tensor(g, "blk.0.ffn_down.weight", 2, (int64_t[]){2, 300}, SLT_GGML_TQ2_0,
                                r) == -1 &&
            test_err_has("blk.0.ffn_down.weight", "256"));
  CU_ASSERT(slt_gguf_add_tensor(g, "x", 1, (int64_t[]){1024}, SLT_GGML_TQ2_0, w) == -1 &&
            test_err_has("'x'", "ternary"));
  slt_gguf_free(g);
}

/* Rows (2 heads of 4) permuted as the numpy formula does, and the permutation turns slt's
 * rotate-halves RoPE into llama.cpp's adjacent-pairs RoPE: pairs(P·q) = P·halves(q). */
static void test_rope_permutation(void) {
  float w[8], p[8];
  for (int i = 0; i < 8; i++) w[i] = (float)i;
  slt_gguf_llama_permute(w, p, 2, 4, 1);
  static const float want[8] = {0, 2, 1, 3, 4, 6, 5, 7};
  CU_ASSERT(!memcmp(p, want, sizeof want));
  enum { H = 3, T = 5, D = 8 };
  float base = 10000.0f;
  slt_tensor *x = test_randn(11, 4, (int[]){1, H, T, D}, 1.0f, false);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *y = slt_rope(&c, x, 2, base);
  CU_ASSERT_FATAL(y != NULL);
  double err = 0;
  for (int t = 0; t < T; t++) {
    float q[H * D], pq[H * D], yq[H * D], pyq[H * D];
    for (int h = 0; h < H; h++)
      for (int d = 0; d < D; d++) {
        q[h * D + d] = x->data[(h * T + t) * D + d];
        yq[h * D + d] = y->data[(h * T + t) * D + d];
      }
    slt_gguf_llama_permute(q, pq, H, D, 1);
    slt_gguf_llama_permute(yq, pyq, H, D, 1);
    for (int h = 0; h < H; h++)
      for (int i = 0; i < D / 2; i++) { /* llama.cpp's rope_norm: theta_i = pos·base^(-2i/D) */
        double th = (t + 2) * pow(base, -2.0 * i / D), a = pq[h * D + 2 * i],
               b = pq[h * D + 2 * i + 1];
        err = fmax(err, fabs(a * cos(th) - b * sin(th) - pyq[h * D + 2 * i]));
        err = fmax(err, fabs(a * sin(th) + b * cos(th) - pyq[h * D + 2 * i + 1]));
      }
  }
  CU_ASSERT(err < 1e-5);
  slt_ctx_free(&c);
  slt_tensor_free(x);
}

static slt_model_config llama_config(void) {
  return (slt_model_config){.vocab_size = 40,
                          .seq_len = 32,
                          .layers = 2,
                          .d_model = 32,
                          .heads = 4,
                          .kv_heads = 2,
                          .ffn_dim = 48,
                          .norm = SLT_NORM_RMSNORM,
                          .norm_eps = 1e-5f,
                          .pos = SLT_POS_ROPE,
                          .rope_base = 500.0f,
                          .act = SLT_ACT_SWIGLU,
                          .bias = false,
                          .tie_embeddings = false,
                          .init_std = 0.02f};
}

static bool same_f32(const rfile *f, const char *name, const float *want, int64_t n) {
  const rti *t = rtensor(f, name);
  bool ok = t && t->type == 0 && !memcmp(rdata(f, t), want, (size_t)n * sizeof *want);
  if (!ok) printf("\n  tensor %s differs\n", name);
  return ok;
}

/* Keys and the tensor map of a random GQA model with an untied head, as f32 and f16. */
static void test_llama_map(void) {
  slt_model_config cfg = llama_config();
  slt_gpt m;
  CU_ASSERT_FATAL(!slt_gpt_build(&m, &cfg));
  slt_rng rng;
  slt_rng_seed(&rng, 3);
  slt_rng_fill_normal(&rng, m.params.data, m.params.numel, 0.0f, 0.5f); /* gains too */
  slt_gguf_vocab v;
  CU_ASSERT_FATAL(!slt_gguf_vocab_bytes(&v, 40));
  CU_ASSERT_FATAL(!slt_gguf_llama_write(&m.model, &v, SLT_GGUF_OUT_F32, "tiny", test_tpath("m.gguf")));
  CU_ASSERT_FATAL(!slt_gguf_llama_write(&m.model, &v, SLT_GGUF_OUT_F16, "tiny", test_tpath("h.gguf")));
  rfile f, h;
  CU_ASSERT_FATAL(rparse(&f, test_tpath("m.gguf")) && rparse(&h, test_tpath("h.gguf")));
  CU_ASSERT_STRING_EQUAL(rkey(&f, "general.architecture")->s, "llama");
  static const struct {
    const char *key;
    uint64_t v;
  } u32s[] = {{"llama.context_length", 32},
              {"llama.embedding_length", 32},
              {"llama.block_count", 2},
              {"llama.feed_forward_length", 48},
              {"llama.rope.dimension_count", 8},
              {"llama.attention.head_count", 4},
              {"llama.attention.head_count_kv", 2},
              {"general.alignment", 32}};
  for (size_t i = 0; i < sizeof u32s / sizeof *u32s; i++)
    CU_ASSERT(rkey(&f, u32s[i].key) && rkey(&f, u32s[i].key)->type == 4 &&
              rkey(&f, u32s[i].key)->u == u32s[i].v);
  CU_ASSERT(rkey(&f, "llama.rope.freq_base")->f == 500.0f);
  CU_ASSERT(rkey(&f, "llama.attention.layer_norm_rms_epsilon")->f == 1e-5f);
  CU_ASSERT(!rkey(&f, "general.quantization_version"));
  CU_ASSERT_STRING_EQUAL(rkey(&f, "tokenizer.ggml.model")->s, "gpt2");
  CU_ASSERT(rkey(&f, "tokenizer.ggml.tokens")->alen == 40 &&
            rkey(&f, "tokenizer.ggml.merges")->alen == 0);
  CU_ASSERT(f.nt == 2 + 9 * 2 + 1);
  int C = 32, F = 48, hd = 8;
  const float *qkv = m.blocks[1].qkv.weight->data, *fc1 = m.blocks[1].fc1.weight->data;
  float perm[32 * 32];
  slt_gguf_llama_permute(qkv, perm, 4, hd, C);
  CU_ASSERT(same_f32(&f, "blk.1.attn_q.weight", perm, 32 * C));
  slt_gguf_llama_permute(qkv + 32 * C, perm, 2, hd, C);
  CU_ASSERT(same_f32(&f, "blk.1.attn_k.weight", perm, 16 * C));
  CU_ASSERT(same_f32(&f, "blk.1.attn_v.weight", qkv + 48 * C, 16 * C));
  CU_ASSERT(same_f32(&f, "blk.1.ffn_gate.weight", fc1, (int64_t)F * C));
  CU_ASSERT(same_f32(&f, "blk.1.ffn_up.weight", fc1 + F * C, (int64_t)F * C));
  CU_ASSERT(same_f32(&f, "blk.1.ffn_down.weight", m.blocks[1].fc2.weight->data, (int64_t)C * F));
  CU_ASSERT(same_f32(&f, "blk.1.attn_output.weight", m.blocks[1].proj.weight->data, C * C));
  CU_ASSERT(same_f32(&f, "blk.0.attn_norm.weight", m.blocks[0].ln1_w->data, C));
  CU_ASSERT(same_f32(&f, "blk.0.ffn_norm.weight", m.blocks[0].ln2_w->data, C));
  CU_ASSERT(same_f32(&f, "output_norm.weight", m.lnf_w->data, C));
  CU_ASSERT(same_f32(&f, "token_embd.weight", m.wte->data, 40 * C));
  CU_ASSERT(same_f32(&f, "output.weight", m.lm_head->data, 40 * C));
  const rti *k = rtensor(&f, "blk.0.attn_k.weight"), *g = rtensor(&f, "blk.0.ffn_gate.weight");
  CU_ASSERT(k && k->dims[0] == 32 && k->dims[1] == 16 && g && g->dims[0] == 32 && g->dims[1] == 48);
  /* f16: matrices f16 (the writer's conversion), norms f32 */
  const rti *hv = rtensor(&h, "blk.0.attn_v.weight");
  CU_ASSERT(hv && hv->type == 1 && rtensor(&h, "blk.0.attn_norm.weight")->type == 0);
  CU_ASSERT(rkey(&h, "general.file_type")->u == 1 && rkey(&f, "general.file_type")->u == 0);
  const uint16_t *hd16 = (const uint16_t *)rdata(&h, hv);
  double err = 0;
  for (int i = 0; i < 16 * C; i++) {
    const float *want = m.blocks[0].qkv.weight->data + 48 * C;
    err = fmax(err, fabs(slt_fp16_to_f32(hd16[i]) - want[i]) / fabs(want[i]));
  }
  CU_ASSERT(err <= 0x1p-11);
  free(f.b);
  free(h.b);
  slt_gguf_vocab_free(&v);
  slt_gpt_free(&m);
}

/* Each shape llama cannot run is refused with one line naming it; TQ2_0 rows of 32 too. */
static void test_llama_refusals(void) {
  static const struct {
    const char *what;
    int field;
  } cases[] = {{"layernorm", 0}, {"gelu_tanh", 1}, {"relu2", 2}, {"bias", 3},
               {"learned", 4},   {"none", 5},      {"merge", 6}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    slt_model_config cfg = llama_config();
    switch (cases[i].field) {
    case 0:
      cfg.norm = SLT_NORM_LAYERNORM;
      break;
    case 1:
      cfg.act = SLT_ACT_GELU_TANH;
      break;
    case 2:
      cfg.act = SLT_ACT_RELU2;
      break;
    case 3:
      cfg.bias = true;
      break;
    case 4:
      cfg.pos = SLT_POS_LEARNED;
      break;
    case 5:
      cfg.pos = SLT_POS_NONE;
      break;
    default:
      cfg.ffn = (slt_ffn_config){.kind = SLT_LIN_LOWRANK, .rank = 8, .first_layer_dense = false};
    }
    slt_gpt m;
    CU_ASSERT_FATAL(!slt_gpt_build(&m, &cfg));
    CU_ASSERT(slt_gguf_llama_check(&m.model) == -1 && test_err_has(cases[i].what, "llama"));
    slt_gpt_free(&m);
  }
  slt_model_config cfg = llama_config();
  slt_gpt m;
  slt_gguf_vocab v;
  CU_ASSERT_FATAL(!slt_gpt_build(&m, &cfg) && !slt_gguf_vocab_bytes(&v, 40));
  CU_ASSERT(slt_gguf_llama_write(&m.model, &v, SLT_GGUF_OUT_TQ2_0, "x", test_tpath("q.gguf")) == -1 &&
            test_err_has("blk.0.attn_q.weight", "multiple of 256"));
  FILE *left = fopen(test_tpath("q.gguf"), "rb");
  CU_ASSERT(left == NULL);
  if (left) fclose(left);
  slt_gguf_vocab_free(&v);
  CU_ASSERT_FATAL(!slt_gguf_vocab_bytes(&v, 41));
  CU_ASSERT(slt_gguf_llama_write(&m.model, &v, SLT_GGUF_OUT_F32, "x", test_tpath("q.gguf")) == -1 &&
            test_err_has("41 tokens", "40"));
  slt_gguf_vocab_free(&v);
  slt_gpt_free(&m);
}

/* Token strings are GPT-2's byte-to-unicode forms: byte 0 -> U+0100, '\n' -> U+010A (Ċ), ' ' ->
 * U+0120 (Ġ), 'a' -> "a", 0xAD -> U+0143; 256 is <|endoftext|> (control), then padding. */
static void test_vocab_bytes(void) {
  slt_gguf_vocab v;
  CU_ASSERT_FATAL(!slt_gguf_vocab_bytes(&v, 300));
  CU_ASSERT_STRING_EQUAL(v.tokens[0], "\xC4\x80");
  CU_ASSERT_STRING_EQUAL(v.tokens[10], "\xC4\x8A");
  CU_ASSERT_STRING_EQUAL(v.tokens[32], "\xC4\xA0");
  CU_ASSERT_STRING_EQUAL(v.tokens['a'], "a");
  CU_ASSERT_STRING_EQUAL(v.tokens[0xAD], "\xC5\x83");
  CU_ASSERT_STRING_EQUAL(v.tokens[0xFF], "\xC3\xBF");
  CU_ASSERT_STRING_EQUAL(v.tokens[256], "<|endoftext|>");
  CU_ASSERT(v.types[256] == 3 && v.types[299] == 3 && v.types[65] == 1);
  CU_ASSERT(v.bos == 256 && v.eos == 256 && v.n_merges == 0);
  int dup = 0;
  for (int i = 0; i < 300; i++)
    for (int j = 0; j < i; j++) dup += !strcmp(v.tokens[i], v.tokens[j]);
  CU_ASSERT_EQUAL(dup, 0);
  slt_gguf_vocab_free(&v);
  CU_ASSERT_FATAL(!slt_gguf_vocab_bytes(&v, 16));
  CU_ASSERT(v.n == 16 && v.bos == -1 && v.eos == -1);
  slt_gguf_vocab_free(&v);
}

/* The real GPT-2 files: 50257 tokens ("Ċ" is 198, "Ġthe" 262), 50000 merges, the first "Ġ t". */
static void test_vocab_gpt2(void) {
  const char *data = test_data_dir("gguf: GPT-2 vocabulary");
  if (!data) return;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/gpt2", data);
  slt_gguf_vocab v;
  CU_ASSERT(slt_gguf_vocab_gpt2(&v, dir, 50000) == -1 && test_err_has("50257", "50000"));
  CU_ASSERT_FATAL(!slt_gguf_vocab_gpt2(&v, dir, 50304));
  CU_ASSERT(v.n == 50304 && v.n_merges == 50000 && v.bos == 50256 && v.eos == 50256);
  CU_ASSERT_STRING_EQUAL(v.tokens[198], "\xC4\x8A");
  CU_ASSERT_STRING_EQUAL(v.tokens[262], "\xC4\xA0the");
  CU_ASSERT_STRING_EQUAL(v.tokens[50256], "<|endoftext|>");
  CU_ASSERT(v.types[50256] == 3 && v.types[50300] == 3 && v.types[262] == 1);
  CU_ASSERT_STRING_EQUAL(v.merges[0], "\xC4\xA0 t");
  slt_gguf_vocab_free(&v);
}

static int suite_init(void) {
  return test_tmpdir_init("gguf");
}
static int suite_clean(void) {
  return test_tmpdir_cleanup();
}

int register_gguf_suite(void) {
  CU_pSuite s = CU_add_suite("gguf", suite_init, suite_clean);
  if (!s) return -1;
  return !CU_add_test(s, "fp16 conversion", test_fp16) ||
                 !CU_add_test(s, "writer round trip", test_writer_round_trip) ||
                 !CU_add_test(s, "TQ2_0 pack", test_tq2_0_pack) ||
                 !CU_add_test(s, "q/k permutation turns halves RoPE into pairs",
                              test_rope_permutation) ||
                 !CU_add_test(s, "llama keys and tensor map", test_llama_map) ||
                 !CU_add_test(s, "llama refusals", test_llama_refusals) ||
                 !CU_add_test(s, "bytes vocabulary", test_vocab_bytes) ||
                 !CU_add_test(s, "GPT-2 vocabulary", test_vocab_gpt2)
             ? -1
             : 0;
}
