/* Shared by ckpt/checkpoint*.c only: thin HDF5 helpers that turn HDF5's error stack into one
 * recorded message and hide the handle bookkeeping. */
#ifndef SLT_CHECKPOINT_INTERNAL_H
#define SLT_CHECKPOINT_INTERNAL_H

#include "checkpoint.h"
#include "layers/model.h"

#include <hdf5.h>

#define CK_FORMAT_NAME "slt-checkpoint"

/* Once per process: initialise HDF5 and silence its own error printing (we report one line). */
void ck_h5_init(void);
/* The innermost message of HDF5's current error stack ("truncated file: eof = ...") into buf,
 * or "" when the stack is empty; the stack is cleared. Returns buf. */
const char *ck_h5_reason(char *buf, size_t len);

/* ---- raw data (checkpoint_raw.c) ---- */
/* Room for a dataset's full path: "/guide_optim/" + a parameter name + "/" + a slot name. */
#define CK_DSET_PATH (SLT_PARAM_NAME_MAX + 64)
/* Bytes that belong at a file offset: a dataset's contents, written after HDF5 laid it out. */
typedef struct ck_extent {
  int64_t offset, bytes;
  const void *src;
  char path[CK_DSET_PATH]; /* the dataset, from the root ("/optim/wte.weight/m") */
  uint64_t sum;            /* writing: the bytes' checksum; reading: the stored one */
  bool verify;             /* reading: check the bytes read against sum */
} ck_extent;
typedef struct ck_extents {
  ck_extent *v;
  int n, cap;
} ck_extents;
/* Note an extent (verify false, sum 0); path is the dataset's ("" when not known). 0 or -1. */
int ck_extents_push(ck_extents *x, int64_t offset, const void *src, int64_t bytes,
                    const char *path);
void ck_extents_free(ck_extents *x);
/* Write every extent into the existing file at path (x is sorted by offset). 0, or -1 with the
 * error recorded. */
int ck_write_extents(const char *path, ck_extents *x);
/* Read every extent from the file at path into its (writable) src, then check the checksum of
 * each that has verify set. 0, or -1 with the error recorded (a short read names the file as
 * truncated; a mismatch names the dataset). */
int ck_read_extents(const char *path, ck_extents *x);

/* ---- checksums (checkpoint_sum.c) ---- */
/* The attribute on every float32 tensor dataset (format version 2 on): uint64 XXH3-64 of the
 * dataset's values as little-endian float32 bytes in C order. */
#define CK_SUM_ATTR "xxh3_64"
#define CK_SUM_SINCE_VERSION 2
/* Every extent's sum from its src bytes, the extents hashed in parallel. */
void ck_sum_extents(ck_extents *x);
/* Write each extent's sum as the CK_SUM_ATTR attribute of its dataset (x->v[i].path) in the
 * open file f. 0 or -1 (HDF5's error left on its stack). */
int ck_put_sums(hid_t f, const ck_extents *x);
/* The stored checksum of dataset d into *sum; -1 with one message naming file and dset when it
 * is absent or not an unsigned integer scalar. */
int ck_get_sum(hid_t d, const char *file, const char *dset, uint64_t *sum);
/* -1 with "file: dset: checksum mismatch (...)" unless the n bytes at p hash to stored. */
int ck_check_sum(const char *file, const char *dset, const void *p, int64_t n, uint64_t stored);
/* Check every extent with verify set (hashed in parallel); the first mismatch in x's order is
 * reported. 0 or -1. */
int ck_verify_extents(const char *file, const ck_extents *x);

/* ---- attributes ---- */
int ck_attr_put_i64(hid_t obj, const char *name, int64_t v);
int ck_attr_put_str(hid_t obj, const char *name, const char *s);
int ck_attr_put_f64(hid_t obj, const char *name, double v);
int ck_attr_put_u64(hid_t obj, const char *name, uint64_t v);
/* 0 with *v, or -1 (no message) when absent or not an integer scalar. */
int ck_attr_get_i64(hid_t obj, const char *name, int64_t *v);
/* As ck_attr_get_i64 for an unsigned integer scalar (a signed type is refused: converting it
 * would clip). */
int ck_attr_get_u64(hid_t obj, const char *name, uint64_t *v);
/* A malloc'd copy of a string attribute (fixed or variable length), or NULL (no message). */
char *ck_attr_get_str(hid_t obj, const char *name);

/* ---- datasets ---- */
/* Create a contiguous float32 dataset of the given shape with its space allocated but not
 * written, and its checksum attribute reserved (0 until ck_put_sums); returns its byte offset
 * in the file, or -1. */
