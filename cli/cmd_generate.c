/* slt generate --ckpt PATH (--prompt-ids 1,2,3 | --prompt TEXT --tokenizer-dir DIR) --tokens N
 *              [--temperature T] [--top-k K] [--seed S] [--ffn-form auto|factored|merged]
 * Continue a prompt with the checkpoint's model: the prompt is run once through the model
 * (prefill), then one token at a time reusing every layer's cached keys and values
 * (layers/gpt_infer.c). The same seed gives the same tokens. A model with structured FFNs also
 * gets its merged dense twin, and each forward runs whichever form was measured faster for its
 * number of tokens: which one wins depends on the kind, the sizes and the machine. */
#include "cli.h"

#include "autograd/error.h"
#include "autograd/parallel.h"
#include "autograd/ops.h"
#include "data/tokenizer.h"
#include "layers/model.h"
#include "ckpt/checkpoint.h"

#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  const char *ckpt, *prompt_ids, *prompt, *tokenizer, *tokenizer_dir;
  long tokens, top_k, threads;
  int ffn_form; /* SLT_FFN_FORM_* */
  double temperature;
  unsigned long long seed;
} gen_args;

static void usage(FILE *f) {
  fprintf(
      f,
      "usage: slt generate --ckpt PATH --prompt-ids ID,ID,... --tokens N [options]\n"
      "       slt generate --ckpt PATH --prompt TEXT --tokenizer-dir DIR --tokens N [options]\n\n"
      "Continue the prompt with N tokens sampled from the checkpoint's model: printed as ids\n"
      "for --prompt-ids, as text for --prompt.\n\n"
      "options:\n"
      "  --tokenizer NAME  gpt2 (default; needs --tokenizer-dir) or bytes, for --prompt\n"
      "  --tokenizer-dir DIR  holds encoder.json + vocab.bpe or vocab.json + merges.txt\n"
      "  --temperature T  softmax temperature; 0 = always the most likely token (default 1)\n"
      "  --top-k K        sample among the K most likely tokens only (default 0 = all)\n"
      "  --seed S         sampling seed (default 1); the same seed gives the same tokens\n"
      "  --threads N      threads (default: all cores)\n"
      "  --ffn-form F     structured FFNs: auto (default: per forward, whichever of the factored\n"
      "                   and the merged dense form is measured faster for its token count;\n"
      "                   the choice is printed on stderr), factored, or merged\n");
}

/* The option's string slot, or NULL when it takes something else. */
static const char **string_slot(gen_args *a, const char *o) {
  return !strcmp(o, "--ckpt")            ? &a->ckpt
         : !strcmp(o, "--prompt-ids")    ? &a->prompt_ids
         : !strcmp(o, "--prompt")        ? &a->prompt
         : !strcmp(o, "--tokenizer")     ? &a->tokenizer
         : !strcmp(o, "--tokenizer-dir") ? &a->tokenizer_dir
                                         : NULL;
}

/* One option's value (string options are handled by the caller); 0, or 2 after a message. */
static int parse_value(gen_args *a, const char *o, const char *v) {
  if (!strcmp(o, "--ffn-form")) {
    a->ffn_form = !strcmp(v, "auto")       ? SLT_FFN_FORM_AUTO
                  : !strcmp(v, "factored") ? SLT_FFN_FORM_FACTORED
                  : !strcmp(v, "merged")   ? SLT_FFN_FORM_MERGED
                                           : -2;
    if (a->ffn_form != -2) return 0;
    return slt_cli_usage_error("generate", "%s needs auto, factored or merged, got '%s'", o, v);
  }
  if (!strcmp(o, "--temperature"))
    return slt_cli_double("generate", o, v, 0, 1e38, "a number from 0 to 1e38", &a->temperature);
  if (!strcmp(o, "--seed")) return slt_cli_u64("generate", o, v, &a->seed);
  if (!strcmp(o, "--tokens")) return slt_cli_long("generate", o, v, 1, INT_MAX, &a->tokens);
  if (!strcmp(o, "--top-k")) return slt_cli_long("generate", o, v, 0, INT_MAX, &a->top_k);
  return slt_cli_long("generate", o, v, 1, SLT_CLI_MAX_THREADS, &a->threads);
}

