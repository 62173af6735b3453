/* Reading a checkpoint's tensors (/model, /optim, /guide, /guide_optim): shapes, finiteness,
 * no strays; and whether the stored config describes the stored tensors. */
#include "checkpoint_internal.h"

#include "autograd/error.h"
#include "layers/model.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* H5Literate over g in native order, with a failed listing (a damaged group) recorded as one
 * message. Native order: HDF5 1.10's sorted iteration frees garbage when a damaged dense group
 * fails half way. Returns the callback's failure (its message recorded) or -1. */
static int iterate(const slt_ckpt *c, hid_t g, const char *what, H5L_iterate_t fn, void *user,
                   const int *fn_rc) {
  herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, fn, user);
  if (*fn_rc) return -1;
  if (it < 0) {
    char why[256];
    slt_err_set("%s: cannot list %s (%s): corrupt file", c->path, what,
                ck_h5_reason(why, sizeof why));
    return -1;
  }
  return 0;
}

/* No entry of /<group> that p lacks (an extra tensor means the config and tensors disagree). */
static int check_no_extra(const slt_ckpt *c, hid_t g, const char *group, const slt_params *p) {
  char what[64];
  snprintf(what, sizeof what, "/%s", group);
  extra_walk w = {c, group, p, 0};
  return iterate(c, g, what, find_extra, &w, &w.rc);
}

/* A NaN or Inf in stored weights or optimizer state: the run diverged or the bytes are damaged;
 * either way nothing sensible continues from it. */
static int check_finite(const slt_ckpt *c, const char *what, const char *name, const float *v,
                        int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!isfinite(v[i])) {
      slt_err_set("%s: %s/%s holds %s at index %lld (expected finite float32 values): corrupt "
                  "or diverged checkpoint",
                  c->path, what, name, isnan(v[i]) ? "NaN" : "Inf", (long long)i);
      return -1;
    }
  return 0;
}

static int check_params_finite(const slt_ckpt *c, const char *what, const slt_params *p) {
  for (int i = 0; i < p->count; i++)
    if (check_finite(c, what, p->items[i]->name, p->items[i]->t.data, p->items[i]->t.numel))
      return -1;
  return 0;
}

/* /<group>/<param> into every parameter of p, and no dataset p lacks. */
static int read_store(const slt_ckpt *c, const char *group, slt_params *p) {
  hid_t g = ck_open_group(c, group);
  if (g < 0) return -1;
  int rc = 0;
  ck_extents x = {0};
  char what[64];
  snprintf(what, sizeof what, "/%s", group);
  for (int i = 0; !rc && i < p->count; i++) {
    slt_param *q = p->items[i];
    bool coded = !strcmp(group, "model") && ck_quant_has(c, q->name); /* slt export --quantize */
    bool packed = !strcmp(group, "model") && ck_packed_has(c, q->name); /* slt export --packed */
    rc = coded    ? ck_quant_read(c, q)
         : packed ? ck_packed_read(c, q)
                  : ck_get_f32(c, g, what, q->name, q->t.ndim, q->t.shape, q->t.data, &x);
  }
  if (!rc) rc = check_no_extra(c, g, group, p);
  H5Gclose(g);
  if (!rc) rc = ck_read_extents(c->path, &x);
  ck_extents_free(&x);
  return rc || check_params_finite(c, what, p) ? -1 : 0;
}

int slt_ckpt_read_params(const slt_ckpt *c, slt_params *p) {
  return read_store(c, "model", p);
}

/* Every slot of every parameter finite (after all were read). */
static int check_slots_finite(const slt_ckpt *c, const char *group, const slt_params *p,
                              const slt_ckpt_optim *o) {
  char what[SLT_PARAM_NAME_MAX + 32];
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    snprintf(what, sizeof what, "/%s/%s", group, q->name);
    for (int k = 0; k < o->nslots; k++)
      if (check_finite(c, what, o->slot_names[k], o->slots[k] + q->offset, q->t.numel)) return -1;
  }
  return 0;
}

