/* Internal to the table readers (table.c: the table and CSV; table_jsonl.c: JSON Lines). A
 * reader appends cells (row, column, text) as it parses; the table is laid out at the end. */
#ifndef SLT_TABLE_INT_H
#define SLT_TABLE_INT_H

#include "sweep/table.h"

#include <stddef.h>

typedef struct {
  int row, col;
  char *s; /* owned; NULL for an absent value */
} slt_table_cell;

typedef struct {
  slt_table *t;
  slt_table_cell *cells;
  size_t n, cap;
} slt_table_build;

/* Append a cell, taking s (freed on failure); -1 with the error recorded when out of memory. */
int slt_table_put(slt_table_build *b, int row, int col, char *s);
/* Start a row that begins on the given file line; its index, or -1 with the error recorded. */
int slt_table_new_row(slt_table_build *b, int line);
/* The index of column name[0..len), added when new; -1 with the error recorded. */
int slt_table_add_col(slt_table *t, const char *name, size_t len);
/* Parse the whole text of a JSON Lines file into b; -1 with "FILE:LINE: ..." recorded. */
int slt_table_parse_jsonl(slt_table_build *b, const char *text, size_t len);

#endif
