/* The training step against PyTorch (tests/reference/trainer_reference.py), not against itself:
 * slt's trainer (slt_trainer_step: accumulation scaling, global-norm clipping that clips,
 * parameter groups with weight decay and lr multipliers, warm-up + cosine) runs 6 steps of a
 * tiny GPT on the reference's token stream from its initial weights; losses, pre-clip norms,
 * final parameters and AdamW moments must match within 1e-5 relative. Global-norm clipping on
 * its own against torch.nn.utils.clip_grad_norm_. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "data/shard.h"
#include "optim/clip.h"
#include "train/trainer.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-5 /* relative: losses, norms, parameters and moments */

/* Reads dataset name as type into out (room for cap elements); the element count, or -1. */
static int64_t read_ds(hid_t f, const char *name, hid_t type, void *out, int64_t cap) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return -1;
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT), s = H5Dget_space(d);
  int64_t n = H5Sget_simple_extent_npoints(s);
  int rc = n <= cap && out ? H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : 0;
  H5Sclose(s);
  H5Dclose(d);
  return rc < 0 ? -1 : n;
}

static double rel(double a, double b) {
  return fabs(a - b) / fabs(b);
}

/* The fixture's token stream as a shard in the suite's directory; its path. */
static const char *write_shard(hid_t f) {
  int64_t n = read_ds(f, "tokens", H5T_NATIVE_INT32, NULL, 0);
  CU_ASSERT_FATAL(n > 0);
  size_t cnt = n > 0 ? (size_t)n : 1;
  int32_t *tok = malloc(cnt * sizeof *tok);
  uint32_t *u = malloc(cnt * sizeof *u);
  CU_ASSERT_FATAL(read_ds(f, "tokens", H5T_NATIVE_INT32, tok, n) == n);
  for (int64_t i = 0; i < n; i++) u[i] = (uint32_t)tok[i];
  const char *path = test_tpath("train.bin");
  CU_ASSERT_FATAL(slt_shard_write(path, u, n, 2) == 0);
  free(tok);
  free(u);
  return path;
}

/* The config: defaults, the fixture's overrides (one key=value per line), then this suite's
 * paths. */
static void fixture_config(hid_t f, const char *shard, slt_config *cfg) {
  char text[4096], line[SLT_CFG_STR + 32];
  test_h5_attr_str_req(f, "overrides", text, sizeof text);
  slt_config_defaults(cfg);
  for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    int bad = slt_config_override(cfg, l);
    if (bad) printf("\n  fixture override: %s\n", slt_err_msg());
    CU_ASSERT_FATAL(bad == 0);
  }
  snprintf(line, sizeof line, "out_dir=%s", test_tpath("run"));
  CU_ASSERT_FATAL(slt_config_override(cfg, line) == 0);
  snprintf(line, sizeof line, "data.train=%s", shard);
  CU_ASSERT_FATAL(slt_config_override(cfg, line) == 0);
  int bad = slt_config_validate(cfg);
  if (bad) printf("\n  fixture config: %s\n", slt_err_msg());
  CU_ASSERT_FATAL(bad == 0);
}

/* Every parameter of p from group/<name> of the fixture, and as many datasets as parameters. */
static void load_group(hid_t f, const char *group, const slt_params *p) {
  char path[160];
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    snprintf(path, sizeof path, "%s/%s", group, q->name);
    int64_t n = read_ds(f, path, H5T_NATIVE_FLOAT, q->t.data, q->t.numel);
    if (n != q->t.numel) printf("\n  fixture lacks or mis-sizes %s\n", path);
    CU_ASSERT_FATAL(n == q->t.numel);
  }
  hid_t g = H5Gopen2(f, group, H5P_DEFAULT);
  hsize_t n = 0;
  H5Gget_num_objs(g, &n);
  H5Gclose(g);
  CU_ASSERT_FATAL(n == (hsize_t)p->count);
}

/* The worst relative error (in norm, per tensor) of flat buffer got (laid out like p) against
 * group/<name>; its name to worst. */
