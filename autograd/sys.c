#include "sys.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

double slt_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

double slt_rss_mb(void) {
  FILE *f = fopen("/proc/self/statm", "r");
  long long size = 0, resident = 0;
  int n = f ? fscanf(f, "%lld %lld", &size, &resident) : 0;
  if (f) fclose(f);
  return n == 2 ? (double)resident * (double)sysconf(_SC_PAGESIZE) / 1e6 : 0.0;
}
