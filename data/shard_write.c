/* Writing one token shard (llm.c's format): header and tokens to a temporary file, fsync, then
 * rename over the final name, so a reader never sees half a shard. */
#include "shard.h"

#include "autograd/error.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w == 0) errno = EIO;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Header then tokens, converted to the shard's width in chunks (no full-size copy). */
static int write_body(int fd, const uint32_t *tokens, int64_t n, int width) {
  int32_t hdr[SLT_SHARD_HEADER_BYTES / 4] = {0};
  hdr[0] = width == 2 ? SLT_SHARD_MAGIC_U16 : SLT_SHARD_MAGIC_U32;
  hdr[1] = width == 2 ? SLT_SHARD_VERSION_U16 : SLT_SHARD_VERSION_U32;
  hdr[2] = (int32_t)n;
  if (write_all(fd, hdr, sizeof hdr)) return -1;
  if (width == 4) return n ? write_all(fd, tokens, (size_t)n * 4) : 0;
  enum { CHUNK = 1 << 16 };
  uint16_t *buf = malloc(CHUNK * sizeof *buf);
  if (!buf) return -1;
  int rc = 0;
  for (int64_t i = 0; i < n && rc == 0; i += CHUNK) {
    int64_t m = n - i < CHUNK ? n - i : CHUNK;
    for (int64_t j = 0; j < m; j++) buf[j] = (uint16_t)tokens[i + j];
    rc = write_all(fd, buf, (size_t)m * 2);
  }
  free(buf);
  return rc;
}

/* The rename is only durable once the directory entry itself is on disk. */
static void fsync_dir_of(const char *path) {
  char *copy = strdup(path);
  if (!copy) return;
  int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  free(copy);
}

static int check_write_args(const char *path, const uint32_t *tokens, int64_t n, int width) {
  if (width != 2 && width != 4) {
    slt_err_set("%s: token width must be 2 or 4 bytes, got %d", path, width);
    return -1;
  }
  if (n < 0 || n > INT32_MAX || (n > 0 && !tokens)) {
    slt_err_set("%s: token count %" PRId64 " is outside [0, %d] (the header holds an int32)", path,
                n, INT32_MAX);
    return -1;
  }
  for (int64_t i = 0; width == 2 && i < n; i++)
    if (tokens[i] > UINT16_MAX) {
      slt_err_set("%s: token %" PRId64 " is %" PRIu32
                  ", too large for a uint16 shard (use width 4)",
                  path, i, tokens[i]);
      return -1;
    }
  return 0;
}

int slt_shard_write(const char *path, const uint32_t *tokens, int64_t n, int width) {
  if (check_write_args(path, tokens, n, width)) return -1;
  size_t len = strlen(path);
  char *tmp = malloc(len + 16);
  if (!tmp) {
    slt_err_set("%s: out of memory", path);
    return -1;
  }
  snprintf(tmp, len + 16, "%s.tmp.XXXXXX", path);
  int fd = mkstemp(tmp);
  if (fd < 0) {
    slt_err_set("%s: cannot create a temporary file: %s", path, strerror(errno));
    free(tmp);
    return -1;
  }
  int ok = fchmod(fd, 0644) == 0 && write_body(fd, tokens, n, width) == 0 && fsync(fd) == 0;
  int err = errno;
  if (close(fd) != 0 && ok) ok = 0, err = errno;
  if (ok && rename(tmp, path) != 0) ok = 0, err = errno;
  if (!ok) {
    slt_err_set("%s: write failed: %s", path, strerror(err));
    unlink(tmp);
    free(tmp);
    return -1;
  }
  free(tmp);
  fsync_dir_of(path);
  return 0;
}
