/* Fault injection for the durability tests, as an LD_PRELOAD library (libslt_fault.so):
 *
 *   SLT_FAULT_LOG=FILE   append one line per durability call, in order:
 *                          fsync PATH | fdatasync PATH | fsync_dir PATH | rename FROM TO
 *                        so a test can prove each temporary file is fsynced before its rename
 *                        and the directory after it (a dropped fsync is caught).
 *   SLT_FAULT=OP:MATCH   make every matching call fail (errno EIO; ENOSPC for write):
 *                          fsync      an fsync/fdatasync of a file whose path contains MATCH
 *                          write      a write/pwrite to a file whose path contains MATCH
 *                          rename     a rename whose source contains MATCH
 *                          fsync_dir  a directory fsync following a rename whose target
 *                                     contains MATCH
 *
 * Paths come from /proc/self/fd. Nothing here allocates: it runs inside HDF5 and the sanitizers. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

static char last_rename_to[PATH_MAX];

static void *next(const char *name) { return dlsym(RTLD_NEXT, name); }

static const char *fd_path(int fd, char *buf, size_t len) {
  char link[64];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, buf, len - 1);
  buf[n > 0 ? n : 0] = '\0';
  return buf;
}

/* Does SLT_FAULT name this op with a MATCH found in subject? */
static int fault(const char *op, const char *subject) {
  const char *f = getenv("SLT_FAULT");
  size_t n = strlen(op);
  return f && !strncmp(f, op, n) && f[n] == ':' && strstr(subject, f + n + 1);
}

static void note(const char *what, const char *a, const char *b) {
  const char *log = getenv("SLT_FAULT_LOG");
  if (!log) return;
  int (*real_open)(const char *, int, ...) = next("open");
  ssize_t (*real_write)(int, const void *, size_t) = next("write");
  int fd = real_open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return;
  char line[2 * PATH_MAX + 32];
  int len = snprintf(line, sizeof line, "%s %s%s%s\n", what, a, b ? " " : "", b ? b : "");
  real_write(fd, line, (size_t)(len < (int)sizeof line ? len : (int)sizeof line - 1));
  close(fd);
}

/* The shared part of fsync and fdatasync: log, then fail or pass on. */
static int sync_common(const char *name, int fd) {
  char path[PATH_MAX];
  struct stat st;
  fd_path(fd, path, sizeof path);
  int dir = fstat(fd, &st) == 0 && S_ISDIR(st.st_mode);
  note(dir ? "fsync_dir" : name, path, NULL);
  if (dir ? fault("fsync_dir", last_rename_to) : fault("fsync", path)) return errno = EIO, -1;
  int (*real)(int) = next(name);
  return real(fd);
}

int fsync(int fd) { return sync_common("fsync", fd); }
int fdatasync(int fd) { return sync_common("fdatasync", fd); }

int rename(const char *from, const char *to) {
  note("rename", from, to);
  snprintf(last_rename_to, sizeof last_rename_to, "%s", to);
  if (fault("rename", from)) return errno = EIO, -1;
  int (*real)(const char *, const char *) = next("rename");
  return real(from, to);
}

/* Only SLT_FAULT=write:... pays for the path lookup. */
static int write_fails(int fd) {
  const char *f = getenv("SLT_FAULT");
  char path[PATH_MAX];
  return f && !strncmp(f, "write:", 6) && fault("write", fd_path(fd, path, sizeof path));
}

ssize_t write(int fd, const void *buf, size_t n) {
  if (write_fails(fd)) return errno = ENOSPC, -1;
  ssize_t (*real)(int, const void *, size_t) = next("write");
  return real(fd, buf, n);
}

ssize_t pwrite(int fd, const void *buf, size_t n, off_t off) {
  if (write_fails(fd)) return errno = ENOSPC, -1;
  ssize_t (*real)(int, const void *, size_t, off_t) = next("pwrite");
  return real(fd, buf, n, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t n, off_t off) {
  if (write_fails(fd)) return errno = ENOSPC, -1;
  ssize_t (*real)(int, const void *, size_t, off_t) = next("pwrite64");
  return real(fd, buf, n, off);
}

ssize_t writev(int fd, const struct iovec *iov, int cnt) {
  if (write_fails(fd)) return errno = ENOSPC, -1;
  ssize_t (*real)(int, const struct iovec *, int) = next("writev");
  return real(fd, iov, cnt);
}
