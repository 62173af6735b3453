/* The local runner: each run is a child process `slt train <dir>/config.yaml --resume auto`
 * (its output appended to <dir>/train.log), `jobs` at once, so a killed sweep loses at most
 * the steps since each run's last checkpoint and a rerun resumes where they stood. */
#define _GNU_SOURCE
#include "sweep_int.h"

#include "autograd/error.h"
#include "autograd/sys.h"
#include "train/run_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int slt_sweep_threads(int jobs) {
  cpu_set_t set;
  int cores =
      sched_getaffinity(0, sizeof set, &set) ? (int)sysconf(_SC_NPROCESSORS_ONLN) : CPU_COUNT(&set);
  int t = cores / (jobs > 0 ? jobs : 1);
  return t > 0 ? t : 1;
}

/* The child: its own process group (a terminal's Ctrl-C reaches the sweep only, which forwards
 * one SIGTERM: a second signal would kill a run mid-checkpoint), SIGTERM when the sweep dies,
 * output to train.log. Only async-signal-safe calls between fork and exec. */
static void child(const char *log, char *const argv[], const char *header, pid_t parent) {
  setpgid(0, 0);
  prctl(PR_SET_PDEATHSIG, SIGTERM);
  if (getppid() != parent) _exit(1); /* the sweep died before prctl */
  int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0) _exit(126);
  ssize_t w = write(STDOUT_FILENO, header, strlen(header));
  (void)w;
  execv(argv[0], argv);
  static const char msg[] = "slt sweep: cannot run the slt program (execv failed)\n";
  w = write(STDERR_FILENO, msg, sizeof msg - 1);
  _exit(127);
}

static int launch(slt_sweep_runner *R, slt_sweep_slot *sl, slt_sweep_run *r) {
  char config[PATH_MAX + 16], log[PATH_MAX + 16], threads[48], header[PATH_MAX + 200];
  snprintf(config, sizeof config, "%s/config.yaml", r->dir);
  snprintf(log, sizeof log, "%s/train.log", r->dir);
  snprintf(threads, sizeof threads, "train.threads=%d", R->sum->threads);
  char *argv[] = {(char *)R->o->exe, "train", config, "--resume", "auto", threads, NULL};
  time_t now = time(NULL);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S", localtime(&now));
  snprintf(header, sizeof header, "==== slt sweep %s: %s train %s --resume auto %s\n", when,
           R->o->exe, config, threads);
  sl->step0 = sl->step = 0, sl->loss = 0;
  slt_sweep_last_record(&r->cfg, &sl->step0, &sl->loss);
  sl->step = sl->step0;
  pid_t parent = getpid(), pid = fork();
  if (pid < 0) {
    slt_err_set("cannot start a run (fork): %s", strerror(errno));
    return -1;
  }
  if (pid == 0) child(log, argv, header, parent);
  sl->pid = pid, sl->run = r;
  R->active++;
  R->sum->launched++;
  slt_sweep_event(R, "start: %s%s", r->name, sl->step0 ? " (resuming)" : "");
  return 0;
}

/* The line that says why a run failed: its last "slt train:" line, else its last line. */
static void failure_line(const slt_sweep_run *r, int status, char *out, size_t len) {
  char path[PATH_MAX + 16], buf[8192];
  snprintf(path, sizeof path, "%s/train.log", r->dir);
  if (WIFSIGNALED(status))
    snprintf(out, len, "killed by signal %d", WTERMSIG(status));
  else
    snprintf(out, len, "slt train exited with status %d", WEXITSTATUS(status));
  FILE *f = fopen(path, "r");
  if (!f) return;
  char last[1024] = "", said[1024] = "";
  while (fgets(buf, sizeof buf, f)) {
    buf[strcspn(buf, "\r\n")] = '\0';
    if (!buf[0]) continue;
    snprintf(last, sizeof last, "%.1000s", buf);
    if (!strncmp(buf, "slt train: ", 11)) snprintf(said, sizeof said, "%.1000s", buf + 11);
  }
  fclose(f);
  if (said[0] || last[0]) snprintf(out, len, "%s", said[0] ? said : last);
}

/* A child ended: DONE, FAILED, or stopped early (a forwarded signal, train.time_limit). */
static void ended(slt_sweep_runner *R, slt_sweep_slot *sl, int status, bool stopping) {
  slt_sweep_run *r = sl->run;
  slt_sweep_last_record(&r->cfg, &sl->step, &sl->loss);
  R->work_done += slt_sweep_work(r, sl->step0, sl->step);
  sl->pid = 0;
  R->active--;
  int fin = WIFEXITED(status) && WEXITSTATUS(status) == 0 ? slt_sweep_finish(R->s, r) : 0;
  char why[1024];
  if (fin == 1) {
    R->sum->done++;
    slt_sweep_event(R, "done: %s (step %lld, loss %.4f)", r->name, (long long)sl->step, sl->loss);
    return;
  }
  if (fin < 0)
    snprintf(why, sizeof why, "%s", slt_err_msg());
  else
    failure_line(r, status, why, sizeof why);
  if (fin == 0 && (stopping || (WIFEXITED(status) && WEXITSTATUS(status) == 0))) {
    R->sum->unfinished++;
    slt_sweep_event(R, "stopped: %s at step %lld of %lld", r->name, (long long)sl->step,
                    (long long)r->steps);
    return;
  }
  R->sum->failed++;
  if (slt_sweep_mark_failed(r, why))
    snprintf(why + strlen(why), sizeof why - strlen(why), " (and FAILED could not be written: %s)",
             slt_err_msg());
  slt_sweep_event(R, "failed: %s: %s", r->name, why);
}

