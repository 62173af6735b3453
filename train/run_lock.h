/* One writer per run directory: an advisory lock (flock) on the directory itself, held while a
 * run (or `slt prepare --out`) writes into it and released by the kernel when the holder exits
 * or dies, so a double launch or a requeued job whose old copy still runs refuses at once
 * instead of interleaving checkpoints and metrics. */
#ifndef SLT_RUN_LOCK_H
#define SLT_RUN_LOCK_H

/* Lock dir for owner (any address the caller keeps until slt_run_unlock), creating it (mkdir -p)
 * when missing. 0, or -1 with one message naming what ("out_dir", "--out"), dir and the holder
 * (pid and command line) when another process has it. */
int slt_run_lock(const char *dir, const char *what, const void *owner);
/* Release every lock owner holds; a directory the lock created and nothing filled is removed
 * again, so a run that failed before writing leaves nothing behind. No-op when none is held. */
void slt_run_unlock(const void *owner);

#endif
