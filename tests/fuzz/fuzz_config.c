/* libFuzzer harness: the input is a YAML config, optionally followed by a NUL byte and
 * newline-separated `key=value` overrides. It is loaded as a file (next to fixed neighbours it
 * may include: a valid base, a file including it back, a directory, a binary file) and as a
 * string; accepted configs must validate or fail cleanly, write and load back unchanged (each
 * distinct config once: see seen_before); then
 * every override is applied. Each failure must leave the config unchanged and record one
 * non-empty line, which is the project's rule for bad input. */
#include "fuzz_io.h"

#include "autograd/error.h"
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>

static char dir[64], input[96];
static int input_fd = -1; /* input.yaml, kept open: rewritten in place for each input */

static void cleanup(void) {
  if (input_fd >= 0) close(input_fd);
  const char *names[] = {"input.yaml", "base.yaml", "back.yaml", "bin.yaml", "sub.yaml"};
  char path[128];
  for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    remove(path);
  }
  rmdir(dir);
}

static void put(const char *name, const void *data, size_t n) {
  char path[128];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, n, f) != n || fclose(f)) abort();
}

/* A real directory: includes resolve relative to the including file, and cycles are found by
 * canonical path, which a memfd (fuzz_file) does not have. It lives in memory (tmpfs, /dev/shm):
 * on a disk file system, rewriting input.yaml by truncation makes every close write back to the
 * disk (ext4's auto_da_alloc), which held the harness to ~300 exec/s. */
static void setup(void) {
  struct stat st;
  bool shm = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0;
  snprintf(dir, sizeof dir, "%s/slt_fuzz_config_XXXXXX", shm ? "/dev/shm" : "/tmp");
  if (!mkdtemp(dir)) abort();
  atexit(cleanup);
  snprintf(input, sizeof input, "%s/input.yaml", dir);
  input_fd = open(input, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (input_fd < 0) abort();
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

/* input.yaml's contents become data (no open and close per input: a tenth of the time). */
static void put_input(const uint8_t *data, size_t n) {
  if (ftruncate(input_fd, 0)) abort();
  for (size_t off = 0; off < n;) {
    ssize_t w = pwrite(input_fd, data + off, n - off, (off_t)off);
    if (w <= 0) abort();
    off += (size_t)w;
  }
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

/* Configs already round-tripped, by digest (direct-mapped, compared in full on a hit). Most
 * accepted inputs are a mutation that changed nothing the config holds (a comment, spacing, a
 * key's position): writing an identical struct out and reading it back again tests nothing new,
 * and was more than half of the harness's time. */
enum { SEEN = 256 };
static slt_config *seen;
static bool used[SEEN];

/* FNV-1a over the struct's 8-byte words, padding included (configs are copied whole, so equal
 * values have equal padding). Out of the coverage feedback (ignore_coverage.txt): a traced
 * compare per byte was a twentieth of the harness's time and says nothing about the input. */
static uint64_t config_digest(const slt_config *c) {
  uint64_t h = 1469598103934665603u, w;
  const unsigned char *b = (const unsigned char *)c;
  size_t i = 0;
  for (; i + sizeof w <= sizeof *c; i += sizeof w) {
    memcpy(&w, b + i, sizeof w);
    h = (h ^ w) * 1099511628211u;
  }
  for (; i < sizeof *c; i++) h = (h ^ b[i]) * 1099511628211u;
  return h;
}

static bool seen_before(const slt_config *c) {
  if (!seen && !(seen = calloc(SEEN, sizeof *seen))) abort();
  size_t i = config_digest(c) % SEEN;
  if (used[i] && !memcmp(&seen[i], c, sizeof *c)) return true;
  used[i] = true;
  seen[i] = *c;
  return false;
}

/* An accepted config writes out and loads back to the same values. */
static void round_trip(const slt_config *c) {
  if (seen_before(c)) return;
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

/* A loaded config validates or fails cleanly, and round-trips; skipped when it equals done, a
 * config already checked (the same input loaded as a file and as a string). */
static void after_load(int rc, const slt_config *c, const slt_config *before,
                       const slt_config *done) {
  check_result(rc, c, before);
  if (rc || (done && !memcmp(c, done, sizeof *c))) return;
  slt_err_clear();
  if (slt_config_validate(c)) check_failure(c, c);
  round_trip(c);
}

static void apply_overrides(slt_config *c, char *lines) {
  slt_config start = *c;
  for (char *line = lines, *next; line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    slt_config before = *c;
    slt_err_clear();
    check_result(slt_config_override(c, line), c, &before);
  }
  if (!memcmp(c, &start, sizeof *c)) return; /* no override took: checked already */
  slt_err_clear();
  if (slt_config_validate(c)) check_failure(c, c);
  round_trip(c);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static slt_config defaults;
  if (!dir[0]) {
    setup();
    slt_config_defaults(&defaults);
    round_trip(&defaults); /* once: then an input that changes nothing needs no round trip */
  }
  const uint8_t *nul = memchr(data, '\0', size);
  size_t ylen = nul ? (size_t)(nul - data) : size;
  put_input(data, ylen); /* a NUL in a file is tried by including bin.yaml */

  slt_config c = defaults;
  slt_err_clear();
  after_load(slt_config_load_file(&c, input), &c, &defaults, &defaults);

  char *text = malloc(size + 1);
  if (!text) abort();
  memcpy(text, data, size);
  text[size] = '\0';
  slt_config s = defaults;
  slt_err_clear();
  after_load(slt_config_load_string(&s, text, "fuzz"), &s, &defaults, &c);

  if (nul) apply_overrides(&c, text + ylen + 1);
  free(text);
  return 0;
}
