/* HDF5 helpers of the checkpoint code: error text, attributes, float32 datasets. */
#include "checkpoint_internal.h"

#include "autograd/error.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void init_once(void) {
  H5open();
  /* HDF5 prints its whole error stack to stderr by default; we record one message instead. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

void ck_h5_init(void) {
  static pthread_once_t once = PTHREAD_ONCE_INIT;
  pthread_once(&once, init_once);
  /* The error stack is per thread in a thread-safe HDF5: silence this thread's too. */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static herr_t first_desc(unsigned n, const H5E_error2_t *e, void *buf) {
  if (n == 0 && e->desc) snprintf(buf, 256, "%s", e->desc);
  return 0;
}

const char *ck_h5_reason(char *buf, size_t len) {
  char inner[256] = "";
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, first_desc, inner);
  H5Eclear2(H5E_DEFAULT);
  snprintf(buf, len, "%s", inner);
  return buf;
}

const char *ck_basename(const char *path) {
  const char *s = strrchr(path, '/');
  return s ? s + 1 : path;
}

const char *ck_shape_str(int ndim, const hsize_t *dims, char *buf, size_t len) {
  size_t pos = (size_t)snprintf(buf, len, "(");
  for (int i = 0; i < ndim && pos < len; i++)
    pos += (size_t)snprintf(buf + pos, len - pos, "%s%llu", i ? ", " : "",
                            (unsigned long long)dims[i]);
  if (pos < len) snprintf(buf + pos, len - pos, ")");
  return buf;
}

/* ---- attributes ---- */

static int put_attr(hid_t obj, const char *name, hid_t type, const void *value) {
  hid_t space = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  int rc = a >= 0 && H5Awrite(a, type, value) >= 0 ? 0 : -1;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  return rc;
}

int ck_attr_put_i64(hid_t obj, const char *name, int64_t v) {
  return put_attr(obj, name, H5T_NATIVE_INT64, &v);
}

int ck_attr_put_f64(hid_t obj, const char *name, double v) {
  return put_attr(obj, name, H5T_NATIVE_DOUBLE, &v);
}

/* Variable-length UTF-8: h5py reads it as a Python str. */
int ck_attr_put_str(hid_t obj, const char *name, const char *s) {
  hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  int rc = put_attr(obj, name, type, &s);
  H5Tclose(type);
  return rc;
}

int ck_attr_put_u64(hid_t obj, const char *name, uint64_t v) {
  return put_attr(obj, name, H5T_STD_U64LE, &v);
}

/* The integer scalar obj:name as mem (a native 64-bit type); sign is checked when want_sign
 * >= 0 (0: unsigned), since a conversion would clip a value the other type cannot hold. */
static int get_int(hid_t obj, const char *name, hid_t mem, int want_sign, void *v) {
  if (H5Aexists(obj, name) <= 0) return -1;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return -1;
  hid_t type = H5Aget_type(a), space = H5Aget_space(a);
  bool ok = H5Tget_class(type) == H5T_INTEGER && H5Sget_simple_extent_npoints(space) == 1 &&
            (want_sign < 0 || (H5Tget_sign(type) == H5T_SGN_2) == (want_sign > 0)) &&
            H5Aread(a, mem, v) >= 0;
  H5Sclose(space);
  H5Tclose(type);
  H5Aclose(a);
  return ok ? 0 : -1;
}

int ck_attr_get_i64(hid_t obj, const char *name, int64_t *v) {
  return get_int(obj, name, H5T_NATIVE_INT64, -1, v);
}

int ck_attr_get_u64(hid_t obj, const char *name, uint64_t *v) {
  return get_int(obj, name, H5T_NATIVE_UINT64, 0, v);
}

char *ck_attr_get_str(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0) return NULL;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return NULL;
  hid_t type = H5Aget_type(a), mem = H5Tcopy(H5T_C_S1), space = H5Aget_space(a);
  char *out = NULL;
  /* One string only: H5Aread writes every element, and the buffers below hold one. */
  bool one = H5Sget_simple_extent_npoints(space) == 1;
  H5Sclose(space);
  if (one && H5Tget_class(type) == H5T_STRING) {
    H5Tset_cset(mem, H5Tget_cset(type));
    if (H5Tis_variable_str(type) > 0) {
      char *p = NULL;
      H5Tset_size(mem, H5T_VARIABLE);
      if (H5Aread(a, mem, &p) >= 0 && p) out = strdup(p);
      H5free_memory(p);
    } else {
      size_t n = H5Tget_size(type);
      H5Tset_size(mem, n);
      out = calloc(n + 1, 1);
      if (out && H5Aread(a, mem, out) < 0) {
        free(out);
        out = NULL;
      }
    }
  }
  H5Tclose(mem);
  H5Tclose(type);
  H5Aclose(a);
  return out;
}

