/* Per-tensor checksums. HDF5 checksums its metadata but not contiguous raw data, and the
 * tensor bytes bypass HDF5 anyway (checkpoint_raw.c): without a checksum of our own a flipped
 * byte in a weight loads silently and a "bitwise" resume continues from other numbers.
 *
 * XXH3-64 runs at well over 10 GB/s a core, so hashing stays a small fraction of the disk
 * time; tensors are hashed in parallel (one tensor per task: the embedding alone is a tenth of
 * a small model). The sum is of the values as little-endian float32 in C order, so h5py can
 * check it: xxhash.xxh3_64_intdigest(ds[()].astype("<f4").tobytes()) == ds.attrs["xxh3_64"]. */
#include "checkpoint_internal.h"

#include "autograd/error.h"

#include <stdlib.h>
#include <xxhash.h>

uint64_t slt_ckpt_checksum(const void *p, size_t bytes) {
  return (uint64_t)XXH3_64bits(p, bytes);
}

void ck_sum_extents(ck_extents *x) {
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < x->n; i++)
    x->v[i].sum = slt_ckpt_checksum(x->v[i].src, (size_t)x->v[i].bytes);
}

int ck_put_sums(hid_t f, const ck_extents *x) {
  for (int i = 0; i < x->n; i++) {
    /* The attribute was created with the dataset (ck_create_f32): this rewrites its 8 bytes in
     * place, so the dataset's object header keeps the size it was laid out with. The dataset
     * is opened first: HDF5 1.10's H5Aopen_by_name gives an attribute H5Awrite cannot find. */
    hid_t d = H5Oopen(f, x->v[i].path, H5P_DEFAULT);
    hid_t a = d >= 0 ? H5Aopen(d, CK_SUM_ATTR, H5P_DEFAULT) : -1;
    int rc = a >= 0 && H5Awrite(a, H5T_NATIVE_UINT64, &x->v[i].sum) >= 0 ? 0 : -1;
    if (a >= 0) H5Aclose(a);
    if (d >= 0) H5Oclose(d);
    if (rc) return -1;
  }
  return 0;
}

int ck_get_sum(hid_t d, const char *file, const char *dset, uint64_t *sum) {
  if (!ck_attr_get_u64(d, CK_SUM_ATTR, sum)) return 0;
  H5Eclear2(H5E_DEFAULT);
  slt_err_set("%s: %s: the checksum attribute " CK_SUM_ATTR " is missing or not a uint64 scalar "
              "(format version %d on stores one on every tensor): the file is corrupt",
              file, dset, CK_SUM_SINCE_VERSION);
  return -1;
}

static int mismatch(const char *file, const char *dset, uint64_t stored, uint64_t computed) {
  slt_err_set("%s: %s: checksum mismatch (stored 0x%016llx, computed 0x%016llx): the file is "
              "corrupt",
              file, dset, (unsigned long long)stored, (unsigned long long)computed);
  return -1;
}

int ck_check_sum(const char *file, const char *dset, const void *p, int64_t n, uint64_t stored) {
  uint64_t got = slt_ckpt_checksum(p, (size_t)n);
  return got == stored ? 0 : mismatch(file, dset, stored, got);
}

int ck_verify_extents(const char *file, const ck_extents *x) {
  uint64_t *got = malloc((size_t)(x->n ? x->n : 1) * sizeof *got);
  if (!got) {
    slt_err_set("%s: out of memory checking tensor checksums", file);
    return -1;
  }
#pragma omp parallel for schedule(dynamic, 1)
  for (int i = 0; i < x->n; i++)
    if (x->v[i].verify) got[i] = slt_ckpt_checksum(x->v[i].src, (size_t)x->v[i].bytes);
  int rc = 0;
  for (int i = 0; !rc && i < x->n; i++)
    if (x->v[i].verify && got[i] != x->v[i].sum)
      rc = mismatch(file, x->v[i].path, x->v[i].sum, got[i]);
  free(got);
  return rc;
}
