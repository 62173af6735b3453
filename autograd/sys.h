/* Process facts every floor uses: a monotonic clock and resident memory. */
#ifndef SLT_SYS_H
#define SLT_SYS_H

/* Seconds on a monotonic clock. */
double slt_now(void);
/* Resident memory of this process in MB (/proc/self/statm), 0 when unknown. */
double slt_rss_mb(void);

#endif
