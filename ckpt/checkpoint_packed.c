/* Packed exports (slt export --packed): a checkpoint whose ternary block linears (or {±1, ±i}
 * ComplexLinears) are stored as the kernels' 2-bit codes (kernels/ternary.h, kernels/cplx2.h)
 * instead of float32, so eval and generate run them with the packed kernels
 * (layers/packed_linear.h, layers/packed_cplx.h) and any HDF5 reader can unpack them.
 *
 *   /packed                 attrs: layout "slt-tern2" (version 1)
 *   /packed/<param>         attrs: kind "ternary", out, in, shards, row_bytes
 *   /packed/<param>/qs      uint8 (out, row_bytes): row r's weights w ∈ {-1, 0, 1} as codes w + 1,
 *                           2 bits each, in blocks of 256 weights (64 bytes; the row zero-padded,
 *                           code 1, to a multiple of 256): weight e = 128j + 32l + m of a block
 *                           is bits 2l..2l+1 of byte 32j + m (TQ2_0's qs order)
 *   /packed/<param>/gamma   float32 (shards,): γ of each shard of out/shards consecutive rows
 *   /packed/<pfx>.weight    ifairy with model.phasequant.stages 1 (a ComplexLinear's weight_re and
 *                           weight_im): attrs kind "cplx2", out, in, row_bytes; qs as above with
 *                           code k ∈ {0, 1, 2, 3} for w = i^k (+1, +i, −1, −i; kernels/cplx2.h);
 *                           scales float32 (2,) = (s_re, s_im): ±1 is ±s_re, ±i is ±i·s_im
 *   the ternary weight is (code − 1) · γ; everything else is an ordinary checkpoint (/model float32), with
 *   the config's weight transforms off (the stored weights are quantized) and its activation
 *   transforms kept. A reader without the kernels gets the dequantized floats (ck_packed_read). */
#include "checkpoint_internal.h"

#include "autograd/error.h"
#include "autograd/complex.h"
#include "autograd/ternary.h"
#include "kernels/cplx2.h"
#include "kernels/ternary.h"
#include "layers/packed_cplx.h"
#include "layers/packed_linear.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FAIL(...) (slt_err_set(__VA_ARGS__), -1)
#define LAYOUT "slt-tern2"

