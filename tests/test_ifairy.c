/* The iFairy complex model (layers/ifairy.h) against the PyTorch reference
 * (tests/reference/ifairy_reference.py -> tests/fixtures/lowbit_ifairy.h5): logits, loss and the
 * gradient of every parameter in full precision, with PhaseQuant + 8-bit activations, and with
 * two-stage PhaseQuant; parameter names and shapes, counts, FLOPs, config errors. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "layers/ifairy.h"

#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FIXTURE SLT_FIXTURES "/lowbit_ifairy.h5"
#define TOL 1e-5

static slt_ifairy_config fixture_config(hid_t f) {
  return (slt_ifairy_config){.vocab_size = (int)test_h5_attr_num(f, "vocab_size", 0),
                             .seq_len = (int)test_h5_attr_num(f, "seq_len", 0),
                             .layers = (int)test_h5_attr_num(f, "layers", 0),
                             .hidden = (int)test_h5_attr_num(f, "hidden", 0),
                             .heads = (int)test_h5_attr_num(f, "heads", 0),
                             .ffn_dim = (int)test_h5_attr_num(f, "ffn_dim", 0),
                             .norm_eps = (float)test_h5_attr_num(f, "norm_eps", 0),
                             .rope_base = (float)test_h5_attr_num(f, "rope_base", 0),
                             .init_std = 0.02f};
}

/* Dataset `name` of n elements as `type` into out; false when it is missing or of another size. */
static bool rd(hid_t f, const char *name, hid_t type, void *out, int64_t n) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return false;
  hid_t d = H5Dopen(f, name, H5P_DEFAULT), s = H5Dget_space(d);
  bool ok = H5Sget_simple_extent_npoints(s) == n &&
            H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
  H5Sclose(s);
  H5Dclose(d);
  return ok;
}

static int count_datasets(hid_t f, const char *group) {
  hid_t g = H5Gopen(f, group, H5P_DEFAULT);
  H5G_info_t info;
  H5Gget_info(g, &info);
  H5Gclose(g);
  return (int)info.nlinks;
}

/* Every parameter of m read from the fixture's params/<name>; the fixture has no others. */
static void load_params(hid_t f, slt_ifairy *m) {
  CU_ASSERT_EQUAL_FATAL(count_datasets(f, "params"), m->params.count);
  for (int i = 0; i < m->params.count; i++) {
    slt_param *p = m->params.items[i];
    char path[160];
    snprintf(path, sizeof path, "params/%s", p->name);
    bool ok = rd(f, path, H5T_NATIVE_FLOAT, p->t.data, p->t.numel);
    if (!ok) printf("\n  fixture lacks %s of %lld elements", path, (long long)p->t.numel);
    CU_ASSERT_FATAL(ok);
  }
}

static double check(const char *variant, const char *what, const float *got, const float *ref,
                    int64_t n) {
  double e = test_rel_err(got, ref, n);
  if (e > TOL || getenv("SLT_TEST_VERBOSE"))
    printf("\n  [%s] %s rel err %.2e (tol %.0e)", variant, what, e, TOL);
  CU_ASSERT(e <= TOL);
  return e;
}

static void check_variant(hid_t f, const char *variant) {
  hid_t g = H5Gopen(f, variant, H5P_DEFAULT);
  slt_ifairy_config cfg = fixture_config(f);
  cfg.weight_stages = (int)test_h5_attr_num(g, "weight_stages", -1);
  cfg.act_quant = test_h5_attr_num(g, "act_quant", 0) != 0;
  slt_ifairy m;
  CU_ASSERT_EQUAL_FATAL(slt_ifairy_build(&m, &cfg, true), 0);
  load_params(f, &m);
  int B = 2, T = 6, V = cfg.vocab_size;
  int32_t x[12], y[12];
  CU_ASSERT_FATAL(rd(f, "x", H5T_NATIVE_INT32, x, B * T) && rd(f, "y", H5T_NATIVE_INT32, y, B * T));
  float *ref = malloc(sizeof(float) * (B * T * V + m.params.numel));
  slt_ctx c;
  slt_ctx_init(&c);
  slt_tensor *logits = slt_ifairy_logits(&m, &c, x, B, T, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(logits);
  CU_ASSERT_FATAL(rd(g, "logits", H5T_NATIVE_FLOAT, ref, B * T * V));
  double worst = check(variant, "logits", logits->data, ref, B * T * V);
  slt_ctx_reset(&c);
  slt_params_zero_grad(&m.params);
  slt_tensor *loss = slt_ifairy_loss(&m, &c, x, y, B, T);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loss);
  CU_ASSERT_FATAL(rd(g, "loss", H5T_NATIVE_FLOAT, ref, 1));
  check(variant, "loss", loss->data, ref, 1);
  CU_ASSERT_EQUAL_FATAL(slt_backward(&c, loss), 0);
  for (int i = 0; i < m.params.count; i++) {
    const slt_param *p = m.params.items[i];
    char path[160];
    snprintf(path, sizeof path, "grads/%s", p->name);
    CU_ASSERT_FATAL(rd(g, path, H5T_NATIVE_FLOAT, ref, p->t.numel));
    worst = fmax(worst, check(variant, path, p->t.grad, ref, p->t.numel));
  }
  if (getenv("SLT_TEST_VERBOSE")) printf("\n  [%s] worst rel err %.2e", variant, worst);
  slt_ctx_free(&c);
  free(ref);
  slt_ifairy_free(&m);
  H5Gclose(g);
}

