/* Subcommands of the slt program. Each returns the process exit status: 0 success,
 * 1 failure (message printed), 2 bad usage. */
#ifndef SLT_CLI_H
#define SLT_CLI_H

#include <stdbool.h>

typedef struct slt_command {
  const char *name;
  const char *help;
  int (*run)(int argc, char **argv);
} slt_command;

/* True when any argument is --help or -h (checked before parsing, so help always wins). */
bool slt_cli_wants_help(int argc, char **argv);

int slt_cmd_train(int argc, char **argv);
int slt_cmd_tokenize(int argc, char **argv);
int slt_cmd_prepare(int argc, char **argv);
int slt_cmd_info(int argc, char **argv);
int slt_cmd_eval(int argc, char **argv);
int slt_cmd_generate(int argc, char **argv);
int slt_cmd_export(int argc, char **argv);

#endif
