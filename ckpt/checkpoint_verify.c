/* Verifying a whole checkpoint: every float32 tensor in the file read back through HDF5 and
 * checked against its stored xxh3_64, and the optimizer state complete for every parameter.
 * slt_ckpt_open checks header, config and state only, and a resume reads (and checks) just the
 * groups it needs: this is what says a file on disk is intact, every byte of it that matters.
 *
 * The tensors are read with H5Dread, not through the raw extents the writer and the loader use
 * (checkpoint_raw.c): an independent path, so a dataset whose bytes landed at another offset
 * than HDF5's layout says is caught too. */
#include "checkpoint_internal.h"

#include "autograd/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH 4 /* /optim/<param>/<slot> is the deepest tensor */

typedef struct {
  const slt_ckpt *c;
  slt_ckpt_verified *v;
  float *buf;
  int64_t cap; /* floats in buf */
  int depth;
  char path[CK_DSET_PATH];
  int rc;
} walk;

static int fail(walk *w, const char *fmt, const char *detail) {
  H5Eclear2(H5E_DEFAULT);
  char msg[512];
  snprintf(msg, sizeof msg, fmt, detail);
  slt_err_set("%s: %s: %s", w->c->path, w->path, msg);
  w->rc = -1;
  return -1;
}

static int grow(walk *w, int64_t n) {
  if (n <= w->cap) return 0;
  float *b = realloc(w->buf, (size_t)n * sizeof *b);
  if (!b) return fail(w, "%s", "out of memory reading the tensor");
  w->buf = b, w->cap = n;
  return 0;
}

/* The dataset's values, its checksum and finiteness. */
static int check_values(walk *w, hid_t d, int64_t n) {
  uint64_t stored = 0;
  bool want_sum = w->c->format_version >= CK_SUM_SINCE_VERSION;
  if (want_sum && ck_get_sum(d, w->c->path, w->path, &stored)) return w->rc = -1;
  if (grow(w, n ? n : 1)) return -1;
  if (H5Dread(d, H5T_IEEE_F32LE, H5S_ALL, H5S_ALL, H5P_DEFAULT, w->buf) < 0) {
    char why[256];
    return fail(w, "cannot read the tensor (%s): truncated or corrupt file",
                ck_h5_reason(why, sizeof why));
  }
  if (want_sum && ck_check_sum(w->c->path, w->path, w->buf, n * 4, stored)) return w->rc = -1;
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(w->buf[i]))
      return fail(w, "holds %s (expected finite float32 values)", isnan(w->buf[i]) ? "NaN" : "Inf");
  w->v->tensors++;
  w->v->bytes += n * 4;
  return 0;
}

/* A dataset: a float one must be float32 with a good checksum; others (the state's cursors and
 * RNG streams, checked by slt_ckpt_open) are not tensors. */
static int check_dataset(walk *w, hid_t d) {
  hid_t type = H5Dget_type(d), space = H5Dget_space(d);
  H5T_class_t cls = type >= 0 ? H5Tget_class(type) : H5T_NO_CLASS;
  size_t size = type >= 0 ? H5Tget_size(type) : 0;
  hssize_t n = space >= 0 ? H5Sget_simple_extent_npoints(space) : -1;
  int rc = 0;
  if (cls == H5T_FLOAT && size != 4)
    rc = fail(w, "%s", "is a float dataset but not float32");
  else if (cls == H5T_FLOAT && n < 0)
    rc = fail(w, "%s", "has an unreadable shape: corrupt file");
  else if (cls == H5T_FLOAT)
    rc = check_values(w, d, (int64_t)n);
  if (space >= 0) H5Sclose(space);
  if (type >= 0) H5Tclose(type);
  return rc;
}

static herr_t visit(hid_t loc, const char *name, const H5L_info_t *info, void *user);

