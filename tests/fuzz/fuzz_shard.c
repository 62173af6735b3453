/* libFuzzer harness: the input is a token shard (llm.c format). Open it through the glob API
 * with and without a vocabulary limit, then read every token, in chunks and across the end. */
#include "fuzz_io.h"

#include "data/shard.h"

static void read_all(const char *path, int vocab) {
  slt_shards *s = slt_shards_open(path, vocab);
  if (!s) return;
  int64_t n = slt_shards_tokens(s);
  int32_t buf[4096];
  for (int64_t off = 0; off < n; off += 4096) {
    int k = n - off < 4096 ? (int)(n - off) : 4096;
    if (slt_shards_read(s, off, k, buf) != 0) abort(); /* in range: must succeed */
    for (int i = 0; i < k; i++)
      if (buf[i] < 0 || (vocab > 0 && buf[i] >= vocab)) abort(); /* validated on open */
  }
  if (slt_shards_read(s, n, 1, buf) == 0 || slt_shards_read(s, -1, 1, buf) == 0) abort();
  (void)slt_shards_path(s, 0), (void)slt_shards_files(s);
  slt_shards_close(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  read_all(path, 0);
  read_all(path, 50257);
  return 0;
}
