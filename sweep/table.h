/* A results table read whole from a CSV file (header row, RFC 4180 quoting) or a JSON Lines file
 * (one flat object per line; the columns are the union of the keys in order of first use).
 * Cells are kept as text and read by column name, as numbers or strings, so any sweep's table
 * works as long as it has the columns a caller asks for.
 *
 * Errors are one line naming the file, and the line and column where there is one. */
#ifndef SLT_TABLE_H
#define SLT_TABLE_H

typedef struct slt_table {
  char *path;
  int ncols, nrows;
  char **names; /* ncols column names */
  char **cells; /* nrows × ncols, row-major; NULL where a JSONL line lacks the key or has null */
  int *line;    /* the file line each row starts on (1-based) */
} slt_table;

/* Read path: JSONL when it ends in .jsonl/.json or its first non-blank byte is '{', else CSV.
 * NULL with the error recorded (unreadable file, ragged CSV line, bad JSON, empty table). */
slt_table *slt_table_read(const char *path);
/* Free a table; NULL is fine. */
void slt_table_free(slt_table *t);
/* The index of column name, or -1 (no error recorded: a column may be optional). */
int slt_table_find(const slt_table *t, const char *name);
/* The index of a column the caller needs; -1 with "FILE: no column 'name' (what; columns: ...)"
 * recorded, where what says why it is needed. */
int slt_table_col(const slt_table *t, const char *name, const char *what);
/* The cell's text, or NULL when absent. */
const char *slt_table_str(const slt_table *t, int row, int col);
/* The cell as a number (the whole cell, strtod syntax: nan and inf allowed); -1 with
 * "FILE:LINE: column 'name': ..." recorded when it is absent, empty or not a number. */
int slt_table_num(const slt_table *t, int row, int col, double *out);

#endif
