/* Shared by train/config*.c only: setting and formatting one schema row, key lookup helpers. */
#ifndef SLT_CONFIG_INTERNAL_H
#define SLT_CONFIG_INTERNAL_H

#include "config.h"

/* Parse text as the row's (non-list) type, check its range, store it. Records "<key>: ..." on
 * error. */
int cfg_set_text(slt_config *c, const slt_config_key *k, const char *text);
/* Store a two-element list (SLT_CFG_DOUBLE2) from its element texts. */
int cfg_set_pair(slt_config *c, const slt_config_key *k, const char *a, const char *b);
/* The row's value as text; yaml quotes strings so they load back verbatim. */
void cfg_format(const slt_config *c, const slt_config_key *k, char *buf, size_t len, bool yaml);
/* Check the row's current value against its type and range. */
int cfg_check_row(const slt_config *c, const slt_config_key *k);
/* What the row expects, for messages: "an integer", "one of rope|learned|none", ... */
const char *cfg_expected(const slt_config_key *k, char *buf, size_t len);

/* True when some key starts with name + "." (so name is a section like "model.ffn"). */
bool cfg_is_section(const char *name);
/* The closest key (or, when section, the closest section) to name, or NULL when none is close. */
const char *cfg_suggest(const char *name, bool section, char *buf, size_t len);
/* Record "unknown key 'x' (did you mean 'y'?)" (or "unknown section"), after the given prefix. */
void cfg_err_unknown(const char *where, const char *name, bool section);
/* Replace the recorded message m with "<prefix>m". */
void cfg_err_prefix(const char *prefix);

#endif
