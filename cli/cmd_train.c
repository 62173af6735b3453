/* slt train CONFIG.yaml [key=value ...] */
#include "cli.h"

#include "autograd/error.h"
#include "config/config.h"
#include "train/dist.h"
#include "train/train.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static volatile sig_atomic_t stop_requested;

/* The first Ctrl-C (or SIGTERM, or SIGUSR1, which mpirun forwards to every rank) asks the loop
 * to finish its step and stop cleanly; a second one kills the process at once. */
static void on_signal(int sig) {
  if (stop_requested) {
    signal(sig, SIG_DFL);
    raise(sig);
  }
  stop_requested = 1;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: slt train CONFIG.yaml [key=value ...]\n\n"
          "Train the GPT described by CONFIG. Any key can be overridden on the command line,\n"
          "e.g. model.layers=6 optim.lr=3e-4 optim.betas=[0.9,0.95] train.steps=100.\n"
          "The resolved config is printed and saved as <out_dir>/config.yaml; metrics go to\n"
          "<out_dir>/metrics.jsonl. Checkpoints (<out_dir>/ckpt_<step>.h5) are written every\n"
          "train.ckpt_every steps and at the end. Ctrl-C (or SIGTERM, SIGUSR1) finishes the current\n"
          "step, writes a checkpoint and exits with status 3 (a second one ends it at once);\n"
          "train.stop_after and train.time_limit split a run (exit 0).\n"
          "Under MPI (mpirun -np N slt train ...) each rank trains on its slice of every global\n"
          "batch; rank 0 prints and writes; 'kill -USR1' to mpirun stops every rank cleanly.\n\n"
          "options:\n"
          "  --resume auto   continue from the newest complete checkpoint in out_dir\n"
          "                  (starts fresh when there is none)\n"
          "  --resume PATH   continue from that checkpoint (same model config required)\n"
          "  --help          this text\n"
          "  --keys          list every config key with its type, default and meaning\n");
}

/* --resume PATH must name a file before anything is written to out_dir; 0, or 1 after a
 * message. */
static int check_resume(const char *resume) {
  struct stat st;
  if (!strcmp(resume, "auto")) return 0;
  const char *why = stat(resume, &st)      ? strerror(errno)
                    : !S_ISREG(st.st_mode) ? "not a regular file"
                                           : NULL;
  if (why) fprintf(stderr, "slt train: --resume %s: %s\n", resume, why);
  return why ? 1 : 0;
}

/* key=value: an '=' with no '/' before it (config keys hold none; a path such as a sweep's
 * runs/d_model=64,seed=1/config.yaml does). */
static bool is_override(const char *a) {
  const char *eq = strchr(a, '=');
  return eq && !memchr(a, '/', (size_t)(eq - a));
}

/* The config path and --resume value; 0, or 2 (1 for a missing --resume file) after a
 * message. Overrides are left for later. */
static int parse(int argc, char **argv, const char **config_path, const char **resume) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--resume") || !strncmp(a, "--resume=", 9)) {
      if (*resume) return slt_cli_usage_error("train", "--resume given more than once");
      *resume = a[8] == '=' ? a + 9 : i + 1 < argc ? argv[++i] : NULL;
      if (!*resume || !**resume) {
        fprintf(stderr, "slt train: --resume needs 'auto' or a checkpoint path\n");
        return 2;
      }
    } else if (a[0] == '-') {
      fprintf(stderr, "slt train: unknown option '%s' (see 'slt train --help')\n", a);
      return 2;
    } else if (is_override(a)) {
      continue;
    } else if (!*config_path) {
      *config_path = a;
    } else {
      fprintf(stderr, "slt train: unexpected argument '%s': overrides are key=value\n", a);
      return 2;
    }
  }
  if (!*config_path)
    return slt_cli_usage_error("train",
                               "missing CONFIG.yaml; usage: slt train CONFIG.yaml [key=value ...]");
  return *resume ? check_resume(*resume) : 0;
}

/* The config file, then every key=value override in order, whatever their place around it. */
static int load_config(int argc, char **argv, const char *config_path, slt_config *cfg) {
  slt_config_defaults(cfg);
  if (slt_config_load_file(cfg, config_path)) return -1;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--resume"))
      i++;
    else if (argv[i][0] != '-' && is_override(argv[i]) && slt_config_override(cfg, argv[i]))
      return -1;
  }
  return 0;
}

static int train(int argc, char **argv) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--keys")) {
      slt_config_print_help(stdout);
      return 0;
    }
  }
  const char *config_path = NULL, *resume = NULL;
  int bad = parse(argc, argv, &config_path, &resume);
  if (bad) return bad;
  slt_config cfg;
  if (load_config(argc, argv, config_path, &cfg)) {
    fprintf(stderr, "slt train: %s\n", slt_err_msg());
    return 1;
  }
  if (slt_config_validate(&cfg)) {
    fprintf(stderr, "slt train: %s\n", slt_err_msg());
    return 1;
  }
  printf("config (resolved):\n");
  slt_config_write(&cfg, stdout);
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);
  signal(SIGUSR1, on_signal);
  slt_train_opts opts = {.resume = resume, .stop = &stop_requested};
  slt_train_result r;
  if (!slt_train(&cfg, &opts, &r)) return r.interrupted ? SLT_EXIT_STOPPED : 0;
  if (slt_dist_world() > 1) {
    /* A fault may be this rank's alone while the others wait in a collective: name the rank
     * and end them all now rather than let them hang. */
    fprintf(stderr, "slt train: rank %d of %d: %s\n", slt_dist_rank(), slt_dist_world(),
            slt_err_msg());
    slt_dist_abort_job(1);
    exit(1);
  }
  fprintf(stderr, "slt train: %s\n", slt_err_msg());
  return 1;
}

int slt_cmd_train(int argc, char **argv) {
  if (slt_dist_init()) {
    fprintf(stderr, "slt train: %s\n", slt_err_msg());
    return 1;
  }
  /* Only rank 0 prints; the others' errors still reach stderr. */
  if (slt_dist_rank() != 0 && !freopen("/dev/null", "w", stdout)) {
    fprintf(stderr, "slt train: rank %d: cannot silence stdout\n", slt_dist_rank());
    slt_dist_abort_job(1);
    exit(1);
  }
  int rc = train(argc, argv);
  slt_dist_finalize();
  return rc;
}
