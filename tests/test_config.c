/* The config module: schema, YAML loading and includes, overrides, every error message,
 * validation rules, write/load round trip and diff. Files go to a mkdtemp directory. */
#include "suites.h"
#include "test_util.h"

#include "autograd/error.h"
#include "config/config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[64];
static char written[128][128]; /* files to remove at the end, in creation order */
static int nwritten;

static void track(const char *path) {
  for (int i = 0; i < nwritten; i++)
    if (!strcmp(written[i], path)) return;
  CU_ASSERT_FATAL(nwritten < 128);
  snprintf(written[nwritten++], sizeof *written, "%s", path);
}

static int suite_init(void) {
  snprintf(dir, sizeof dir, "/tmp/slt_config_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int suite_clean(void) {
  for (int i = nwritten - 1; i >= 0; i--) remove(written[i]);
  return rmdir(dir);
}

/* Write text to dir/name (creating dir/sub once for names with a slash); returns the path. */
static const char *put(const char *name, const char *text) {
  static char path[128];
  if (strchr(name, '/')) {
    char sub[128];
    snprintf(sub, sizeof sub, "%s/%.*s", dir, (int)(strchr(name, '/') - name), name);
    if (mkdir(sub, 0755) == 0) track(sub);
  }
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
  track(path);
  return path;
}

/* Assert rc is -1 and the message holds every needle (NULL-terminated); print it otherwise. */
static void expect_err_(int rc, const char *const *needles, int line) {
  bool ok = rc == -1;
  for (int i = 0; needles[i]; i++) ok = ok && strstr(slt_err_msg(), needles[i]);
  if (!ok) printf("\n  test_config.c:%d: rc %d, message \"%s\"\n", line, rc, slt_err_msg());
  CU_ASSERT(ok);
}
#define EXPECT_ERR(rc, ...) expect_err_((rc), (const char *const[]){__VA_ARGS__, NULL}, __LINE__)

static int load_text(slt_config *c, const char *name, const char *text) {
  slt_err_clear();
  return slt_config_load_file(c, put(name, text));
}

static void test_defaults(void) {
  slt_config c;
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL(slt_config_validate(&c), 0);
  CU_ASSERT_STRING_EQUAL(c.out_dir, "runs/default");
  CU_ASSERT_EQUAL(c.seed, 1005);
  CU_ASSERT(c.model.d_model == 256 && c.model.heads == 4 && c.model.layers == 4);
  CU_ASSERT(c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.999 && c.optim.lr == 6e-4);
  CU_ASSERT(c.model.norm_eps == 1e-5 && c.model.rope_base == 10000.0);
  CU_ASSERT(c.model.ffn.first_layer_dense && c.data.shuffle && !c.sgt.enabled);
  CU_ASSERT(c.model.norm == SLT_NORM_LAYERNORM && c.model.pos == SLT_POS_ROPE);
  CU_ASSERT(c.schedule.name == SLT_SCHED_COSINE && c.train.metrics == SLT_METRICS_JSONL);
  CU_ASSERT(slt_config_kv_heads(&c) == 4 && slt_config_ffn_dim(&c) == 1024);
  CU_ASSERT(slt_config_synthetic_vocab(&c) == 8192);
  CU_ASSERT(slt_config_warmup_steps(&c, 1000) == 100);
  /* Every default must parse: the defaults function cannot report a bad one. */
  int n;
  const slt_config_key *k = slt_config_keys(&n);
  for (int i = 0; i < n; i++) {
    char a[600];
    snprintf(a, sizeof a, "%s=%s", k[i].key, k[i].def);
    if (slt_config_override(&c, a)) printf("\n  default of %s: %s\n", k[i].key, slt_err_msg());
    CU_ASSERT_EQUAL(slt_config_override(&c, a), 0);
  }
}

/* Keys unique and found; sections contiguous (slt_config_write nests by runs of rows). */
static void test_schema(void) {
  int n;
  const slt_config_key *k = slt_config_keys(&n);
  CU_ASSERT(n > 60);
  for (int i = 0; i < n; i++) {
    CU_ASSERT_PTR_EQUAL(slt_config_find(k[i].key), &k[i]);
    CU_ASSERT(k[i].help && *k[i].help);
    const char *dot = strrchr(k[i].key, '.');
    size_t sec = dot ? (size_t)(dot - k[i].key) + 1 : 0;
    if (!sec || i == 0 || !strncmp(k[i - 1].key, k[i].key, sec)) continue;
    for (int j = 0; j < i - 1; j++)
      if (!strncmp(k[j].key, k[i].key, sec)) {
        printf("\n  section of %s is split by %s\n", k[i].key, k[i - 1].key);
        CU_FAIL("schema section not contiguous");
      }
  }
  CU_ASSERT_PTR_NULL(slt_config_find("model"));
  CU_ASSERT_PTR_NULL(slt_config_find("model.d_modle"));
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  slt_config_print_help(f);
  fclose(f);
  for (int i = 0; i < n; i++) CU_ASSERT_PTR_NOT_NULL(strstr(buf, k[i].key));
  CU_ASSERT_PTR_NOT_NULL(strstr(buf, "layernorm|rmsnorm"));
  free(buf);
}

/* c as slt_config_write writes it (what a checkpoint stores); malloc'd. */
static char *yaml_written(const slt_config *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_EQUAL(slt_config_write(c, f), 0);
  fclose(f);
  return buf;
}

static void test_load_nested(void) {
  slt_config c;
  slt_config_defaults(&c);
  int rc = load_text(&c, "nested.yaml",
                     "# a comment\n"
                     "out_dir: 'runs/my run'   # trailing comment\n"
                     "seed: 42\n"
                     "model:\n"
                     "  layers: 6\n"
                     "  d_model: 384\n"
                     "  heads: 6\n"
                     "  kv_heads: 2\n"
                     "  norm: rmsnorm\n"
                     "  norm_eps: 1e-6\n"
                     "  bias: false\n"
                     "  ffn: {kind: lowrank, rank: 96, first_layer_dense: false, init: svd}\n"
                     "data:\n"
                     "  source: synthetic\n"
                     "  synthetic: {order: 3, alpha: 0.5}\n"
                     "optim: {name: adamp, lr: 6.0e-4, betas: [0.8, 0.95], nesterov: true}\n"
                     "schedule:\n"
                     "  warmup: 200\n"
                     "train: {steps: 2000, micro_batch: 4}\n");
  if (rc) printf("\n  %s\n", slt_err_msg());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_STRING_EQUAL(c.out_dir, "runs/my run");
  CU_ASSERT(c.seed == 42 && c.model.layers == 6 && c.model.d_model == 384);
  CU_ASSERT(c.model.kv_heads == 2 && c.model.norm == SLT_NORM_RMSNORM && c.model.norm_eps == 1e-6);
  CU_ASSERT(!c.model.bias && c.model.tie_embeddings);
  CU_ASSERT(c.model.ffn.kind == SLT_LIN_LOWRANK && c.model.ffn.rank == 96);
  CU_ASSERT(!c.model.ffn.first_layer_dense && c.model.ffn.init == SLT_LIN_INIT_SVD);
  CU_ASSERT(c.data.source == SLT_DATA_SYNTHETIC && c.data.synthetic.order == 3);
  CU_ASSERT(c.data.synthetic.alpha == 0.5 && c.data.synthetic.seed == 7);
  CU_ASSERT(c.optim.name == SLT_OPT_ADAMP && c.optim.lr == 6.0e-4 && c.optim.nesterov);
  CU_ASSERT(c.optim.betas[0] == 0.8 && c.optim.betas[1] == 0.95);
  CU_ASSERT(c.schedule.warmup == 200 && slt_config_warmup_steps(&c, c.train.steps) == 200);
  CU_ASSERT(c.train.steps == 2000 && c.train.micro_batch == 4 && c.train.grad_accum == 1);
  CU_ASSERT_EQUAL(slt_config_validate(&c), 0);
  /* Block sequences, dotted keys at the top level, and an all-commented section. */
  rc = load_text(&c, "block.yaml",
                 "optim:\n  betas:\n    - 0.7\n    - 0.75\nmodel.layers: 3\nsgt:\n");
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(c.optim.betas[0] == 0.7 && c.optim.betas[1] == 0.75 && c.model.layers == 3);
  CU_ASSERT(c.model.d_model == 384); /* applied over the earlier values */
}

static void test_quickstart(void) {
  slt_config c;
  slt_config_defaults(&c);
  char path[512];
  snprintf(path, sizeof path, "%s", SLT_DEFAULT_TEST_DATA); /* <source dir>/../shared/data */
  char *cut = strstr(path, "/../shared/data");
  CU_ASSERT_PTR_NOT_NULL_FATAL(cut);
  snprintf(cut, sizeof path - (size_t)(cut - path), "/configs/quickstart.yaml");
  int rc = slt_config_load_file(&c, path);
  if (rc) printf("\n  %s\n", slt_err_msg());
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(c.data.source, SLT_DATA_SYNTHETIC);
  CU_ASSERT_EQUAL(slt_config_validate(&c), 0);
}

static void test_include(void) {
  put("base.yaml", "model: {layers: 6, d_model: 384, heads: 6}\noptim: {lr: 3.0e-4}\n");
  put("other.yaml", "model: {layers: 7}\nseed: 11\n");
  /* The child lives in a subdirectory: includes resolve from its directory, not the cwd. */
  const char *child = put("sub/child.yaml", "include: ../base.yaml\nmodel:\n  layers: 8\n");
  slt_config c;
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL_FATAL(slt_config_load_file(&c, child), 0);
  CU_ASSERT(c.model.layers == 8 && c.model.d_model == 384 && c.optim.lr == 3.0e-4);
  /* A list: later includes override earlier ones, the file overrides both. */
  slt_config_defaults(&c);
  int rc = load_text(&c, "list.yaml", "include: [base.yaml, other.yaml]\nmodel: {heads: 3}\n");
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT(c.model.layers == 7 && c.seed == 11 && c.model.heads == 3 && c.model.d_model == 384);
  /* Text (a checkpoint's stored config) names no files: its include is refused, unread. */
  char yaml[256];
  snprintf(yaml, sizeof yaml, "include: %s/other.yaml\n", dir);
  slt_config_defaults(&c);
  EXPECT_ERR(slt_config_load_string(&c, yaml, "ckpt"), "ckpt:1:", "include: not allowed");
  CU_ASSERT_EQUAL(c.model.layers, 4); /* unchanged: the default */
  rc = load_text(&c, "badinc.yaml", "seed: 1\ninclude: nothere.yaml\n");
  EXPECT_ERR(rc, "badinc.yaml:2:", "nothere.yaml", "No such file");
  rc = load_text(&c, "badinc2.yaml", "include: {a: 1}\n");
  EXPECT_ERR(rc, "badinc2.yaml:1:", "include");
}

static void test_include_cycle(void) {
  slt_config c, before;
  slt_config_defaults(&c);
  put("cyc_a.yaml", "include: cyc_b.yaml\nseed: 1\n");
  put("cyc_b.yaml", "include: [cyc_base.yaml, cyc_a.yaml]\n");
  put("cyc_base.yaml", "model: {layers: 6}\n");
  before = c;
  int rc = load_text(&c, "cyc_a.yaml", "include: cyc_b.yaml\nseed: 1\n");
  EXPECT_ERR(rc, "include cycle", "cyc_a.yaml", "cyc_b.yaml");
  CU_ASSERT(memcmp(&c, &before, sizeof c) == 0); /* nothing applied, not even base.yaml */
  rc = load_text(&c, "self.yaml", "include: self.yaml\n");
  EXPECT_ERR(rc, "include cycle", "self.yaml");
  /* The same file twice side by side is not a cycle. */
  rc = load_text(&c, "twice.yaml", "include: [cyc_base.yaml, cyc_base.yaml]\n");
  CU_ASSERT_EQUAL(rc, 0);
}

static void test_overrides(void) {
  slt_config c;
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL(slt_config_override(&c, "model.layers=6"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "seed=-0"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "train.steps=5000000000"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "optim.lr=3e-4"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "model.bias=false"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "data.train=data/rw/train_*.bin"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "out_dir=runs/a=b"), 0); /* first '=' splits */
  CU_ASSERT_EQUAL(slt_config_override(&c, "model.act=swiglu"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "optim.betas=[0.9,0.95]"), 0);
  CU_ASSERT(c.model.layers == 6 && c.seed == 0 && c.train.steps == 5000000000LL);
  CU_ASSERT(c.optim.lr == 3e-4 && !c.model.bias && c.model.act == SLT_ACT_SWIGLU);
  CU_ASSERT_STRING_EQUAL(c.data.train, "data/rw/train_*.bin");
  CU_ASSERT_STRING_EQUAL(c.out_dir, "runs/a=b");
  CU_ASSERT(c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.95);
  CU_ASSERT_EQUAL(slt_config_override(&c, "optim.betas= 0.5 , 0.6 "), 0);
  CU_ASSERT(c.optim.betas[0] == 0.5 && c.optim.betas[1] == 0.6);
  CU_ASSERT_EQUAL(slt_config_override(&c, "data.val="), 0);
  CU_ASSERT_STRING_EQUAL(c.data.val, "");
  char buf[64];
  CU_ASSERT_EQUAL(slt_config_get(&c, "optim.betas", buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "[0.5, 0.6]");
  CU_ASSERT_EQUAL(slt_config_get(&c, "model.act", buf, sizeof buf), 0);
  CU_ASSERT_STRING_EQUAL(buf, "swiglu");
  EXPECT_ERR(slt_config_get(&c, "model.actt", buf, sizeof buf), "model.actt", "model.act");
}

static void test_override_errors(void) {
  slt_config c, before;
  slt_config_defaults(&c);
  before = c;
  EXPECT_ERR(slt_config_override(&c, "model.layers"), "model.layers", "key=value");
  EXPECT_ERR(slt_config_override(&c, "=4"), "key=value");
  EXPECT_ERR(slt_config_override(&c, "model.d_modle=3"), "unknown key 'model.d_modle'",
             "did you mean 'model.d_model'?");
  EXPECT_ERR(slt_config_override(&c, "model.lr=1e-3"), "did you mean 'optim.lr'?");
  EXPECT_ERR(slt_config_override(&c, "zzzzzzzz=1"), "unknown key 'zzzzzzzz'");
  CU_ASSERT_PTR_NULL(strstr(slt_err_msg(), "did you mean"));
  EXPECT_ERR(slt_config_override(&c, "model.ffn=dense"), "'model.ffn' is a section");
  EXPECT_ERR(slt_config_override(&c, "model.layers=four"), "model.layers",
             "expected an integer, got 'four'");
  EXPECT_ERR(slt_config_override(&c, "model.layers=3.5"), "model.layers", "'3.5'");
  EXPECT_ERR(slt_config_override(&c, "model.layers=12abc"), "model.layers", "'12abc'");
  EXPECT_ERR(slt_config_override(&c, "model.layers="), "model.layers", "expected an integer");
  EXPECT_ERR(slt_config_override(&c, "model.layers= 4"), "model.layers", "expected an integer");
  EXPECT_ERR(slt_config_override(&c, "model.layers=2147483648"), "model.layers", "32-bit");
  EXPECT_ERR(slt_config_override(&c, "seed=9223372036854775808"), "seed", "64-bit");
  EXPECT_ERR(slt_config_override(&c, "model.layers=0"), "model.layers", ">= 1");
  EXPECT_ERR(slt_config_override(&c, "optim.lr=-1"), "optim.lr", ">= 0");
  EXPECT_ERR(slt_config_override(&c, "optim.lr=fast"), "optim.lr", "expected a number");
  EXPECT_ERR(slt_config_override(&c, "optim.lr=inf"), "optim.lr", "expected a number");
  EXPECT_ERR(slt_config_override(&c, "optim.lr=1e999"), "optim.lr", "expected a number");
  EXPECT_ERR(slt_config_override(&c, "model.norm_eps=0"), "model.norm_eps", "> 0");
  EXPECT_ERR(slt_config_override(&c, "model.bias=maybe"), "model.bias", "true or false");
  EXPECT_ERR(slt_config_override(&c, "model.norm=batchnorm"), "model.norm", "layernorm|rmsnorm",
             "'batchnorm'");
  EXPECT_ERR(slt_config_override(&c, "optim.betas=[0.9]"), "optim.betas", "list of 2");
  EXPECT_ERR(slt_config_override(&c, "optim.betas=[0.9,0.9,0.9]"), "optim.betas", "list of 2");
  EXPECT_ERR(slt_config_override(&c, "optim.betas=[0.9,1]"), "optim.betas", "< 1");
  EXPECT_ERR(slt_config_override(&c, "optim.betas=[x,0.9]"), "optim.betas", "'x'");
  char long_path[SLT_CFG_STR + 16];
  memset(long_path, 'a', sizeof long_path);
  memcpy(long_path, "out_dir=", 8);
  long_path[sizeof long_path - 1] = '\0';
  EXPECT_ERR(slt_config_override(&c, long_path), "out_dir", "longer than");
  CU_ASSERT(memcmp(&c, &before, sizeof c) == 0); /* no failed override changed anything */
}

static void test_load_errors(void) {
  slt_config c, before;
  slt_config_defaults(&c);
  before = c;
  EXPECT_ERR(load_text(&c, "e1.yaml", "seed: 3\nmodel:\n  layers: 4\n\n  d_modle: 3\n"),
             "e1.yaml:5:", "unknown key 'model.d_modle'", "did you mean 'model.d_model'?");
  EXPECT_ERR(load_text(&c, "e2.yaml", "model:\n  layers: four\n"), "e2.yaml:2:", "model.layers",
             "expected an integer", "'four'");
  EXPECT_ERR(load_text(&c, "e3.yaml", "model: {layers: 3.5}\n"), "e3.yaml:1:", "model.layers",
             "'3.5'");
  EXPECT_ERR(load_text(&c, "e4.yaml", "train:\n  steps: 99999999999999999999\n"),
             "e4.yaml:2:", "train.steps", "64-bit");
  EXPECT_ERR(load_text(&c, "e5.yaml", "model:\n  heads: -4\n"), "e5.yaml:2:", "model.heads",
             ">= 1");
  EXPECT_ERR(load_text(&c, "e6.yaml", "optim:\n  lr: 1e-3\n  name: adam\n"),
             "e6.yaml:3:", "optim.name", "adamw|adamp|sgdp|sgd", "'adam'");
  EXPECT_ERR(load_text(&c, "e7.yaml", "model:\n  layers:\n    deep: 3\n"),
             "e7.yaml:3:", "model.layers", "got a mapping");
  EXPECT_ERR(load_text(&c, "e8.yaml", "model:\n  ffn: lowrank\n"), "e8.yaml:2:", "'model.ffn'",
             "expected a mapping", "'lowrank'");
  EXPECT_ERR(load_text(&c, "e9.yaml", "model: [1, 2]\n"), "e9.yaml:1:", "'model'", "got a list");
  EXPECT_ERR(load_text(&c, "e10.yaml", "model:\n  layers: [4]\n"), "e10.yaml:2:", "model.layers",
             "got a list");
  EXPECT_ERR(load_text(&c, "e11.yaml", "optim:\n  betas: 0.9\n"), "e11.yaml:2:", "optim.betas",
             "list of 2");
  EXPECT_ERR(load_text(&c, "e12.yaml", "optim:\n  betas: [0.9]\n"), "e12.yaml:2:", "optim.betas",
             "length 1");
  EXPECT_ERR(load_text(&c, "e13.yaml", "optim:\n  betas: [0.9, 1.5]\n"),
             "e13.yaml:2:", "optim.betas", "< 1");
  EXPECT_ERR(load_text(&c, "e14.yaml", "modle:\n  layers: 4\n"),
             "e14.yaml:1:", "unknown section 'modle'", "did you mean 'model'?");
  EXPECT_ERR(load_text(&c, "e15.yaml", "model:\n  layers: 4\n   heads: 2\n"),
             "e15.yaml:3:", "YAML syntax error", "mapping values are not allowed");
  EXPECT_ERR(load_text(&c, "e16.yaml", "optim: {lr: 1e-3\n"), "e16.yaml:", "YAML syntax error");
  EXPECT_ERR(load_text(&c, "e17.yaml", "model:\n  layers: 4\n  layers: 5\n"),
             "e17.yaml:3:", "duplicate key 'model.layers'", "line 2");
  EXPECT_ERR(load_text(&c, "e18.yaml", "- a\n- b\n"), "e18.yaml:1:", "mapping");
  EXPECT_ERR(load_text(&c, "e19.yaml", "seed: 1\n---\nseed: 2\n"),
             "e19.yaml:", "one YAML document");
  EXPECT_ERR(load_text(&c, "e20.yaml", "model: {bias: yes please}\n"), "e20.yaml:1:", "model.bias",
             "'yes please'");
  EXPECT_ERR(load_text(&c, "e21.yaml", "model: {layers: 4}\ntrain: {stepz: 10}\n"),
             "e21.yaml:2:", "train.stepz", "train.steps");
  slt_err_clear();
  char missing[128];
  snprintf(missing, sizeof missing, "%s/no_such.yaml", dir);
  EXPECT_ERR(slt_config_load_file(&c, missing), missing, "No such file or directory");
  EXPECT_ERR(slt_config_load_file(&c, dir), dir, "Is a directory");
  CU_ASSERT(memcmp(&c, &before, sizeof c) == 0); /* partial files applied nothing */
  EXPECT_ERR(slt_config_load_string(&c, "seed: 1\nmodel:\n  d_model: big\n", "ckpt.h5:/config"),
             "ckpt.h5:/config:3:", "model.d_model", "'big'");
  EXPECT_ERR(slt_config_load_string(&c, "include: /etc/passwd\nseed: 1\n", "ckpt.h5:config"),
             "ckpt.h5:config:1:", "include: not allowed");
  CU_ASSERT_EQUAL(slt_config_load_string(&c, "", NULL), 0); /* empty is nothing to apply */
  CU_ASSERT_EQUAL(slt_config_load_string(&c, "# only a comment\n", NULL), 0);
  CU_ASSERT(memcmp(&c, &before, sizeof c) == 0);
}

/* The project's rule for bad input: the message is one line, short enough to read. */
static void expect_one_line(int rc, const char *needle, int line) {
  const char *m = slt_err_msg();
  bool ok = rc == -1 && !strchr(m, '\n') && strlen(m) < 300 && strstr(m, needle);
  if (!ok) printf("\n  test_config.c:%d: rc %d, message \"%s\"\n", line, rc, m);
  CU_ASSERT(ok);
}
#define EXPECT_ONE_LINE(rc, needle) expect_one_line((rc), (needle), __LINE__)

/* Values echoed in messages had their newlines and full length printed verbatim. */
static void test_messages_one_line(void) {
  slt_config c;
  slt_config_defaults(&c);
  EXPECT_ONE_LINE(slt_config_override(&c, "model.layers=1\n2"), "got '1\\n2'");
  EXPECT_ONE_LINE(slt_config_override(&c, "mo\ndel=1"), "unknown key 'mo\\ndel'");
  EXPECT_ONE_LINE(load_text(&c, "nl1.yaml", "seed: \"1\\n2\"\n"), "nl1.yaml:1: seed");
  EXPECT_ONE_LINE(load_text(&c, "nl2.yaml", "\"se\\ted\": 1\n"), "unknown key 'se\\ted'");
  EXPECT_ONE_LINE(load_text(&c, "nl3.yaml", "model: \"a\\nb\"\n"), "'model' is a section");
  static char big[20000];
  memset(big, '1', sizeof big - 1);
  memcpy(big, "seed=", 5);
  EXPECT_ONE_LINE(slt_config_override(&c, big), "...");
  CU_ASSERT_PTR_NOT_NULL(strstr(slt_err_msg(), "64-bit"));
  memcpy(big, "seed: ", 6);
  EXPECT_ONE_LINE(load_text(&c, "big.yaml", big), "big.yaml:1: seed");
  /* A key longer than any was reported as if the '=' were missing. */
  memset(big, 'k', 200);
  strcpy(big + 200, "=3");
  EXPECT_ONE_LINE(slt_config_override(&c, big), "unknown key");
}

/* An override could store bytes that the written config (YAML) cannot hold, so the resolved
 * config.yaml of a run did not load back; characters YAML reads specially must be escaped. */
static void test_strings_round_trip(void) {
  slt_config c, b;
  slt_config_defaults(&c);
  slt_config keep = c;
  EXPECT_ERR(slt_config_override(&c, "out_dir=/tmp/\xff\xfe"), "out_dir", "UTF-8");
  EXPECT_ERR(slt_config_override(&c, "data.val=\xc0\xaf"), "data.val", "UTF-8"); /* overlong */
  EXPECT_ERR(slt_config_override(&c, "data.val=\xed\xa0\x80"), "UTF-8");         /* surrogate */
  CU_ASSERT(memcmp(&c, &keep, sizeof c) == 0);
  /* C1 control U+0085 (NEL), U+2028, U+FEFF, U+FFFE and a DEL: valid UTF-8, read specially. */
  const char *awkward = "a\xc2\x85"
                        "b\xe2\x80\xa8"
                        "c\xef\xbb\xbf"
                        "d\xef\xbf\xbe\x7f\xc2\x80"
                        "e";
  char assign[128];
  snprintf(assign, sizeof assign, "out_dir=%s", awkward);
  CU_ASSERT_EQUAL_FATAL(slt_config_override(&c, assign), 0);
  char *buf = yaml_written(&c);
  slt_config_defaults(&b);
  int rc = slt_config_load_string(&b, buf, "written");
  if (rc) printf("\n  %s\n", slt_err_msg());
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_STRING_EQUAL(b.out_dir, awkward);
  free(buf);
  /* Bytes set in the struct directly are caught by validate. */
  strcpy(c.data.train, "x\xff");
  EXPECT_ERR(slt_config_validate(&c), "data.train", "UTF-8");
}

/* libyaml keeps an escaped \0 inside a scalar; as a C string it cut keys and values short. */
static void test_nul_in_scalar(void) {
  slt_config c, before;
  slt_config_defaults(&c);
  before = c;
  EXPECT_ERR(load_text(&c, "nul1.yaml", "seed: 1\ndata: {val: \"a\\0b\"}\n"),
             "nul1.yaml:2:", "NUL");
  EXPECT_ERR(load_text(&c, "nul2.yaml", "\"seed\\0junk\": 3\n"), "nul2.yaml:1:", "NUL");
  CU_ASSERT(memcmp(&c, &before, sizeof c) == 0);
}

/* Aliases were followed silently; one referring back to its own mapping made a cyclic tree. */
static void test_aliases(void) {
  slt_config c;
  slt_config_defaults(&c);
  EXPECT_ERR(load_text(&c, "al1.yaml", "optim: {lr: &x 0.001,\n  eps: *x}\n"),
             "al1.yaml:2:", "aliases (*name) are not supported");
  EXPECT_ERR(load_text(&c, "al2.yaml", "sgt: &a {enabled: false, x: *a}\n"),
             "al2.yaml:1:", "aliases");
  EXPECT_ERR(load_text(&c, "al3.yaml", "&r {seed: 1, model: *r}\n"), "al3.yaml:1:", "aliases");
  CU_ASSERT_EQUAL(c.optim.eps, 1e-8);
  /* An anchor nobody refers to is harmless. */
  CU_ASSERT_EQUAL(load_text(&c, "al4.yaml", "seed: &s 5\n"), 0);
}

/* A section (or include) twice in one mapping: the second silently merged into the first. */
static void test_duplicate_sections(void) {
  slt_config c, before;
  slt_config_defaults(&c);
  before = c;
  EXPECT_ERR(load_text(&c, "ds1.yaml", "model: {layers: 3}\nseed: 1\nmodel: {bias: false}\n"),
             "ds1.yaml:3:", "duplicate key 'model'", "line 1");
  EXPECT_ERR(load_text(&c, "ds2.yaml", "model:\n  ffn: {rank: 1}\n  ffn: {nblocks: 2}\n"),
             "ds2.yaml:3:", "duplicate key 'model.ffn'");
  put("ds_base.yaml", "seed: 4\n");
  EXPECT_ERR(load_text(&c, "ds3.yaml", "include: ds_base.yaml\ninclude: ds_base.yaml\n"),
             "ds3.yaml:2:", "duplicate key 'include'");
  CU_ASSERT(memcmp(&c, &before, sizeof c) == 0);
}

/* YAML null: "val: null" became the path "null"; a lone "---" was "not a mapping". */
static void test_nulls(void) {
  slt_config c;
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL(load_text(&c, "nu1.yaml", "data: {val: null, train: ~}\nmodel: ~\n"), 0);
  CU_ASSERT_STRING_EQUAL(c.data.val, "");
  CU_ASSERT_STRING_EQUAL(c.data.train, "");
  CU_ASSERT_EQUAL(load_text(&c, "nu2.yaml", "data: {val: 'null'}\n"), 0); /* quoted: a name */
  CU_ASSERT_STRING_EQUAL(c.data.val, "null");
  EXPECT_ERR(load_text(&c, "nu3.yaml", "seed: null\n"), "nu3.yaml:1:", "seed",
             "expected an integer");
  CU_ASSERT_EQUAL(load_text(&c, "nu4.yaml", "---\n"), 0);
  EXPECT_ERR(load_text(&c, "nu5.yaml", "---\n---\nseed: 2\n"), "nu5.yaml:", "one YAML document");
  EXPECT_ERR(load_text(&c, "nu6.yaml", "include: ~\n"), "nu6.yaml:1:", "include: expected a file");
  EXPECT_ERR(load_text(&c, "nu7.yaml", "include: ''\n"), "nu7.yaml:1:", "include: expected a file");
}

/* An include of a FIFO blocked in open() forever; devices said "Invalid argument". Run in a
 * child with an alarm so a regression fails instead of hanging the suite. */
static void test_special_files(void) {
  char fifo[128];
  snprintf(fifo, sizeof fifo, "%s/fifo.yaml", dir);
  CU_ASSERT_EQUAL_FATAL(mkfifo(fifo, 0644), 0);
  track(fifo);
  const char *inc = put("fifo_inc.yaml", "include: fifo.yaml\n");
  fflush(NULL);
  pid_t pid = fork();
  CU_ASSERT_FATAL(pid >= 0);
  if (pid == 0) {
    alarm(5);
    slt_config c;
    slt_config_defaults(&c);
    int rc = slt_config_load_file(&c, inc);
    _exit(rc == -1 && strstr(slt_err_msg(), "not a regular file") ? 0 : 1);
  }
  int status = 0;
  CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
  CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  slt_config c;
  slt_config_defaults(&c);
  slt_err_clear();
  EXPECT_ERR(slt_config_load_file(&c, "/dev/null"), "/dev/null", "not a regular file");
}

/* libyaml's scanner is quadratic in flow nesting: 100k levels took minutes. */
static void test_deep_nesting(void) {
  enum { DEPTH = 20000 };
  static char text[5 * DEPTH + 16]; /* "{a: " and "}" per level */
  size_t n = (size_t)sprintf(text, "sgt: ");
  for (int i = 0; i < DEPTH; i++) n += (size_t)sprintf(text + n, "{a: ");
  memset(text + n, '}', DEPTH);
  strcpy(text + n + DEPTH, "\n");
  slt_config c;
  slt_config_defaults(&c);
  EXPECT_ERR(slt_config_load_string(&c, text, "deep"), "deep:1:", "nested too deeply");
  CU_ASSERT_EQUAL(load_text(&c, "deep_ok.yaml", "model: {ffn: {kind: dense}}\n"), 0);
}

/* Each file including the next one 8 times: n levels read 8^n files, so a handful of small files
 * hung the loader. Four levels (4096 reads, fast either way) must already be refused. */
static void test_include_fanout(void) {
  char name[32], text[256];
  put("fan4.yaml", "seed: 1\n");
  for (int i = 3; i >= 0; i--) {
    snprintf(name, sizeof name, "fan%d.yaml", i);
    snprintf(text, sizeof text,
             "include: [fan%d.yaml, fan%d.yaml, fan%d.yaml, fan%d.yaml, "
             "fan%d.yaml, fan%d.yaml, fan%d.yaml, fan%d.yaml]\n",
             i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1, i + 1);
    put(name, text);
  }
  slt_config c;
  slt_config_defaults(&c);
  slt_err_clear();
  char path[128];
  snprintf(path, sizeof path, "%s/fan0.yaml", dir);
  EXPECT_ERR(slt_config_load_file(&c, path), "more than 256 config files");
}

/* Sizes had no upper bound: 4 * model.d_model overflowed an int (undefined behaviour) and huge
 * sizes reached the allocator (or the OOM killer) instead of naming the key. */
static void test_size_bounds(void) {
  slt_config c, before;
  slt_config_defaults(&c);
  before = c;
  EXPECT_ERR(slt_config_override(&c, "model.d_model=1000000000"), "model.d_model", "<= 1048576");
  EXPECT_ERR(slt_config_override(&c, "model.seq_len=2000000000"), "model.seq_len", "<= 1048576");
  EXPECT_ERR(slt_config_override(&c, "model.vocab_size=2000000000"), "model.vocab_size",
             "<= 16777216");
  EXPECT_ERR(slt_config_override(&c, "train.micro_batch=2000000000"), "train.micro_batch");
  CU_ASSERT(memcmp(&c, &before, sizeof c) == 0);
  c.model.d_model = 600000000; /* set directly: validate checks ranges before deriving sizes */
  c.model.heads = 1;
  EXPECT_ERR(slt_config_validate(&c), "model.d_model", "<= 1048576");
  slt_config_defaults(&c);
  CU_ASSERT_EQUAL(slt_config_override(&c, "train.micro_batch=65536"), 0);
  CU_ASSERT_EQUAL(slt_config_override(&c, "train.grad_accum=65536"), 0);
  EXPECT_ERR(slt_config_validate(&c), "train.micro_batch", "train.grad_accum");
}

/* Set every row to a value unlike its default and awkward to print (still in range). */
static void perturb(slt_config *c) {
  static const char *const strings[] = {"a \"quoted\" path\\with: colon # hash",
                                        "  lead\ttab\nnewline ", "", "unicode µ→∞ 'single'"};
  int n, ns = 0;
  const slt_config_key *k = slt_config_keys(&n);
  for (int i = 0; i < n; i++) {
    void *p = (char *)c + k[i].offset;
    double lo = isinf(k[i].min) ? 0 : k[i].min, hi = isinf(k[i].max) ? lo + 1e6 : k[i].max;
    double third = lo + (hi - lo) / 3.0, v = third + (isinf(k[i].max) ? 1e-300 : 0);
    switch (k[i].type) {
    case SLT_CFG_INT: /* small ranges (model.phasequant.stages: 0..2) cap it */
      *(int *)p = (int)fmin(ceil(lo) + 1 + i % 3, hi);
      break;
    case SLT_CFG_INT64:
      *(int64_t *)p = (int64_t)ceil(lo) + 1 + i % 3;
      break;
    case SLT_CFG_DOUBLE:
      *(double *)p = v;
      break;
    case SLT_CFG_DOUBLE2:
      ((double *)p)[0] = 0.1 + 0.2, ((double *)p)[1] = 1.0 / 3.0;
      break;
    case SLT_CFG_BOOL:
      *(bool *)p = !*(bool *)p;
      break;
    case SLT_CFG_STRING:
      strcpy(p, strings[ns++ % 4]);
      break;
    case SLT_CFG_ENUM: {
      int last = 0;
      while (k[i].choices[last + 1]) last++;
      *(int *)p = last;
      break;
    }
    }
  }
  c->data.synthetic.order = 8; /* == max: bounds are inclusive */
  c->optim.lr = 6e-4;
  c->model.init_std = 1e-300;
}

/* Every schema field equal (strings compared up to their NUL). */
static void expect_same(const slt_config *a, const slt_config *b) {
  int n;
  const slt_config_key *k = slt_config_keys(&n);
  for (int i = 0; i < n; i++) {
    const char *pa = (const char *)a + k[i].offset, *pb = (const char *)b + k[i].offset;
    bool same = k[i].type == SLT_CFG_STRING ? !strcmp(pa, pb) : !memcmp(pa, pb, k[i].size);
    if (!same) printf("\n  round trip changed %s\n", k[i].key);
    CU_ASSERT(same);
  }
}

static void test_round_trip(void) {
  slt_config a, b, d;
  slt_config_defaults(&a);
  slt_config_defaults(&d);
  perturb(&a);
  CU_ASSERT(slt_config_diff(&a, &d, NULL, NULL, 0) >= 60); /* perturb really changed the rows */
  char path[128];
  snprintf(path, sizeof path, "%s/resolved.yaml", dir);
  track(path);
  CU_ASSERT_EQUAL_FATAL(slt_config_save(&a, path), 0);
  slt_config_defaults(&b);
  int rc = slt_config_load_file(&b, path);
  if (rc) printf("\n  %s\n", slt_err_msg());
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  expect_same(&a, &b);
  CU_ASSERT_EQUAL(slt_config_diff(&a, &b, NULL, NULL, 0), 0);
  /* Through a string too (what a checkpoint stores), and defaults the same way. */
  char *buf = yaml_written(&d);
  slt_config_defaults(&b);
  perturb(&b);
  CU_ASSERT_EQUAL(slt_config_load_string(&b, buf, "ckpt"), 0);
  expect_same(&d, &b);
  free(buf);
  /* save replaces an existing file */
  CU_ASSERT_EQUAL(slt_config_save(&d, path), 0);
  slt_config_defaults(&b);
  perturb(&b);
  CU_ASSERT_EQUAL(slt_config_load_file(&b, path), 0);
  expect_same(&d, &b);
  snprintf(path, sizeof path, "%s/no_dir/config.yaml", dir);
  EXPECT_ERR(slt_config_save(&d, path), "no_dir", "No such file");
}

static void test_diff(void) {
  slt_config a, b;
  slt_config_defaults(&a);
  b = a;
  char out[256];
  CU_ASSERT_EQUAL(slt_config_diff(&a, &b, "", out, sizeof out), 0);
  CU_ASSERT_STRING_EQUAL(out, "");
  b.model.layers = 6;
  b.model.ffn.kind = SLT_LIN_LOWRANK;
  b.optim.lr = 1e-3;
  CU_ASSERT_EQUAL(slt_config_diff(&a, &b, "model.", out, sizeof out), 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "model.layers (4 vs 6)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "model.ffn.kind (dense vs lowrank)"));
  CU_ASSERT_PTR_NULL(strstr(out, "optim.lr"));
  CU_ASSERT_EQUAL(slt_config_diff(&a, &b, "optim.", out, sizeof out), 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(out, "optim.lr"));
  CU_ASSERT_EQUAL(slt_config_diff(&a, &b, NULL, out, sizeof out), 3);
  char tiny[12];
  memset(tiny, 'x', sizeof tiny);
  CU_ASSERT_EQUAL(slt_config_diff(&a, &b, NULL, tiny, 8), 3); /* truncated, not overrun */
  CU_ASSERT(strlen(tiny) == 7 && tiny[8] == 'x');
}

/* Each rule: broken, the message names the keys; mended, the config validates again. */
static void expect_invalid(const char *const *assign, const char *needle1, const char *needle2) {
  slt_config c;
  slt_config_defaults(&c);
  for (int i = 0; assign[i]; i++) {
    int rc = slt_config_override(&c, assign[i]);
    if (rc) printf("\n  %s\n", slt_err_msg());
    CU_ASSERT_EQUAL_FATAL(rc, 0);
  }
  slt_err_clear();
  EXPECT_ERR(slt_config_validate(&c), needle1, needle2);
}
#define INVALID(n1, n2, ...) expect_invalid((const char *const[]){__VA_ARGS__, NULL}, n1, n2)

static void test_validate(void) {
  INVALID("model.heads (5) must divide model.d_model (256)", "", "model.heads=5", "model.pos=none");
  INVALID("model.kv_heads (3) must divide model.heads (8)", "", "model.heads=8",
          "model.kv_heads=3");
  INVALID("even", "rope", "model.d_model=12", "model.heads=4");
  INVALID("data.train", "shards", "data.train=");
  INVALID("data.val", "eval_every", "data.val=");
  INVALID("model.ffn.rank", "lowrank", "model.ffn.kind=lowrank");
  INVALID("model.ffn.rank", "exceeds", "model.ffn.kind=lowrank", "model.ffn.rank=512");
  INVALID("model.ffn.rank", "unused", "model.ffn.rank=64");
  INVALID("model.ffn.nblocks", "model.d_model", "model.ffn.kind=blockshuffle",
          "model.ffn.nblocks=3");
  INVALID("model.ffn.nblocks", "model.ffn.rank", "model.ffn.kind=blockdense", "model.ffn.nblocks=4",
          "model.ffn.rank=66");
  INVALID("sgt.enabled", "dense", "sgt.enabled=true");
  INVALID("schedule.warmup", "train.steps", "schedule.warmup=2000");
  INVALID("schedule.warmup", "whole number", "schedule.warmup=10.5");
  INVALID("optim.nesterov", "dampening", "optim.name=sgd", "optim.nesterov=true",
          "optim.dampening=0.1");
  INVALID("data.synthetic.vocab", "model.vocab_size", "data.source=synthetic",
          "data.synthetic.vocab=9000");
  /* Values set in the struct directly are range-checked too. */
  slt_config c;
  slt_config_defaults(&c);
  c.model.layers = -3;
  EXPECT_ERR(slt_config_validate(&c), "model.layers", ">= 1", "-3");
  slt_config_defaults(&c);
  c.train.micro_batch = 0;
  EXPECT_ERR(slt_config_validate(&c), "train.micro_batch");
  slt_config_defaults(&c);
  c.optim.betas[1] = 1.0;
  EXPECT_ERR(slt_config_validate(&c), "optim.betas", "< 1");
  slt_config_defaults(&c);
  c.optim.lr = NAN;
  EXPECT_ERR(slt_config_validate(&c), "optim.lr");
  slt_config_defaults(&c);
  c.model.norm = (slt_norm_kind)7;
  EXPECT_ERR(slt_config_validate(&c), "model.norm");
  /* Mended versions of the rules above pass. */
  const char *const good[] = {
      "model.ffn.kind=blockdense", "model.ffn.nblocks=4",  "model.ffn.rank=64",
      "sgt.enabled=true",          "sgt.mode=fixedflop",   "model.heads=8",
      "model.kv_heads=2",          "schedule.warmup=1000", NULL};
  slt_config_defaults(&c);
  for (int i = 0; good[i]; i++) CU_ASSERT_EQUAL(slt_config_override(&c, good[i]), 0);
  CU_ASSERT_EQUAL(slt_config_validate(&c), 0);
}

int register_config_suite(void) {
  CU_pSuite s = CU_add_suite("config", suite_init, suite_clean);
  if (!s) return -1;
  return !CU_add_test(s, "defaults parse and validate", test_defaults) ||
         !CU_add_test(s, "schema rows", test_schema) ||
         !CU_add_test(s, "nested, flow and list YAML", test_load_nested) ||
         !CU_add_test(s, "configs/quickstart.yaml loads", test_quickstart) ||
         !CU_add_test(s, "include order and relative paths", test_include) ||
         !CU_add_test(s, "include cycles", test_include_cycle) ||
         !CU_add_test(s, "overrides of every type", test_overrides) ||
         !CU_add_test(s, "override errors", test_override_errors) ||
         !CU_add_test(s, "load errors name file, line and key", test_load_errors) ||
         !CU_add_test(s, "write/load round trip", test_round_trip) ||
         !CU_add_test(s, "diff", test_diff) || !CU_add_test(s, "validation rules", test_validate) ||
         !CU_add_test(s, "messages stay one line", test_messages_one_line) ||
         !CU_add_test(s, "any accepted string writes and loads back", test_strings_round_trip) ||
         !CU_add_test(s, "NUL inside a YAML scalar", test_nul_in_scalar) ||
         !CU_add_test(s, "anchors and aliases", test_aliases) ||
         !CU_add_test(s, "a section twice in one mapping", test_duplicate_sections) ||
         !CU_add_test(s, "YAML nulls and a bare ---", test_nulls) ||
         !CU_add_test(s, "FIFO and device as config", test_special_files) ||
         !CU_add_test(s, "include fan-out is bounded", test_include_fanout) ||
         !CU_add_test(s, "deep nesting is cut off early", test_deep_nesting) ||
         !CU_add_test(s, "sizes have upper bounds", test_size_bounds);
}
