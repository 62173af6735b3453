/* slt sweep SWEEP.yaml: expand a sweep file into runs and train them (child processes, resumable),
 * show them (--dry-run), hand them to Slurm (--slurm) or gather their results (--collect). */
#include "cli.h"

#include "autograd/error.h"
#include "sweep/sweep.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
  const char *file, *slurm, *only;
  long jobs, ranks;
  bool dry_run, collect, retry_failed;
} sweep_args;

static volatile sig_atomic_t stop_requested;

/* Each SIGINT/SIGTERM is counted: the runner forwards one SIGTERM to every run per signal. */
static void on_signal(int sig) {
  (void)sig;
  stop_requested++;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: slt sweep SWEEP.yaml [--jobs N] [--dry-run] [--slurm FILE] [--only PATTERN]\n"
          "                 [--retry-failed] [--collect] [--ranks N]\n\n"
          "Expand a sweep file into runs and train each in <out>/<name>/ as a child process\n"
          "'slt train <out>/<name>/config.yaml --resume auto' (output in <out>/<name>/train.log).\n"
          "A finished run leaves DONE (its result line), a failed one FAILED (the error line).\n"
          "Rerunning skips DONE runs and resumes interrupted ones from their newest checkpoint;\n"
          "results are rebuilt into <out>/results.jsonl and <out>/results.csv (columns for\n"
          "'slt fit'). Ctrl-C (or SIGTERM) asks every run to checkpoint and stop.\n\n"
          "The sweep file (paths relative to it):\n"
          "  base: ../configs/quickstart.yaml            the config every run starts from\n"
          "  out: runs/sweeps/ffn_scaling                the sweep directory\n"
          "  set: {train.eval_every: 200}                overrides for every run\n"
          "  grid: {model.d_model: [64, 128], model.ffn.kind: [dense, lowrank]}  cartesian\n"
          "  runs: {model.ffn.rank: [16, 32]}            zipped lists, crossed with the grid\n"
          "  seeds: [1, 2]                               crossed too\n"
          "  derive: {tokens_per_param: 20, params: nonembed}   train.steps from a budget:\n"
          "      tokens: D | tokens_per_param: r (N non-embedding, or params: total) | flops: C\n"
          "      (C from the model's own training FLOPs per token)\n"
          "  ranks: 1                                    MPI ranks per run (--slurm only)\n\n"
          "options:\n"
          "  --jobs N          runs at once (default 1); each gets cores/N threads\n"
          "  --dry-run         print the runs (params, FLOPs/token, steps, tokens, FLOPs) only\n"
          "  --slurm FILE      write an sbatch array script (a task per unfinished run), run\n"
          "                    nothing\n"
          "  --only PATTERN    only runs whose name matches (a glob with * ? [, else a substring)\n"
          "  --retry-failed    run FAILED runs again (they are skipped otherwise)\n"
          "  --collect         only rebuild results.jsonl and results.csv\n"
          "  --ranks N         MPI ranks per run, overriding the file's ranks (counts in the\n"
          "                    tokens per step)\n");
}

static int option(int argc, char **argv, int *i, slt_cli_seen *seen, sweep_args *a) {
  const char *opt = argv[*i], *v;
  if (slt_cli_once("sweep", seen, opt)) return 2;
  if (!strcmp(opt, "--dry-run")) return a->dry_run = true, 0;
  if (!strcmp(opt, "--collect")) return a->collect = true, 0;
  if (!strcmp(opt, "--retry-failed")) return a->retry_failed = true, 0;
  if (strcmp(opt, "--jobs") && strcmp(opt, "--slurm") && strcmp(opt, "--only") &&
      strcmp(opt, "--ranks"))
    return slt_cli_usage_error("sweep", "unknown option '%s'", opt);
  if (!(v = slt_cli_value("sweep", argc, argv, i))) return 2;
  if (!strcmp(opt, "--jobs")) return slt_cli_long("sweep", opt, v, 1, 256, &a->jobs);
  if (!strcmp(opt, "--ranks")) return slt_cli_long("sweep", opt, v, 1, 65536, &a->ranks);
  *(!strcmp(opt, "--slurm") ? &a->slurm : &a->only) = v;
  return 0;
}

static int parse(int argc, char **argv, sweep_args *a) {
  slt_cli_seen seen = {0};
  for (int i = 1; i < argc; i++) {
    if (slt_cli_is_option(argv[i])) {
      int bad = option(argc, argv, &i, &seen, a);
      if (bad) return bad;
    } else if (a->file) {
      return slt_cli_usage_error("sweep", "one SWEEP.yaml only, got '%s' and '%s'", a->file,
                                 argv[i]);
    } else {
      a->file = argv[i];
    }
  }
  if (!a->file) return slt_cli_usage_error("sweep", "missing SWEEP.yaml");
  if (a->dry_run + a->collect + (a->slurm != NULL) > 1)
    return slt_cli_usage_error("sweep", "--dry-run, --slurm and --collect exclude each other");
  if (a->ranks && !a->dry_run && !a->slurm)
    return slt_cli_usage_error("sweep", "--ranks goes with --slurm (or --dry-run)");
  return 0;
}

