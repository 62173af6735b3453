/* Writing checkpoints: the HDF5 layout of checkpoint.h, written to a temporary file that is
 * fsynced and renamed into place; pruning old checkpoints. */
#define _GNU_SOURCE /* open_memstream */
#include "checkpoint_internal.h"

#include "autograd/error.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TMP_SUFFIX ".tmp"

/* ---- names ---- */

void slt_ckpt_path(char *buf, size_t len, const char *dir, int64_t step) {
  snprintf(buf, len, "%s/ckpt_%08lld.h5", dir, (long long)step);
}

bool slt_ckpt_parse_name(const char *name, int64_t *step) {
  if (strncmp(name, "ckpt_", 5)) return false;
  const char *p = name + 5;
  int64_t v = 0;
  int digits = 0;
  for (; *p >= '0' && *p <= '9' && digits < 18; p++, digits++) v = v * 10 + (*p - '0');
  if (digits < 8 || strcmp(p, ".h5")) return false;
  /* Only the canonical spelling, so the name slt_ckpt_path gives back is this file. */
  char canon[32];
  snprintf(canon, sizeof canon, "ckpt_%08lld.h5", (long long)v);
  if (strcmp(canon, name)) return false;
  if (step) *step = v;
  return true;
}

/* The temporary name of a checkpoint path: a dot file ending in .tmp in the same directory
 * (same file system, so the rename is atomic), which no name check can take for a checkpoint. */
static void tmp_path(char *buf, size_t len, const char *path) {
  const char *base = ck_basename(path);
  snprintf(buf, len, "%.*s.%s" TMP_SUFFIX, (int)(base - path), path, base);
}

/* ---- the layout ---- */

/* Create the float32 dataset loc/name (dir/name from the root) of t's shape and note that its
 * bytes come from src. */
static int put_tensor(hid_t loc, const char *dir, const char *name, const slt_tensor *t,
                      const float *src, ck_extents *x) {
  char path[CK_DSET_PATH];
  if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return -1;
  int64_t off = ck_create_f32(loc, name, t->ndim, t->shape);
  return off < 0 ? -1 : ck_extents_push(x, off, src, t->numel * (int64_t)sizeof(float), path);
}

/* /<group>/<param> for every parameter of p (the model, or SGT's guides). */
static int write_params(hid_t f, const char *group, const slt_params *p, ck_extents *x) {
  hid_t g = H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = g >= 0 ? 0 : -1;
  char dir[64];
  snprintf(dir, sizeof dir, "/%s", group);
  for (int i = 0; !rc && i < p->count; i++)
    rc = put_tensor(g, dir, p->items[i]->name, &p->items[i]->t, p->items[i]->t.data, x);
  if (g >= 0) H5Gclose(g);
  return rc;
}

