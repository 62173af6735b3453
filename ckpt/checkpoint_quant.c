/* Quantized exports (slt export --quantize): a checkpoint whose quantized weight factors are
 * stored as integer codes under /quant instead of float32 under /model, read back dequantized
 * (the same floats the fake-quant forward used), so eval sees the fake-quant model exactly.
 *
 *   /quant/<param>          attrs: kind (int|lsq|fp|mx|ternary), bits, format, granularity,
 *                                  group_size, scale (absmax|minmax), narrow, round_even, block
 *                                  (elements per scale), shards (ternary)
 *   /quant/<param>/codes    the parameter's shape: int, lsq: the integer level q (int8, uint8,
 *                           int16 or uint16 by range; int4 in int8); fp, mx: the format's bit
 *                           pattern (uint8); ternary: int8 in {-1, 0, 1}
 *   /quant/<param>/scale    float32 (numel/block,): the step s (ternary: γ per shard)
 *   /quant/<param>/zero     float32, minmax only: int's zero point z, LSQ+'s offset β
 *   w = (q − z)·s (int, lsq), q·s + β (LSQ+), s·value(q) (fp, mx), q·γ (ternary). */
#include "checkpoint_internal.h"

#include "autograd/error.h"
#include "layers/model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) (slt_err_set(__VA_ARGS__), -1)

/* The stored integer type of codes in [lo, hi]. */
static hid_t code_type(int lo, int hi) {
  if (lo >= 0) return hi <= 255 ? H5T_STD_U8LE : H5T_STD_U16LE;
  return hi <= 127 ? H5T_STD_I8LE : H5T_STD_I16LE;
}

