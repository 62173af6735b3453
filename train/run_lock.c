/* Advisory run-directory locks (see run_lock.h). */
#define _GNU_SOURCE
#include "run_lock.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MAX_HELD 16

/* Locks this process holds: flock locks belong to an open file description, so the fd stays
 * open until the owner lets go. */
static struct {
  const void *owner;
  int fd;
  bool created; /* the lock made the directory */
  char dir[PATH_MAX];
} held[MAX_HELD];

/* mkdir -p; *created when the last component was made here. 0 or -1 (errno set). */
static int make_dirs(const char *dir, bool *created) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf) return errno = ENAMETOOLONG, -1;
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(buf, 0777) && errno != EEXIST) return -1;
    *p = '/';
  }
  *created = mkdir(buf, 0777) == 0;
  return *created || errno == EEXIST ? 0 : -1;
}

/* "pid N (command line)" of the process holding a flock on (dev, ino), from /proc/locks; "another
 * process" when it cannot be told. */
static void describe_holder(dev_t dev, ino_t ino, char *out, size_t len) {
  snprintf(out, len, "another process");
  FILE *f = fopen("/proc/locks", "r");
  char line[256];
  long pid = -1;
  while (f && pid < 0 && fgets(line, sizeof line, f)) {
    unsigned maj, min;
    unsigned long long inode;
    long p;
    if (strstr(line, "FLOCK") &&
        sscanf(strstr(line, "FLOCK"), "FLOCK %*s %*s %ld %x:%x:%llu", &p, &maj, &min, &inode) == 4 &&
        inode == (unsigned long long)ino && makedev(maj, min) == dev)
      pid = p;
  }
  if (f) fclose(f);
  if (pid < 0) return;
  char path[64], cmd[256] = "";
  snprintf(path, sizeof path, "/proc/%ld/cmdline", pid);
  FILE *c = fopen(path, "r");
  size_t n = c ? fread(cmd, 1, sizeof cmd - 1, c) : 0;
  if (c) fclose(c);
  for (size_t i = 0; i + 1 < n; i++)
    if (!cmd[i]) cmd[i] = ' ';
  cmd[n] = '\0';
  snprintf(out, len, "pid %ld%s%s%s", pid, pid == (long)getpid() ? ", this process" : "",
           cmd[0] ? ": " : "", cmd);
}

static int slot_free(void) {
  for (int i = 0; i < MAX_HELD; i++)
    if (!held[i].owner) return i;
  return -1;
}

int slt_run_lock(const char *dir, const char *what, const void *owner) {
  int i = slot_free();
  bool created = false;
  if (i < 0) {
    slt_err_set("%s %s: too many run directories locked at once", what, dir);
    return -1;
  }
  if (make_dirs(dir, &created)) {
    slt_err_set("%s: cannot create '%s': %s", what, dir, strerror(errno));
    return -1;
  }
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) {
    slt_err_set("%s %s: %s", what, dir, strerror(errno));
    return -1;
  }
  if (flock(fd, LOCK_EX | LOCK_NB)) {
    int e = errno;
    struct stat st;
    char who[400] = "another process";
    if (e == EWOULDBLOCK && !fstat(fd, &st)) describe_holder(st.st_dev, st.st_ino, who, sizeof who);
    close(fd);
    if (e == EWOULDBLOCK)
      slt_err_set("%s %s is in use by %s: one writer per run directory (wait for it to end, or "
                  "choose another %s)", what, dir, who, what);
    else
      slt_err_set("%s %s: cannot lock: %s", what, dir, strerror(e));
    return -1;
  }
  held[i].owner = owner, held[i].fd = fd, held[i].created = created;
  snprintf(held[i].dir, sizeof held[i].dir, "%s", dir);
  return 0;
}

void slt_run_unlock(const void *owner) {
  for (int i = 0; owner && i < MAX_HELD; i++) {
    if (held[i].owner != owner) continue;
    if (held[i].created) rmdir(held[i].dir); /* only succeeds while it is empty */
    close(held[i].fd);
    held[i].owner = NULL;
  }
}
