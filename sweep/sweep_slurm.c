/* --slurm: the unfinished runs as one sbatch array job, a task per run, each the same command a
 * local sweep runs (`slt train <dir>/config.yaml --resume auto`), so a requeued or resubmitted
 * task resumes from its run's newest checkpoint and `slt sweep --collect` gathers the results. */
#include "sweep_int.h"

#include "autograd/error.h"
#include "train/run_lock.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* s in single quotes for bash (a quote inside becomes '\''). */
static void quoted(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'')
      fputs("'\\''", f);
    else
      fputc(*s, f);
  }
  fputc('\'', f);
}

static void script(FILE *f, const slt_sweep *s, const slt_sweep_run *runs, const int *task,
                   int ntask, const char *exe) {
  const char *base = strrchr(s->out, '/');
  fprintf(f, "#!/bin/bash\n# slt sweep %s: %d unfinished run%s, one array task each.\n", s->path,
          ntask, ntask == 1 ? "" : "s");
  fprintf(f, "#SBATCH --job-name=%s\n", base ? base + 1 : s->out);
  fprintf(f, "#SBATCH --array=0-%d\n", ntask - 1);
  fprintf(f, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", s->out);
  if (s->ranks > 1) fprintf(f, "#SBATCH --ntasks=%d\n", s->ranks);
  fprintf(f, "set -eu\nruns=(\n");
  for (int i = 0; i < ntask; i++) {
    fputs("  ", f);
    quoted(f, runs[task[i]].dir);
    fputc('\n', f);
  }
  fprintf(f, ")\nrun=${runs[$SLURM_ARRAY_TASK_ID]}\n");
  fprintf(f, "echo \"==== slurm job $SLURM_JOB_ID task $SLURM_ARRAY_TASK_ID on $(hostname)\" "
             ">> \"$run/train.log\"\n");
  fprintf(f, "exec %s", s->ranks > 1 ? "srun -n " : "");
  if (s->ranks > 1) fprintf(f, "%d ", s->ranks);
  quoted(f, exe);
  fprintf(f, " train \"$run/config.yaml\" --resume auto >> \"$run/train.log\" 2>&1\n");
}

int slt_sweep_slurm(const slt_sweep *s, const slt_sweep_run *runs, int n, const char *only,
                    const char *exe, const char *file, int *tasks) {
  static int lock_owner;
  *tasks = 0;
  if (slt_run_lock(s->out, "sweep directory", &lock_owner)) return -1;
  int *task = calloc((size_t)n + 1, sizeof *task);
  if (!task) {
    slt_err_set("out of memory writing %s", file);
    slt_run_unlock(&lock_owner);
    return -1;
  }
  for (int i = 0; i < n; i++) {
    if (only && !slt_sweep_match(runs[i].name, only)) continue;
    if (slt_sweep_run_status(&runs[i]) == SLT_RUN_DONE) continue;
    if (slt_sweep_prepare(&runs[i])) {
      free(task);
      slt_run_unlock(&lock_owner);
      return -1;
    }
    task[(*tasks)++] = i;
  }
  int rc = 0;
  if (*tasks) {
    FILE *f = fopen(file, "w");
    if (f) script(f, s, runs, task, *tasks, exe);
    if (!f || fclose(f) || chmod(file, 0755)) {
      slt_err_set("%s: cannot write the sbatch script: %s", file, strerror(errno));
      rc = -1;
    }
  }
  free(task);
  slt_run_unlock(&lock_owner);
  return rc;
}
