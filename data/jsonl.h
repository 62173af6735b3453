/* A streaming reader of one string field (e.g. `content` or `text`) from a JSON Lines file.
 *
 * Each non-blank line must be one JSON object; it is fully validated (RFC 8259 grammar, nesting
 * up to 512 levels), other fields of any type are skipped, and the field's string is returned
 * unescaped to UTF-8 (\uXXXX surrogate pairs combined; a lone surrogate becomes U+FFFD). Bytes
 * outside escapes are passed through as they are (invalid UTF-8 is not repaired). When a key
 * repeats, the last occurrence wins, as in Python's json module.
 *
 * A malformed line, or one without the field (or with a non-string value), is an error naming the
 * file and line; with skip_bad it is skipped and counted instead. Lines may be of any length
 * (memory grows with the longest). A reader is not thread-safe: use one per thread. */
#ifndef SLT_JSONL_H
#define SLT_JSONL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct slt_jsonl slt_jsonl;

/* Open path to read `field` from each line. NULL with the error recorded. */
slt_jsonl *slt_jsonl_open(const char *path, const char *field, bool skip_bad);
/* The next line's field: 1 with *str and *len set (NUL-terminated too, but it may contain NUL
 * from \u0000; valid until the next call), 0 at the end, -1 with the error recorded. */
int slt_jsonl_next(slt_jsonl *j, const char **str, size_t *len);
/* Number of the last line read (1-based; blank lines count). */
int64_t slt_jsonl_line(const slt_jsonl *j);
/* Bytes of the file consumed so far (for progress). */
int64_t slt_jsonl_offset(const slt_jsonl *j);
/* Bad lines skipped so far (skip_bad), and the reason for the first of them ("" when none). */
int64_t slt_jsonl_bad(const slt_jsonl *j);
const char *slt_jsonl_first_bad(const slt_jsonl *j);
/* Close and free; NULL is fine. */
void slt_jsonl_close(slt_jsonl *j);

#endif