static int put_u8(hid_t g, const uint8_t *v, int64_t rows, int64_t cols) {
  hsize_t dims[2] = {(hsize_t)rows, (hsize_t)cols};
  hid_t sp = H5Screate_simple(2, dims, NULL);
  hid_t d = H5Dcreate2(g, "qs", H5T_STD_U8LE, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = d >= 0 && H5Dwrite(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0 &&
                   !ck_attr_put_u64(d, CK_SUM_ATTR, slt_ckpt_checksum(v, (size_t)(rows * cols)))
               ? 0
               : -1;
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  return rc;
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

typedef struct {
  slt_model *m;
  hid_t root;
  int count;
  int64_t bytes;
} writer;

/* Only dense ternary block linears pack; anything else is refused with the reason. */
static int packable(const slt_quant_weight *w, void *user) {
  writer *wr = user;
  if (w->kind != SLT_QC_TERNARY)
    return FAIL("%s is quantized as %s, not ternary: packed export stores ternary weights only "
                "(use slt export --quantize)", w->name, slt_qc_kind_names[w->kind]);
  slt_lin *l = wr->m->vt->linear ? wr->m->vt->linear(wr->m, w->name) : NULL;
  if (!l || l->weight != w->w)
    return FAIL("%s is ternary but not a dense block linear's weight (structured FFN factor or "
                "the head): packed export cannot store it", w->name);
  return 0;
}

static int write_one(const slt_quant_weight *w, void *user) {
  writer *wr = user;
  const slt_tensor *t = w->w;
  int64_t out = t->shape[0], in = t->shape[1];
  int8_t *codes = malloc((size_t)t->numel);
  float *gamma = malloc((size_t)w->shards * sizeof *gamma);
  slt_tern p = {0};
  int rc = codes && gamma ? 0 : FAIL("out of memory packing %s", w->name);
  if (!rc) rc = slt_ternary_codes(t, w->shards, codes, gamma, NULL);
  if (!rc) rc = slt_tern_pack(&p, codes, out, in, gamma, w->shards);
  hid_t g = rc ? -1 : H5Gcreate2(wr->root, w->name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  if (!rc && (g < 0 || ck_attr_put_str(g, "kind", "ternary") || ck_attr_put_i64(g, "out", out) ||
              ck_attr_put_i64(g, "in", in) || ck_attr_put_i64(g, "shards", w->shards) ||
              ck_attr_put_i64(g, "row_bytes", p.row_bytes) ||
              put_u8(g, p.qs, out, p.row_bytes) || put_f32(g, "gamma", gamma, w->shards)))
    rc = FAIL("cannot write /packed/%s", w->name);
  if (g >= 0) H5Gclose(g);
  wr->count++;
  wr->bytes += out * p.row_bytes + w->shards * 4;
  slt_tern_free(&p);
  free(codes), free(gamma);
  return rc;
}

/* dst = the parameters of m minus the ComplexLinear weight pairs (data copied). */
static int kept_cplx(const slt_model *m, slt_params *dst) {
  slt_params_init(dst);
  const slt_params *p = m->params;
  for (int i = 0; i < p->count; i++) {
    const char *n = p->items[i]->name;
    size_t len = strlen(n);
    if (len > 10 && (!strcmp(n + len - 10, ".weight_re") || !strcmp(n + len - 10, ".weight_im")))
      continue;
    if (!slt_params_add(dst, n, p->items[i]->t.ndim, p->items[i]->t.shape)) return -1;
  }
  if (slt_params_alloc(dst)) return -1;
  for (int i = 0; i < dst->count; i++)
    memcpy(dst->items[i]->t.data, slt_params_find(p, dst->items[i]->name)->t.data,
           (size_t)dst->items[i]->t.numel * sizeof(float));
  return 0;
}

/* Every ComplexLinear "<pfx>.weight_re" + "_im" as /packed/<pfx>.weight. */
static int write_cplx(writer *wr) {
  const slt_params *p = wr->m->params;
  for (int i = 0; i < p->count; i++) {
    const char *n = p->items[i]->name;
    size_t len = strlen(n);
    if (len <= 10 || strcmp(n + len - 10, ".weight_re")) continue;
    char base[SLT_PARAM_NAME_MAX], imn[SLT_PARAM_NAME_MAX + 4];
    snprintf(base, sizeof base, "%.*s", (int)(len - 3), n);
    snprintf(imn, sizeof imn, "%s_im", base);
    const slt_tensor *re = &p->items[i]->t, *im = &slt_params_find(p, imn)->t;
    int64_t out = re->shape[0], in = re->shape[1];
    uint8_t *codes = malloc((size_t)re->numel);
    float sc[2];
    slt_cplx2 q = {0};
    int rc = codes ? 0 : FAIL("out of memory packing %s", base);
    if (!rc) rc = slt_phasequant_codes(re, im, 1, codes, sc);
    if (!rc) rc = slt_cplx2_pack(&q, codes, out, in, sc[0], sc[1]);
    hid_t g = rc ? -1 : H5Gcreate2(wr->root, base, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (!rc && (g < 0 || ck_attr_put_str(g, "kind", "cplx2") || ck_attr_put_i64(g, "out", out) ||
                ck_attr_put_i64(g, "in", in) || ck_attr_put_i64(g, "row_bytes", q.row_bytes) ||
                put_u8(g, q.qs, out, q.row_bytes) || put_f32(g, "scales", sc, 2)))
      rc = FAIL("cannot write /packed/%s", base);
    if (g >= 0) H5Gclose(g);
    wr->count++;
    wr->bytes += out * q.row_bytes + 8;
    slt_cplx2_free(&q);
    free(codes);
    if (rc) return -1;
  }
  return 0;
}

static int write_tern(writer *wr) { return slt_quant_set_each(wr->m->quant, write_one, wr); }

typedef struct {
  writer *w;
  int (*fill)(writer *);
} packed_extra;

/* /packed with its layout attributes, filled by fill (slt_ckpt_data.extra). */
static int write_packed_group(int64_t file, void *user) {
  packed_extra *x = user;
  writer *w = x->w;
  w->root = H5Gcreate2(file, "packed", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  int rc = w->root < 0 || ck_attr_put_str(w->root, "layout", LAYOUT) ||
                   ck_attr_put_i64(w->root, "version", 1)
               ? FAIL("cannot add /packed")
               : x->fill(w);
  if (w->root >= 0) H5Gclose(w->root);
  return rc;
}

/* The checkpoint with cfg and keep, /packed filled by fill. 0 or -1. */
static int write_file(const char *path, const slt_ckpt_data *d, const slt_config *cfg,
                      const slt_params *keep, int (*fill)(writer *), writer *w) {
  packed_extra x = {w, fill};
  return ck_write_derived(path, d, cfg, keep, write_packed_group, &x);
}

int slt_ckpt_write_packed(const char *path, const slt_ckpt_data *d, slt_model *m, int *count,
                          int64_t *bytes) {
  *count = 0, *bytes = 0;
  writer w = {m, -1, 0, 0};
  slt_config cfg = *d->cfg;
  slt_params keep;
  int rc;
  /* By what the config quantizes, not by architecture: PhaseQuant is the complex models' own. */
  if (cfg.model.phasequant.stages > 0) {
    if (cfg.model.phasequant.stages != 1)
      return FAIL("model.phasequant.stages is %d: packed export stores single-stage {±1, ±i} "
                  "weights (stages 1)", cfg.model.phasequant.stages);
    cfg.model.phasequant.stages = 0; /* the stored weights are quantized */
    rc = kept_cplx(m, &keep) || write_file(path, d, &cfg, &keep, write_cplx, &w) ? -1 : 0;
  } else {
    if (!m->quant || !slt_quant_config_uses(&d->cfg->model.quant, SLT_QC_TERNARY))
      return FAIL("the model has no ternary or {±1, ±i} weights (model.quant.weight.kind: "
                  "ternary, or model.phasequant.stages: 1)");
    if (slt_quant_set_each(m->quant, packable, &w) ||
        slt_quant_config_strip_weights(&cfg.model.quant))
      return -1;
    rc = ck_kept_params(m, &keep) || write_file(path, d, &cfg, &keep, write_tern, &w) ? -1 : 0;
  }
  slt_params_free(&keep);
  *count = w.count;
  *bytes = w.bytes;
  return rc;
}

/* ---- reading ---- */

/* A ComplexLinear part "<pfx>.weight_re|_im" -> its group "<pfx>.weight" into base and the part
 * (0 re, 1 im); -1 for any other name. */
static int cplx_part(const char *name, char *base, size_t len) {
  size_t n = strlen(name);
  if (n <= 10 || (strcmp(name + n - 10, ".weight_re") && strcmp(name + n - 10, ".weight_im")))
    return -1;
  snprintf(base, len, "%.*s", (int)(n - 3), name);
  return name[n - 2] == 'i';
}

bool ck_packed_has(const slt_ckpt *c, const char *name) {
  char base[SLT_PARAM_NAME_MAX];
  hid_t g = ck_find_subgroup(c, "packed", name);
  if (g < 0 && cplx_part(name, base, sizeof base) >= 0) g = ck_find_subgroup(c, "packed", base);
  if (g >= 0) H5Gclose(g);
  return g >= 0;
}

static bool ck_packed_has_exact(const slt_ckpt *c, const char *name) {
  hid_t g = ck_find_subgroup(c, "packed", name);
  if (g >= 0) H5Gclose(g);
  return g >= 0;
}

/* qs (out, row_bytes) with its checksum into t->qs. */
static int read_qs_raw(const slt_ckpt *c, hid_t g, const char *what, int64_t out, int64_t rb,
                       uint8_t *qs) {
  hid_t d = H5Lexists(g, "qs", H5P_DEFAULT) > 0 ? H5Dopen2(g, "qs", H5P_DEFAULT) : -1;
  hid_t sp = d >= 0 ? H5Dget_space(d) : -1;
  hsize_t dims[2];
  bool ok = sp >= 0 && H5Sget_simple_extent_ndims(sp) == 2 &&
            H5Sget_simple_extent_dims(sp, dims, NULL) == 2 && dims[0] == (hsize_t)out &&
            dims[1] == (hsize_t)rb && H5Dread(d, H5T_NATIVE_UINT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, qs) >= 0;
  uint64_t sum = 0;
  ok = ok && !ck_get_sum(d, c->path, what, &sum) &&
       !ck_check_sum(c->path, what, qs, out * rb, sum);
  if (sp >= 0) H5Sclose(sp);
  if (d >= 0) H5Dclose(d);
  H5Eclear2(H5E_DEFAULT);
  return ok ? 0 : FAIL("%s: %s/qs is missing, not uint8 (%lld, %lld) or corrupt", c->path, what,
                       (long long)out, (long long)rb);
}

static int read_qs(const slt_ckpt *c, hid_t g, const char *what, slt_tern *t) {
  return read_qs_raw(c, g, what, t->out, t->row_bytes, t->qs);
}

/* The open /packed/<name> group stores {±1, ±i} codes (attribute kind "cplx2"), not ternary. */
static bool is_cplx2(hid_t q) {
  char *kind = ck_attr_get_str(q, "kind");
  bool cplx = kind && !strcmp(kind, "cplx2");
  free(kind);
  return cplx;
}

/* /packed/<base> (kind cplx2) into a new q (shape checked against out, in when > 0). */
static int read_cplx2(const slt_ckpt *c, const char *base, int64_t want_out, int64_t want_in,
                      slt_cplx2 *q) {
  char what[SLT_PARAM_NAME_MAX + 8];
  snprintf(what, sizeof what, "/packed/%s", base);
  memset(q, 0, sizeof *q);
  hid_t g = ck_find_subgroup(c, "packed", base);
  int64_t out, in, rb;
  int rc = g < 0 || !is_cplx2(g) || ck_attr_get_i64(g, "out", &out) ||
                   ck_attr_get_i64(g, "in", &in) || ck_attr_get_i64(g, "row_bytes", &rb) ||
                   (want_out > 0 && (out != want_out || in != want_in))
               ? FAIL("%s: %s: missing or bad attributes (kind cplx2, out, in, row_bytes of the "
                      "model's shape)", c->path, what)
               : 0;
  if (!rc) rc = slt_cplx2_alloc(q, out, in);
  if (!rc && q->row_bytes != rb) rc = FAIL("%s: %s: bad row_bytes %lld", c->path, what, (long long)rb);
  float sc[2];
  if (!rc) rc = read_qs_raw(c, g, what, out, rb, q->qs) ||
                ck_get_f32(c, g, what, "scales", 1, (int[]){2}, sc, NULL);
  if (!rc) q->s_re = sc[0], q->s_im = sc[1];
  if (g >= 0) H5Gclose(g);
  if (rc) slt_cplx2_free(q);
  return rc;
}

/* /packed/<base> (kind cplx2) into p's part (0 re, 1 im): ±s_re for codes 0, 2 in the real part,
 * ±s_im for codes 1, 3 in the imaginary part, 0 elsewhere. */
static int read_cplx(const slt_ckpt *c, const char *base, int part, slt_param *p) {
  slt_cplx2 q;
  if (p->t.ndim != 2)
    return FAIL("%s: /packed/%s: %s is not a matrix", c->path, base, p->name);
  if (read_cplx2(c, base, p->t.shape[0], p->t.shape[1], &q)) return -1;
  int64_t n = q.out * q.in;
  uint8_t *k = malloc((size_t)n);
  float sc[2] = {q.s_re, q.s_im};
  int rc = k ? 0 : FAIL("out of memory reading /packed/%s", base);
  if (!rc) {
    slt_cplx2_unpack(&q, k);
    for (int64_t i = 0; i < n; i++)
      p->t.data[i] = (k[i] & 1) != part ? 0.0f : (k[i] & 2 ? -sc[part] : sc[part]);
  }
  free(k);
  slt_cplx2_free(&q);
  return rc;
}

/* /packed/<name> into a new t (out, in checked against the caller's when > 0). */
static int read_tern(const slt_ckpt *c, const char *name, slt_tern *t) {
  char what[SLT_PARAM_NAME_MAX + 8];
  snprintf(what, sizeof what, "/packed/%s", name);
  memset(t, 0, sizeof *t);
  hid_t g = ck_find_subgroup(c, "packed", name);
  int64_t out, in, shards, rb;
  char *kind = g >= 0 ? ck_attr_get_str(g, "kind") : NULL;
  int rc = g < 0 || !kind || strcmp(kind, "ternary") || ck_attr_get_i64(g, "out", &out) ||
                   ck_attr_get_i64(g, "in", &in) || ck_attr_get_i64(g, "shards", &shards) ||
                   ck_attr_get_i64(g, "row_bytes", &rb) || out < 1 || in < 1 || shards < 1 ||
                   shards > out || out % shards || out > INT32_MAX || in > SLT_TERN_MAX_IN
               ? FAIL("%s: %s: missing or bad attributes (kind ternary, out, in, shards, "
                      "row_bytes)", c->path, what)
               : 0;
  free(kind);
  if (!rc) rc = slt_tern_alloc(t, out, in, (int)shards);
  if (!rc && t->row_bytes != rb)
    rc = FAIL("%s: %s: row_bytes %lld, expected %lld for in %lld", c->path, what, (long long)rb,
              (long long)t->row_bytes, (long long)in);
  if (!rc) rc = read_qs(c, g, what, t) || ck_get_f32(c, g, what, "gamma", 1, (int[]){(int)shards},
                                                      t->gamma, NULL);
  if (g >= 0) H5Gclose(g);
  if (rc) slt_tern_free(t);
  return rc;
}

int ck_packed_read(const slt_ckpt *c, slt_param *p) {
  char base[SLT_PARAM_NAME_MAX];
  int part = cplx_part(p->name, base, sizeof base);
  if (part >= 0 && !ck_packed_has_exact(c, p->name)) return read_cplx(c, base, part, p);
  slt_tern t;
  if (read_tern(c, p->name, &t)) return -1;
  int rc = 0;
  if (p->t.ndim != 2 || p->t.shape[0] != t.out || p->t.shape[1] != t.in) {
    rc = FAIL("%s: /packed/%s is (%lld, %lld), not the model's shape", c->path, p->name,
              (long long)t.out, (long long)t.in);
  } else {
    int8_t *codes = malloc((size_t)(t.out * t.in));
    if (!codes) rc = FAIL("out of memory reading /packed/%s", p->name);
    if (codes) slt_tern_unpack(&t, codes);
    for (int64_t r = 0; codes && r < t.out; r++) {
      float g = t.gamma[r / (t.out / t.nshards)];
      for (int64_t i = 0; i < t.in; i++) p->t.data[r * t.in + i] = codes[r * t.in + i] * g;
    }
    free(codes);
  }
  slt_tern_free(&t);
  return rc;
}

typedef struct {
  const slt_ckpt *c;
  slt_model *m;
  int rc;
} installer;

static herr_t install_one(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  installer *in = user;
  hid_t q = H5Gopen2(g, name, H5P_DEFAULT);
  bool cplx = q >= 0 && is_cplx2(q);
  if (q >= 0) H5Gclose(q);
  if (cplx) {
    slt_cplx2 w;
    in->rc = read_cplx2(in->c, name, 0, 0, &w) || slt_packed_install_cplx(in->m, name, &w) ? -1 : 0;
    slt_cplx2_free(&w); /* zeroed when installed */
    return in->rc ? 1 : 0;
  }
  slt_tern t;
  in->rc = read_tern(in->c, name, &t) || slt_packed_install_ternary(in->m, name, &t) ? -1 : 0;
  slt_tern_free(&t); /* zeroed when installed */
  return in->rc ? 1 : 0;
}

int ck_packed_install(const slt_ckpt *c, slt_model *m) {
  if (H5Lexists(c->h5, "packed", H5P_DEFAULT) <= 0) return 0;
  hid_t g = ck_open_group(c, "packed");
  if (g < 0) return -1;
  installer in = {c, m, 0};
  herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, install_one, &in);
  H5Gclose(g);
  if (!in.rc && it < 0) in.rc = FAIL("%s: cannot list /packed: corrupt file", c->path);
  return in.rc;
}

static herr_t visit_packed(hid_t g, const char *name, const H5L_info_t *info, void *user) {
  (void)info;
  ck_tensor_walk *w = user;
  hid_t q = H5Gopen2(g, name, H5P_DEFAULT);
  int64_t shape[2] = {0, 0};
  bool ok = q >= 0 && !ck_attr_get_i64(q, "out", &shape[0]) && !ck_attr_get_i64(q, "in", &shape[1]);
  bool cplx = q >= 0 && is_cplx2(q);
  if (q >= 0) H5Gclose(q);
  H5Eclear2(H5E_DEFAULT);
  char part[SLT_PARAM_NAME_MAX + 4];
  if (!ok)
    w->rc = FAIL("%s: /packed/%s has no out and in attributes", w->c->path, name);
  else if (!cplx)
    w->rc = w->fn(name, 2, shape, w->user);
  else {
    snprintf(part, sizeof part, "%s_re", name);
    w->rc = w->fn(part, 2, shape, w->user);
    snprintf(part, sizeof part, "%s_im", name);
    if (!w->rc) w->rc = w->fn(part, 2, shape, w->user);
  }
  return w->rc ? 1 : 0;
}

int ck_packed_each(const slt_ckpt *c, slt_ckpt_tensor_fn fn, void *user) {
  if (H5Lexists(c->h5, "packed", H5P_DEFAULT) <= 0) return 0;
  hid_t g = ck_open_group(c, "packed");
  if (g < 0) return -1;
  ck_tensor_walk w = {c, fn, user, 0};
  herr_t it = H5Literate(g, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, visit_packed, &w);
  H5Gclose(g);
  if (!w.rc && it < 0) w.rc = FAIL("%s: cannot list /packed: corrupt file", c->path);
  return w.rc;
}