/* /<group> with the optimizer's attributes and /<group>/<param>/<slot>. */
static int write_optim(hid_t f, const char *group, const slt_params *p, const slt_ckpt_optim *o,
                       ck_extents *x) {
  hid_t g = H5Gcreate2(f, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return -1;
  char slots[128] = "";
  for (int k = 0; k < o->nslots; k++)
    snprintf(slots + strlen(slots), sizeof slots - strlen(slots), "%s%s", k ? "," : "",
             o->slot_names[k]);
  int rc = ck_attr_put_str(g, "name", o->name ? o->name : "none") ||
           ck_attr_put_i64(g, "step", o->step) || ck_attr_put_str(g, "slots", slots);
  for (int i = 0; !rc && i < p->count && o->nslots > 0; i++) {
    const slt_param *q = p->items[i];
    hid_t pg = H5Gcreate2(g, q->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = pg >= 0 ? 0 : -1;
    char dir[CK_DSET_PATH];
    snprintf(dir, sizeof dir, "/%s/%s", group, q->name);
    for (int k = 0; !rc && k < o->nslots; k++)
      rc = put_tensor(pg, dir, o->slot_names[k], &q->t, o->slots[k] + q->offset, x);
    if (pg >= 0) H5Gclose(pg);
  }
  H5Gclose(g);
  return rc;
}

static int write_rngs(hid_t state, const slt_ckpt_state *s) {
  hid_t g = H5Gcreate2(state, "rng", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return -1;
  int rc = ck_attr_put_str(g, "algorithm", "xoshiro256** (4 x uint64 per rank)");
  hsize_t dims[2] = {(hsize_t)s->world, 4};
  hid_t space = H5Screate_simple(2, dims, NULL);
  for (int i = 0; !rc && i < s->nrngs; i++) {
    hid_t d =
        H5Dcreate2(g, s->rng_names[i], H5T_STD_U64LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    rc = d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->rngs[i]) >= 0
             ? 0
             : -1;
    if (d >= 0) H5Dclose(d);
  }
  H5Sclose(space);
  H5Gclose(g);
  return rc;
}

static const char *sgt_note(const slt_ckpt_state *s) {
  if (s->sgt_guided_steps <= 0) return "none";
  return s->step < s->sgt_guided_steps ? "guiding: /guide holds the dense guides, alpha is the "
                                         "next step's"
                                       : "done: the guides were freed when alpha reached 0";
}

static int write_state(hid_t f, const slt_ckpt_state *s) {
  hid_t g = H5Gcreate2(f, "state", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (g < 0) return -1;
  int rc = ck_attr_put_i64(g, "step", s->step) || ck_attr_put_i64(g, "tokens", s->tokens) ||
           ck_attr_put_i64(g, "world", s->world) ||
           ck_attr_put_str(g, "schedule",
                           "stateless: lr and weight-decay factor are pure "
                           "functions of step and the config") ||
           ck_attr_put_str(g, "sgt", sgt_note(s)) ||
           ck_attr_put_f64(g, "sgt_alpha", s->sgt_alpha) ||
           ck_attr_put_i64(g, "sgt_guided_steps", s->sgt_guided_steps);
  hsize_t n = (hsize_t)s->world;
  hid_t space = H5Screate_simple(1, &n, NULL), type = ck_cursor_type();
  hid_t d =
      rc ? -1 : H5Dcreate2(g, "data_cursor", type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (!rc)
    rc = d >= 0 && H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s->cursors) >= 0 ? 0 : -1;
  if (d >= 0) H5Dclose(d);
  H5Tclose(type);
  H5Sclose(space);
  if (!rc) rc = write_rngs(g, s);
  H5Gclose(g);
  return rc;
}

static char *config_text(const slt_config *cfg) {
  char *buf = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&buf, &n);
  if (!f) return NULL;
  int rc = slt_config_write(cfg, f);
  fclose(f);
  if (rc) {
    free(buf);
    return NULL;
  }
  return buf;
}

static hid_t file_access(void) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
  /* Page-align every dataset of a page or more, so its bytes can be written with O_DIRECT. */
  H5Pset_alignment(fapl, 4096, 4096);
  return fapl;
}

/* Pass 1, HDF5: attributes, groups, the small state datasets, and the tensor datasets allocated
 * but not written (their offsets go to x), each with its bytes' checksum. */
static int write_layout(const char *tmp, const slt_ckpt_data *d, const char *yaml, ck_extents *x) {
  hid_t fapl = file_access();
  hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  H5Pclose(fapl);
  int rc = f >= 0 ? 0 : -1;
  if (!rc)
    rc = ck_attr_put_str(f, "format", CK_FORMAT_NAME) ||
         ck_attr_put_i64(f, "format_version", SLT_CKPT_FORMAT_VERSION) ||
         ck_attr_put_str(f, "config", yaml) || write_params(f, "model", d->params, x) ||
         write_optim(f, "optim", d->params, &d->optim, x) || write_state(f, &d->state);
  if (!rc && d->guide)
    rc = write_params(f, "guide", d->guide, x) ||
         write_optim(f, "guide_optim", d->guide, &d->guide_optim, x);
  if (!rc) {
    ck_sum_extents(x);
    rc = ck_put_sums(f, x);
  }
  if (f >= 0 && H5Fclose(f) < 0) rc = -1;
  return rc;
}

/* Pass 3: an export's extra content, then the completion marker, after everything else is in
 * the file. -1 for an HDF5 failure, -2 when the extra failed (its message recorded). */
static int mark_complete(const char *tmp, const slt_ckpt_data *d) {
  hid_t fapl = file_access();
  hid_t f = H5Fopen(tmp, H5F_ACC_RDWR, fapl);
  H5Pclose(fapl);
  int rc = f >= 0 ? 0 : -1;
  if (!rc && d->extra && d->extra(f, d->extra_user)) rc = -2;
  if (!rc && ck_attr_put_i64(f, "complete", 1)) rc = -1;
  if (f >= 0 && H5Fclose(f) < 0 && !rc) rc = -1;
  return rc;
}

static void h5_fail(const char *tmp) {
  char why[256];
  int e = errno;
  ck_h5_reason(why, sizeof why);
  slt_err_set("%s: cannot write the checkpoint: %s", tmp,
              why[0] ? why
              : e    ? strerror(e)
                     : "HDF5 error");
}

static int write_file(const char *tmp, const slt_ckpt_data *d) {
  char *yaml = config_text(d->cfg);
  if (!yaml) {
    slt_err_set("%s: cannot format the config", tmp);
    return -1;
  }
  ck_extents x = {0};
  int rc = write_layout(tmp, d, yaml, &x);
  if (rc) h5_fail(tmp);
  if (!rc) rc = ck_write_extents(tmp, &x); /* pass 2: the tensors' bytes */
  if (!rc && (rc = mark_complete(tmp, d)) == -1) h5_fail(tmp);
  ck_extents_free(&x);
  free(yaml);
  return rc;
}

/* ---- durability ---- */

static int fsync_path(const char *path, int flags) {
  int fd = open(path, flags);
  if (fd < 0) return -1;
  int rc = fsync(fd);
  int e = errno;
  close(fd);
  errno = e;
  return rc;
}

static void dir_of(char *buf, size_t len, const char *path) {
  const char *base = ck_basename(path);
  if (base == path)
    snprintf(buf, len, ".");
  else
    snprintf(buf, len, "%.*s", (int)(base - path - 1 > 0 ? base - path - 1 : 1), path);
}

int slt_ckpt_write(const char *path, const slt_ckpt_data *d) {
  ck_h5_init();
  char tmp[SLT_CKPT_PATH + 16], dir[SLT_CKPT_PATH];
  tmp_path(tmp, sizeof tmp, path);
  dir_of(dir, sizeof dir, path);
  errno = 0;
  if (write_file(tmp, d)) {
    unlink(tmp);
    return -1;
  }
  /* Data on disk before the name points at it; the directory entry on disk after. */
  if (fsync_path(tmp, O_RDONLY)) {
    slt_err_set("%s: fsync failed: %s", tmp, strerror(errno));
    unlink(tmp);
    return -1;
  }
  if (rename(tmp, path)) {
    slt_err_set("cannot rename %s to %s: %s", tmp, path, strerror(errno));
    unlink(tmp);
    return -1;
  }
  if (fsync_path(dir, O_RDONLY | O_DIRECTORY)) {
    slt_err_set("%s: fsync of the directory failed: %s", dir, strerror(errno));
    return -1;
  }
  return 0;
}

int slt_ckpt_save(const char *dir, const slt_ckpt_data *d, char *path_out, size_t len) {
  char path[SLT_CKPT_PATH];
  slt_ckpt_path(path, sizeof path, dir, d->state.step);
  if (path_out && len) snprintf(path_out, len, "%s", path);
  return slt_ckpt_write(path, d);
}

/* ---- pruning ---- */

static int cmp_desc(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? 1 : x > y ? -1 : 0;
}

/* A leftover of an interrupted write: .ckpt_<step>.h5.tmp */
static bool is_stale_tmp(const char *name) {
  size_t n = strlen(name), s = strlen(TMP_SUFFIX);
  if (name[0] != '.' || n <= s || strcmp(name + n - s, TMP_SUFFIX)) return false;
  char inner[256];
  snprintf(inner, sizeof inner, "%.*s", (int)(n - s - 1), name + 1);
  return slt_ckpt_parse_name(inner, NULL);
}

int slt_ckpt_prune(const char *dir, int keep_last) {
  DIR *d = opendir(dir);
  if (!d) {
    slt_err_set("%s: cannot list checkpoints: %s", dir, strerror(errno));
    return -1;
  }
  int64_t *steps = NULL;
  int n = 0, cap = 0, removed = 0;
  char path[SLT_CKPT_PATH];
  for (struct dirent *e; (e = readdir(d));) {
    int64_t step;
    if (is_stale_tmp(e->d_name)) {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      removed += unlink(path) == 0;
    } else if (slt_ckpt_parse_name(e->d_name, &step)) {
      if (n == cap) {
        int64_t *s = realloc(steps, (size_t)(cap = cap ? 2 * cap : 16) * sizeof *s);
        if (!s) break;
        steps = s;
      }
      steps[n++] = step;
    }
  }
  closedir(d);
  if (keep_last > 0 && n > keep_last) {
    qsort(steps, (size_t)n, sizeof *steps, cmp_desc);
    for (int i = keep_last; i < n; i++) {
      slt_ckpt_path(path, sizeof path, dir, steps[i]);
      if (unlink(path) && errno != ENOENT) {
        slt_err_set("%s: cannot remove an old checkpoint: %s", path, strerror(errno));
        free(steps);
        return -1;
      }
      removed++;
    }
  }
  free(steps);
  return removed;
}
