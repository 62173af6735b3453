/* Data parallelism, the single-process parts: bucket partitioning, the overlap plan (which
 * backward node completes each bucket), the world-of-one fallbacks, and the data slices that
 * make 2 ranks equal 1 rank with 2 accumulation steps. The multi-rank behaviour is tested with
 * mpirun by tests/dist_mpi.sh (ctest mpi_equivalence, mpi_resume, mpi_fault). */
#include "suites.h"
#include "test_util.h"

#include "data/loader.h"
#include "layers/model.h"
#include "train/dist.h"

#include <CUnit/CUnit.h>
#include <stdlib.h>
#include <string.h>

static void test_bucket_partition(void) {
  const int64_t ns[] = {0, 1, 7, 8, 9, 1000, 1001};
  const int64_t bs[] = {1, 3, 8, 1000};
  for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
    for (size_t j = 0; j < sizeof bs / sizeof *bs; j++) {
      int64_t n = ns[i], b = bs[j], count = slt_dist_bucket_count(n, b), next = 0;
      CU_ASSERT_EQUAL(count, (n + b - 1) / b);
      for (int64_t k = 0; k < count; k++) {
        int64_t lo, hi;
        slt_dist_bucket_range(n, b, k, &lo, &hi);
        CU_ASSERT_EQUAL(lo, next);            /* contiguous, no overlap */
        CU_ASSERT(hi > lo && hi - lo <= b);   /* never empty, never over size */
        CU_ASSERT(hi - lo == b || k == count - 1); /* only the last is short */
        next = hi;
      }
      CU_ASSERT_EQUAL(next, n); /* covers [0, n) exactly */
    }
}

/* Two buffers: buckets are cut per buffer and numbered in order. */
static void test_reducer_buckets(void) {
  float a[10], b[3];
  slt_dist_reducer *r = slt_dist_reducer_new(4, true);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r);
  CU_ASSERT_EQUAL(slt_dist_reducer_add(r, a, 10), 0);
  CU_ASSERT_EQUAL(slt_dist_reducer_add(r, b, 3), 0);
  CU_ASSERT_EQUAL(slt_dist_reducer_buckets(r), 4);
  float *p;
  int64_t n;
  slt_dist_reducer_bucket(r, 2, &p, &n);
  CU_ASSERT(p == a + 8 && n == 2);
  slt_dist_reducer_bucket(r, 3, &p, &n);
  CU_ASSERT(p == b && n == 3);
  slt_dist_reducer_clear(r); /* a step whose SGT guides are gone */
  CU_ASSERT_EQUAL(slt_dist_reducer_add(r, a, 10), 0);
  CU_ASSERT_EQUAL(slt_dist_reducer_buckets(r), 3);
  slt_dist_reducer_free(r);
}

/* Without mpirun every collective is the identity on one rank. */
static void test_world_of_one(void) {
  CU_ASSERT_EQUAL(slt_dist_rank(), 0);
  CU_ASSERT_EQUAL(slt_dist_world(), 1);
  double v[2] = {1.5, -2};
  CU_ASSERT_EQUAL(slt_dist_sum(v, 2), 0);
  CU_ASSERT(v[0] == 1.5 && v[1] == -2);
  int f = 5;
  CU_ASSERT_EQUAL(slt_dist_or(&f), 0);
  CU_ASSERT_EQUAL(f, 5);
  char in[4] = "abc", out[4] = "";
  CU_ASSERT_EQUAL(slt_dist_allgather(in, out, 4), 0);
  CU_ASSERT_STRING_EQUAL(out, "abc");
  CU_ASSERT_EQUAL(slt_dist_bcast(in, 4, 0), 0);
  CU_ASSERT_EQUAL(slt_dist_same(in, 4), 1);
}

static const slt_model_config tiny = {.vocab_size = 40, .seq_len = 8, .layers = 2, .d_model = 16,
                                    .heads = 2, .kv_heads = 2, .ffn_dim = 32,
                                    .norm = SLT_NORM_LAYERNORM, .norm_eps = 1e-5f,
                                    .pos = SLT_POS_ROPE, .rope_base = 1e4f,
                                    .act = SLT_ACT_GELU_TANH, .bias = true,
                                    .tie_embeddings = true, .init_std = 0.3f};

typedef struct {
  slt_dist_reducer *r;
  const float *final; /* the complete gradients */
  const float *base;  /* the flat gradient buffer */
  int checked, early;
} plan_check;

/* After each node: the buckets the plan says are complete now must hold their final values. */
static void check_ready(void *user, const slt_node *n) {
  plan_check *pc = user;
  for (int64_t i = 0; i < slt_dist_reducer_buckets(pc->r); i++) {
    if (slt_dist_reducer_ready_after(pc->r, i) != n) continue;
    float *p;
    int64_t len;
    slt_dist_reducer_bucket(pc->r, i, &p, &len);
    pc->checked++;
    if (memcmp(p, pc->final + (p - pc->base), (size_t)len * sizeof *p)) pc->early++;
  }
}

/* The overlap plan on a real GPT step (tied embeddings: wte is written by the head first and by
 * the embedding last): every bucket is final right after the node the plan names. */
