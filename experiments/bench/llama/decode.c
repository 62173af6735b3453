/* llama.cpp's side of experiments/bench/lowbit_decode.sh: decode tokens/s of a GGUF model at
 * batch 1, timed exactly as bench_lowbit_decode times slt (an 8-token prefill, then TOKENS
 * single-token llama_decode calls, the next id independent of the logits), F32 KV cache and
 * flash attention off as in tests/llama/harness.c. Built against the node-llama-cpp package's
 * prebuilt libllama (not by CMake: the script compiles it).
 *   llama_decode MODEL.gguf BACKEND_DIR THREADS REPS TOKENS
 * prints "llama-<type> THREADS tok/s" per repeat. */
#define _POSIX_C_SOURCE 200809L
#include "ggml-backend.h"
#include "llama.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define PREFILL 8

static void quiet(enum ggml_log_level level, const char *text, void *user) {
  (void)user;
  if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static bool no_progress(float p, void *user) {
  (void)p, (void)user;
  return true;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Decode n tokens from position pos (logits of the last only). 0 or -1. */
static int step(struct llama_context *ctx, struct llama_batch *b, const llama_token *ids, int n,
                int pos) {
  for (int i = 0; i < n; i++) {
    b->token[i] = ids[i];
    b->pos[i] = pos + i;
    b->n_seq_id[i] = 1;
    b->seq_id[i][0] = 0;
    b->logits[i] = i == n - 1;
  }
  b->n_tokens = n;
  return llama_decode(ctx, *b) || !llama_get_logits_ith(ctx, n - 1) ? -1 : 0;
}

/* Seconds per token over `tokens` decode steps after the prefill, from an empty cache. */
static double decode(struct llama_context *ctx, struct llama_batch *b, int vocab, int tokens) {
  llama_memory_clear(llama_get_memory(ctx), true);
  llama_token ids[PREFILL], next = 1;
  for (int i = 0; i < PREFILL; i++) ids[i] = (7 * i + 3) % vocab;
  if (step(ctx, b, ids, PREFILL, 0)) return -1;
  double t0 = now();
  for (int t = 0; t < tokens; t++) {
    if (step(ctx, b, &next, 1, PREFILL + t)) return -1;
    next = (next * 31 + 7) % vocab;
  }
  return (now() - t0) / tokens;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: llama_decode MODEL.gguf BACKEND_DIR THREADS REPS TOKENS\n");
    return 2;
  }
  int threads = atoi(argv[3]), reps = atoi(argv[4]), tokens = atoi(argv[5]);
  llama_log_set(quiet, NULL);
  ggml_backend_load_all_from_path(argv[2]);
  llama_backend_init();
  struct llama_model_params mp = llama_model_default_params();
  mp.progress_callback = no_progress;
  struct llama_model *model = llama_model_load_from_file(argv[1], mp);
  if (!model) {
    fprintf(stderr, "llama_decode: cannot load %s\n", argv[1]);
    return 1;
  }
  struct llama_context_params cp = llama_context_default_params();
  cp.n_ctx = (uint32_t)(PREFILL + tokens + 64);
  cp.n_batch = cp.n_ubatch = 64;
  cp.n_threads = cp.n_threads_batch = threads;
  cp.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  cp.type_k = cp.type_v = GGML_TYPE_F32;
  struct llama_context *ctx = llama_init_from_model(model, cp);
  if (!ctx) {
    fprintf(stderr, "llama_decode: cannot create a context for %s\n", argv[1]);
    return 1;
  }
  int vocab = llama_vocab_n_tokens(llama_model_get_vocab(model));
  char desc[128];
  llama_model_desc(model, desc, sizeof desc);
  printf("# llama.cpp: %s, %s\n", desc, llama_print_system_info());
  struct llama_batch b = llama_batch_init(64, 0, 1);
  int rc = decode(ctx, &b, vocab, 4) < 0; /* warm-up */
  for (int r = 0; !rc && r < reps; r++) {
    double s = decode(ctx, &b, vocab, tokens);
    rc = s < 0;
    if (!rc) printf("llama-tq2_0 %d %.2f\n", threads, 1 / s);
    fflush(stdout);
  }
  if (rc) fprintf(stderr, "llama_decode: llama_decode failed\n");
  llama_batch_free(b);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return rc;
}
