#define _GNU_SOURCE /* nftw, mkdtemp */
#include "test_util.h"

#include "autograd/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <ftw.h>
#include <hdf5.h>
#include <string.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

static int skipped;

slt_tensor *test_randn(uint64_t seed, int ndim, const int *shape, float std, bool with_grad) {
  slt_tensor *t = slt_tensor_new(ndim, shape);
  if (!t) return NULL;
  slt_rng r;
  slt_rng_seed(&r, seed);
  slt_rng_fill_normal(&r, t->data, t->numel, 0.0f, std);
  if (with_grad && slt_tensor_alloc_grad(t)) {
    slt_tensor_free(t);
    return NULL;
  }
  return t;
}

void test_gradcheck(const char *label, slt_gc_fn f, int nin, slt_tensor *const *inputs,
                    const void *user, double h) {
  slt_gc_result r;
  int rc = slt_gradcheck(f, nin, inputs, user, h, 1234, &r);
  if (rc) printf("\n  [%s] gradcheck failed to run: %s\n", label, slt_err_msg());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  bool ok = r.max_rel_err < SLT_GRADCHECK_TOL && r.min_injected_err > SLT_GRADCHECK_TOL &&
            r.max_accum_err < 1e-6;
  if (!ok || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] rel_err %.2e (tol %.0e), with 1%% injected %.2e, accumulate %.2e\n", label,
           r.max_rel_err, SLT_GRADCHECK_TOL, r.min_injected_err, r.max_accum_err);
  CU_ASSERT(r.max_rel_err < SLT_GRADCHECK_TOL);
  CU_ASSERT(r.min_injected_err > SLT_GRADCHECK_TOL);
  CU_ASSERT(r.max_accum_err < 1e-6);
}

const char *test_data_dir(const char *test_name) {
  const char *dir = getenv("SLT_TEST_DATA");
  if (!dir || !*dir) dir = SLT_DEFAULT_TEST_DATA;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
    char why[512];
    snprintf(why, sizeof why, "test data directory '%s' not found (set SLT_TEST_DATA)", dir);
    test_skip(test_name, why);
    return NULL;
  }
  return dir;
}

bool test_in_ci(void) {
  const char *ci = getenv("CI");
  return ci && *ci && strcmp(ci, "false") && strcmp(ci, "0");
}

void test_skip(const char *test_name, const char *why) {
  skipped++;
  if (!test_in_ci()) {
    printf("\n*** SKIPPED %s: %s ***\n", test_name, why);
    return;
  }
  /* In CI a skip hides a broken setup: it fails the test, in one line naming what is missing. */
  char line[1024];
  snprintf(line, sizeof line, "CI: a skip is a failure: %s: %s", test_name, why);
  printf("\n%s\n", line);
  CU_assertImplementation(CU_FALSE, __LINE__, line, __FILE__, "", CU_FALSE);
}

int test_skipped_count(void) { return skipped; }

double test_rel_err(const float *a, const float *b, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - b[i];
    num += d * d;
    den += (double)b[i] * b[i];
  }
  return sqrt(num) / fmax(sqrt(den), 1e-30);
}

static char tmpdir[64];

int test_tmpdir_init(const char *prefix) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/slt_%s_XXXXXX", prefix);
  return mkdtemp(tmpdir) ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

int test_tmpdir_cleanup(void) { return nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

const char *test_tmpdir(void) { return tmpdir; }

const char *test_tpath(const char *name) {
  static char buf[8][512];
  static int next;
  char *p = buf[next++ % 8];
  snprintf(p, 512, "%s/%s", tmpdir, name);
  return p;
}

bool test_err_has(const char *a, const char *b) {
  const char *m = slt_err_msg();
  bool ok = strstr(m, a) && (!b || strstr(m, b)) && !strchr(m, '\n');
  if (!ok) printf("\n  error \"%s\" lacks \"%s\" / \"%s\"\n", m, a, b ? b : "");
  return ok;
}

double test_h5_attr_num(long long obj, const char *name, double dflt) {
  if (H5Aexists((hid_t)obj, name) <= 0) return dflt;
  hid_t a = H5Aopen((hid_t)obj, name, H5P_DEFAULT), space = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(space);
  double *v = calloc(n > 0 ? (size_t)n : 1, sizeof *v), out = dflt;
  if (v && H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0) out = v[0];
  free(v);
  H5Sclose(space);
  H5Aclose(a);
  return out;
}

double test_h5_attr_req(long long obj, const char *name) {
  bool has = H5Aexists((hid_t)obj, name) > 0;
  if (!has) printf("\n  fixture attribute '%s' is missing\n", name);
  CU_ASSERT(has);
  return test_h5_attr_num(obj, name, NAN);
}

void test_h5_attr_str_req(long long obj, const char *name, char *out, size_t len) {
  test_h5_attr_str(obj, name, out, len);
  if (!out[0]) printf("\n  fixture string attribute '%s' is missing or empty\n", name);
  CU_ASSERT(out[0] != '\0');
}

void test_h5_attr_str(long long obj, const char *name, char *out, size_t len) {
  out[0] = '\0';
  if (H5Aexists((hid_t)obj, name) <= 0) return;
  hid_t a = H5Aopen((hid_t)obj, name, H5P_DEFAULT);
  hid_t t = H5Aget_type(a);
  char *buf = calloc(H5Tget_size(t) + 1, 1);
  if (buf && H5Aread(a, t, buf) >= 0) snprintf(out, len, "%s", buf);
  free(buf);
  H5Tclose(t);
  H5Aclose(a);
}

void test_quiet(bool off) {
  static int saved = -1;
  fflush(stdout);
  if (off) {
    saved = dup(1);
    int fd = open("/dev/null", O_WRONLY);
    dup2(fd, 1);
    close(fd);
  } else if (saved >= 0) {
    dup2(saved, 1);
    close(saved);
    saved = -1;
  }
}

/* Copy the value after key (up to ',' or '}') to out; false when the key is absent. */
static bool field(const char *line, const char *key, char *out, size_t len) {
  const char *p = strstr(line, key);
  size_t n = p ? strcspn(p += strlen(key), ",}") : 0;
  snprintf(out, len, "%.*s", (int)n, p ? p : "");
  return p != NULL;
}

/* "step loss val_loss" per record of out_dir/metrics.jsonl: the numbers, not the timings. */
char *test_loss_log(const char *dir) {
  char path[600], line[1024], step[32], loss[48], val[48];
  snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
  FILE *f = fopen(path, "r");
  size_t cap = 1 << 16, pos = 0;
  char *out = calloc(cap, 1);
  /* A missing log or a record without step or loss fails the test: two empty logs must not
   * compare equal. */
  if (!f) printf("\n  %s: cannot open the metrics log\n", path);
  CU_ASSERT_PTR_NOT_NULL(f);
  while (f && out && fgets(line, sizeof line, f)) {
    bool ok = field(line, "{\"step\":", step, sizeof step);
    ok = field(line, "\"loss\":", loss, sizeof loss) && ok;
    field(line, "\"val_loss\":", val, sizeof val); /* only on evaluation steps */
    if (!ok) printf("\n  %s: a record without step or loss: %s", path, line);
    CU_ASSERT(ok);
    pos += (size_t)snprintf(out + pos, pos < cap ? cap - pos : 0, "%s %s %s\n", step, loss, val);
  }
  if (f) fclose(f);
  CU_ASSERT(pos > 0); /* at least one record */
  return out;
}