static void reap(slt_sweep_runner *R, bool stopping) {
  int status;
  pid_t pid;
  while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
    for (int j = 0; j < R->o->jobs; j++)
      if (R->slot[j].pid == pid) ended(R, &R->slot[j], status, stopping);
}

/* Forward a stop to every run (each checkpoints and exits); once per signal received. */
static void forward(slt_sweep_runner *R, int *forwarded) {
  int asked = R->o->stop ? (int)*R->o->stop : 0;
  if (asked <= *forwarded) return;
  *forwarded = asked;
  R->sum->interrupted = true;
  slt_sweep_event(R, "sweep: stopping: %d run%s asked to checkpoint and stop%s", R->active,
                  R->active == 1 ? "" : "s", asked > 1 ? " (again: they stop at once)" : "");
  for (int j = 0; j < R->o->jobs; j++)
    if (R->slot[j].pid) kill(R->slot[j].pid, SIGTERM);
}

static int loop(slt_sweep_runner *R) {
  int forwarded = 0;
  R->t_start = slt_now();
  for (;;) {
    forward(R, &forwarded);
    bool stopping = forwarded > 0;
    reap(R, stopping);
    for (int j = 0; !stopping && j < R->o->jobs && R->next < R->nqueue; j++)
      if (!R->slot[j].pid && launch(R, &R->slot[j], &R->runs[R->queue[R->next++]])) return -1;
    if (!R->active && (stopping || R->next == R->nqueue)) return 0;
    slt_sweep_draw(R, false);
    struct timespec nap = {0, 100 * 1000 * 1000};
    nanosleep(&nap, NULL);
  }
}

/* The runs to launch, their directories and configs ready; the others counted. */
static int plan(slt_sweep_runner *R, int n) {
  const slt_sweep_opts *o = R->o;
  for (int i = 0; i < n; i++) {
    slt_sweep_run *r = &R->runs[i];
    if (o->only && !slt_sweep_match(r->name, o->only)) continue;
    R->sum->selected++;
    if (slt_sweep_check_config(r)) return -1; /* a finished run too: its DONE would mislead */
    slt_sweep_status st = slt_sweep_run_status(r);
    if (st == SLT_RUN_DONE) {
      R->sum->skipped_done++;
      continue;
    }
    if (st == SLT_RUN_FAILED && !o->retry_failed) {
      R->sum->skipped_failed++;
      continue;
    }
    char failed[PATH_MAX + 8];
    snprintf(failed, sizeof failed, "%s/FAILED", r->dir);
    if (st == SLT_RUN_FAILED && unlink(failed)) {
      slt_err_set("%s: cannot remove: %s", failed, strerror(errno));
      return -1;
    }
    if (slt_sweep_prepare(r)) return -1;
    R->queue[R->nqueue++] = i;
  }
  return 0;
}

int slt_sweep_execute(const slt_sweep *s, slt_sweep_run *runs, int n, const slt_sweep_opts *o,
                      slt_sweep_summary *sum) {
  static int lock_owner;
  *sum = (slt_sweep_summary){.total = n};
  sum->threads = o->threads > 0 ? o->threads : slt_sweep_threads(o->jobs);
  if (s->ranks > 1) {
    slt_err_set("%s: ranks %d: runs of several MPI ranks go through --slurm (locally, run "
                "mpirun -np %d slt train <run>/config.yaml --resume auto yourself)",
                s->path, s->ranks, s->ranks);
    return -1;
  }
  if (slt_run_lock(s->out, "sweep directory", &lock_owner)) return -1;
  slt_sweep_runner R = {
      .s = s, .runs = runs, .o = o, .sum = sum, .tty = o->out && isatty(fileno(o->out))};
  R.queue = calloc((size_t)n + 1, sizeof *R.queue);
  R.slot = calloc((size_t)o->jobs, sizeof *R.slot);
  int rc = R.queue && R.slot ? plan(&R, n) : -1;
  if (!R.queue || !R.slot) slt_err_set("out of memory planning the sweep");
  if (!rc && o->out)
    fprintf(o->out,
            "sweep: %d runs (%d selected): %d done, %d failed%s, %d to run; %d at once, "
            "train.threads=%d each\n",
            n, sum->selected, sum->skipped_done, sum->skipped_failed,
            sum->skipped_failed && !o->retry_failed ? " (skipped: --retry-failed runs them)" : "",
            R.nqueue, o->jobs, sum->threads);
  if (!rc) rc = loop(&R);
  if (rc) /* a launch failed: stop what runs, then say why */
    for (int j = 0; R.slot && j < o->jobs; j++)
      if (R.slot[j].pid) kill(R.slot[j].pid, SIGTERM), waitpid(R.slot[j].pid, NULL, 0);
  if (!rc) slt_sweep_draw(&R, true);
  if (!rc) rc = slt_sweep_collect(s, runs, n, NULL);
  free(R.queue);
  free(R.slot);
  slt_run_unlock(&lock_owner);
  return rc;
}
