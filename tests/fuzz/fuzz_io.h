/* Shared by the harnesses: the fuzz input as a file the readers can open by path. A memfd keeps
 * it in memory; /proc/self/fd/N names it. */
#ifndef SLT_FUZZ_IO_H
#define SLT_FUZZ_IO_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* Replace the memfd's contents with data; returns its path. Aborts if the OS refuses (that is a
 * harness failure, not a finding). */
static const char *fuzz_file(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("slt_fuzz", 0);
    if (fd < 0) abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0) abort();
  for (size_t off = 0; off < size;) {
    ssize_t w = pwrite(fd, data + off, size - off, (off_t)off);
    if (w <= 0) abort();
    off += (size_t)w;
  }
  return path;
}

/* Read every byte of a returned value so ASan checks the whole range it claims. */
static volatile uint8_t fuzz_sink;
static inline void fuzz_touch(const void *p, size_t n) {
  const uint8_t *b = p;
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++) acc ^= b[i];
  fuzz_sink ^= acc;
}

#endif