static void check_plan(int64_t bucket) {
  slt_model *m = slt_model_build(&tiny, SLT_MODEL_ALLOC);
  CU_ASSERT_PTR_NOT_NULL_FATAL(m);
  slt_model_init_weights(m, 3);
  int B = 2, T = tiny.seq_len;
  int32_t x[16], y[16];
  for (int i = 0; i < B * T; i++) x[i] = (i * 7) % 40, y[i] = (i * 11 + 3) % 40;
  slt_ctx c;
  slt_ctx_init(&c);
  CU_ASSERT_EQUAL_FATAL(slt_backward(&c, slt_model_loss(m, &c, x, y, B, T)), 0);
  slt_ctx_reset(&c);
  size_t bytes = (size_t)m->params->numel * sizeof(float);
  float *final = malloc(bytes);
  memcpy(final, m->params->grad, bytes);

  slt_params_zero_grad(m->params);
  slt_dist_reducer *r = slt_dist_reducer_new(bucket, true);
  CU_ASSERT_EQUAL_FATAL(slt_dist_reducer_add(r, m->params->grad, m->params->numel), 0);
  slt_tensor *loss = slt_model_loss(m, &c, x, y, B, T);
  slt_dist_reducer_plan(r, &c);
  int64_t unplanned = 0;
  for (int64_t i = 0; i < slt_dist_reducer_buckets(r); i++)
    unplanned += slt_dist_reducer_ready_after(r, i) == NULL;
  CU_ASSERT_EQUAL(unplanned, 0); /* every parameter of a GPT gets a gradient */
  plan_check pc = {.r = r, .final = final, .base = m->params->grad};
  slt_ctx_set_hook(&c, check_ready, &pc);
  CU_ASSERT_EQUAL(slt_backward(&c, loss), 0);
  slt_ctx_set_hook(&c, NULL, NULL);
  CU_ASSERT_EQUAL(pc.checked, slt_dist_reducer_buckets(r));
  CU_ASSERT_EQUAL(pc.early, 0);
  if (pc.early) printf("\nbucket %lld: %d of %d buckets planned before they were complete\n",
                       (long long)bucket, pc.early, pc.checked);
  slt_dist_reducer_free(r);
  slt_ctx_free(&c);
  free(final);
  slt_model_free(m);
}

static void test_overlap_plan(void) {
  check_plan(1);   /* one float per bucket: every parameter element on its own */
  check_plan(300); /* buckets straddling parameter boundaries */
  check_plan(1 << 20); /* one bucket: complete only at the very end */
}

/* With one rank, begin/end leave the gradients as they are and leave no hook behind. */
static void test_reducer_single_rank(void) {
  float g[5] = {1, 2, 3, 4, 5};
  slt_dist_reducer *r = slt_dist_reducer_new(2, true);
  slt_ctx c;
  slt_ctx_init(&c);
  CU_ASSERT_EQUAL(slt_dist_reducer_add(r, g, 5), 0);
  CU_ASSERT_EQUAL(slt_dist_reducer_begin(r, &c), 0);
  CU_ASSERT_EQUAL(slt_dist_reducer_end(r, &c), 0);
  CU_ASSERT(g[0] == 1 && g[4] == 5);
  CU_ASSERT_PTR_NULL(c.hook);
  slt_ctx_free(&c);
  slt_dist_reducer_free(r);
}

/* Rank r of 2 at step s reads exactly what 1 rank with grad_accum 2 reads at micro step r:
 * the premise of the 2-rank equivalence test. Also: the ranks' slices are disjoint. */
static void test_rank_slices(void) {
  slt_markov *chain = slt_markov_new(16, 2, 0.1, 3);
  CU_ASSERT_PTR_NOT_NULL_FATAL(chain);
  slt_loader_cfg one = {.seq_len = 8, .micro_batch = 3, .grad_accum = 2, .rank = 0, .world = 1};
  slt_loader *l1 = slt_loader_new_synthetic(chain, &one), *l2[2];
  for (int r = 0; r < 2; r++) {
    slt_loader_cfg c = one;
    c.grad_accum = 1, c.rank = r, c.world = 2;
    l2[r] = slt_loader_new_synthetic(chain, &c);
  }
  int32_t x1[24], y1[24], x2[24], y2[24], other[24], oy[24];
  for (int64_t step = 0; step < 3; step++)
    for (int r = 0; r < 2; r++) {
      CU_ASSERT_EQUAL(slt_loader_batch(l1, step, r, x1, y1), 0);
      CU_ASSERT_EQUAL(slt_loader_batch(l2[r], step, 0, x2, y2), 0);
      CU_ASSERT(!memcmp(x1, x2, sizeof x1) && !memcmp(y1, y2, sizeof y1));
      CU_ASSERT_EQUAL(slt_loader_batch(l2[1 - r], step, 0, other, oy), 0);
      CU_ASSERT(memcmp(x2, other, sizeof x2) != 0);
    }
  slt_loader_free(l1);
  slt_loader_free(l2[0]);
  slt_loader_free(l2[1]);
  slt_markov_free(chain);
}

int register_dist_suite(void) {
  CU_pSuite s = CU_add_suite("dist", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "bucket partition", test_bucket_partition) ||
                 !CU_add_test(s, "reducer buckets over two buffers", test_reducer_buckets) ||
                 !CU_add_test(s, "world of one", test_world_of_one) ||
                 !CU_add_test(s, "overlap plan on a GPT step", test_overlap_plan) ||
                 !CU_add_test(s, "reducer with one rank", test_reducer_single_rank) ||
                 !CU_add_test(s, "rank slices = accumulation steps", test_rank_slices)
             ? -1
             : 0;
}