/* ---- datasets ---- */

int64_t ck_create_f32(hid_t loc, const char *name, int ndim, const int *shape) {
  hsize_t dims[H5S_MAX_RANK];
  for (int i = 0; i < ndim; i++) dims[i] = (hsize_t)shape[i];
  hid_t space = H5Screate_simple(ndim, dims, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  /* Contiguous and allocated now, never filled: the space gets a fixed file offset that the
   * raw data is written to afterwards (checkpoint_write.c). */
  H5Pset_layout(dcpl, H5D_CONTIGUOUS);
  H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  hid_t d = H5Dcreate2(loc, name, H5T_IEEE_F32LE, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
  haddr_t off = d >= 0 && !ck_attr_put_u64(d, CK_SUM_ATTR, 0) ? H5Dget_offset(d) : HADDR_UNDEF;
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(space);
  return off == HADDR_UNDEF ? -1 : (int64_t)off;
}

/* Check d is a float dataset of the expected shape; records the message on mismatch. */
static int check_dataset(hid_t d, const char *file, const char *what, const char *name, int ndim,
                         const int *shape) {
  hsize_t want[H5S_MAX_RANK], got[H5S_MAX_RANK];
  for (int i = 0; i < ndim; i++) want[i] = (hsize_t)shape[i];
  char ws[96], gs[96];
  ck_shape_str(ndim, want, ws, sizeof ws);
  hid_t type = H5Dget_type(d), space = H5Dget_space(d);
  bool is_float = H5Tget_class(type) == H5T_FLOAT;
  int got_ndim = H5Sget_simple_extent_ndims(space);
  if (got_ndim > 0 && got_ndim <= H5S_MAX_RANK) H5Sget_simple_extent_dims(space, got, NULL);
  H5Tclose(type);
  H5Sclose(space);
  if (!is_float) {
    slt_err_set("%s: %s/%s is not a float dataset (expected float32 %s)", file, what, name, ws);
    return -1;
  }
  bool same = got_ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = got[i] == want[i];
  if (!same) {
    slt_err_set("%s: %s/%s has shape %s, expected %s", file, what, name,
                got_ndim >= 0 ? ck_shape_str(got_ndim, got, gs, sizeof gs) : "(?)", ws);
    return -1;
  }
  return 0;
}

/* Its offset if d's bytes are exactly n little-endian float32s stored contiguously (so they
 * can be read without HDF5), else -1. */
static int64_t raw_offset(hid_t d, int64_t n) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  hid_t dcpl = H5Dget_create_plist(d), type = H5Dget_type(d);
  bool plain = H5Pget_layout(dcpl) == H5D_CONTIGUOUS && H5Tequal(type, H5T_IEEE_F32LE) > 0 &&
               H5Dget_storage_size(d) == (hsize_t)n * sizeof(float);
  H5Tclose(type);
  H5Pclose(dcpl);
  haddr_t off = plain ? H5Dget_offset(d) : HADDR_UNDEF;
  return off == HADDR_UNDEF ? -1 : (int64_t)off;
#else
  (void)d, (void)n;
  return -1;
#endif
}

/* H5Dread d into out (converting to native float) and check the values against sum. */
static int read_checked(hid_t d, const char *file, const char *dset, int64_t n, float *out,
                        const uint64_t *sum) {
  char why[256];
  if (H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) < 0) {
    slt_err_set("%s: cannot read %s (%s): truncated or corrupt file", file, dset,
                ck_h5_reason(why, sizeof why));
    return -1;
  }
  return sum ? ck_check_sum(file, dset, out, n * (int64_t)sizeof(float), *sum) : 0;
}

static int missing_dataset(const char *file, const char *dset, int ndim, const int *shape) {
  hsize_t want[H5S_MAX_RANK];
  char ws[96];
  for (int i = 0; i < ndim; i++) want[i] = (hsize_t)shape[i];
  slt_err_set("%s: missing dataset %s (expected float32 %s)", file, dset,
              ck_shape_str(ndim, want, ws, sizeof ws));
  return -1;
}

