/* MPI start-up, identity and the small collectives; single-process fallbacks without MPI. */
#include "dist.h"

#include "autograd/error.h"

#include <limits.h>
#include <omp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef SLT_HAVE_MPI
#include <mpi.h>
#endif

static struct {
  int rank, world, local;
  bool mpi; /* we called MPI_Init_thread */
} g = {0, 1, 1, false};

/* An integer from the environment, or 0 when unset. */
static long env_long(const char *name) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, NULL, 10) : 0;
}

/* The world size the launcher announced (0: no MPI launcher). */
static long launched_world(void) {
  long n = env_long("OMPI_COMM_WORLD_SIZE");
  if (!n) n = env_long("PMI_SIZE");
  if (!n && getenv("PMIX_RANK")) n = env_long("SLURM_STEP_NUM_TASKS") ? : 1;
  return n;
}

#ifdef SLT_HAVE_MPI

static int check(int rc, const char *what) {
  if (rc == MPI_SUCCESS) return 0;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  slt_err_set("rank %d of %d: %s failed: %s", g.rank, g.world, what, msg);
  return -1;
}

int slt_dist_init(void) {
  if (!launched_world()) return 0;
  int provided = 0;
  if (check(MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread"))
    return -1;
  g.mpi = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g.world);
  MPI_Comm node;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g.rank, MPI_INFO_NULL, &node) ==
      MPI_SUCCESS) {
    MPI_Comm_size(node, &g.local);
    MPI_Comm_free(&node);
  }
  long tasks = env_long("SLURM_STEP_NUM_TASKS");
  if (g.world == 1 && tasks > 1) {
    slt_err_set("srun started %ld tasks but MPI sees each as a world of 1: launch with "
                "'srun --mpi=pmix' (or pmi2), or with mpirun", tasks);
    return -1;
  }
  return 0;
}

void slt_dist_finalize(void) {
  if (g.mpi) MPI_Finalize();
  g.mpi = false;
}

void slt_dist_abort_job(int code) {
  fflush(stdout);
  fflush(stderr);
  if (g.mpi && g.world > 1) MPI_Abort(MPI_COMM_WORLD, code);
}

int slt_dist_bcast(void *buf, size_t bytes, int root) {
  /* Counts are ints: large buffers go in chunks. */
  for (size_t off = 0; g.world > 1 && off < bytes; off += INT_MAX / 2) {
    size_t n = bytes - off < INT_MAX / 2 ? bytes - off : INT_MAX / 2;
    if (check(MPI_Bcast((char *)buf + off, (int)n, MPI_BYTE, root, MPI_COMM_WORLD), "MPI_Bcast"))
      return -1;
  }
  return 0;
}

int slt_dist_sum(double *v, int n) {
  if (g.world == 1) return 0;
  return check(MPI_Allreduce(MPI_IN_PLACE, v, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD),
               "MPI_Allreduce");
}

int slt_dist_or(int *flags) {
  if (g.world == 1) return 0;
  return check(MPI_Allreduce(MPI_IN_PLACE, flags, 1, MPI_INT, MPI_BOR, MPI_COMM_WORLD),
               "MPI_Allreduce");
}

int slt_dist_allgather(const void *mine, void *all, size_t bytes) {
  if (g.world == 1) {
    memmove(all, mine, bytes);
    return 0;
  }
  if (bytes > INT_MAX) {
    slt_err_set("slt_dist_allgather: %zu bytes per rank is too many", bytes);
    return -1;
  }
  return check(MPI_Allgather(mine, (int)bytes, MPI_BYTE, all, (int)bytes, MPI_BYTE, MPI_COMM_WORLD),
               "MPI_Allgather");
}

#else /* no MPI: one process */

int slt_dist_init(void) {
  long n = launched_world();
  if (n > 1) {
    slt_err_set("this slt was built without MPI (SLT_MPI=OFF or MPI not found) but was launched "
                "as one of %ld ranks: every rank would train alone; rebuild with MPI or run "
                "without mpirun/srun", n);
    return -1;
  }
  return 0;
}
void slt_dist_finalize(void) {}
void slt_dist_abort_job(int code) {
  (void)code;
  fflush(stdout);
  fflush(stderr);
}
int slt_dist_bcast(void *buf, size_t bytes, int root) {
  (void)buf, (void)bytes, (void)root;
  return 0;
}
int slt_dist_sum(double *v, int n) {
  (void)v, (void)n;
  return 0;
}
int slt_dist_or(int *flags) {
  (void)flags;
  return 0;
}
int slt_dist_allgather(const void *mine, void *all, size_t bytes) {
  memmove(all, mine, bytes);
  return 0;
}

#endif

int slt_dist_rank(void) { return g.rank; }
int slt_dist_world(void) { return g.world; }
int slt_dist_local_size(void) { return g.local; }

int slt_dist_default_threads(void) {
  if (!g.mpi) return 0;
  long env = env_long("OMP_NUM_THREADS");
  if (env > 0) return (int)env;
  /* omp_get_num_procs counts the affinity mask: a bound rank gets its own cores. */
  int mine = omp_get_num_procs(), all = (int)sysconf(_SC_NPROCESSORS_ONLN);
  int n = mine >= all && g.local > 1 ? mine / g.local : mine;
  return n > 0 ? n : 1;
}

/* FNV-1a over the bytes, 8 at a time where possible. */
static uint64_t hash_bytes(const void *buf, size_t bytes) {
  const unsigned char *p = buf;
  uint64_t h = 0xcbf29ce484222325ull;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 0x100000001b3ull;
  }
  for (; i < bytes; i++) h = (h ^ p[i]) * 0x100000001b3ull;
  return h;
}

int slt_dist_same(const void *buf, size_t bytes) {
  if (g.world == 1) return 1;
  uint64_t h = hash_bytes(buf, bytes);
  /* Equal everywhere iff everyone's hash equals rank 0's: gather them all (a few bytes each). */
  uint64_t *all = malloc((size_t)g.world * sizeof *all);
  if (!all) {
    slt_err_set("out of memory");
    return -1;
  }
  int rc = slt_dist_allgather(&h, all, sizeof h), same = 1;
  for (int r = 1; !rc && r < g.world; r++)
    if (all[r] != all[0]) same = 0;
  free(all);
  return rc ? -1 : same;
}