static double worst_err(hid_t f, const char *group, const slt_params *p, const float *got,
                        const char **worst) {
  double w = 0;
  char path[160];
  for (int i = 0; i < p->count; i++) {
    const slt_param *q = p->items[i];
    float *ref = malloc((size_t)q->t.numel * sizeof *ref);
    snprintf(path, sizeof path, "%s/%s", group, q->name);
    CU_ASSERT_FATAL(read_ds(f, path, H5T_NATIVE_FLOAT, ref, q->t.numel) == q->t.numel);
    double e = test_rel_err(got + q->offset, ref, q->t.numel);
    if (!(e <= w)) w = e, *worst = q->name; /* a NaN is the worst */
    free(ref);
  }
  return w;
}

static void test_six_steps(void) {
  hid_t f = H5Fopen(SLT_FIXTURES "/trainer_step.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  slt_config cfg;
  fixture_config(f, write_shard(f), &cfg);
  int steps = (int)test_h5_attr_req(f, "steps");
  CU_ASSERT_FATAL(steps == 6 && cfg.train.steps == steps && cfg.train.grad_accum == 2);
  double losses[6], norms[6], lrs[6];
  CU_ASSERT_FATAL(read_ds(f, "losses", H5T_NATIVE_DOUBLE, losses, 6) == 6);
  CU_ASSERT_FATAL(read_ds(f, "grad_norms", H5T_NATIVE_DOUBLE, norms, 6) == 6);
  CU_ASSERT_FATAL(read_ds(f, "lrs", H5T_NATIVE_DOUBLE, lrs, 6) == 6);
  slt_trainer t;
  test_quiet(true);
  int rc = slt_trainer_init(&t, &cfg);
  test_quiet(false);
  if (rc) printf("\n  trainer: %s\n", slt_err_msg());
  CU_ASSERT_FATAL(rc == 0);
  slt_params *p = t.model->params;
  load_group(f, "params", p);
  double worst_loss = 0, worst_norm = 0, worst_lr = 0;
  for (int s = 0; s < steps; s++) {
    worst_lr = fmax(worst_lr, rel(slt_schedule_at(&t.sched, s).lr, lrs[s]));
    double loss, norm;
    CU_ASSERT_FATAL(slt_trainer_step(&t, &loss, &norm) == 0);
    CU_ASSERT(norm > 1.5 * cfg.optim.clip); /* every step clips */
    worst_loss = fmax(worst_loss, rel(loss, losses[s]));
    worst_norm = fmax(worst_norm, rel(norm, norms[s]));
  }
  const char *wp = "", *wm = "", *wv = "";
  const char *names[SLT_OPTIM_MAX_SLOTS];
  float *slots[SLT_OPTIM_MAX_SLOTS];
  CU_ASSERT_FATAL(slt_optim_slots(t.opt, names, slots) == 2 && !strcmp(names[0], "m") &&
                  !strcmp(names[1], "v"));
  double ep = worst_err(f, "final", p, p->data, &wp);
  double em = worst_err(f, "exp_avg", p, slots[0], &wm);
  double ev = worst_err(f, "exp_avg_sq", p, slots[1], &wv);
  bool ok = worst_loss <= TOL && worst_norm <= TOL && worst_lr <= 1e-12 && ep <= TOL && em <= TOL &&
            ev <= TOL;
  if (!ok || getenv("SLT_TEST_VERBOSE"))
    printf("\n  relative errors: losses %.2e, pre-clip norms %.2e, lrs %.2e, parameters %.2e (%s),"
           " m %.2e (%s), v %.2e (%s)\n",
           worst_loss, worst_norm, worst_lr, ep, wp, em, wm, ev, wv);
  CU_ASSERT(worst_loss <= TOL);
  CU_ASSERT(worst_norm <= TOL);
  CU_ASSERT(worst_lr <= 1e-12);
  CU_ASSERT(ep <= TOL);
  CU_ASSERT(em <= TOL);
  CU_ASSERT(ev <= TOL);
  slt_trainer_free(&t);
  H5Fclose(f);
}

/* ---- global-norm clipping ---- */

#define CLIP_MAX_T 8

/* A store of case/grad_<i> for i in [from, to), its gradients filled from the fixture. */
static void clip_store(hid_t g, int from, int to, slt_params *p) {
  slt_params_init(p);
  char name[32];
  for (int i = from; i < to; i++) {
    snprintf(name, sizeof name, "grad_%d", i);
    int64_t n = read_ds(g, name, H5T_NATIVE_FLOAT, NULL, 0);
    CU_ASSERT_FATAL(n > 0 && n < INT32_MAX);
    int shape[1] = {(int)n};
    CU_ASSERT_FATAL(slt_params_add(p, name, 1, shape) != NULL);
  }
  CU_ASSERT_FATAL(slt_params_alloc(p) == 0);
  for (int i = 0; i < p->count; i++)
    CU_ASSERT_FATAL(read_ds(g, p->items[i]->name, H5T_NATIVE_FLOAT, p->items[i]->t.grad,
                            p->items[i]->t.numel) == p->items[i]->t.numel);
}

/* The gradients after clipping against case/clipped_<i>: worst relative error. */
static double clipped_err(hid_t g, const slt_params *p, int from) {
  double w = 0;
  char name[32];
  for (int i = 0; i < p->count; i++) {
    const slt_tensor *t = &p->items[i]->t;
    float *ref = malloc((size_t)t->numel * sizeof *ref);
    snprintf(name, sizeof name, "clipped_%d", from + i);
    CU_ASSERT_FATAL(read_ds(g, name, H5T_NATIVE_FLOAT, ref, t->numel) == t->numel);
    double e = test_rel_err(t->grad, ref, t->numel);
    if (!(e <= w)) w = e;
    free(ref);
  }
  return w;
}

/* One case: the whole set as one store (slt_clip_grad_norm), then split in two stores taken as
 * one (slt_clip_grad_norm_multi, the model and SGT's guides): the same norm and gradients as
 * torch.nn.utils.clip_grad_norm_, within 1e-6 relative (torch sums in float32). */
static void clip_case(hid_t f, const char *name) {
  hid_t g = H5Gopen2(f, name, H5P_DEFAULT);
  CU_ASSERT_FATAL(g >= 0);
  int n = (int)test_h5_attr_req(g, "n");
  double max_norm = test_h5_attr_req(g, "max_norm"), total = test_h5_attr_req(g, "total_norm");
  CU_ASSERT_FATAL(n >= 3 && n <= CLIP_MAX_T);
  slt_params one, a, b;
  clip_store(g, 0, n, &one);
  double norm1 = slt_clip_grad_norm(&one, max_norm);
  double e1 = clipped_err(g, &one, 0);
  clip_store(g, 0, 2, &a);
  clip_store(g, 2, n, &b);
  slt_params *both[2] = {&a, &b};
  double norm2 = slt_clip_grad_norm_multi(both, 2, max_norm);
  double e2 = fmax(clipped_err(g, &a, 0), clipped_err(g, &b, 2));
  bool ok = rel(norm1, total) <= 1e-6 && rel(norm2, total) <= 1e-6 && e1 <= 1e-6 && e2 <= 1e-6;
  if (!ok || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] max_norm %g: norm %.7g / %.7g (torch %.7g), gradients %.2e / %.2e\n", name,
           max_norm, norm1, norm2, total, e1, e2);
  CU_ASSERT(rel(norm1, total) <= 1e-6);
  CU_ASSERT(rel(norm2, total) <= 1e-6);
  CU_ASSERT(e1 <= 1e-6);
  CU_ASSERT(e2 <= 1e-6);
  slt_params_free(&one);
  slt_params_free(&a);
  slt_params_free(&b);
  H5Gclose(g);
}

static void test_clip_grad_norm(void) {
  hid_t f = H5Fopen(SLT_FIXTURES "/clip_grad_norm.h5", H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  clip_case(f, "clips");
  clip_case(f, "no_clip");
  clip_case(f, "tiny_max");
  H5Fclose(f);
}

static int suite_init(void) {
  return test_tmpdir_init("trainer_ref");
}

int register_trainer_ref_suite(void) {
  CU_pSuite s = CU_add_suite("trainer_ref", suite_init, test_tmpdir_cleanup);
  if (!s) return -1;
  return !CU_add_test(s, "6 trainer steps against PyTorch", test_six_steps) ||
                 !CU_add_test(s, "global-norm clip against clip_grad_norm_", test_clip_grad_norm)
             ? -1
             : 0;
}
