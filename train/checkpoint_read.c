/* Reading and validating checkpoints: every way a file can be wrong (not HDF5, truncated, not
 * ours, interrupted, missing or misshapen tensors, another model) is one message naming the file
 * and what was expected. */
#include "checkpoint_internal.h"

#include "autograd/error.h"
#include "train/trainer.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- header, config, state ---- */

static int open_file(slt_ckpt *c) {
  const char *path = c->path;
  struct stat st;
  if (stat(path, &st)) {
    slt_err_set("%s: cannot open the checkpoint: %s", path, strerror(errno));
    return -1;
  }
  if (!S_ISREG(st.st_mode)) {
    slt_err_set("%s: not a checkpoint file (expected an .h5 file written by slt train)", path);
    return -1;
  }
  c->file_bytes = (int64_t)st.st_size;
  if (st.st_size == 0 || H5Fis_hdf5(path) <= 0) {
    H5Eclear2(H5E_DEFAULT);
    slt_err_set("%s: not an HDF5 file%s (expected an slt checkpoint)", path,
                st.st_size ? "" : " (empty)");
    return -1;
  }
  c->h5 = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (c->h5 < 0) {
    char why[256];
    slt_err_set("%s: cannot open as HDF5 (%s): the file is truncated or corrupt", path,
                ck_h5_reason(why, sizeof why));
    return -1;
  }
  return 0;
}

static int read_header(slt_ckpt *c) {
  const char *path = c->path;
  char *format = ck_attr_get_str(c->h5, "format");
  bool ours = format && !strcmp(format, CK_FORMAT_NAME);
  free(format);
  int64_t version = 0, complete = 0;
  if (!ours || ck_attr_get_i64(c->h5, "format_version", &version)) {
    slt_err_set("%s: not an slt checkpoint (expected root attributes format = \"%s\" and "
                "format_version)",
                path, CK_FORMAT_NAME);
    return -1;
  }
  if (version < 1 || version > SLT_CKPT_FORMAT_VERSION) {
    slt_err_set("%s: checkpoint format version %lld, but this slt reads versions 1 to %d", path,
                (long long)version, SLT_CKPT_FORMAT_VERSION);
    return -1;
  }
  c->format_version = (int)version;
  if (ck_attr_get_i64(c->h5, "complete", &complete) || complete != 1) {
    slt_err_set("%s: incomplete checkpoint (no 'complete' marker): its write was interrupted",
                path);
    return -1;
  }
  char *yaml = ck_attr_get_str(c->h5, "config");
  if (!yaml) {
    slt_err_set("%s: the checkpoint has no 'config' attribute (expected the run's YAML)", path);
    return -1;
  }
  char origin[SLT_CKPT_PATH + 16];
  snprintf(origin, sizeof origin, "%s:config", path);
  slt_config_defaults(&c->cfg);
  int rc = slt_config_load_string(&c->cfg, yaml, origin);
  free(yaml);
  return rc;
}

static int read_optim_header(slt_ckpt *c) {
  hid_t g = H5Lexists(c->h5, "optim", H5P_DEFAULT) > 0 ? H5Gopen2(c->h5, "optim", H5P_DEFAULT) : -1;
  char *name = g >= 0 ? ck_attr_get_str(g, "name") : NULL;
  int rc = name && !ck_attr_get_i64(g, "step", &c->optim_step) ? 0 : -1;
  if (name) snprintf(c->optim_name, sizeof c->optim_name, "%s", name);
  free(name);
  if (g >= 0) H5Gclose(g);
  if (rc) slt_err_set("%s: missing /optim or its attributes name and step", c->path);
  return rc;
}

typedef struct {
  slt_ckpt *c;
  int world;
  int rc;
} rng_walk;