/* Every link of group loc (native order: see checkpoint_tensors.c's iterate). */
static int walk_group(walk *w, hid_t loc) {
  if (w->depth > MAX_DEPTH) return fail(w, "%s", "groups nested deeper than a checkpoint's");
  w->depth++;
  herr_t it = H5Literate(loc, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, visit, w);
  w->depth--;
  if (w->rc) return -1;
  if (it < 0) {
    char why[256];
    return fail(w, "cannot list the group (%s): corrupt file", ck_h5_reason(why, sizeof why));
  }
  return 0;
}

static herr_t visit(hid_t loc, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  walk *w = user;
  size_t len = strlen(w->path);
  snprintf(w->path + len, sizeof w->path - len, "%s%s", len > 1 ? "/" : "", name);
  hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
  H5I_type_t type = o >= 0 ? H5Iget_type(o) : H5I_BADID;
  int rc = 0;
  if (o < 0)
    rc = fail(w, "%s", "cannot open the object: corrupt file");
  else if (type == H5I_DATASET)
    rc = check_dataset(w, o);
  else if (type == H5I_GROUP)
    rc = walk_group(w, o);
  if (o >= 0) H5Oclose(o);
  w->path[len] = '\0';
  return rc ? -1 : 0;
}

typedef struct {
  const slt_ckpt *c;
  char slots[128];
  int rc;
} optim_walk;

/* /optim/<name>/<slot> for every slot the optimizer names, of the parameter's shape. */
static int has_slots(const char *name, int ndim, const int64_t *shape, void *user) {
  optim_walk *o = user;
  char copy[128], path[CK_DSET_PATH];
  snprintf(copy, sizeof copy, "%s", o->slots);
  for (char *save = NULL, *s = strtok_r(copy, ",", &save); s; s = strtok_r(NULL, ",", &save)) {
    snprintf(path, sizeof path, "optim/%s/%s", name, s);
    hid_t d =
        H5Lexists(o->c->h5, path, H5P_DEFAULT) > 0 ? H5Dopen2(o->c->h5, path, H5P_DEFAULT) : -1;
    hid_t space = d >= 0 ? H5Dget_space(d) : -1;
    hsize_t dims[H5S_MAX_RANK];
    bool same = space >= 0 && H5Sget_simple_extent_dims(space, dims, NULL) == ndim;
    for (int i = 0; same && i < ndim; i++) same = (int64_t)dims[i] == shape[i];
    if (space >= 0) H5Sclose(space);
    if (d >= 0) H5Dclose(d);
    if (!same) {
      H5Eclear2(H5E_DEFAULT);
      slt_err_set("%s: /%s is missing or not of /model/%s's shape: incomplete optimizer state",
                  o->c->path, path, name);
      return o->rc = -1;
    }
  }
  return 0;
}

/* The optimizer's slots (its "slots" attribute) present for every /model tensor. */
static int check_optim(const slt_ckpt *c) {
  hid_t g = ck_open_group(c, "optim");
  if (g < 0) return -1;
  char *slots = ck_attr_get_str(g, "slots");
  H5Gclose(g);
  if (!slots) {
    H5Eclear2(H5E_DEFAULT);
    slt_err_set("%s: /optim has no 'slots' attribute (expected e.g. \"m,v\")", c->path);
    return -1;
  }
  optim_walk o = {.c = c};
  snprintf(o.slots, sizeof o.slots, "%s", slots);
  free(slots);
  return slt_ckpt_each_tensor(c, has_slots, &o) ? -1 : 0;
}

int slt_ckpt_verify(const slt_ckpt *c, slt_ckpt_verified *v) {
  *v = (slt_ckpt_verified){0};
  walk w = {.c = c, .v = v, .path = "/"};
  int rc = check_optim(c);
  if (!rc) rc = walk_group(&w, (hid_t)c->h5);
  free(w.buf);
  if (!rc && v->tensors == 0) {
    slt_err_set("%s: no float32 tensors in the file", c->path);
    rc = -1;
  }
  return rc;
}
