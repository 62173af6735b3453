/* configs/recipes: every recipe loads, validates and declares its model; the published ones
 * (BitNet b1.58 700M, TriLM 99M/190M and their FloatLM twins) carry the papers' shapes and
 * hyper-parameters field by field (SPEC §4, §5), with parameter counts from formulas written
 * here; the tiny ones are CPU-sized (a few million parameters, byte vocabulary). */
#include "suites.h"
#include "test_util.h"
#include "autograd/error.h"
#include "config/config.h"
#include "layers/model.h"
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#define RECIPES SLT_SOURCE_DIR "/configs/recipes"

static int load(slt_config *c, const char *name) {
  char path[512];
  snprintf(path, sizeof path, RECIPES "/%s.yaml", name);
  slt_config_defaults(c);
  if (slt_config_load_file(c, path) != 0 || slt_config_validate(c) != 0) {
    printf("\n  %s: %s", path, slt_err_msg());
    return -1;
  }
  return 0;
}

/* Declared (not allocated) parameter count of a config's model, -1 when it does not build. */
static int64_t count_of(const slt_config *c) {
  slt_model *m = slt_model_build(&c->model, SLT_MODEL_DECLARE);
  if (!m) return -1;
  int64_t n = slt_model_count(m).total;
  slt_model_free(m);
  return n;
}

/* Every *.yaml under configs/recipes loads, validates and declares a model. */
static void test_all_load(void) {
  DIR *d = opendir(RECIPES);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t len = strlen(e->d_name);
    if (len < 6 || strcmp(e->d_name + len - 5, ".yaml")) continue;
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)(len - 5), e->d_name);
    slt_config c;
    CU_ASSERT_EQUAL(load(&c, name), 0);
    CU_ASSERT(count_of(&c) > 0);
    n++;
  }
  closedir(d);
  CU_ASSERT(n >= 11); /* bitnet, trilm x2, floatlm x3, 3 tiny, ifairy x2 */
}

/* LLaMA-style: RMSNorm eps 1e-5, SwiGLU, RoPE 10000, no biases, untied head, MHA. */
static void check_llama(const slt_model_config *m, int L, int H, int F, int heads) {
  CU_ASSERT(m->arch == SLT_ARCH_GPT);
  CU_ASSERT(m->layers == L && m->d_model == H && m->ffn_dim == F && m->heads == heads);
  CU_ASSERT(m->kv_heads == 0 || m->kv_heads == heads);
  CU_ASSERT(m->norm == SLT_NORM_RMSNORM && m->norm_eps == 1e-5);
  CU_ASSERT(m->act == SLT_ACT_SWIGLU && m->pos == SLT_POS_ROPE && m->rope_base == 10000);
  CU_ASSERT(!m->bias && !m->tie_embeddings);
  CU_ASSERT(m->ffn.kind == SLT_LIN_DENSE);
}

/* Parameters of an untied LLaMA-style model: embeddings and head V·H each, per block four H×H
 * attention matrices and three H×F SwiGLU matrices, 2 RMSNorm gains per block (0 with BitLinear,
 * whose block pre-norms are removed and whose inner norm has no gain), the final norm's H. */
static int64_t llama_params(int64_t V, int64_t L, int64_t H, int64_t F, int block_norms) {
  return 2 * V * H + L * (4 * H * H + 3 * H * F + block_norms * H) + H;
}

static void test_bitnet_700m(void) {
  slt_config c;
  CU_ASSERT_EQUAL_FATAL(load(&c, "bitnet_b158_700m"), 0);
  check_llama(&c.model, 24, 1536, 4096, 16);
  const slt_quant_config *q = &c.model.quant;
  CU_ASSERT(q->weight.kind == SLT_QC_TERNARY && q->weight.shards == 1);
  CU_ASSERT(q->act.kind == SLT_QC_ABSMAX8 && q->bitlinear_norm);
  CU_ASSERT(q->rules[0] == '\0');
  CU_ASSERT(c.optim.name == SLT_OPT_ADAMW && c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.95);
  CU_ASSERT(c.optim.lr == 1.5e-3 && c.optim.weight_decay == 0.1);
  CU_ASSERT(c.schedule.name == SLT_SCHED_BITNET && c.schedule.warmup == 375);
  CU_ASSERT(c.schedule.split == 0.5);
  CU_ASSERT_DOUBLE_EQUAL(c.optim.lr * c.schedule.peak2, 1.0e-3, 1e-12); /* stage-2 peak */
  CU_ASSERT_EQUAL(c.model.vocab_size, 32000);
  CU_ASSERT_EQUAL(count_of(&c), llama_params(32000, 24, 1536, 4096, 0));
  slt_config f;
  CU_ASSERT_EQUAL_FATAL(load(&f, "floatlm_700m"), 0);
  check_llama(&f.model, 24, 1536, 4096, 16);
  CU_ASSERT(!slt_quant_config_active(&f.model.quant));
  CU_ASSERT_EQUAL(f.model.vocab_size, 32000);
  CU_ASSERT_EQUAL(count_of(&f), llama_params(32000, 24, 1536, 4096, 2));
}

