/* Reading and validating checkpoints: every way a file can be wrong (not HDF5, truncated, not
 * ours, interrupted, missing or misshapen tensors, another model) is one message naming the file
 * and what was expected. */
#include "checkpoint_internal.h"

#include "autograd/error.h"
#include "layers/model.h"

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

static bool is_blank(const char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r') s++;
  return *s == '\0';
}

/* The resolved YAML slt writes is a few KB, nested three deep with flat flow lists. Text far
 * larger or nested far deeper is damage, and libyaml takes minutes over deep flow nesting. */
#define CK_CONFIG_MAX_BYTES (1 << 20)
#define CK_CONFIG_MAX_DEPTH 16

static int flow_depth(const char *s) {
  int depth = 0, worst = 0;
  for (; *s; s++) {
    depth += (*s == '[' || *s == '{') - (*s == ']' || *s == '}');
    if (depth > worst) worst = depth;
  }
  return worst;
}

static int check_config_text(const slt_ckpt *c, const char *yaml) {
  size_t n = strlen(yaml);
  int depth = n <= CK_CONFIG_MAX_BYTES ? flow_depth(yaml) : 0;
  if (n <= CK_CONFIG_MAX_BYTES && depth <= CK_CONFIG_MAX_DEPTH) return 0;
  slt_err_set("%s: the root attribute 'config' is %s (expected the run's resolved YAML, under "
              "%d bytes and %d levels of brackets)",
              c->path, depth ? "nested too deep" : "too large", CK_CONFIG_MAX_BYTES,
              CK_CONFIG_MAX_DEPTH);
  return -1;
}

static int read_config(slt_ckpt *c) {
  char *yaml = ck_attr_get_str(c->h5, "config");
  if (!yaml || is_blank(yaml)) {
    /* Blank YAML would load as the defaults: another model than the one stored. */
    slt_err_set("%s: the root attribute 'config' is %s (expected the run's resolved YAML)", c->path,
                yaml ? "empty" : "missing or not a string");
    free(yaml);
    return -1;
  }
  if (check_config_text(c, yaml)) {
    free(yaml);
    return -1;
  }
  char origin[SLT_CKPT_PATH + 16];
  snprintf(origin, sizeof origin, "%s:config", c->path);
  slt_config_defaults(&c->cfg);
  int rc = slt_config_load_string(&c->cfg, yaml, origin);
  free(yaml);
  return rc;
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
  return read_config(c);
}

static int read_optim_header(slt_ckpt *c) {
  hid_t g = ck_open_group(c, "optim");
  if (g < 0) return -1;
  char *name = ck_attr_get_str(g, "name");
  int rc = 0;
  if (!name || !name[0] || strlen(name) >= sizeof c->optim_name) {
    slt_err_set("%s: attribute /optim:name is %s (expected the optimizer's name, as \"adamw\")",
                c->path, name ? "empty or too long" : "missing or not a string");
    rc = -1;
  } else {
    snprintf(c->optim_name, sizeof c->optim_name, "%s", name);
    rc = ck_get_count(c, g, "/optim", "step", 0, CK_MAX_COUNT, &c->optim_step);
  }
  free(name);
  H5Gclose(g);
  return rc;
}

int slt_ckpt_open(slt_ckpt *c, const char *path) {
  memset(c, 0, sizeof *c);
  c->h5 = -1;
  ck_h5_init();
  snprintf(c->path, sizeof c->path, "%s", path);
  if (open_file(c) || read_header(c) || read_optim_header(c) || ck_read_state(c) ||
      ck_check_config_fits(c)) {
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