static void test_parity(void) {
  hid_t f = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  check_variant(f, "fp");
  check_variant(f, "pq");
  check_variant(f, "pq2");
  H5Fclose(f);
}

/* A declared (not allocated) model has the fixture's names and shapes; counts and FLOPs of the
 * fixture's config computed by hand. */
static void test_layout(void) {
  hid_t f = H5Fopen(FIXTURE, H5F_ACC_RDONLY, H5P_DEFAULT);
  CU_ASSERT_FATAL(f >= 0);
  slt_ifairy_config cfg = fixture_config(f);
  slt_ifairy m;
  CU_ASSERT_EQUAL_FATAL(slt_ifairy_build(&m, &cfg, false), 0);
  CU_ASSERT_PTR_NULL(m.params.data);
  CU_ASSERT_EQUAL(count_datasets(f, "params"), m.params.count);
  for (int i = 0; i < m.params.count; i++) {
    const slt_param *p = m.params.items[i];
    char path[160];
    snprintf(path, sizeof path, "params/%s", p->name);
    bool ok = H5Lexists(f, path, H5P_DEFAULT) > 0;
    if (ok) {
      hid_t d = H5Dopen(f, path, H5P_DEFAULT), s = H5Dget_space(d);
      hsize_t dims[4];
      ok = H5Sget_simple_extent_ndims(s) == p->t.ndim;
      H5Sget_simple_extent_dims(s, dims, NULL);
      for (int k = 0; ok && k < p->t.ndim; k++) ok = (int)dims[k] == p->t.shape[k];
      H5Sclose(s), H5Dclose(d);
    }
    if (!ok) printf("\n  %s: not in the fixture with that shape", p->name);
    CU_ASSERT(ok);
  }
  /* V 37, H 8, F 12, 2 layers: per layer 4 (H,H) and 3 (F,H) linears of two parts, 3 norms of
   * 2H and one of 2F; embedding and head V·2H each, final norm 2H. */
  slt_ifairy_counts n = slt_ifairy_counts_of(&m);
  CU_ASSERT_EQUAL(n.embedding, 37 * 16);
  CU_ASSERT_EQUAL(n.ffn, 2 * (3 * 2 * 96 + 24));
  CU_ASSERT_EQUAL(n.total, 2 * 37 * 16 + 16 + 2 * (4 * 2 * 64 + 3 * 2 * 96 + 3 * 16 + 24));
  /* MACs per token at T = 6: linears 4·(4·64 + 3·96) = 2176 and attention 2·3·16 = 96 per
   * layer, head 37·16 = 592; FLOPs = 3 · 2 · (2·(2176 + 96) + 592) = 30816. */
  CU_ASSERT_DOUBLE_EQUAL(slt_ifairy_flops_per_token(&m, 6), 30816.0, 1e-9);
  slt_ifairy_free(&m);
  H5Fclose(f);
}

static void test_config_errors(void) {
  slt_ifairy_config cfg = slt_ifairy_default_config(100, 16);
  CU_ASSERT_EQUAL(slt_ifairy_check_config(&cfg), 0);
  cfg.heads = 7;
  CU_ASSERT_EQUAL(slt_ifairy_check_config(&cfg), -1);
  CU_ASSERT(test_err_has("model.heads (7)", "model.d_model (1536)"));
  cfg = slt_ifairy_default_config(100, 16);
  cfg.weight_stages = 3;
  slt_ifairy m;
  CU_ASSERT_EQUAL(slt_ifairy_build(&m, &cfg, false), -1);
  CU_ASSERT(test_err_has("weight stages", "got 3"));
  slt_ifairy_free(&m);
  cfg = slt_ifairy_default_config(0, 16);
  CU_ASSERT_EQUAL(slt_ifairy_check_config(&cfg), -1);
  CU_ASSERT(test_err_has("model.vocab_size must be >= 1", NULL));
}

int register_ifairy_suite(void) {
  CU_pSuite s = CU_add_suite("ifairy", NULL, NULL);
  if (!s) return -1;
  return !CU_add_test(s, "logits, loss and every gradient match PyTorch (fp, PQ+act8, PQ x2)",
                      test_parity) ||
                 !CU_add_test(s, "names, shapes, counts and FLOPs", test_layout) ||
                 !CU_add_test(s, "config errors", test_config_errors)
             ? -1
             : 0;
}