/* True for the options that take a number or a form. */
static bool is_value_option(const char *o) {
  static const char *const names[] = {"--ffn-form", "--temperature", "--seed",
                                      "--tokens",   "--top-k",       "--threads"};
  for (size_t k = 0; k < sizeof names / sizeof *names; k++)
    if (!strcmp(o, names[k])) return true;
  return false;
}

/* Options given together that do not go together, or one that is missing; 0, or 2 after a
 * message. */
static int check_combination(const gen_args *a) {
  if (!a->ckpt) return slt_cli_usage_error("generate", "--ckpt PATH is required");
  if (!a->prompt_ids == !a->prompt)
    return slt_cli_usage_error("generate", a->prompt
                                               ? "give --prompt-ids or --prompt, not both"
                                               : "--prompt-ids IDS or --prompt TEXT is required");
  if (a->prompt_ids && (a->tokenizer || a->tokenizer_dir))
    return slt_cli_usage_error("generate", "%s goes with --prompt, not --prompt-ids",
                               a->tokenizer ? "--tokenizer" : "--tokenizer-dir");
  /* The bytes tokenizer reads no files: a directory given with it was meant for gpt2. */
  if (a->tokenizer_dir && a->tokenizer && !strcmp(a->tokenizer, "bytes"))
    return slt_cli_usage_error("generate", "--tokenizer-dir goes with --tokenizer gpt2, not bytes");
  if (a->tokens < 0) return slt_cli_usage_error("generate", "--tokens N is required");
  return 0;
}

static int parse(int argc, char **argv, gen_args *a) {
  *a = (gen_args){.temperature = 1.0, .seed = 1, .tokens = -1, .ffn_form = SLT_FFN_FORM_AUTO};
  slt_cli_seen seen = {0};
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i], **slot = string_slot(a, o), *v;
    if (!slot && !is_value_option(o))
      return slt_cli_is_option(o) ? slt_cli_usage_error("generate", "unknown option '%s'", o)
                                  : slt_cli_usage_error("generate", "unexpected argument '%s'", o);
    if (slt_cli_once("generate", &seen, o) || !(v = slt_cli_value("generate", argc, argv, &i)))
      return 2;
    if (slot)
      *slot = v;
    else if (parse_value(a, o, v))
      return 2;
  }
  int bad = check_combination(a);
  if (bad) return bad;
  if (a->prompt && !a->tokenizer) a->tokenizer = "gpt2";
  return 0;
}

/* "1,2,3" -> ids (malloc'd), each below vocab; NULL with a message on bad input. */
static int32_t *parse_ids(const char *s, int vocab, int *n) {
  int cap = 1;
  for (const char *p = s; *p; p++) cap += *p == ',';
  int32_t *ids = malloc((size_t)cap * sizeof *ids);
  if (!ids) fprintf(stderr, "slt generate: out of memory\n");
  *n = 0;
  for (const char *p = s; ids;) {
    char *end = NULL;
    long v = isdigit((unsigned char)*p) ? strtol(p, &end, 10) : -1;
    if (v < 0 || v >= vocab || (*end && *end != ',')) {
      fprintf(stderr,
              "slt generate: --prompt-ids: bad id near '%s' (expected integers in [0, %d)"
              " separated by commas)\n",
              *p ? p : p - 1, vocab);
      free(ids);
      return NULL;
    }
    ids[(*n)++] = (int32_t)v;
    if (!*end) break;
    p = end + 1;
  }
  return ids;
}

/* Prints each new token: its id, or its text when a tokenizer is given. */
typedef struct {
  slt_tokenizer *tok; /* NULL: print ids */
  slt_bytebuf text;
  long count;
} emitter;

