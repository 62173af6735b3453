/* Durable renames (see durable.h). */
#include "durable.h"

#include "error.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* fsync of path's directory (its name into dir); 0 or an errno. */
static int sync_dir(const char *path, char *dir, size_t len) {
  const char *slash = strrchr(path, '/');
  if (!slash) snprintf(dir, len, ".");
  else if (slash == path) snprintf(dir, len, "/");
  else snprintf(dir, len, "%.*s", (int)(slash - path), path);
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  int rc = fd < 0 || fsync(fd) ? errno : 0;
  if (fd >= 0) close(fd);
  return rc;
}

int slt_durable_sync_dir(const char *path) {
  char dir[PATH_MAX];
  int e = sync_dir(path, dir, sizeof dir);
  if (e) slt_err_set("%s: fsync of the directory failed: %s", dir, strerror(e));
  return e ? -1 : 0;
}

int slt_durable_rename(const char *tmp, const char *path) {
  if (rename(tmp, path)) {
    slt_err_set("cannot rename '%s' to '%s': %s", tmp, path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  char dir[PATH_MAX];
  int e = sync_dir(path, dir, sizeof dir);
  if (e) slt_err_set("%s: renamed, but the fsync of its directory failed: %s", path, strerror(e));
  return e ? -1 : 0;
}
