/* slt info --model CONFIG.yaml [key=value ...]: a model's parameter counts and training FLOPs per
 * token from its config alone (the model is declared, never allocated), as key=value lines that
 * scripts and sweeps read instead of re-deriving the formulas. */
#include "cli.h"

#include "autograd/error.h"
#include "config/config.h"
#include "layers/model.h"

#include <stdio.h>
#include <string.h>

/* The config file, then every key=value override in order. 0 or -1. */
static int load(int argc, char **argv, slt_config *cfg) {
  slt_config_defaults(cfg);
  if (slt_config_load_file(cfg, argv[1])) return -1;
  for (int i = 2; i < argc; i++)
    if (slt_config_override(cfg, argv[i])) return -1;
  return slt_config_validate(cfg);
}

static void print_model(const slt_model *m) {
  char what[256];
  slt_model_describe(m, what, sizeof what);
  slt_model_counts n = slt_model_count(m);
  printf("model: %s\n", what);
  printf("params_total=%lld\nparams_nonembed=%lld\nparams_ffn=%lld\nparams_ffn_dense=%lld\n",
         (long long)n.total, (long long)(n.total - n.embedding), (long long)n.ffn,
         (long long)n.ffn_dense);
  printf("flops_per_token=%.0f\n", slt_model_flops_per_token(m, m->cfg->seq_len));
}

int slt_info_model(int argc, char **argv) {
  if (argc < 2 || argv[1][0] == '-')
    return slt_cli_usage_error("info", "--model needs CONFIG.yaml; usage: slt info --model "
                                       "CONFIG.yaml [key=value ...]");
  for (int i = 2; i < argc; i++)
    if (!strchr(argv[i], '='))
      return slt_cli_usage_error("info", "unexpected argument '%s': overrides are key=value",
                                 argv[i]);
  slt_config cfg;
  slt_model *m = NULL;
  if (load(argc, argv, &cfg) || !(m = slt_model_build(&cfg.model, SLT_MODEL_DECLARE))) {
    fprintf(stderr, "slt info: %s\n", slt_err_msg());
    return 1;
  }
  print_model(m);
  slt_model_free(m);
  return 0;
}
