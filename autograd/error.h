/* Error reporting: library code returns NULL or a negative status and records one message here;
 * only cli/ prints it and exits. The message is per thread. */
#ifndef SLT_ERROR_H
#define SLT_ERROR_H

/* Record an error message (printf-style); replaces any earlier one. */
void slt_err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The last recorded message, or "" when none. */
const char *slt_err_msg(void);
/* Forget the last message. */
void slt_err_clear(void);

#endif