/* One /state/rng/<name> dataset: uint64 (world, 4). */
static herr_t read_rng(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  rng_walk *w = user;
  slt_ckpt_state *s = &w->c->state;
  if (s->nrngs == SLT_CKPT_MAX_RNGS) return 0;
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  hid_t space = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t dims[2] = {0, 0};
  bool ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 2 &&
            H5Sget_simple_extent_dims(space, dims, NULL) == 2 && dims[0] == (hsize_t)w->world &&
            dims[1] == 4;
  slt_rng *r = ok ? calloc((size_t)w->world, sizeof *r) : NULL;
  ok = r && H5Dread(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, r) >= 0;
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Dclose(d);
  if (!ok) {
    free(r);
    slt_err_set("%s: /state/rng/%s is not a uint64 (%d, 4) dataset", w->c->path, name, w->world);
    w->rc = -1;
    return 1;
  }
  int i = s->nrngs++;
  snprintf(w->c->rng_name_buf[i], sizeof w->c->rng_name_buf[i], "%s", name);
  s->rng_names[i] = w->c->rng_name_buf[i];
  s->rngs[i] = r;
  return 0;
}

static int read_cursors(slt_ckpt *c, hid_t g) {
  slt_ckpt_state *s = &c->state;
  hid_t d =
      H5Lexists(g, "data_cursor", H5P_DEFAULT) > 0 ? H5Dopen2(g, "data_cursor", H5P_DEFAULT) : -1;
  hid_t space = d >= 0 ? H5Dget_space(d) : -1, type = ck_cursor_type();
  bool ok = space >= 0 && H5Sget_simple_extent_npoints(space) == s->world;
  s->cursors = ok ? calloc((size_t)s->world, sizeof *s->cursors) : NULL;
  ok = s->cursors && H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->cursors) >= 0;
  H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Dclose(d);
  if (!ok) {
    slt_err_set("%s: /state/data_cursor missing or not %d loader cursors", c->path, s->world);
    return -1;
  }
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

static int read_state(slt_ckpt *c) {
  slt_ckpt_state *s = &c->state;
  hid_t g = H5Lexists(c->h5, "state", H5P_DEFAULT) > 0 ? H5Gopen2(c->h5, "state", H5P_DEFAULT) : -1;
  int64_t world = 0;
  if (g < 0 || ck_attr_get_i64(g, "step", &s->step) || ck_attr_get_i64(g, "tokens", &s->tokens) ||
      ck_attr_get_i64(g, "world", &world) || world < 1 || world > 1 << 20 || s->step < 0) {
    slt_err_set("%s: missing /state or its attributes step, tokens, world", c->path);
    if (g >= 0) H5Gclose(g);
    return -1;
  }
  s->world = (int)world;
  /* Absent in checkpoints of runs without SGT: no guided steps. */
  if (ck_attr_get_i64(g, "sgt_guided_steps", &s->sgt_guided_steps)) s->sgt_guided_steps = 0;
  int rc = read_cursors(c, g);
  if (!rc && H5Lexists(g, "rng", H5P_DEFAULT) > 0) {
    rng_walk w = {c, s->world, 0};
    H5Literate_by_name(g, "rng", H5_INDEX_NAME, H5_ITER_INC, NULL, read_rng, &w, H5P_DEFAULT);
    rc = w.rc;
  }
  H5Gclose(g);
  return rc;
}

int slt_ckpt_open(slt_ckpt *c, const char *path) {
  memset(c, 0, sizeof *c);
  c->h5 = -1;
  ck_h5_init();
  snprintf(c->path, sizeof c->path, "%s", path);
  if (open_file(c) || read_header(c) || read_optim_header(c) || read_state(c)) {
    slt_ckpt_close(c);
    return -1;
  }
  return 0;
}

void slt_ckpt_close(slt_ckpt *c) {
  if (c->h5 >= 0) H5Fclose(c->h5);
  c->h5 = -1;
  free(c->state.cursors);
  for (int i = 0; i < c->state.nrngs; i++) free(c->state.rngs[i]);
  c->state = (slt_ckpt_state){0};
}

int slt_ckpt_find_rng(const slt_ckpt *c, const char *name) {
  for (int i = 0; i < c->state.nrngs; i++)
    if (!strcmp(c->state.rng_names[i], name)) return i;
  return -1;
}

