/* libFuzzer harness: the input is a JSONL file; read the `content` field of every line, once
 * stopping at the first bad line and once skipping bad lines. */
#include "fuzz_io.h"

#include "data/jsonl.h"

#include <string.h>

static void read_all(const char *path, bool skip_bad) {
  slt_jsonl *j = slt_jsonl_open(path, "content", skip_bad);
  if (!j) return;
  const char *s;
  size_t len;
  while (slt_jsonl_next(j, &s, &len) == 1) {
    fuzz_touch(s, len + 1); /* the value is NUL-terminated too */
    if (s[len] != '\0') abort();
  }
  (void)strlen(slt_jsonl_first_bad(j));
  slt_jsonl_close(j);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  read_all(path, false);
  read_all(path, true);
  return 0;
}