static int emit(emitter *e, int32_t id) {
  if (!e->tok) {
    printf("%s%d", e->count++ ? "," : "", id);
    return 0;
  }
  e->text.n = 0;
  uint32_t u = (uint32_t)id;
  if (slt_tokenizer_decode(e->tok, &u, 1, &e->text)) return -1;
  fwrite(e->text.data, 1, (size_t)e->text.n, stdout);
  fflush(stdout); /* text appears as it is generated */
  return 0;
}

/* Positions the model runs at: the prompt's, then every new token but the last, which is only
 * printed, never fed back. */
static long positions_needed(int n, long tokens) {
  return n + tokens - 1;
}

/* Ids sampling may return: all of the model's, but with a tokenizer only those it can decode. A
 * model whose vocabulary is padded past the tokenizer's (e.g. 50304 for GPT-2's 50257, or 320
 * for bytes' 257) never saw the padding ids in training, yet gives them some probability. */
static int sampled_vocab(const slt_model *m, const emitter *e) {
  int V = m->cfg->vocab_size;
  if (!e->tok) return V;
  int tv = slt_tokenizer_vocab_size(e->tok);
  return tv < V ? tv : V;
}

/* Prefill, then sample and feed one token at a time, each forward in the form the decoder
 * chose for it. */
static int generate(slt_model *m, slt_decoder *d, const int32_t *prompt, int n, const gen_args *a,
                    emitter *e) {
  int V = m->cfg->vocab_size, Vs = sampled_vocab(m, e);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_rng rng;
  slt_rng_seed(&rng, a->seed);
  float *last = malloc((size_t)V * sizeof *last);
  slt_tensor *logits = last ? d->forward(d, &c, prompt, n) : NULL;
  int rc = logits ? 0 : -1;
  for (long t = 0; !rc && t < a->tokens; t++) {
    memcpy(last, logits->data + (size_t)(logits->shape[1] - 1) * V, (size_t)V * sizeof *last);
    slt_ctx_reset(&c);
    int32_t id = slt_model_sample(last, Vs, (float)a->temperature, (int)a->top_k, &rng);
    rc = emit(e, id);
    if (!rc && t + 1 < a->tokens && !(logits = d->forward(d, &c, &id, 1))) rc = -1;
  }
  if (!rc) putchar('\n');
  free(last);
  slt_ctx_free(&c);
  return rc;
}

/* The prompt text's ids, each checked against the model's vocabulary. NULL on error. */
static int32_t *encode_prompt(const slt_tokenizer *t, const char *text, int vocab, int *n) {
  slt_tokens ids = {0};
  if (slt_tokenizer_encode(t, NULL, text, strlen(text), 0, &ids)) return NULL;
  int32_t *out = ids.n ? malloc((size_t)ids.n * sizeof *out) : NULL;
  if (!out) slt_err_set(ids.n ? "out of memory" : "--prompt encodes to no tokens");
  for (int64_t i = 0; out && i < ids.n; i++) {
    if (ids.ids[i] >= (uint32_t)vocab) {
      slt_err_set("--prompt: --tokenizer %s gives token %u, outside the model's vocabulary of %d "
                  "ids: was the model trained with another tokenizer?",
                  slt_tokenizer_name(t), ids.ids[i], vocab);
      free(out);
      out = NULL;
      break;
    }
    out[i] = (int32_t)ids.ids[i];
  }
  *n = (int)ids.n;
  slt_tokens_free(&ids);
  return out;
}

/* Learned positions stop at seq_len: the prompt and every new token but the last must fit.
 * 0, or -1 with the error recorded. */
static int check_learned_positions(const slt_model *m, int n, const gen_args *a) {
  int S = m->cfg->seq_len;
  if (m->cfg->pos != SLT_POS_LEARNED) return 0;
  if (n > S) {
    slt_err_set("%s: %d tokens, more than the model's %d learned positions (model.seq_len)",
                a->prompt ? "--prompt" : "--prompt-ids", n, S);
    return -1;
  }
  if (positions_needed(n, a->tokens) > S) {
    slt_err_set("--tokens %ld: the model's %d learned positions (model.seq_len) hold a %d-token "
                "prompt and at most %d new tokens",
                a->tokens, S, n, S - n + 1);
    return -1;
  }
  return 0;
}