int slt_ckpt_check_model(const slt_ckpt *c, const slt_config *cfg) {
  char diff[1024];
  int n = slt_config_diff(&c->cfg, cfg, "model.", diff, sizeof diff);
  if (n == 0) return 0;
  slt_err_set("%s: the checkpoint's model differs from this run's in %d key%s: %s (checkpoint vs "
              "run); resuming needs the same model",
              c->path, n, n > 1 ? "s" : "", diff);
  return -1;
}

/* ---- tensors ---- */

typedef struct {
  const slt_ckpt *c;
  const char *group;
  const slt_params *p;
  int rc;
} extra_walk;

static herr_t find_extra(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)g, (void)info;
  extra_walk *w = user;
  if (slt_params_find(w->p, name)) return 0;
  slt_err_set("%s: /%s/%s is not a parameter of this model (config and tensors disagree)",
              w->c->path, w->group, name);
  w->rc = -1;
  return 1;
}

static hid_t open_group(const slt_ckpt *c, const char *name) {
  hid_t g = H5Lexists(c->h5, name, H5P_DEFAULT) > 0 ? H5Gopen2(c->h5, name, H5P_DEFAULT) : -1;
  if (g < 0) slt_err_set("%s: missing group /%s", c->path, name);
  return g;
}

/* /<group>/<param> into every parameter of p, and no dataset p lacks. */
static int read_store(const slt_ckpt *c, const char *group, slt_params *p) {
  hid_t g = open_group(c, group);
  if (g < 0) return -1;
  int rc = 0;
  ck_extents x = {0};
  char what[64];
  snprintf(what, sizeof what, "/%s", group);
  for (int i = 0; !rc && i < p->count; i++) {
    slt_param *q = p->items[i];
    rc = ck_get_f32(g, c->path, what, q->name, q->t.ndim, q->t.shape, q->t.data, &x);
  }
  extra_walk w = {c, group, p, 0};
  if (!rc) H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, find_extra, &w);
  H5Gclose(g);
  if (!rc) rc = w.rc;
  if (!rc) rc = ck_read_extents(c->path, &x);
  ck_extents_free(&x);
  return rc;
}

int slt_ckpt_read_params(const slt_ckpt *c, slt_params *p) { return read_store(c, "model", p); }

/* /<group>/<param>/<slot> into o's slots (laid out like p). */
static int read_slots(const slt_ckpt *c, const char *group, const slt_params *p,
                      slt_ckpt_optim *o) {
  hid_t g = open_group(c, group);
  if (g < 0) return -1;
  int rc = 0;
  ck_extents x = {0};
  char what[SLT_PARAM_NAME_MAX + 32];
  for (int i = 0; !rc && i < p->count; i++) {
    const slt_param *q = p->items[i];
    snprintf(what, sizeof what, "/%s/%s", group, q->name);
    hid_t pg = H5Lexists(g, q->name, H5P_DEFAULT) > 0 ? H5Gopen2(g, q->name, H5P_DEFAULT) : -1;
    if (pg < 0) {
      slt_err_set("%s: missing group %s (expected slots of %s)", c->path, what, q->name);
      rc = -1;
      break;
    }
    for (int k = 0; !rc && k < o->nslots; k++)
      rc = ck_get_f32(pg, c->path, what, o->slot_names[k], q->t.ndim, q->t.shape,
                      o->slots[k] + q->offset, &x);
    H5Gclose(pg);
  }
  H5Gclose(g);
  if (!rc) rc = ck_read_extents(c->path, &x);
  ck_extents_free(&x);
  return rc;
}

int slt_ckpt_read_optim(const slt_ckpt *c, const slt_params *p, slt_ckpt_optim *o) {
  if (o->name && strcmp(o->name, c->optim_name)) {
    slt_err_set("%s: the optimizer state is %s's, this run uses %s", c->path, c->optim_name,
                o->name);
    return -1;
  }
  o->step = c->optim_step;
  return read_slots(c, "optim", p, o);
}

bool slt_ckpt_has_guide(const slt_ckpt *c) { return H5Lexists(c->h5, "guide", H5P_DEFAULT) > 0; }