/* TriLM (Spectra): ternary weights, one scale per shard (1 below 1B), no activation quant,
 * RMSNorm with gain (the block norms kept), AdamW (0.9, 0.95) eps 1e-5, the trilm schedule. */
static void check_trilm(const char *name, const char *twin, int L, int H, int F, int heads) {
  slt_config c;
  CU_ASSERT_EQUAL_FATAL(load(&c, name), 0);
  check_llama(&c.model, L, H, F, heads);
  const slt_quant_config *q = &c.model.quant;
  CU_ASSERT(q->weight.kind == SLT_QC_TERNARY && q->weight.shards == 1);
  CU_ASSERT(q->act.kind == SLT_QC_NONE && !q->bitlinear_norm && q->rules[0] == '\0');
  CU_ASSERT(c.optim.name == SLT_OPT_ADAMW && c.optim.betas[0] == 0.9 && c.optim.betas[1] == 0.95);
  CU_ASSERT(c.optim.eps == 1e-5);
  CU_ASSERT(c.schedule.name == SLT_SCHED_TRILM && c.schedule.drop_at == 0.5 &&
            c.schedule.drop == 0.5);
  CU_ASSERT_DOUBLE_EQUAL(c.schedule.wd_off_at, 2.0 / 3.0, 1e-12);
  int64_t V = c.model.vocab_size;
  CU_ASSERT_EQUAL(count_of(&c), llama_params(V, L, H, F, 2));
  slt_config f;
  CU_ASSERT_EQUAL_FATAL(load(&f, twin), 0);
  check_llama(&f.model, L, H, F, heads);
  CU_ASSERT(!slt_quant_config_active(&f.model.quant));
  CU_ASSERT(f.optim.eps == 1e-5 && f.optim.betas[1] == 0.95 && f.model.vocab_size == V);
  CU_ASSERT_EQUAL(count_of(&f), count_of(&c));
}

static void test_trilm(void) {
  check_trilm("trilm_99m", "floatlm_99m", 16, 512, 1280, 8);
  check_trilm("trilm_190m", "floatlm_190m", 16, 768, 2048, 12);
}

/* The CPU-scale recipes: one shape for all three, byte vocabulary 320, a few million
 * parameters, and each one's method (BitNet / TriLM / none) as in its big sibling. */
static void test_tiny(void) {
  slt_config b, t, f;
  CU_ASSERT_EQUAL_FATAL(load(&b, "bitnet_b158_tiny"), 0);
  CU_ASSERT_EQUAL_FATAL(load(&t, "trilm_tiny"), 0);
  CU_ASSERT_EQUAL_FATAL(load(&f, "floatlm_tiny"), 0);
  const slt_config *all[] = {&b, &t, &f};
  for (int i = 0; i < 3; i++) {
    const slt_model_config *m = &all[i]->model;
    check_llama(m, f.model.layers, f.model.d_model, f.model.ffn_dim, f.model.heads);
    CU_ASSERT_EQUAL(m->vocab_size, 320);
    int64_t n = count_of(all[i]);
    CU_ASSERT(n >= 1000000 && n <= 5000000);
  }
  CU_ASSERT(b.model.quant.weight.kind == SLT_QC_TERNARY && b.model.quant.act.kind == SLT_QC_ABSMAX8 &&
            b.model.quant.bitlinear_norm && b.schedule.name == SLT_SCHED_BITNET);
  CU_ASSERT(t.model.quant.weight.kind == SLT_QC_TERNARY && t.model.quant.act.kind == SLT_QC_NONE &&
            !t.model.quant.bitlinear_norm && t.schedule.name == SLT_SCHED_TRILM &&
            t.optim.eps == 1e-5);
  CU_ASSERT(!slt_quant_config_active(&f.model.quant));
}

int register_recipes_suite(void) {
  CU_pSuite s = CU_add_suite("recipes", NULL, NULL);
  return !s || !CU_add_test(s, "every recipe loads, validates, declares", test_all_load) ||
                 !CU_add_test(s, "bitnet_b158_700m and floatlm_700m: published", test_bitnet_700m) ||
                 !CU_add_test(s, "trilm_99m/190m and floatlm twins: published", test_trilm) ||
                 !CU_add_test(s, "tiny recipes: CPU scale, same shape", test_tiny)
             ? -1
             : 0;
}
