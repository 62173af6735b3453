/* slt eval --ckpt PATH --data GLOB [--batches N] [--batch B] [--threads N]
 * Mean next-token loss of a checkpoint's model over token shards: every full row of T+1 tokens
 * (row i = stream tokens [i·T, i·T + T + 1), as the loader reads them), in order, B rows per
 * forward; the mean is over all predicted tokens. experiments/tools/ckpt_to_torch.py computes the
 * same number in PyTorch. */
#include "cli.h"

#include "autograd/error.h"
#include "autograd/parallel.h"
#include "autograd/ops.h"
#include "data/shard.h"
#include "ckpt/checkpoint.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  const char *ckpt, *data;
  long batches, batch, threads;
} eval_args;

static void usage(FILE *f) {
  fprintf(f,
          "usage: slt eval --ckpt PATH --data GLOB [--batches N] [--batch B] [--threads N]\n\n"
          "Print val_loss=<mean next-token loss> ppl=<exp of it> of the checkpoint's model over\n"
          "every full row of seq_len+1 tokens in the shards matching GLOB (quote it).\n\n"
          "options:\n"
          "  --batches N   only the first N batches (default: all rows)\n"
          "  --batch B     rows per forward (default: the run's train.micro_batch)\n"
          "  --threads N   threads (default: all cores)\n");
}

/* One option and its value (argv[*i], advancing *i), each option once; 0, or 2 after a
 * message. */
static int parse_one(int argc, char **argv, int *i, eval_args *a, slt_cli_seen *seen) {
  const char *o = argv[*i];
  const char **path = !strcmp(o, "--ckpt") ? &a->ckpt : !strcmp(o, "--data") ? &a->data : NULL;
  long *num = !strcmp(o, "--batches")   ? &a->batches
              : !strcmp(o, "--batch")   ? &a->batch
              : !strcmp(o, "--threads") ? &a->threads
                                        : NULL;
  if (!path && !num)
    return slt_cli_is_option(o) ? slt_cli_usage_error("eval", "unknown option '%s'", o)
                                : slt_cli_usage_error("eval", "unexpected argument '%s'", o);
  if (slt_cli_once("eval", seen, o)) return 2;
  const char *v = slt_cli_value("eval", argc, argv, i);
  if (!v) return 2;
  if (path) {
    *path = v;
    return 0;
  }
  long max = num == &a->threads ? SLT_CLI_MAX_THREADS : num == &a->batch ? INT_MAX : LONG_MAX;
  return slt_cli_long("eval", o, v, 1, max, num);
}

static int parse(int argc, char **argv, eval_args *a) {
  slt_cli_seen seen = {0};
  for (int i = 1; i < argc; i++) {
    int bad = parse_one(argc, argv, &i, a, &seen);
    if (bad) return bad;
  }
  if (!a->ckpt || !a->data)
    return slt_cli_usage_error("eval", "%s is required", !a->ckpt ? "--ckpt PATH" : "--data GLOB");
  return 0;
}

/* The rows to evaluate: all of them, or the first --batches batches of B. More batches than
 * the data holds is an error rather than a quiet shortfall: two evals given the same --batches
 * must have read the same amount of data. -1 with the error recorded. */
static int64_t rows_to_read(int64_t rows, int B, int T, const eval_args *a) {
  int64_t have = (rows + B - 1) / B; /* the last batch may be partial */
  if (a->batches > have) {
    slt_err_set("--batches %ld: %s holds only %lld batch%s of up to %d rows (%lld row%s of "
                "seq_len + 1 = %d tokens)",
                a->batches, a->data, (long long)have, have == 1 ? "" : "es", B, (long long)rows,
                rows == 1 ? "" : "s", T + 1);
    return -1;
  }
  return a->batches > 0 && a->batches < have ? a->batches * B : rows;
}

/* Sum of the losses of every predicted token over the rows, into *sum and *tokens. */
static int evaluate(slt_model *m, const slt_shards *s, const eval_args *a, double *sum,
                    int64_t *tokens) {
  int T = m->cfg->seq_len;
  int64_t rows = (slt_shards_tokens(s) - 1) / T;
  int B = a->batch < rows ? (int)a->batch : (int)rows; /* a bigger batch holds no more rows */
  *sum = 0, *tokens = 0;
  if ((rows = rows_to_read(rows, B, T, a)) < 0) return -1;
  int32_t *buf = malloc((size_t)B * (T + 1) * sizeof *buf), *x = malloc((size_t)B * T * sizeof *x),
          *y = malloc((size_t)B * T * sizeof *y);
  slt_ctx c;
  slt_ctx_init(&c);
  slt_ctx_set_no_grad(&c, true);
  int rc = buf && x && y ? 0 : -1;
  if (rc) slt_err_set("out of memory");
  for (int64_t r0 = 0; !rc && r0 < rows; r0 += B) {
    int n = (int)(rows - r0 < B ? rows - r0 : B);
    for (int b = 0; b < n && !rc; b++) {
      rc = slt_shards_read(s, (r0 + b) * T, T + 1, buf + (size_t)b * (T + 1));
      memcpy(x + (size_t)b * T, buf + (size_t)b * (T + 1), (size_t)T * sizeof *x);
      memcpy(y + (size_t)b * T, buf + (size_t)b * (T + 1) + 1, (size_t)T * sizeof *y);
    }
    slt_tensor *loss = rc ? NULL : slt_model_loss(m, &c, x, y, n, T);
    if (!loss)
      rc = -1;
    else
      *sum += (double)loss->data[0] * n * T, *tokens += (int64_t)n * T;
    slt_ctx_reset(&c);
  }
  slt_ctx_free(&c);
  free(buf), free(x), free(y);
  return rc;
}

int slt_cmd_eval(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  eval_args a = {0};
  int bad = parse(argc, argv, &a);
  if (bad) return bad;
  slt_threads_set((int)a.threads);
  slt_config cfg;
  slt_model *m = slt_ckpt_load_model(a.ckpt, &cfg);
  if (!m) {
    fprintf(stderr, "slt eval: %s\n", slt_err_msg());
    return 1;
  }
  if (!a.batch) a.batch = cfg.train.micro_batch;
  slt_shards *s = slt_shards_open(a.data, cfg.model.vocab_size);
  double sum = 0;
  int64_t tokens = 0;
  int rc = s ? 0 : -1;
  if (!rc && slt_shards_tokens(s) < cfg.model.seq_len + 1) {
    slt_err_set("%s: %lld tokens hold no full row of seq_len + 1 = %d tokens", a.data,
                (long long)slt_shards_tokens(s), cfg.model.seq_len + 1);
    rc = -1;
  }
  if (!rc) rc = evaluate(m, s, &a, &sum, &tokens);
  if (rc)
    fprintf(stderr, "slt eval: %s\n", slt_err_msg());
  else
    printf("val_loss=%.7f ppl=%.5f rows=%lld tokens=%lld\n", sum / tokens, exp(sum / tokens),
           (long long)(tokens / cfg.model.seq_len), (long long)tokens);
  slt_shards_close(s);
  slt_model_free(m);
  return rc ? 1 : 0;
}
