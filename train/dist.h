/* Data parallelism over MPI: a thin layer the trainer calls. `mpirun -np N slt train ...` runs N
 * ranks, each reading its own slice of every global batch; gradients are summed in place on the
 * flat buffers, in buckets that can start while backward is still running.
 *
 * Without an MPI launcher (no mpirun/srun environment) or in a build without MPI (SLT_HAVE_MPI
 * undefined) every function is a single-process no-op: rank 0 of a world of 1. Only the thread
 * calling slt_dist_init calls MPI (MPI_THREAD_FUNNELED); OpenMP threads never do. */
#ifndef SLT_DIST_H
#define SLT_DIST_H

#include "autograd/tape.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Start MPI when an MPI launcher started this process (OMPI_COMM_WORLD_SIZE, PMIX_RANK or
 * PMI_SIZE in the environment); otherwise stay a single process. Refuses (-1, error recorded)
 * a launch that would make N independent single-process runs: an MPI-less build under mpirun,
 * or srun tasks that MPI sees as worlds of 1. Call once, before any other slt_dist_ function. */
int slt_dist_init(void);
/* Finalize MPI if slt_dist_init started it (every rank must call it: it synchronises). */
void slt_dist_finalize(void);
/* With several ranks, end all of them now with exit status code (MPI_Abort); with one process,
 * return so the caller exits. Flushes stdout and stderr first so the caller's message is seen.
 * For the programs (cli/, benchmarks) only: library code returns errors. */
void slt_dist_abort_job(int code);

/* This process's rank, the number of ranks, and the ranks on this node. */
int slt_dist_rank(void);
int slt_dist_world(void);
int slt_dist_local_size(void);
/* Threads per rank when train.threads is 0, under MPI: OMP_NUM_THREADS when set, else the
 * cores this rank may run on (its affinity mask), divided among the node's ranks when the mask
 * is the whole machine (an unbound launch). Without an MPI launcher: 0 (all cores, as ever). */
int slt_dist_default_threads(void);

/* Collectives over every rank; all return 0, or -1 with the error recorded. */
int slt_dist_bcast(void *buf, size_t bytes, int root);
/* v[0..n) summed over ranks, in place (doubles: metrics, losses). */
int slt_dist_sum(double *v, int n);
/* *flags OR-ed over ranks (stop requests: any rank's request stops every rank). */
int slt_dist_or(int *flags);
/* Every rank's `bytes` bytes of mine, in rank order, into all (world · bytes). */
int slt_dist_allgather(const void *mine, void *all, size_t bytes);
/* 1 when buf holds the same bytes on every rank, 0 when it does not, -1 on error (compares a
 * 64-bit hash: a cheap check that replicas have not drifted apart). */
int slt_dist_same(const void *buf, size_t bytes);

/* ---- bucketed gradient all-reduce (dist_reduce.c) ---- */

/* Buckets of one buffer of n floats: ceil(n / bucket) consecutive ranges of bucket floats, the
 * last one shorter. The boundaries depend on n and bucket alone, so every rank cuts alike. */
int64_t slt_dist_bucket_count(int64_t n, int64_t bucket);
void slt_dist_bucket_range(int64_t n, int64_t bucket, int64_t i, int64_t *begin, int64_t *end);

typedef struct slt_dist_reducer slt_dist_reducer;

/* A reducer whose buckets hold bucket_floats floats (clamped to [1, INT_MAX]). With overlap, a
 * bucket's all-reduce starts (non-blocking) as soon as backward has produced every gradient in
 * it; without, all buckets are reduced in order after backward. NULL on out of memory. */
slt_dist_reducer *slt_dist_reducer_new(int64_t bucket_floats, bool overlap);
void slt_dist_reducer_free(slt_dist_reducer *r);
/* Forget the buffers added (their buckets' memory is kept for the next adds). */
void slt_dist_reducer_clear(slt_dist_reducer *r);
/* Add a flat gradient buffer (parameters, then e.g. the SGT guide's) to reduce. 0 or -1. */
int slt_dist_reducer_add(slt_dist_reducer *r, float *grad, int64_t n);
/* Call after the forward of the step's last micro-batch, before its backward: finds, from the
 * tape, the node after which each bucket is complete and hooks backward. 0 or -1. */
int slt_dist_reducer_begin(slt_dist_reducer *r, slt_ctx *c);
/* Call after that backward: reduces what is left, waits for every bucket and unhooks. Each
 * buffer then holds the sum over ranks. 0 or -1. With one rank it does nothing. */
int slt_dist_reducer_end(slt_dist_reducer *r, slt_ctx *c);
/* The overlap plan (what begin computes; public for tests): for each bucket, the tape node after
 * whose backward the bucket is complete, or NULL when no node writes to it. */
void slt_dist_reducer_plan(slt_dist_reducer *r, const slt_ctx *c);
const slt_node *slt_dist_reducer_ready_after(const slt_dist_reducer *r, int64_t bucket);
/* Bucket i's floats. */
void slt_dist_reducer_bucket(const slt_dist_reducer *r, int64_t i, float **buf, int64_t *n);
/* Seconds spent inside communication calls (starting, progressing, waiting) since creation:
 * the step time the reduction costs beyond what it overlapped. */
double slt_dist_reducer_seconds(const slt_dist_reducer *r);
/* Buckets in all buffers (for the start-up summary). */
int64_t slt_dist_reducer_buckets(const slt_dist_reducer *r);

#endif
