/* Shared by layers/quant_config.c and layers/quant_set.c only: parsed rules and side checks. */
#ifndef SLT_QUANT_INTERNAL_H
#define SLT_QUANT_INTERNAL_H

#include "quant_config.h"

#include "autograd/params.h"

/* One rule: a glob on the linear name and the sides it sets (fields it does not name come from
 * the global weight / act side). */
typedef struct qc_rule {
  char glob[SLT_PARAM_NAME_MAX];
  bool has_w, has_a;
  slt_quant_side w, a;
} qc_rule;

typedef struct qc_rules {
  qc_rule *v;
  int n;
} qc_rules;

/* Parse q->rules into r (each side checked); 0, or -1 with "model.quant.rules: rule N ...". */
int qc_parse_rules(const slt_quant_config *q, qc_rules *r);
void qc_rules_free(qc_rules *r);
/* Check one side without shapes; weight: the weight side. Records "<key>: why". 0 or -1. */
int qc_check_side(const slt_quant_side *s, bool weight, const char *key);

#endif
