/* A tiny llama.cpp client for tests/gguf_llama.sh, linked against the prebuilt libllama/libggml
 * of the node-llama-cpp npm package (no code of ours):
 *
 *   harness logits MODEL.gguf BACKEND_DIR IDS   evaluate the comma-separated token ids in one batch
 *                                               (F32 KV cache, flash attention off) and print the
 *                                               last position's raw logits, one per line
 *   harness tokenize MODEL.gguf BACKEND_DIR FILE  llama.cpp's tokens of FILE's bytes (no BOS, no
 *                                               special-token parsing), one id per line
 *   harness dequant MODEL.gguf TENSOR           print the tensor's values as ggml dequantizes them
 *                                               (its type traits' to_float), one per line,
 * row-major
 *
 * Exit status 0, or 1 with one line on stderr. */
#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* llama.cpp logs every load step; keep warnings and errors only. */
static void quiet(enum ggml_log_level level, const char *text, void *user) {
  (void)user;
  if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static bool no_progress(float p, void *user) {
  (void)p, (void)user;
  return true;
}

static int parse_ids(const char *s, llama_token *ids, int cap) {
  int n = 0;
  for (char *end; *s && n < cap; s = *end ? end + 1 : end) {
    ids[n++] = (llama_token)strtol(s, &end, 10);
    if (end == s) return -1;
  }
  return n;
}

static int logits(const char *path, const char *backend_dir, const char *id_list) {
  llama_token ids[4096];
  int n = parse_ids(id_list, ids, 4096);
  if (n < 1) {
    fprintf(stderr, "harness: bad token list '%s'\n", id_list);
    return 1;
  }
  ggml_backend_load_all_from_path(backend_dir);
  llama_backend_init();
  struct llama_model_params mp = llama_model_default_params();
  mp.progress_callback = no_progress; /* the default prints dots */
  struct llama_model *model = llama_model_load_from_file(path, mp);
  if (!model) {
    fprintf(stderr, "harness: llama.cpp cannot load %s\n", path);
    return 1;
  }
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = cp.n_batch = cp.n_ubatch = (uint32_t)(n < 64 ? 64 : n);
  cp.n_threads = cp.n_threads_batch = 2;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  struct llama_context *ctx = llama_init_from_model(model, cp);
  int rc = 1;
  if (ctx) {
    struct llama_batch b = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
      b.token[i] = ids[i];
      b.pos[i] = i;
      b.n_seq_id[i] = 1;
      b.seq_id[i][0] = 0;
      b.logits[i] = i == n - 1;
    }
    b.n_tokens = n;
    const float *out = llama_decode(ctx, b) ? NULL : llama_get_logits_ith(ctx, n - 1);
    int V = llama_vocab_n_tokens(llama_model_get_vocab(model));
    for (int v = 0; out && v < V; v++) printf("%.9g\n", out[v]);
    rc = out ? 0 : 1;
    if (!out) fprintf(stderr, "harness: llama_decode failed on %s\n", path);
    llama_batch_free(b);
    llama_free(ctx);
  } else {
    fprintf(stderr, "harness: llama_init_from_model failed on %s\n", path);
  }
  llama_model_free(model);
  llama_backend_free();
  return rc;
}

static int tokenize(const char *path, const char *backend_dir, const char *file) {
  FILE *f = fopen(file, "rb");
  if (!f) {
    fprintf(stderr, "harness: cannot open %s\n", file);
    return 1;
  }
  static char text[1 << 20];
  int32_t len = (int32_t)fread(text, 1, sizeof text, f), cap = len + 16;
  fclose(f);
  ggml_backend_load_all_from_path(backend_dir);
  struct llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  mp.progress_callback = no_progress;
  struct llama_model *model = llama_model_load_from_file(path, mp);
  llama_token *ids = malloc((size_t)cap * sizeof *ids);
  int32_t n = model && ids
                  ? llama_tokenize(llama_model_get_vocab(model), text, len, ids, cap, false, false)
                  : -1;
  for (int32_t i = 0; i < n; i++) printf("%d\n", ids[i]);
  if (n < 0) fprintf(stderr, "harness: cannot tokenize %s with %s\n", file, path);
  free(ids);
  if (model) llama_model_free(model);
  return n < 0;
}

static int dequant(const char *path, const char *name) {
  struct ggml_context *mem = NULL;
  struct gguf_init_params p = {.no_alloc = false, .ctx = &mem};
  struct gguf_context *g = gguf_init_from_file(path, p);
  if (!g) {
    fprintf(stderr, "harness: ggml cannot read %s\n", path);
    return 1;
  }
  struct ggml_tensor *t = ggml_get_tensor(mem, name);
  int rc = 1;
  if (!t) {
    fprintf(stderr, "harness: %s has no tensor %s\n", path, name);
  } else {
    int64_t n = ggml_nelements(t);
    float *y = malloc((size_t)n * sizeof *y);
    const struct ggml_type_traits *tr = ggml_get_type_traits(t->type);
    if (y && (t->type == GGML_TYPE_F32 || tr->to_float)) {
      if (t->type == GGML_TYPE_F32)
        memcpy(y, t->data, (size_t)n * sizeof *y);
      else
        tr->to_float(t->data, y, n);
      for (int64_t i = 0; i < n; i++) printf("%.9g\n", y[i]);
      rc = 0;
    }
    free(y);
  }
  gguf_free(g);
  ggml_free(mem);
  return rc;
}

int main(int argc, char **argv) {
  llama_log_set(quiet, NULL);
  if (argc == 5 && !strcmp(argv[1], "logits")) return logits(argv[2], argv[3], argv[4]);
  if (argc == 5 && !strcmp(argv[1], "tokenize")) return tokenize(argv[2], argv[3], argv[4]);
  if (argc == 4 && !strcmp(argv[1], "dequant")) return dequant(argv[2], argv[3]);
  fprintf(stderr, "usage: harness logits|tokenize MODEL.gguf BACKEND_DIR IDS|FILE | dequant "
                  "MODEL.gguf TENSOR\n");
  return 1;
}
