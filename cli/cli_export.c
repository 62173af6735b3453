/* The frame every `slt export --KIND CKPT OUT` shares: help, the flag and two positionals in any
 * order (another export's flag refused), OUT must not exist, then one summary line on success or
 * one error line. Each export supplies its usage text and the conversion itself. */
#include "cli.h"

#include "autograd/error.h"

#include <stdio.h>
#include <string.h>

static const char *const export_flags[] = {"--merge", "--quantize", "--packed", "--gguf", NULL};

static bool is_export_flag(const char *a) {
  for (int k = 0; export_flags[k]; k++)
    if (!strcmp(a, export_flags[k])) return true;
  return false;
}

/* FLAG CKPT OUT in any order into in, out; 0, or 2 for bad usage (said). */
static int parse(int argc, char **argv, const char *flag, const char **in, const char **out) {
  const char *pos[2] = {NULL, NULL};
  int npos = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], flag)) continue;
    if (is_export_flag(argv[i]))
      return slt_cli_usage_error("export", "%s and %s are two exports: run one at a time", flag,
                                 argv[i]);
    if (slt_cli_is_option(argv[i]))
      return slt_cli_usage_error("export", "unknown option '%s'", argv[i]);
    if (!*argv[i])
      return slt_cli_usage_error("export", "%s is an empty string", npos ? "OUT" : "CKPT");
    if (npos == 2)
      return slt_cli_usage_error("export", "unexpected argument '%s' (usage: slt export %s CKPT "
                                           "OUT)", argv[i], flag);
    pos[npos++] = argv[i];
  }
  if (npos != 2)
    return slt_cli_usage_error("export", "expected CKPT and OUT (usage: slt export %s CKPT OUT)",
                               flag);
  *in = pos[0], *out = pos[1];
  return 0;
}

int slt_cli_export(int argc, char **argv, const char *flag, void (*usage)(FILE *),
                   slt_export_fn fn) {
  if (slt_cli_wants_help(argc, argv)) {
    usage(stdout);
    return 0;
  }
  const char *in = NULL, *out = NULL;
  int bad = parse(argc, argv, flag, &in, &out);
  if (bad) return bad;
  if (slt_cli_new_output("export", out, "OUT")) return 1;
  char msg[1024];
  if (fn(in, out, msg, sizeof msg)) {
    fprintf(stderr, "slt export: %s\n", slt_err_msg());
    return 1;
  }
  printf("exported %s\n", msg);
  return 0;
}