static void dry_run(const slt_sweep *s, const slt_sweep_run *runs, int n, const char *only) {
  int w = 4;
  for (int i = 0; i < n; i++)
    if ((int)strlen(runs[i].name) > w) w = (int)strlen(runs[i].name);
  printf("%s: %d runs in %s (base %s)\n", s->path, n, s->out, s->base);
  printf("%-*s  %11s %11s %11s  %10s  %8s  %12s  %10s  %s\n", w, "name", "params", "nonembed",
         "ffn", "flops/tok", "steps", "tokens", "flops", "status");
  for (int i = 0; i < n; i++) {
    const slt_sweep_run *r = &runs[i];
    if (only && !slt_sweep_match(r->name, only)) continue;
    printf("%-*s  %11lld %11lld %11lld  %10.4g  %8lld  %12lld  %10.4g  %s\n", w, r->name,
           (long long)r->counts.total, (long long)(r->counts.total - r->counts.embedding),
           (long long)r->counts.ffn, r->flops_per_token, (long long)r->steps, (long long)r->tokens,
           r->flops, slt_sweep_status_name(slt_sweep_run_status(r)));
  }
}

static int collect(const slt_sweep *s, const slt_sweep_run *runs, int n) {
  int c[4];
  if (slt_sweep_collect(s, runs, n, c)) return -1;
  printf("results: %s/results.csv and results.jsonl: %d done, %d partial, %d failed, %d pending\n",
         s->out, c[SLT_RUN_DONE], c[SLT_RUN_PARTIAL], c[SLT_RUN_FAILED], c[SLT_RUN_PENDING]);
  return 0;
}

/* This program's path, for the children and the Slurm script. */
static int self_exe(char *buf, size_t len) {
  ssize_t n = readlink("/proc/self/exe", buf, len - 1);
  if (n <= 0) return -1;
  buf[n] = '\0';
  return 0;
}

static int slurm(const sweep_args *a, const slt_sweep *s, const slt_sweep_run *runs, int n,
                 const char *exe) {
  int tasks;
  if (slt_sweep_slurm(s, runs, n, a->only, exe, a->slurm, &tasks)) return -1;
  if (!tasks)
    printf("slurm: every selected run is done; nothing written\n");
  else
    printf("slurm: wrote %s: an array of %d task%s (one per unfinished run%s)\n"
           "submit it with:   sbatch %s\nthen collect with: %s sweep %s --collect\n",
           a->slurm, tasks, tasks == 1 ? "" : "s", s->ranks > 1 ? ", each under srun" : "",
           a->slurm, exe, a->file);
  return 0;
}

static int run(const sweep_args *a, const slt_sweep *s, slt_sweep_run *runs, int n,
               const char *exe) {
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  slt_sweep_opts o = {.exe = exe,
                      .jobs = (int)a->jobs,
                      .retry_failed = a->retry_failed,
                      .only = a->only,
                      .stop = &stop_requested,
                      .out = stdout};
  slt_sweep_summary m;
  if (slt_sweep_execute(s, runs, n, &o, &m)) return -1;
  printf("sweep: %d launched: %d done, %d failed, %d stopped early; results in %s/results.csv\n",
         m.launched, m.done, m.failed, m.unfinished, s->out);
  fflush(stdout); /* before any message on stderr */
  if (m.interrupted) {
    fprintf(stderr, "slt sweep: interrupted: the runs stopped at a checkpoint; run the same "
                    "command again to resume them\n");
    return 1;
  }
  if (m.failed + m.skipped_failed) {
    fprintf(stderr,
            "slt sweep: %d run%s failed (the reason is in <run>/FAILED and train.log; "
            "--retry-failed runs them again)\n",
            m.failed + m.skipped_failed, m.failed + m.skipped_failed == 1 ? "" : "s");
    return 1;
  }
  return 0;
}

int slt_cmd_sweep(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  sweep_args a = {.jobs = 1};
  int bad = parse(argc, argv, &a);
  if (bad) return bad;
  char exe[PATH_MAX];
  if (self_exe(exe, sizeof exe)) {
    fprintf(stderr, "slt sweep: cannot find this program's path (/proc/self/exe)\n");
    return 1;
  }
  slt_sweep *s = slt_sweep_load(a.file);
  int n = 0;
  if (s && a.ranks) s->ranks = (int)a.ranks;
  slt_sweep_run *runs = s ? slt_sweep_expand(s, &n) : NULL;
  int rc = runs ? 0 : -1;
  if (!rc && a.dry_run)
    dry_run(s, runs, n, a.only);
  else if (!rc && a.collect)
    rc = collect(s, runs, n);
  else if (!rc && a.slurm)
    rc = slurm(&a, s, runs, n, exe);
  else if (!rc)
    rc = run(&a, s, runs, n, exe); /* 1: failures, already said */
  if (rc < 0) fprintf(stderr, "slt sweep: %s\n", slt_err_msg());
  free(runs);
  slt_sweep_free(s);
  return rc ? 1 : 0;
}
