/* Subcommands of the slt program. Each returns the process exit status: 0 success,
 * 1 failure (message printed), 2 bad usage, and for slt train SLT_EXIT_STOPPED. */
#ifndef SLT_CLI_H
#define SLT_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* slt train stopped early by SIGINT, SIGTERM or SIGUSR1 after writing a checkpoint: the run is
 * not finished, and --resume auto continues it (a job script requeues on this status). */
#define SLT_EXIT_STOPPED 3

typedef struct slt_command {
  const char *name;
  const char *help;
  int (*run)(int argc, char **argv);
} slt_command;

/* True when any argument is --help or -h (checked before parsing, so help always wins). */
bool slt_cli_wants_help(int argc, char **argv);

/* Argument checks shared by the subcommands (cli_args.c). Each takes the subcommand's name (cmd,
 * e.g. "eval") and, on bad usage, prints one line "slt <cmd>: ..." naming the option and what
 * was expected, and returns 2; otherwise it returns 0. */

/* Most threads a --threads option accepts. */
#define SLT_CLI_MAX_THREADS 1024

/* Print "slt <cmd>: <message> (see 'slt <cmd> --help')" and return 2. */
int slt_cli_usage_error(const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* True when a is an option (starts with '-' and is not just "-"). */
bool slt_cli_is_option(const char *a);
/* The value after option argv[*i], advancing *i; NULL after a message when it is missing or
 * empty. */
const char *slt_cli_value(const char *cmd, int argc, char **argv, int *i);
/* Options that may be given once: 2 after a message when opt was already seen. */
typedef struct {
  const char *names[32];
  int n;
} slt_cli_seen;
int slt_cli_once(const char *cmd, slt_cli_seen *seen, const char *opt);
/* Strict numbers: the whole of v, no spaces, in range. */
int slt_cli_long(const char *cmd, const char *opt, const char *v, long min, long max, long *out);
int slt_cli_u64(const char *cmd, const char *opt, const char *v, unsigned long long *out);
/* A finite number in [min, max]; expected describes the range for the message. */
int slt_cli_double(const char *cmd, const char *opt, const char *v, double min, double max,
                   const char *expected, double *out);
/* 1 after a message when the output path exists (the commands never overwrite one). */
int slt_cli_new_output(const char *cmd, const char *path, const char *what);

int slt_cmd_train(int argc, char **argv);
int slt_cmd_tokenize(int argc, char **argv);
int slt_cmd_prepare(int argc, char **argv);
int slt_cmd_info(int argc, char **argv);
/* slt info --model CONFIG [key=value ...] (cmd_info_model.c); argv[0] is "--model". */
int slt_info_model(int argc, char **argv);
int slt_cmd_eval(int argc, char **argv);
int slt_cmd_generate(int argc, char **argv);
int slt_cmd_export(int argc, char **argv);
int slt_cmd_fit(int argc, char **argv);
int slt_cmd_sweep(int argc, char **argv);
int slt_cmd_convert(int argc, char **argv);

/* A `slt export FLAG CKPT OUT` conversion: CKPT -> OUT, its summary line into msg; 0 or -1. */
typedef int (*slt_export_fn)(const char *in, const char *out, char *msg, size_t len);
/* The export frame (cli_export.c): --help, FLAG CKPT OUT in any order, OUT must not exist, one
 * summary or error line. Returns the exit status. */
int slt_cli_export(int argc, char **argv, const char *flag, void (*usage)(FILE *),
                   slt_export_fn fn);

#endif
