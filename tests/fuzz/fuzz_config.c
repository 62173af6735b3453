/* libFuzzer harness: the input is a YAML config, optionally followed by a NUL byte and
 * newline-separated `key=value` overrides. It is loaded as a file (next to fixed neighbours it
 * may include: a valid base, a file including it back, a directory, a binary file) and as a
 * string; accepted configs must validate or fail cleanly, write and load back unchanged; then
 * every override is applied. Each failure must leave the config unchanged and record one
 * non-empty line, which is the project's rule for bad input. */
#include "fuzz_io.h"

#include "autograd/error.h"
#include "config/config.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64], input[96];

static void put(const char *name, const void *data, size_t n) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f)) abort();
}

/* A real directory: includes resolve relative to the including file, and cycles are found by
 * canonical path, which a memfd (fuzz_file) does not have. */
static void setup(void) {
  snprintf(dir, sizeof dir, "/tmp/slt_fuzz_config_XXXXXX");
  if (!mkdtemp(dir)) abort();
  snprintf(input, sizeof input, "%s/input.yaml", dir);
  static const char base[] = "model: {layers: 2, d_model: 64, heads: 2}\nseed: 3\n";
  static const char back[] = "include: input.yaml\n";
  static const unsigned char bin[] = {0x00, 0xff, 0xfe, 0x80, 0x01, '\n', 0xc3};
  put("base.yaml", base, sizeof base - 1);
  put("back.yaml", back, sizeof back - 1);
  put("bin.yaml", bin, sizeof bin);
  char sub[96];
  snprintf(sub, sizeof sub, "%s/sub.yaml", dir);
  if (mkdir(sub, 0755) && errno != EEXIST) abort();
  (void)fuzz_file; /* shared header; inputs here need a real directory */
}

/* A failure: rc -1, the config untouched, one non-empty line of message. */
static void check_failure(const slt_config *c, const slt_config *before) {
  const char *m = slt_err_msg();
  if (!*m || strchr(m, '\n') || strchr(m, '\r')) abort();
  if (memcmp(c, before, sizeof *c)) abort();
}

static void check_result(int rc, const slt_config *c, const slt_config *before) {
  if (rc != 0 && rc != -1) abort();
  if (rc) check_failure(c, before);
}

/* An accepted config writes out and loads back to the same values. */
static void round_trip(const slt_config *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  if (!f) abort();
  if (slt_config_write(c, f)) abort();
  fclose(f);
  slt_config back;
  slt_config_defaults(&back);
  if (slt_config_load_string(&back, buf, "written") || slt_config_diff(c, &back, NULL, NULL, 0)) {
    fprintf(stderr, "round trip failed: %s\n%s\n", slt_err_msg(), buf);
    abort();
  }
  free(buf);
}

static void after_load(int rc, const slt_config *c, const slt_config *before) {
  check_result(rc, c, before);
  if (rc) return;
  slt_err_clear();
  if (slt_config_validate(c)) check_failure(c, c);
  round_trip(c);
}

static void apply_overrides(slt_config *c, char *lines) {
  for (char *line = lines, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    slt_config before = *c;
    slt_err_clear();
    check_result(slt_config_override(c, line), c, &before);
  }
  slt_err_clear();
  if (slt_config_validate(c)) check_failure(c, c);
  round_trip(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (!dir[0]) setup();
  const uint8_t *nul = memchr(data, '\0', size);
  size_t ylen = nul ? (size_t)(nul - data) : size;
  put("input.yaml", data, ylen); /* a NUL in a file is tried by including bin.yaml */

  slt_config c, before;
  slt_config_defaults(&c);
  before = c;
  slt_err_clear();
  after_load(slt_config_load_file(&c, input), &c, &before);

  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  slt_config s;
  slt_config_defaults(&s);
  slt_err_clear();
  after_load(slt_config_load_string(&s, text, "fuzz"), &s, &before);

  if (nul) apply_overrides(&c, text + ylen + 1);
  free(text);
  return 0;
}