static int put_f32(hid_t g, const char *name, const float *v, int64_t n) {
  hsize_t dim = (hsize_t)n;
  hid_t sp = H5Screate_simple(1, &dim, NULL);
  hid_t d = H5Dcreate2(g, name, H5T_IEEE_F32LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0 &&
                   !ck_attr_put_u64(d, CK_SUM_ATTR, slt_ckpt_checksum(v, (size_t)n * 4))
               ? 0
               : -1;
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  return rc;
}

static int put_codes(hid_t g, const slt_tensor *w, hid_t type, const float *q) {
  hsize_t dims[SLT_MAX_DIMS];
  for (int i = 0; i < w->ndim; i++) dims[i] = (hsize_t)w->shape[i];
  hid_t sp = H5Screate_simple(w->ndim, dims, NULL);
  hid_t d = H5Dcreate2(g, "codes", type, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = d >= 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, q) >= 0 ? 0 : -1;
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  return rc;
}

static int put_attrs(hid_t g, const slt_quant_weight *w, int64_t block) {
  const slt_quant_spec *s = &w->spec;
  return ck_attr_put_str(g, "kind", slt_qc_kind_names[w->kind]) ||
                 ck_attr_put_i64(g, "bits", s->bits) ||
                 ck_attr_put_str(g, "format", slt_qc_format_names[s->format]) ||
                 ck_attr_put_str(g, "granularity", slt_qc_gran_names[s->granularity]) ||
                 ck_attr_put_i64(g, "group_size", s->group_size) ||
                 ck_attr_put_str(g, "scale", slt_qc_scale_names[s->scale]) ||
                 ck_attr_put_i64(g, "narrow", s->narrow) ||
                 ck_attr_put_i64(g, "round_even", s->round_even) ||
                 ck_attr_put_i64(g, "block", block) || ck_attr_put_i64(g, "shards", w->shards)
             ? -1
             : 0;
}

typedef struct {
  const slt_quant_set *set;
  hid_t root;
  int count;
  int64_t code_bytes;
} writer;

/* One quantized factor's group. */
static int write_one(const slt_quant_weight *w, void *user) {
  writer *wr = user;
  const slt_tensor *t = w->w;
  int64_t rows = slt_tensor_rows(t), nb, block;
  int cols = slt_tensor_cols(t), lo = -1, hi = 1;
  bool tern = w->kind == SLT_QC_TERNARY;
  block = tern ? t->numel / w->shards : slt_quant_block(&w->spec, rows, cols);
  nb = t->numel / block;
  float *q = malloc((size_t)t->numel * sizeof *q), *scale = malloc((size_t)nb * sizeof *scale),
        *zero = malloc((size_t)nb * sizeof *zero);
  int8_t *codes = tern ? malloc((size_t)t->numel) : NULL;
  int rc = q && scale && zero && (!tern || codes) ? 0 : FAIL("out of memory exporting %s", w->name);
  if (!rc && tern) {
    rc = slt_ternary_codes(t, w->shards, codes, scale, NULL);
    for (int64_t i = 0; !rc && i < t->numel; i++) q[i] = codes[i];
  } else if (!rc) {
    rc = slt_quant_codes(t, &w->spec, w->scale ? w->scale->data : NULL,
                         w->offset ? w->offset->data : NULL, q, scale, zero);
    if (w->spec.kind == SLT_QUANT_FP || w->spec.kind == SLT_QUANT_MX)
      lo = 0, hi = 255;
    else
      slt_quant_range(&w->spec, &lo, &hi);
  }
  hid_t g = rc ? -1 : H5Gcreate2(wr->root, w->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (!rc && (g < 0 || put_attrs(g, w, block) || put_codes(g, t, code_type(lo, hi), q) ||
              put_f32(g, "scale", scale, nb) ||
              (!tern && w->spec.scale == SLT_QSCALE_MINMAX && put_f32(g, "zero", zero, nb))))
    rc = FAIL("cannot write /quant/%s", w->name);
  if (g >= 0) H5Gclose(g);
  wr->count++;
  wr->code_bytes += t->numel * (int64_t)H5Tget_size(code_type(lo, hi));
  free(q), free(scale), free(zero), free(codes);
  return rc;
}

static int is_quantized(const slt_quant_weight *w, void *name) {
  return !strcmp(w->name, name);
}

/* dst = m's parameters minus the quantized factors and LSQ tensors (their data copied). */
int ck_kept_params(const slt_model *m, slt_params *dst) {
  slt_params_init(dst);
  const slt_params *p = m->params;
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    if (slt_quant_set_each(m->quant, is_quantized, (void *)q->name) ||
        slt_quant_set_is_lsq_param(m->quant, q->name))
      continue;
    if (!slt_params_add(dst, q->name, q->t.ndim, q->t.shape)) return -1;
  }
  if (slt_params_alloc(dst)) return -1;
  for (int i = 0; i < dst->count; i++)
    memcpy(dst->items[i]->t.data, slt_params_find(p, dst->items[i]->name)->t.data,
           (size_t)dst->items[i]->t.numel * sizeof(float));
  return 0;
}

int ck_write_derived(const char *path, const slt_ckpt_data *d, const slt_config *cfg,
                     const slt_params *keep, int (*extra)(int64_t, void *), void *user) {
  slt_ckpt_data e = *d;
  e.cfg = cfg;
  e.params = keep;
  e.extra = extra;
  e.extra_user = user;
  return slt_ckpt_write(path, &e);
}

/* /quant, one group per quantized factor (slt_ckpt_data.extra). */
static int write_quant_group(int64_t file, void *user) {
  writer *w = user;
  w->root = H5Gcreate2(file, "quant", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = w->root < 0 ? FAIL("cannot add /quant") : slt_quant_set_each(w->set, write_one, w);
  if (w->root >= 0) H5Gclose(w->root);
  return rc;
}

int slt_ckpt_write_quantized(const char *path, const slt_ckpt_data *d, const slt_model *m,
                             int *count, int64_t *code_bytes) {
  *count = 0, *code_bytes = 0;
  if (!m->quant) return FAIL("the model has no quantized weights (model.quant)");
  /* A tied head quantizes wte only where it is the head: one stored tensor cannot be both. */
  if (d->cfg->model.tie_embeddings && slt_quant_set_each(m->quant, is_quantized, (void *)"wte.weight"))
    return FAIL("the head's weight is quantized (a model.quant.rules rule names lm_head) but tied "
                "to the float32 token embedding (model.tie_embeddings): it cannot be exported "
                "as codes");
  slt_config cfg = *d->cfg;
  if (slt_quant_config_strip_weights(&cfg.model.quant)) return -1;
  slt_params keep;
  writer w = {m->quant, -1, 0, 0};
  int rc = ck_kept_params(m, &keep) ||
                   ck_write_derived(path, d, &cfg, &keep, write_quant_group, &w)
               ? -1
               : 0;
  slt_params_free(&keep);
  *count = w.count;
  *code_bytes = w.code_bytes;
  return rc;
}

/* ---- reading ---- */

bool ck_quant_has(const slt_ckpt *c, const char *name) {
  hid_t g = ck_find_subgroup(c, "quant", name);
  if (g >= 0) H5Gclose(g);
  return g >= 0;
}

static int attr_name(hid_t g, const char *attr, const char *const *names, int *out) {
  char *s = ck_attr_get_str(g, attr);
  *out = -1;
  for (int i = 0; s && names[i]; i++)
    if (!strcmp(s, names[i])) *out = i;
  free(s);
  return *out < 0 ? -1 : 0;
}

/* The stored spec; 0 or -1 (the caller names the group). */
static int read_spec(hid_t g, slt_qc_kind *kind, slt_quant_spec *spec, int64_t *block,
                     int64_t *shards) {
  int k, f, gr, sc;
  int64_t bits, gs, narrow, even;
  if (attr_name(g, "kind", slt_qc_kind_names, &k) ||
      attr_name(g, "format", slt_qc_format_names, &f) ||
      attr_name(g, "granularity", slt_qc_gran_names, &gr) ||
      attr_name(g, "scale", slt_qc_scale_names, &sc) || ck_attr_get_i64(g, "bits", &bits) ||
      ck_attr_get_i64(g, "group_size", &gs) || ck_attr_get_i64(g, "narrow", &narrow) ||
      ck_attr_get_i64(g, "round_even", &even) || ck_attr_get_i64(g, "block", block) ||
      ck_attr_get_i64(g, "shards", shards) || k == SLT_QC_NONE || k == SLT_QC_ABSMAX8 ||
      bits < 0 || bits > 16 || gs < 1 || gs > INT32_MAX)
    return -1;
  slt_quant_side side = {(slt_qc_kind)k, (int)bits, (slt_quant_format)f, (slt_quant_gran)gr,
                         (int)gs, (slt_quant_scale)sc, narrow != 0, false, 1};
  *kind = side.kind;
  *spec = slt_quant_side_spec(&side);
  spec->round_even = even != 0;
  return 0;
}

/* g/name, a float dataset of n elements with its checksum, into out. */
static int read_f32(const slt_ckpt *c, hid_t g, const char *what, const char *name, int64_t n,
                    float *out) {
  return ck_get_f32(c, g, what, name, 1, (int[]){(int)n}, out, NULL);
}

/* codes (p's shape) into q. */
static int read_codes(const slt_ckpt *c, hid_t g, const char *what, const slt_param *p,
                      float *q) {
  hid_t d = H5Lexists(g, "codes", H5P_DEFAULT) > 0 ? H5Dopen2(g, "codes", H5P_DEFAULT) : -1;
  hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t dims[H5S_MAX_RANK];
  int nd = sp >= 0 ? H5Sget_simple_extent_ndims(sp) : -1;
  bool ok = nd == p->t.ndim && H5Sget_simple_extent_dims(sp, dims, NULL) == nd;
  for (int i = 0; ok && i < nd; i++) ok = dims[i] == (hsize_t)p->t.shape[i];
  ok = ok && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, q) >= 0;
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  H5Eclear2(H5E_DEFAULT);
  return ok ? 0 : FAIL("%s: %s/codes is missing or not of %s's shape", c->path, what, p->name);
}

int ck_quant_read(const slt_ckpt *c, slt_param *p) {
  char what[SLT_PARAM_NAME_MAX + 8];
  snprintf(what, sizeof what, "/quant/%s", p->name);
  hid_t g = ck_find_subgroup(c, "quant", p->name);
  slt_qc_kind kind;
  slt_quant_spec spec;
  int64_t block, shards, n = p->t.numel, rows = slt_tensor_rows(&p->t);
  int cols = slt_tensor_cols(&p->t);
  bool tern;
  if (g < 0 || read_spec(g, &kind, &spec, &block, &shards) ||
      ((tern = kind == SLT_QC_TERNARY) ? shards < 1 || n % shards || block != n / shards
                                       : slt_quant_check(&spec, rows, cols, NULL, 0) ||
                                             block != slt_quant_block(&spec, rows, cols))) {
    if (g >= 0) H5Gclose(g);
    return FAIL("%s: %s: missing or bad quantization attributes for %s", c->path, what, p->name);
  }
  float *q = malloc((size_t)n * sizeof *q), *scale = malloc((size_t)(n / block) * sizeof *scale),
        *zero = calloc((size_t)(n / block), sizeof *zero);
  int rc = q && scale && zero ? 0 : FAIL("out of memory reading %s", what);
  if (!rc) rc = read_codes(c, g, what, p, q) || read_f32(c, g, what, "scale", n / block, scale);
  if (!rc && !tern && spec.scale == SLT_QSCALE_MINMAX)
    rc = read_f32(c, g, what, "zero", n / block, zero);
  if (!rc && tern)
    for (int64_t i = 0; i < n; i++) p->t.data[i] = q[i] * scale[i / block];
  else if (!rc)
    slt_quant_dequant(&spec, n, block, q, scale, zero, p->t.data);
  H5Gclose(g);
  free(q), free(scale), free(zero);
  return rc;
}

static herr_t visit_quant(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  ck_tensor_walk *w = user;
  char path[CK_DSET_PATH];
  snprintf(path, sizeof path, "%s/codes", name);
  hid_t d = H5Dopen2(g, path, H5P_DEFAULT), sp = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t dims[H5S_MAX_RANK];
  int nd = sp >= 0 ? H5Sget_simple_extent_dims(sp, dims, NULL) : -1;
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  if (nd < 1 || nd > SLT_MAX_DIMS) {
    H5Eclear2(H5E_DEFAULT);
    w->rc = FAIL("%s: /quant/%s has no codes dataset", w->c->path, name);
    return 1;
  }
  int64_t shape[SLT_MAX_DIMS];
  for (int i = 0; i < nd; i++) shape[i] = (int64_t)dims[i];
  w->rc = w->fn(name, nd, shape, w->user);
  return w->rc ? 1 : 0;
}

int ck_quant_each(const slt_ckpt *c, slt_ckpt_tensor_fn fn, void *user) {
  if (H5Lexists(c->h5, "quant", H5P_DEFAULT) <= 0) return 0;
  hid_t g = ck_open_group(c, "quant");
  if (g < 0) return -1;
  ck_tensor_walk w = {c, fn, user, 0};
  herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, visit_quant, &w);
  H5Gclose(g);
  if (!w.rc && it < 0) w.rc = FAIL("%s: cannot list /quant: corrupt file", c->path);
  return w.rc;
}