int64_t ck_create_f32(hid_t loc, const char *name, int ndim, const int *shape);
/* Read loc/name (c's dataset what/name) into out after checking it is a float dataset of
 * exactly this shape and, from format version 2, that it carries its checksum; on failure
 * records "<file>: <what>/<name> ... expected ...". With x, a plain contiguous float32 dataset
 * is not read but noted in x for ck_read_extents, which checks it (others are read and checked
 * here). 0 or -1. */
int ck_get_f32(const slt_ckpt *c, hid_t loc, const char *what, const char *name, int ndim,
               const int *shape, float *out, ck_extents *x);
/* The compound HDF5 type of slt_loader_cursor (close with H5Tclose). */
hid_t ck_cursor_type(void);
/* "(3, 4)" into buf from dims. */
const char *ck_shape_str(int ndim, const hsize_t *dims, char *buf, size_t len);

/* Counts beyond 2^53 (9e15 steps or tokens) are no run's, and the trainer adds to them in int64
 * arithmetic: a larger value can only be corruption, and would overflow there. */
#define CK_MAX_COUNT ((int64_t)1 << 53)

/* ---- groups, counts, messages (checkpoint_h5.c) ---- */
/* loc/name as a group, or -1 with a message that tells missing from unreadable; what names it
 * in the message ("/state"). */
hid_t ck_open_group_in(const slt_ckpt *c, hid_t loc, const char *what, const char *name);
/* The root's group name, as ck_open_group_in. */
hid_t ck_open_group(const slt_ckpt *c, const char *name);
/* /top/name opened, or -1 (no error recorded) when either is missing: the optional groups of
 * derived exports (/quant/<param>, /packed/<param>). */
hid_t ck_find_subgroup(const slt_ckpt *c, const char *top, const char *name);
/* An H5Literate walk calling fn on each stored tensor (the /model, /quant and /packed readers). */
typedef struct {
  const slt_ckpt *c;
  slt_ckpt_tensor_fn fn;
  void *user;
  int rc;
} ck_tensor_walk;
/* The integer attribute where:name of obj into *v, in [lo, hi]; else -1 with one message. */
int ck_get_count(const slt_ckpt *c, hid_t obj, const char *where, const char *name, int64_t lo,
                 int64_t hi, int64_t *v);
/* Prefix the recorded message with the file and what was being checked. Returns -1. */
int ck_fail_prefixed(const char *path, const char *what);

/* ---- parts of slt_ckpt_open ---- */
/* /state (checkpoint_state.c): counts, cursors, RNG streams. 0 or -1. */
int ck_read_state(slt_ckpt *c);
/* The stored config describes the stored tensors (checkpoint_tensors.c). 0 or -1. */
int ck_check_config_fits(slt_ckpt *c);

/* ---- quantized exports (checkpoint_quant.c) ---- */
/* True when the file holds /quant/<name> (a parameter stored as integer codes). */
bool ck_quant_has(const slt_ckpt *c, const char *name);
/* Dequantize /quant/<p's name> into p's data. 0 or -1 with one message naming the dataset. */
int ck_quant_read(const slt_ckpt *c, slt_param *p);
/* Call fn for every /quant entry with its parameter's shape (the codes' shape). 0 or fn's. */
int ck_quant_each(const slt_ckpt *c, slt_ckpt_tensor_fn fn, void *user);
/* dst = m's parameters minus its quantized weight factors and LSQ tensors (data copied). 0/-1. */
int ck_kept_params(const slt_model *m, slt_params *dst);
/* d written to path as a derived model: cfg and keep in place of d's, extra(file, user) adding
 * its own groups before the completion marker (slt_ckpt_data.extra). 0 or -1. */
int ck_write_derived(const char *path, const slt_ckpt_data *d, const slt_config *cfg,
                     const slt_params *keep, int (*extra)(int64_t, void *), void *user);

/* ---- packed exports (checkpoint_packed.c) ---- */
/* True when the file holds /packed/<name> (a weight stored as 2-bit codes). */
bool ck_packed_has(const slt_ckpt *c, const char *name);
/* Dequantize /packed/<p's name> (codes · γ) into p's data. 0 or -1 naming the dataset. */
int ck_packed_read(const slt_ckpt *c, slt_param *p);
/* Run every /packed linear of m from its codes (layers/packed_linear.h). 0 or -1. */
int ck_packed_install(const slt_ckpt *c, slt_model *m);
/* Call fn for every /packed entry with its weight's (out, in). 0 or fn's. */
int ck_packed_each(const slt_ckpt *c, slt_ckpt_tensor_fn fn, void *user);

/* The last path component. */
const char *ck_basename(const char *path);

#endif
