/* libFuzzer harness: the input is a parquet file; open it and read the `content` column to the
 * end. Any crash, sanitizer report or leak is a finding; errors are the expected outcome. */
#include "fuzz_io.h"

#include "data/parquet.h"

/* A tiny file can legally hold billions of dictionary-encoded values; stop well before a
 * timeout (the reader's cost per value is what matters, not the count). */
#define MAX_VALUES (1 << 20)
#define MAX_TOUCH (64u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  slt_parquet *p = slt_parquet_open(fuzz_file(data, size), "content");
  if (!p) return 0;
  const char *s;
  size_t len, touched = 0;
  for (int i = 0; i < MAX_VALUES && slt_parquet_next(p, &s, &len) == 1; i++) {
    if (touched < MAX_TOUCH)
      fuzz_touch(s, len), touched += len;
    else if (len)
      fuzz_touch(s, 1), fuzz_touch(s + len - 1, 1);
  }
  (void)slt_parquet_rows(p), (void)slt_parquet_nulls(p);
  slt_parquet_close(p);
  return 0;
}