/* /<group>/<param>/<slot> into o's slots (laid out like p). */
static int read_slots(const slt_ckpt *c, const char *group, const slt_params *p,
                      slt_ckpt_optim *o) {
  hid_t g = ck_open_group(c, group);
  if (g < 0) return -1;
  int rc = 0;
  ck_extents x = {0};
  char what[SLT_PARAM_NAME_MAX + 32];
  for (int i = 0; !rc && i < p->count; i++) {
    const slt_param *q = p->items[i];
    snprintf(what, sizeof what, "/%s/%s", group, q->name);
    hid_t pg = H5Lexists(g, q->name, H5P_DEFAULT) > 0 ? H5Gopen2(g, q->name, H5P_DEFAULT) : -1;
    if (pg < 0) {
      H5Eclear2(H5E_DEFAULT);
      slt_err_set("%s: missing group %s (expected slots of %s)", c->path, what, q->name);
      rc = -1;
      break;
    }
    for (int k = 0; !rc && k < o->nslots; k++)
      rc = ck_get_f32(c, pg, what, o->slot_names[k], q->t.ndim, q->t.shape, o->slots[k] + q->offset,
                      &x);
    H5Gclose(pg);
  }
  if (!rc && o->nslots > 0) rc = check_no_extra(c, g, group, p);
  H5Gclose(g);
  if (!rc) rc = ck_read_extents(c->path, &x);
  ck_extents_free(&x);
  return rc || check_slots_finite(c, group, p, o) ? -1 : 0;
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

bool slt_ckpt_has_guide(const slt_ckpt *c) {
  return H5Lexists(c->h5, "guide", H5P_DEFAULT) > 0;
}

int slt_ckpt_read_guide(const slt_ckpt *c, slt_params *p, slt_ckpt_optim *o) {
  if (read_store(c, "guide", p)) return -1;
  hid_t g = ck_open_group(c, "guide_optim");
  if (g < 0) return -1;
  int rc = ck_get_count(c, g, "/guide_optim", "step", 0, CK_MAX_COUNT, &o->step);
  H5Gclose(g);
  return rc ? -1 : read_slots(c, "guide_optim", p, o);
}

slt_model *slt_ckpt_load_model(const char *path, slt_config *cfg) {
  return slt_ckpt_load_model_ex(path, cfg, true);
}

slt_model *slt_ckpt_load_model_ex(const char *path, slt_config *cfg, bool packed) {
  slt_ckpt c;
  if (slt_ckpt_open(&c, path)) return NULL;
  *cfg = c.cfg;
  slt_model *m = slt_ckpt_model(&c);
  int rc = !m || (packed && ck_packed_install(&c, m)) ? -1 : 0;
  slt_ckpt_close(&c);
  if (rc) {
    slt_model_free(m);
    return NULL;
  }
  return m;
}

/* One /model entry: a float dataset (anything else is not a tensor of ours: an error). */
static herr_t visit_tensor(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  ck_tensor_walk *w = user;
  hid_t d = H5Dopen2(g, name, H5P_DEFAULT);
  hid_t type = d >= 0 ? H5Dget_type(d) : -1, space = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t dims[H5S_MAX_RANK];
  int ndim = space >= 0 ? H5Sget_simple_extent_dims(space, dims, NULL) : -1;
  bool ok = type >= 0 && H5Tget_class(type) == H5T_FLOAT && ndim >= 1;
  if (type >= 0) H5Tclose(type);
  if (space >= 0) H5Sclose(space);
  if (d >= 0) H5Dclose(d);
  if (!ok) {
    H5Eclear2(H5E_DEFAULT);
    slt_err_set("%s: /model/%s is not a float32 tensor dataset", w->c->path, name);
    w->rc = -1;
    return 1;
  }
  int64_t shape[H5S_MAX_RANK];
  for (int i = 0; i < ndim; i++) shape[i] = (int64_t)dims[i];
  w->rc = w->fn(name, ndim, shape, w->user);
  return w->rc ? 1 : 0;
}

int slt_ckpt_each_tensor(const slt_ckpt *c, slt_ckpt_tensor_fn fn, void *user) {
  hid_t g = ck_open_group(c, "model");
  if (g < 0) return -1;
  ck_tensor_walk w = {c, fn, user, 0};
  herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, visit_tensor, &w);
  if (!w.rc && it < 0) {
    char why[256];
    slt_err_set("%s: cannot list /model (%s): corrupt file", c->path,
                ck_h5_reason(why, sizeof why));
    w.rc = -1;
  }
  H5Gclose(g);
  return w.rc ? w.rc : ck_quant_each(c, fn, user) ? -1 : ck_packed_each(c, fn, user);
}

