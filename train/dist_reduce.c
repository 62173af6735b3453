/* The bucketed gradient all-reduce. Each registered flat buffer is cut into fixed-size buckets.
 * With overlap, slt_dist_reducer_begin walks the recorded tape once and notes, per bucket, the
 * node whose backward writes to the bucket last (the oldest node touching it: backward runs the
 * tape newest first); the backward hook starts the bucket's non-blocking all-reduce right after
 * that node, and keeps the started ones progressing (MPI progresses non-blocking collectives
 * only inside MPI calls). Every rank records the same tape, so every rank starts the same buckets
 * in the same order, as MPI requires of collectives. */
#include "autograd/sys.h"
#include "dist.h"

#include "autograd/error.h"
#include "train/metrics.h"

#include <limits.h>
#include <stdlib.h>

#ifdef SLT_HAVE_MPI
#include <mpi.h>
#endif

#define MAX_BUFFERS 4

typedef struct {
  float *buf;
  int64_t n;
  const slt_node *last; /* the bucket is complete after this node's backward (NULL: untouched) */
  bool started;
} bucket;

struct slt_dist_reducer {
  int64_t bucket_floats;
  bool overlap;
  int nbuf;
  float *bufs[MAX_BUFFERS];
  int64_t lens[MAX_BUFFERS], first[MAX_BUFFERS]; /* first[i]: index of buffer i's first bucket */
  bucket *b;
  int64_t nb, cap; /* buckets in use, allocated */
  double seconds;
#ifdef SLT_HAVE_MPI
  MPI_Request *req; /* one per bucket, MPI_REQUEST_NULL when not in flight */
#endif
};

int64_t slt_dist_bucket_count(int64_t n, int64_t bucket) {
  return n <= 0 ? 0 : (n + bucket - 1) / bucket;
}

void slt_dist_bucket_range(int64_t n, int64_t bucket, int64_t i, int64_t *begin, int64_t *end) {
  *begin = i * bucket;
  *end = *begin + bucket < n ? *begin + bucket : n;
}

slt_dist_reducer *slt_dist_reducer_new(int64_t bucket_floats, bool overlap) {
  slt_dist_reducer *r = calloc(1, sizeof *r);
  if (!r) {
    slt_err_set("out of memory");
    return NULL;
  }
  r->bucket_floats = bucket_floats < 1 ? 1 : bucket_floats > INT_MAX ? INT_MAX : bucket_floats;
  r->overlap = overlap;
  return r;
}

void slt_dist_reducer_free(slt_dist_reducer *r) {
  if (!r) return;
  free(r->b);
#ifdef SLT_HAVE_MPI
  free(r->req);
#endif
  free(r);
}

/* Room for at least n buckets (kept across slt_dist_reducer_clear: steps do not allocate). */
static int grow(slt_dist_reducer *r, int64_t n) {
  bucket *b = realloc(r->b, (size_t)n * sizeof *b);
  if (b) r->b = b;
#ifdef SLT_HAVE_MPI
  MPI_Request *q = b ? realloc(r->req, (size_t)n * sizeof *q) : NULL;
  if (q) r->req = q;
  if (!q) b = NULL;
#endif
  if (!b) {
    slt_err_set("out of memory for %lld gradient buckets", (long long)n);
    return -1;
  }
  r->cap = n;
  return 0;
}

void slt_dist_reducer_clear(slt_dist_reducer *r) {
  r->nbuf = 0;
  r->nb = 0;
}

int slt_dist_reducer_add(slt_dist_reducer *r, float *grad, int64_t n) {
  if (r->nbuf == MAX_BUFFERS) {
    slt_err_set("slt_dist_reducer_add: more than %d buffers", MAX_BUFFERS);
    return -1;
  }
  int64_t add = slt_dist_bucket_count(n, r->bucket_floats);
  if (r->nb + add > r->cap && grow(r, r->nb + add)) return -1;
  r->bufs[r->nbuf] = grad;
  r->lens[r->nbuf] = n;
  r->first[r->nbuf] = r->nb;
  for (int64_t i = 0; i < add; i++) {
    int64_t lo, hi;
    slt_dist_bucket_range(n, r->bucket_floats, i, &lo, &hi);
    r->b[r->nb + i] = (bucket){.buf = grad + lo, .n = hi - lo};
#ifdef SLT_HAVE_MPI
    r->req[r->nb + i] = MPI_REQUEST_NULL;
#endif
  }
  r->nb += add;
  r->nbuf++;
  return 0;
}

