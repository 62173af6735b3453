/* Reading a checkpoint's /state: step and token counts, each rank's data cursor and RNG
 * streams, each checked against what a run can have written. */
#include "checkpoint_internal.h"

#include "autograd/error.h"
#include "config/sgt_steps.h"
#include "layers/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  slt_ckpt *c;
  int world;
  int rc;
} rng_walk;

/* d is (world, 4) of 64-bit integers: the RNG's stored type (any other would be converted, so
 * floats or narrower integers would pass as a made-up state). */
static bool rng_layout_ok(hid_t d, int world) {
  hid_t space = H5Dget_space(d), type = H5Dget_type(d);
  hsize_t dims[2] = {0, 0};
  bool ok = space >= 0 && type >= 0 && H5Tget_class(type) == H5T_INTEGER &&
            H5Tget_size(type) == 8 && H5Sget_simple_extent_ndims(space) == 2 &&
            H5Sget_simple_extent_dims(space, dims, NULL) == 2 && dims[0] == (hsize_t)world &&
            dims[1] == 4;
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  return ok;
}

/* xoshiro256** never leaves the all-zero state (it would draw zeros forever) and never enters
 * it: such a row is corruption. */
static int zero_rng_row(const slt_rng *r, int world) {
  static const slt_rng zero;
  for (int i = 0; i < world; i++)
    if (!memcmp(&r[i], &zero, sizeof zero)) return i;
  return -1;
}

/* Read one (world, 4) RNG dataset into a new array, or NULL with the message recorded. */
static slt_rng *read_rng_rows(const slt_ckpt *c, hid_t g, const char *name, int world) {
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  slt_rng *r = NULL;
  if (d >= 0 && rng_layout_ok(d, world) && (r = calloc((size_t)world, sizeof *r)) &&
      H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) >= 0) {
    int z = zero_rng_row(r, world);
    if (z >= 0) {
      slt_err_set("%s: /state/rng/%s row %d is all zeros (not a xoshiro256** state)", c->path, name,
                  z);
      free(r);
      r = NULL;
    }
  } else {
    H5Eclear2(H5E_DEFAULT);
    slt_err_set("%s: /state/rng/%s is not a uint64 (%d, 4) dataset", c->path, name, world);
    free(r);
    r = NULL;
  }
  if (d >= 0) H5Dclose(d);
  return r;
}

/* One /state/rng/<name> dataset: uint64 (world, 4). */
static herr_t read_rng(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  rng_walk *w = user;
  slt_ckpt_state *s = &w->c->state;
  if (s->nrngs == SLT_CKPT_MAX_RNGS || strlen(name) >= sizeof w->c->rng_name_buf[0]) {
    /* Dropping one would make a later "missing RNG" message point the wrong way. */
    slt_err_set("%s: /state/rng/%s: expected at most %d RNG datasets with names under %zu "
                "characters",
                w->c->path, name, SLT_CKPT_MAX_RNGS, sizeof w->c->rng_name_buf[0]);
    w->rc = -1;
    return 1;
  }
  slt_rng *r = read_rng_rows(w->c, g, name, w->world);
  if (!r) {
    w->rc = -1;
    return 1;
  }
  int i = s->nrngs++;
  snprintf(w->c->rng_name_buf[i], sizeof w->c->rng_name_buf[i], "%s", name);
  s->rng_names[i] = w->c->rng_name_buf[i];
  s->rngs[i] = r;
  return 0;
}

static int read_rngs(slt_ckpt *c, hid_t state) {
  htri_t e = H5Lexists(state, "rng", H5P_DEFAULT);
  if (e == 0) return 0; /* no RNG streams: the trainer names the one it needs */
  hid_t g = ck_open_group_in(c, state, "/state/rng", "rng");
  if (g < 0) return -1;
  rng_walk w = {c, c->state.world, 0};
  /* Native order: HDF5 1.10's sorted iteration over a damaged group frees garbage. */
  herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, read_rng, &w);
  H5Gclose(g);
  if (!w.rc && it < 0) {
    char why[256];
    slt_err_set("%s: cannot list /state/rng (%s): corrupt file", c->path,
                ck_h5_reason(why, sizeof why));
    return -1;
  }
  return w.rc;
}

static const char *const cursor_fields[] = {"step", "micro_step", "rows", "epoch", "seed"};

