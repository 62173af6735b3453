/* Shared by train/config*.c only: setting and formatting one schema row, key lookup helpers. */
#ifndef SLT_CONFIG_INTERNAL_H
#define SLT_CONFIG_INTERNAL_H

#include "config.h"

/* The struct field a schema row describes. */
static inline void *cfg_field(slt_config *c, const slt_config_key *k) {
  return (char *)c + k->offset;
}
static inline const void *cfg_cfield(const slt_config *c, const slt_config_key *k) {
  return (const char *)c + k->offset;
}

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

/* Room for cfg_show's result: a quoted value stays short enough to leave the key in the message. */
enum { CFG_SHOW = 80 };
/* text as it appears in a message: control characters escaped (one line), cut with "..." to fit
 * len. Returns buf. */
const char *cfg_show(const char *text, char *buf, size_t len);
/* v as the shortest text that reads back bit-identical ("0.1", "1.0e-05"). */
void cfg_format_double(double v, char *buf, size_t len);
/* True when s is well-formed UTF-8 (what a YAML reader accepts). */
bool cfg_utf8_ok(const char *s);

#endif
