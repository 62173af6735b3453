/* Parameter groups: rules that set the weight decay and a learning-rate multiplier of parameters
 * chosen by name (fnmatch globs on the dotted name: "*.bias", "wte.*") and by number of dims.
 * Every matching rule applies in order, so later rules override earlier ones. The result is the
 * per-parameter wd[] and lr_mult[] arrays every optimizer step takes. */
#ifndef SLT_GROUPS_H
#define SLT_GROUPS_H

#include "autograd/params.h"

#include <stdbool.h>

#define SLT_GROUP_KEEP (-1.0) /* a rule's wd or lr_mult that leaves the value unchanged */

typedef struct slt_group_rule {
  char pattern[SLT_PARAM_NAME_MAX]; /* glob on the parameter name; "*" matches every name */
  int min_ndim, max_ndim;           /* inclusive range of dims; 0 = no bound */
  double wd, lr_mult;               /* negative (SLT_GROUP_KEEP): leave unchanged */
} slt_group_rule;

typedef struct slt_groups {
  double wd, lr_mult; /* every parameter's values before the rules */
  slt_group_rule *rules;
  int count, cap;
} slt_groups;

/* Start with weight decay wd and lr multiplier 1 for every parameter, and no rules. */
void slt_groups_init(slt_groups *g, double wd);
void slt_groups_free(slt_groups *g);
/* Append a rule; 0 or -1 (bad pattern length or range, out of memory). */
int slt_groups_add(slt_groups *g, const slt_group_rule *r);
/* Append a rule written "[PATTERN] [ndim=N|ndim<=N|ndim>=N] [wd=X] [lr_mult=X]", e.g.
 * "*.bias wd=0", "ndim<=1 wd=0", "wte.* lr_mult=0.5"; 0 or -1 with a message quoting it. */
int slt_groups_parse(slt_groups *g, const char *spec);
/* The trainer's switches as rules: no decay on ≤1-D parameters, on wte/wpe. */
int slt_groups_add_defaults(slt_groups *g, bool no_decay_1d, bool no_decay_embeddings);
/* True when rule r selects parameter q. */
bool slt_groups_match(const slt_group_rule *r, const slt_param *q);
/* Fill wd[p->count] and lr_mult[p->count] (lr_mult may be NULL). */
void slt_groups_apply(const slt_groups *g, const slt_params *p, float *wd, float *lr_mult);
/* Index of the first rule that selects no parameter (a likely typo), or -1. */
int slt_groups_unused(const slt_groups *g, const slt_params *p);

#endif