/* The name of a loader cursor field that d's type lacks as an integer member, or NULL. HDF5
 * would convert a compound that lacks one and leave the field zero. */
static const char *cursor_field_missing(hid_t d) {
  hid_t t = H5Dget_type(d);
  const char *missing = t < 0 || H5Tget_class(t) != H5T_COMPOUND ? cursor_fields[0] : NULL;
  for (size_t i = 0; !missing && i < sizeof cursor_fields / sizeof *cursor_fields; i++) {
    int k = H5Tget_member_index(t, cursor_fields[i]);
    if (k < 0 || H5Tget_member_class(t, (unsigned)k) != H5T_INTEGER) missing = cursor_fields[i];
  }
  if (t >= 0) H5Tclose(t);
  H5Eclear2(H5E_DEFAULT);
  return missing;
}

/* /state/data_cursor into s->cursors: world loader cursors. */
static int load_cursors(slt_ckpt *c, hid_t g) {
  slt_ckpt_state *s = &c->state;
  htri_t e = H5Lexists(g, "data_cursor", H5P_DEFAULT);
  hid_t d = e > 0 ? H5Dopen2(g, "data_cursor", H5P_DEFAULT) : -1;
  if (d < 0) {
    H5Eclear2(H5E_DEFAULT);
    slt_err_set("%s: %s /state/data_cursor (expected a dataset of %d loader cursors)", c->path,
                e > 0 ? "not a dataset:" : "missing dataset", s->world);
    return -1;
  }
  hid_t space = H5Dget_space(d), type = ck_cursor_type();
  hssize_t n = H5Sget_simple_extent_npoints(space);
  const char *missing = cursor_field_missing(d);
  int rc = -1;
  char why[256];
  if (missing)
    slt_err_set("%s: /state/data_cursor lacks the integer member '%s' (expected a compound of "
                "step, micro_step, rows, epoch, seed)",
                c->path, missing);
  else if (n != s->world)
    slt_err_set("%s: /state/data_cursor holds %lld cursors, expected %d (one per rank)", c->path,
                (long long)n, s->world);
  else if (!(s->cursors = calloc((size_t)s->world, sizeof *s->cursors)))
    slt_err_set("%s: out of memory reading /state/data_cursor", c->path);
  else if (H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->cursors) < 0)
    slt_err_set("%s: cannot read /state/data_cursor (%s): corrupt file", c->path,
                ck_h5_reason(why, sizeof why));
  else
    rc = 0;
  H5Tclose(type);
  H5Sclose(space);
  H5Dclose(d);
  return rc;
}

static int read_cursors(slt_ckpt *c, hid_t g) {
  slt_ckpt_state *s = &c->state;
  if (load_cursors(c, g)) return -1;
  /* SGT's fixedflop re-reads the first steps' data at the end: the cursor is at the data step. */
  int64_t data_step = slt_sgt_data_step(&c->cfg, s->step);
  for (int r = 0; r < s->world; r++)
    if (s->cursors[r].step != data_step || s->cursors[r].micro_step != 0) {
      slt_err_set("%s: inconsistent state: rank %d's data cursor is at step %lld micro step %lld, "
                  "the checkpoint's step %lld reads step %lld",
                  c->path, r, (long long)s->cursors[r].step, (long long)s->cursors[r].micro_step,
                  (long long)s->step, (long long)data_step);
      return -1;
    }
  return 0;
}

int ck_read_state(slt_ckpt *c) {
  slt_ckpt_state *s = &c->state;
  hid_t g = ck_open_group(c, "state");
  if (g < 0) return -1;
  int64_t world = 0;
  int rc = ck_get_count(c, g, "/state", "step", 0, CK_MAX_COUNT, &s->step) ||
                   ck_get_count(c, g, "/state", "tokens", 0, CK_MAX_COUNT, &s->tokens) ||
                   ck_get_count(c, g, "/state", "world", 1, 1 << 20, &world)
               ? -1
               : 0;
  s->world = (int)world;
  /* Absent in checkpoints of runs without SGT: no guided steps. */
  if (!rc && H5Aexists(g, "sgt_guided_steps") > 0)
    rc = ck_get_count(c, g, "/state", "sgt_guided_steps", 0, CK_MAX_COUNT, &s->sgt_guided_steps);
  if (!rc) rc = read_cursors(c, g);
  if (!rc) rc = read_rngs(c, g);
  H5Gclose(g);
  return rc;
}