int ck_get_f32(const slt_ckpt *c, hid_t loc, const char *what, const char *name, int ndim,
               const int *shape, float *out, ck_extents *x) {
  char dset[CK_DSET_PATH], why[256];
  snprintf(dset, sizeof dset, "%s/%s", what, name);
  if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return missing_dataset(c->path, dset, ndim, shape);
  hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
  if (d < 0) {
    slt_err_set("%s: %s is not a dataset (%s)", c->path, dset, ck_h5_reason(why, sizeof why));
    return -1;
  }
  uint64_t sum = 0;
  bool summed = c->format_version >= CK_SUM_SINCE_VERSION;
  int rc = check_dataset(d, c->path, what, name, ndim, shape);
  if (!rc && summed) rc = ck_get_sum(d, c->path, dset, &sum);
  int64_t n = 1, off = -1;
  for (int i = 0; i < ndim; i++) n *= shape[i];
  if (!rc && x && (off = raw_offset(d, n)) >= 0) {
    rc = ck_extents_push(x, off, out, n * (int64_t)sizeof(float), dset);
    if (!rc) x->v[x->n - 1].sum = sum, x->v[x->n - 1].verify = summed;
  } else if (!rc)
    rc = read_checked(d, c->path, dset, n, out, summed ? &sum : NULL);
  H5Dclose(d);
  return rc;
}

hid_t ck_cursor_type(void) {
  hid_t t = H5Tcreate(H5T_COMPOUND, sizeof(slt_loader_cursor));
  H5Tinsert(t, "step", HOFFSET(slt_loader_cursor, step), H5T_NATIVE_INT64);
  H5Tinsert(t, "micro_step", HOFFSET(slt_loader_cursor, micro_step), H5T_NATIVE_INT64);
  H5Tinsert(t, "rows", HOFFSET(slt_loader_cursor, rows), H5T_NATIVE_INT64);
  H5Tinsert(t, "epoch", HOFFSET(slt_loader_cursor, epoch), H5T_NATIVE_INT64);
  H5Tinsert(t, "seed", HOFFSET(slt_loader_cursor, seed), H5T_NATIVE_UINT64);
  return t;
}

/* ---- groups, counts, messages ---- */

/* loc/name as a group, or -1 with a message that tells missing from unreadable. what names it
 * in the message ("/state"). */
hid_t ck_open_group_in(const slt_ckpt *c, hid_t loc, const char *what, const char *name) {
  char why[256];
  htri_t e = H5Lexists(loc, name, H5P_DEFAULT);
  if (e <= 0) {
    if (e < 0)
      slt_err_set("%s: cannot read group %s (%s): corrupt file", c->path, what,
                  ck_h5_reason(why, sizeof why));
    else
      slt_err_set("%s: missing group %s", c->path, what);
    return -1;
  }
  hid_t g = H5Gopen2(loc, name, H5P_DEFAULT);
  if (g < 0)
    slt_err_set("%s: %s is not a group (%s)", c->path, what, ck_h5_reason(why, sizeof why));
  return g;
}

hid_t ck_open_group(const slt_ckpt *c, const char *name) {
  char what[96];
  snprintf(what, sizeof what, "/%s", name);
  return ck_open_group_in(c, c->h5, what, name);
}

hid_t ck_find_subgroup(const slt_ckpt *c, const char *top, const char *name) {
  if (H5Lexists(c->h5, top, H5P_DEFAULT) <= 0) return -1;
  hid_t q = H5Gopen2(c->h5, top, H5P_DEFAULT);
  hid_t g = q >= 0 && H5Lexists(q, name, H5P_DEFAULT) > 0 ? H5Gopen2(q, name, H5P_DEFAULT) : -1;
  if (q >= 0) H5Gclose(q);
  H5Eclear2(H5E_DEFAULT);
  return g;
}

/* The integer attribute where/name into *v, in [lo, hi]; else one message naming it. */
int ck_get_count(const slt_ckpt *c, hid_t obj, const char *where, const char *name, int64_t lo,
                 int64_t hi, int64_t *v) {
  const char *problem = NULL;
  if (H5Aexists(obj, name) <= 0)
    problem = "is missing";
  else if (ck_attr_get_i64(obj, name, v))
    problem = "is not an integer scalar";
  else if (*v < lo || *v > hi) {
    slt_err_set("%s: attribute %s:%s is %lld, expected an integer in [%lld, %lld]", c->path, where,
                name, (long long)*v, (long long)lo, (long long)hi);
    return -1;
  }
  if (!problem) return 0;
  H5Eclear2(H5E_DEFAULT);
  slt_err_set("%s: attribute %s:%s %s (expected an integer in [%lld, %lld])", c->path, where, name,
              problem, (long long)lo, (long long)hi);
  return -1;
}

/* Prefix the recorded message with the file and what was being checked. -1. */
int ck_fail_prefixed(const char *path, const char *what) {
  char msg[1024];
  snprintf(msg, sizeof msg, "%s", slt_err_msg());
  slt_err_set("%s: %s%s", path, what, msg);
  return -1;
}