/* --top-k beyond the vocabulary would keep every id while looking like a restriction. */
static int check_top_k(const slt_model *m, const gen_args *a) {
  if (a->top_k <= m->cfg->vocab_size) return 0;
  slt_err_set("--top-k %ld: the model's vocabulary has only %d ids (--top-k 0 samples among all)",
              a->top_k, m->cfg->vocab_size);
  return -1;
}

/* What the model can do with this request: the prompt and the new tokens must have int
 * positions (learned ones: within seq_len), --top-k must be a real restriction, and the KV cache
 * must fit in this machine's memory. 0, or -1 with the error recorded. */
static int check_request(const slt_model *m, int n, const gen_args *a) {
  long tokens = a->tokens;
  if (tokens - 1 > INT_MAX - n) {
    slt_err_set("--tokens %ld: the prompt's %d tokens plus the new ones exceed %d positions",
                tokens, n, INT_MAX);
    return -1;
  }
  if (check_learned_positions(m, n, a) || check_top_k(m, a)) return -1;
  double bytes = m->vt->kv_bytes_per_position(m) * (double)positions_needed(n, tokens);
  double memory = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
  if (memory > 0 && bytes > memory) {
    slt_err_set("--tokens %ld: the KV cache for %ld positions needs %.3g GB, more than this "
                "machine's %.3g GB of memory",
                tokens, positions_needed(n, tokens), bytes / 1e9, memory / 1e9);
    return -1;
  }
  return 0;
}

/* RoPE and position-free models run past seq_len, but no training row ever did: say so once,
 * since the text usually degrades there. */
static void note_past_seq_len(const slt_model *m, int n, long tokens) {
  long last = positions_needed(n, tokens);
  if (m->cfg->pos == SLT_POS_LEARNED || last <= m->cfg->seq_len) return;
  fprintf(stderr,
          "slt generate: note: positions %d..%ld run past the model's seq_len %d, which it was "
          "never trained on; expect the text to degrade there\n",
          m->cfg->seq_len, last - 1, m->cfg->seq_len);
}

/* The decoder for this request; what it chose (e.g. the FFN form) is said on stderr. */
static slt_decoder *open_decoder(slt_model *m, int n, const gen_args *a) {
  slt_decoder_opts o = {.cap = (int)positions_needed(n, a->tokens), .ffn_form = a->ffn_form,
                        .prefill = n};
  slt_decoder *d = slt_model_decoder(m, &o);
  if (d && d->note[0]) fprintf(stderr, "slt generate: %s\n", d->note);
  return d;
}

int slt_cmd_generate(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  gen_args a;
  int bad = parse(argc, argv, &a);
  if (bad) return bad;
  slt_threads_set((int)a.threads);
  slt_config cfg;
  slt_model *m = slt_ckpt_load_model(a.ckpt, &cfg);
  if (!m) {
    fprintf(stderr, "slt generate: %s\n", slt_err_msg());
    return 1;
  }
  int n = 0, rc = -1;
  emitter e = {0};
  int32_t *prompt = NULL;
  if (a.prompt_ids) {
    prompt = parse_ids(a.prompt_ids, cfg.model.vocab_size, &n);
    if (!prompt) { /* parse_ids printed why */
      slt_model_free(m);
      return 1;
    }
  } else if ((e.tok = slt_tokenizer_open(a.tokenizer, a.tokenizer_dir))) {
    prompt = encode_prompt(e.tok, a.prompt, cfg.model.vocab_size, &n);
  }
  slt_decoder *d = NULL;
  if (prompt && !check_request(m, n, &a) && (d = open_decoder(m, n, &a))) {
    note_past_seq_len(m, n, a.tokens);
    rc = generate(m, d, prompt, n, &a, &e);
  }
  if (rc) fprintf(stderr, "slt generate: %s\n", slt_err_msg());
  slt_decoder_free(d);
  free(prompt);
  slt_bytebuf_free(&e.text);
  slt_tokenizer_free(e.tok);
  slt_model_free(m);
  return rc ? 1 : 0;
}
