/* Shared by config/config_yaml.c only: reading a YAML stream in one screened pass. */
#ifndef SLT_CONFIG_COMPOSE_H
#define SLT_CONFIG_COMPOSE_H

#include <stddef.h>
#include <yaml.h>

/* Read the parser's whole stream: refuse syntax errors, nesting deeper than a config needs,
 * aliases and NUL characters, and build its first document into doc (as yaml_parser_load would).
 * Returns 0 with doc to be deleted by the caller, or -1 with the message recorded and doc freed.
 * An error that libyaml's loader would find only after the first document was applied (a second
 * document) goes to late ("" when none), for the caller to record then. */
int cfg_yaml_compose(yaml_parser_t *p, const char *origin, yaml_document_t *doc, char *late,
                     size_t late_len);
/* Record the parser's error as "origin:line:col: YAML syntax error: ..." (or a byte offset). */
void cfg_yaml_syntax_error(const yaml_parser_t *p, const char *origin);

#endif
