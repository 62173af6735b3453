/* Making a file replacement survive a crash: the new name is only durable once the directory
 * entry is on disk, so every tmp+rename write ends with an fsync of the directory. */
#ifndef SLT_DURABLE_H
#define SLT_DURABLE_H

/* fsync the directory that holds path ("." for a bare name). 0, or -1 with the error recorded. */
int slt_durable_sync_dir(const char *path);
/* Rename tmp (its data already fsynced by the caller) over path, then fsync the directory.
 * 0, or -1 with the error recorded; tmp is removed when the rename fails. */
int slt_durable_rename(const char *tmp, const char *path);

#endif