double slt_dist_reducer_seconds(const slt_dist_reducer *r) { return r->seconds; }
int64_t slt_dist_reducer_buckets(const slt_dist_reducer *r) { return r->nb; }

/* Mark the buckets overlapping floats [off, off + len) of buffer k as touched by node n. */
static void touch(slt_dist_reducer *r, int k, int64_t off, int64_t len, const slt_node *n) {
  int64_t lo = off / r->bucket_floats, hi = (off + len - 1) / r->bucket_floats;
  for (int64_t i = lo; i <= hi; i++) r->b[r->first[k] + i].last = n;
}

/* Which buffer a gradient pointer lies in (-1: none), and its offset there. */
static int find_buffer(const slt_dist_reducer *r, const float *grad, int64_t *off) {
  for (int k = 0; grad && k < r->nbuf; k++)
    if (grad >= r->bufs[k] && grad < r->bufs[k] + r->lens[k]) {
      *off = grad - r->bufs[k];
      return k;
    }
  return -1;
}

void slt_dist_reducer_plan(slt_dist_reducer *r, const slt_ctx *c) {
  for (int64_t i = 0; i < r->nb; i++) r->b[i].last = NULL, r->b[i].started = false;
  /* Newest to oldest: the last assignment is the oldest toucher, whose backward runs last. */
  for (const slt_node *n = c->tape; n; n = n->prev)
    for (int j = 0; j < n->nin; j++) {
      int64_t off;
      int k = find_buffer(r, n->in[j]->grad, &off);
      if (k >= 0 && n->in[j]->numel > 0) touch(r, k, off, n->in[j]->numel, n);
    }
}

const slt_node *slt_dist_reducer_ready_after(const slt_dist_reducer *r, int64_t i) {
  return r->b[i].last;
}

void slt_dist_reducer_bucket(const slt_dist_reducer *r, int64_t i, float **buf, int64_t *n) {
  *buf = r->b[i].buf;
  *n = r->b[i].n;
}

#ifdef SLT_HAVE_MPI

static int start(slt_dist_reducer *r, int64_t i) {
  bucket *k = &r->b[i];
  k->started = true;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, k->buf, (int)k->n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD,
                          &r->req[i]);
  if (rc != MPI_SUCCESS) {
    slt_err_set("rank %d: MPI_Iallreduce of gradient bucket %lld failed (error %d)",
                slt_dist_rank(), (long long)i, rc);
    return -1;
  }
  return 0;
}

static void on_node(void *user, const slt_node *n) {
  slt_dist_reducer *r = user;
  double t0 = slt_now();
  int64_t oldest = -1;
  for (int64_t i = 0; i < r->nb; i++) {
    if (r->b[i].last == n && !r->b[i].started) start(r, i); /* an error shows at MPI_Waitall */
    if (r->b[i].started && r->req[i] != MPI_REQUEST_NULL && oldest < 0) oldest = i;
  }
  /* One test moves every outstanding collective along. */
  int done = 0;
  if (oldest >= 0) MPI_Test(&r->req[oldest], &done, MPI_STATUS_IGNORE);
  r->seconds += slt_now() - t0;
}

int slt_dist_reducer_begin(slt_dist_reducer *r, slt_ctx *c) {
  if (slt_dist_world() == 1) return 0;
  for (int64_t i = 0; i < r->nb; i++) r->b[i].last = NULL, r->b[i].started = false;
  if (!r->overlap) return 0;
  slt_dist_reducer_plan(r, c);
  slt_ctx_set_hook(c, on_node, r);
  return 0;
}

int slt_dist_reducer_end(slt_dist_reducer *r, slt_ctx *c) {
  if (slt_dist_world() == 1) return 0;
  slt_ctx_set_hook(c, NULL, NULL);
  double t0 = slt_now();
  int rc = 0;
  /* Untouched buckets (and all of them without overlap), in index order on every rank. */
  for (int64_t i = 0; i < r->nb && !rc; i++)
    if (!r->b[i].started) rc = start(r, i);
  if (!rc && MPI_Waitall((int)r->nb, r->req, MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
    slt_err_set("rank %d: waiting for the gradient all-reduce failed", slt_dist_rank());
    rc = -1;
  }
  r->seconds += slt_now() - t0;
  return rc;
}

#else /* no MPI: a world of one has nothing to reduce */

int slt_dist_reducer_begin(slt_dist_reducer *r, slt_ctx *c) {
  (void)r, (void)c;
  return 0;
}
int slt_dist_reducer_end(slt_dist_reducer *r, slt_ctx *c) {
  (void)r, (void)c;
  return 0;
}

#endif