/* ---- the stored config against the stored tensors ---- */

typedef struct {
  char name[SLT_PARAM_NAME_MAX];
  int ndim;
  int64_t shape[SLT_MAX_DIMS];
} stored_tensor;

typedef struct {
  stored_tensor *t;
  int n, cap;
} stored_list;

static int list_tensor(const char *name, int ndim, const int64_t *shape, void *user) {
  stored_list *l = user;
  if (l->n == l->cap) {
    int cap = l->cap ? 2 * l->cap : 64;
    stored_tensor *t = realloc(l->t, (size_t)cap * sizeof *t);
    if (!t) {
      slt_err_set("out of memory listing /model");
      return -1;
    }
    l->t = t, l->cap = cap;
  }
  stored_tensor *t = &l->t[l->n++];
  snprintf(t->name, sizeof t->name, "%s", name);
  t->ndim = ndim > SLT_MAX_DIMS ? SLT_MAX_DIMS + 1 : ndim;
  for (int i = 0; i < ndim && i < SLT_MAX_DIMS; i++) t->shape[i] = shape[i];
  return 0;
}

/* The declared parameter q against the file's listing: present with q's shape. 0 or -1. */
static int match_declared(const slt_ckpt *c, const stored_list *l, const slt_param *q) {
  char want[96], got[96];
  hsize_t w[SLT_MAX_DIMS], g[SLT_MAX_DIMS];
  for (int i = 0; i < q->t.ndim; i++) w[i] = (hsize_t)q->t.shape[i];
  ck_shape_str(q->t.ndim, w, want, sizeof want);
  for (int k = 0; k < l->n; k++) {
    const stored_tensor *t = &l->t[k];
    if (strcmp(t->name, q->name)) continue;
    bool same = t->ndim == q->t.ndim;
    for (int i = 0; same && i < t->ndim; i++) same = t->shape[i] == q->t.shape[i];
    if (same) return 0;
    for (int i = 0; i < t->ndim && i < SLT_MAX_DIMS; i++) g[i] = (hsize_t)t->shape[i];
    slt_err_set("%s: /model/%s has shape %s, expected %s by the stored config: config and tensors "
                "disagree",
                c->path, q->name, ck_shape_str(t->ndim, g, got, sizeof got), want);
    return -1;
  }
  slt_err_set("%s: missing dataset /model/%s (expected float32 %s), which the stored config "
              "declares",
              c->path, q->name, want);
  return -1;
}

/* The stored config must describe the stored tensors exactly: the model it declares (names and
 * shapes, built without data), in its own order, against /model (strays are found when the
 * tensors are read). A config edited or damaged apart from the tensors would otherwise show as
 * another model in slt info and make eval, generate and export build it (at worst an absurdly
 * large one) before a tensor check could fail. */
int ck_check_config_fits(slt_ckpt *c) {
  slt_model *m = slt_model_build(&c->cfg.model, SLT_MODEL_DECLARE);
  if (!m) return ck_fail_prefixed(c->path, "the stored config: ");
  stored_list l = {0};
  int rc = slt_ckpt_each_tensor(c, list_tensor, &l);
  for (int i = 0; !rc && i < m->params->count; i++) rc = match_declared(c, &l, m->params->items[i]);
  free(l.t);
  slt_model_free(m);
  return rc;
}