int slt_ckpt_read_guide(const slt_ckpt *c, slt_params *p, slt_ckpt_optim *o) {
  if (read_store(c, "guide", p)) return -1;
  hid_t g = open_group(c, "guide_optim");
  if (g < 0) return -1;
  int rc = ck_attr_get_i64(g, "step", &o->step);
  H5Gclose(g);
  if (rc) {
    slt_err_set("%s: /guide_optim lacks its step attribute", c->path);
    return -1;
  }
  return read_slots(c, "guide_optim", p, o);
}

int slt_ckpt_load_model(const char *path, slt_gpt *m, slt_config *cfg) {
  slt_ckpt c;
  memset(m, 0, sizeof *m);
  if (slt_ckpt_open(&c, path)) return -1;
  *cfg = c.cfg;
  slt_gpt_config g;
  slt_trainer_model_config(cfg, &g);
  int rc = slt_gpt_build(m, &g) || slt_ckpt_read_params(&c, &m->params) ? -1 : 0;
  slt_ckpt_close(&c);
  if (rc) slt_gpt_free(m);
  return rc;
}

typedef struct {
  slt_ckpt_tensor_fn fn;
  void *user;
  int rc;
} tensor_walk;

static herr_t visit_tensor(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  tensor_walk *w = user;
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  if (d < 0) return 0; /* not a dataset: nothing to report */
  hid_t space = H5Dget_space(d);
  hsize_t dims[H5S_MAX_RANK];
  int ndim = H5Sget_simple_extent_dims(space, dims, NULL);
  int64_t shape[H5S_MAX_RANK];
  for (int i = 0; i < ndim; i++) shape[i] = (int64_t)dims[i];
  H5Sclose(space);
  H5Dclose(d);
  w->rc = w->fn(name, ndim < 0 ? 0 : ndim, shape, w->user);
  return w->rc ? 1 : 0;
}

int slt_ckpt_each_tensor(const slt_ckpt *c, slt_ckpt_tensor_fn fn, void *user) {
  hid_t g = open_group(c, "model");
  if (g < 0) return -1;
  tensor_walk w = {fn, user, 0};
  H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, visit_tensor, &w);
  H5Gclose(g);
  return w.rc;
}

/* ---- the newest complete checkpoint ---- */

static int cmp_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* Checkpoint steps in dir, newest first; *n gets the count. NULL with *n = 0 when none. */
static int64_t *list_steps(const char *dir, int *n, int *err) {
  *n = 0;
  *err = 0;
  DIR *d = opendir(dir);
  if (!d) {
    if (errno != ENOENT) {
      slt_err_set("%s: cannot list checkpoints: %s", dir, strerror(errno));
      *err = -1;
    }
    return NULL;
  }
  int64_t *steps = NULL, step;
  int cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    if (!slt_ckpt_parse_name(e->d_name, &step)) continue;
    if (*n == cap) {
      int64_t *s = realloc(steps, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *s);
      if (!s) break;
      steps = s;
    }
    steps[(*n)++] = step;
  }
  closedir(d);
  if (*n) qsort(steps, (size_t)*n, sizeof *steps, cmp_desc);
  return steps;
}

int slt_ckpt_latest(const char *dir, char *buf, size_t len, char *skipped, size_t skipped_len) {
  int n, err, found = 0;
  int64_t *steps = list_steps(dir, &n, &err);
  if (skipped && skipped_len) skipped[0] = '\0';
  size_t pos = 0;
  for (int i = 0; i < n && !found; i++) {
    char path[SLT_CKPT_PATH];
    slt_ckpt_path(path, sizeof path, dir, steps[i]);
    slt_ckpt c;
    if (!slt_ckpt_open(&c, path)) {
      slt_ckpt_close(&c);
      snprintf(buf, len, "%s", path);
      found = 1;
    } else if (skipped && pos < skipped_len) {
      int w = snprintf(skipped + pos, skipped_len - pos, "%s%s", pos ? "; " : "", slt_err_msg());
      pos = w < 0 ? skipped_len : pos + (size_t)w;
    }
  }
  free(steps);
  if (err) return -1;
  if (!found) slt_err_clear();
  return found;
}
