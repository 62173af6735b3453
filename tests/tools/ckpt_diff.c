/* Tensor-by-tensor comparison of two checkpoints with plain HDF5 (see ckpt_diff.h). */
#include "ckpt_diff.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  hid_t b;
  const char *root; /* "/model" or "/optim" */
  ckpt_diff_result *r;
  double diff2, ref2;
  int failed;
} walk;

/* The whole dataset as floats (n of them), or NULL. */
static float *read_all(hid_t f, const char *path, hssize_t *n) {
  hid_t d = H5Dopen2(f, path, H5P_DEFAULT);
  if (d < 0) return NULL;
  hid_t s = H5Dget_space(d);
  *n = H5Sget_simple_extent_npoints(s);
  float *v = malloc((size_t)(*n > 0 ? *n : 1) * sizeof *v);
  if (v && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0) free(v), v = NULL;
  H5Sclose(s);
  H5Dclose(d);
  return v;
}

static void compare(walk *w, const char *path, const float *x, const float *y, hssize_t n) {
  for (hssize_t i = 0; i < n; i++) {
    double d = fabs((double)x[i] - y[i]);
    w->diff2 += d * d;
    w->ref2 += (double)y[i] * y[i];
    if (d > w->r->maxabs || isnan(d)) w->r->maxabs = isnan(d) ? INFINITY : d;
    if (memcmp(&x[i], &y[i], sizeof *x)) {
      if (!w->r->differ) snprintf(w->r->first, sizeof w->r->first, "%s", path);
      w->r->differ++;
    }
  }
  w->r->floats += n;
  w->r->tensors++;
}

static herr_t visit(hid_t a, const char *name, const H5O_info_t *info, void *user) {
  walk *w = user;
  if (info->type != H5O_TYPE_DATASET) return 0;
  char path[512];
  snprintf(path, sizeof path, "%s/%s", w->root, name);
  hssize_t na = 0, nb = 0;
  float *x = read_all(a, name, &na), *y = read_all(w->b, path, &nb);
  if (!x || !y || na != nb) {
    snprintf(w->r->first, sizeof w->r->first, "%s: %s", path,
             !x ? "unreadable in the first file" : !y ? "missing or unreadable in the second file"
                                                     : "sizes differ");
    w->failed = 1;
  } else {
    compare(w, path, x, y, na);
  }
  free(x);
  free(y);
  return w->failed ? 1 : 0;
}

static int walk_group(hid_t fa, hid_t fb, const char *root, walk *w) {
  hid_t g = H5Gopen2(fa, root, H5P_DEFAULT);
  if (g < 0) {
    snprintf(w->r->first, sizeof w->r->first, "%s: missing in the first file", root);
    return -1;
  }
  w->root = root;
  w->b = fb;
  herr_t rc = H5Ovisit(g, H5_INDEX_NAME, H5_ITER_INC, visit, w);
  H5Gclose(g);
  return rc != 0 || w->failed ? -1 : 0;
}

static int64_t optim_step(hid_t f) {
  int64_t v = -1;
  hid_t g = H5Gopen2(f, "/optim", H5P_DEFAULT);
  if (g < 0) return -1;
  if (H5Aexists(g, "step") > 0) {
    hid_t at = H5Aopen(g, "step", H5P_DEFAULT);
    if (H5Aread(at, H5T_NATIVE_INT64, &v) < 0) v = -1;
    H5Aclose(at);
  }
  H5Gclose(g);
  return v;
}

int ckpt_diff(const char *a, const char *b, bool optim, ckpt_diff_result *r) {
  memset(r, 0, sizeof *r);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t fa = H5Fopen(a, H5F_ACC_RDONLY, H5P_DEFAULT), fb = H5Fopen(b, H5F_ACC_RDONLY, H5P_DEFAULT);
  walk w = {.r = r};
  int rc = 0;
  if (fa < 0 || fb < 0) {
    snprintf(r->first, sizeof r->first, "%s: cannot open", fa < 0 ? a : b);
    rc = -1;
  } else if (walk_group(fa, fb, "/model", &w) || (optim && walk_group(fa, fb, "/optim", &w))) {
    rc = -1;
  } else if (optim && optim_step(fa) != optim_step(fb)) {
    snprintf(r->first, sizeof r->first, "/optim step %lld vs %lld", (long long)optim_step(fa),
             (long long)optim_step(fb));
    rc = -1;
  }
  r->rel = w.ref2 > 0 ? sqrt(w.diff2 / w.ref2) : sqrt(w.diff2);
  if (fa >= 0) H5Fclose(fa);
  if (fb >= 0) H5Fclose(fb);
  return rc;
}

bool ckpt_diff_within(const ckpt_diff_result *r, double tol) {
  return tol == 0 ? r->differ == 0 : r->rel <= tol && r->maxabs <= tol;
}
