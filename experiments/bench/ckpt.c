/* Checkpoint save and load time at SPEC's "s" size: 12 layers, d 768, 12 heads, ffn 3072,
 * vocab 32000, T 1024 (110M parameters) plus AdamW's m and v: about 1.3 GB.
 * usage: bench_ckpt [DIR] [--reps N]   (DIR defaults to a fresh directory under /tmp)
 * Save is timed end to end (HDF5 layout, tensor bytes, fsync, rename, directory fsync). Load
 * (open, validate, read params and m, v, verify every tensor's checksum) is timed with the
 * file's pages dropped from the page cache, then again, and checked bitwise against what was
 * saved. Hashing the same bytes alone is timed (the checksums' cost) and, for scale, writing
 * them with plain buffered write() + fsync. */
#include "autograd/sys.h"
#include "autograd/error.h"
#include "autograd/rng.h"
#include "layers/model.h"
#include "optim/adamw.h"
#include "ckpt/checkpoint.h"
#include "train/metrics.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void fail(const char *what) {
  fprintf(stderr, "bench_ckpt: %s: %s\n", what, slt_err_msg());
  exit(1);
}

static void s_config(slt_config *c, const char *dir) {
  slt_config_defaults(c);
  snprintf(c->out_dir, sizeof c->out_dir, "%s", dir);
  c->model.vocab_size = 32000, c->model.seq_len = 1024, c->model.layers = 12;
  c->model.d_model = 768, c->model.heads = 12, c->model.ffn_dim = 3072;
}

static void build(slt_model **m, const slt_config *c) {
  slt_model_config g = {.vocab_size = c->model.vocab_size,
                      .seq_len = c->model.seq_len,
                      .layers = c->model.layers,
                      .d_model = c->model.d_model,
                      .heads = c->model.heads,
                      .kv_heads = c->model.heads,
                      .ffn_dim = c->model.ffn_dim,
                      .norm_eps = 1e-5f,
                      .rope_base = 1e4f,
                      .bias = true,
                      .tie_embeddings = true,
                      .init_std = 0.02f};
  if (!(*m = slt_model_build(&g, SLT_MODEL_ALLOC))) fail("build");
}

/* Cheap non-constant contents (a pattern HDF5 cannot shortcut; no compression is used anyway). */
static void fill(float *x, int64_t n, uint64_t seed) {
  slt_rng r;
  slt_rng_seed(&r, seed);
  for (int64_t i = 0; i < n; i += 4096) {
    float v = (float)slt_rng_uniform(&r);
    for (int64_t j = i; j < n && j < i + 4096; j++) x[j] = v + (float)(j - i) * 1e-6f;
  }
}

static void drop_cache(const char *path) {
  int fd = open(path, O_RDONLY);
  if (fd >= 0) {
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

/* The disk's own speed for the same bytes: plain write() calls and one fsync. */
static double disk_baseline(const char *dir, const float *data, int64_t n) {
  char path[600];
  snprintf(path, sizeof path, "%s/baseline.bin", dir);
  double t0 = slt_now();
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return -1;
  const char *p = (const char *)data;
  for (size_t left = (size_t)n * sizeof(float); left > 0;) {
    ssize_t w = write(fd, p, left < (1u << 30) ? left : (1u << 30));
    if (w <= 0) break;
    p += w, left -= (size_t)w;
  }
  fsync(fd);
  close(fd);
  double s = slt_now() - t0;
  unlink(path);
  return s;
}

/* What the per-tensor checksums cost: hashing the checkpoint's bytes once, on one thread
 * (save hashes them once, load once more; both spread the tensors over the OpenMP threads). */
static double hash_time(const float *p, const float *m, const float *v, int64_t n) {
  double t0 = slt_now();
  uint64_t h = slt_ckpt_checksum(p, (size_t)n * sizeof(float)) ^
               slt_ckpt_checksum(m, (size_t)n * sizeof(float)) ^
               slt_ckpt_checksum(v, (size_t)n * sizeof(float));
  double s = slt_now() - t0;
  return h == 42 ? s + 1e-9 : s; /* h used, so the calls stay */
}

static double load(const char *path, slt_model *m, slt_adamw *o) {
  double t0 = slt_now();
  slt_ckpt ck;
  slt_ckpt_optim view = {
      .name = "adamw", .nslots = 2, .slot_names = {"m", "v"}, .slots = {o->m, o->v}};
  if (slt_ckpt_open(&ck, path) || slt_ckpt_read_params(&ck, m->params) ||
      slt_ckpt_read_optim(&ck, m->params, &view))
    fail("load");
  slt_ckpt_close(&ck);
  return slt_now() - t0;
}

int main(int argc, char **argv) {
  char dir[512] = "";
  int reps = 3;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--reps") && i + 1 < argc)
      reps = atoi(argv[++i]);
    else
      snprintf(dir, sizeof dir, "%s", argv[i]);
  }
  bool own_dir = !dir[0];
  if (own_dir) {
    snprintf(dir, sizeof dir, "/tmp/bench_ckpt_XXXXXX");
    if (!mkdtemp(dir)) return 1;
  }
  slt_config cfg;
  s_config(&cfg, dir);
  slt_model *a = NULL, *b = NULL;
  slt_adamw oa, ob;
  build(&a, &cfg);
  build(&b, &cfg);
  if (slt_adamw_init(&oa, a->params, 0.9f, 0.999f, 1e-8f) ||
      slt_adamw_init(&ob, b->params, 0.9f, 0.999f, 1e-8f))
    fail("adamw");
  fill(a->params->data, a->params->numel, 1);
  fill(oa.m, oa.numel, 2);
  fill(oa.v, oa.numel, 3);
  oa.step = 1234;
  slt_loader_cursor cur = {.step = 1234, .rows = 1234 * 512, .seed = 1005};
  slt_rng rng;
  slt_rng_seed(&rng, 9);
  slt_ckpt_data d = {.cfg = &cfg,
                     .params = a->params,
                     .optim = {.name = "adamw",
                               .step = oa.step,
                               .nslots = 2,
                               .slot_names = {"m", "v"},
                               .slots = {oa.m, oa.v}},
                     .state = {.step = 1234,
                               .tokens = 1234LL * 524288,
                               .world = 1,
                               .cursors = &cur,
                               .nrngs = 1,
                               .rng_names = {"trainer"},
                               .rngs = {&rng}}};
  double bytes = (double)a->params->numel * 3 * sizeof(float);
  printf("s size: %.1fM parameters, checkpoint %.2f GB (params + m + v), dir %s\n",
         a->params->numel / 1e6, bytes / 1e9, dir);
  char path[SLT_CKPT_PATH];
  for (int r = 0; r < reps; r++) {
    double t0 = slt_now();
    if (slt_ckpt_save(dir, &d, path, sizeof path)) fail("save");
    double save_s = slt_now() - t0;
    drop_cache(path);
    double cold = load(path, b, &ob);
    double warm = load(path, b, &ob);
    bool same = !memcmp(a->params->data, b->params->data, a->params->numel * sizeof(float)) &&
                !memcmp(oa.m, ob.m, oa.numel * sizeof(float)) &&
                !memcmp(oa.v, ob.v, oa.numel * sizeof(float));
    struct stat st;
    stat(path, &st);
    printf("rep %d: save %.2f s (%.0f MB/s) | load, cold cache %.2f s (%.0f MB/s) | load again "
           "%.2f s | file %.2f GB | %s\n",
           r + 1, save_s, bytes / save_s / 1e6, cold, bytes / cold / 1e6, warm, st.st_size / 1e9,
           same ? "bitwise identical" : "MISMATCH");
    if (!same) return 1;
    double hs = hash_time(a->params->data, oa.m, oa.v, a->params->numel);
    printf("       checksums: hashing the same bytes takes %.3f s on one thread (%.1f GB/s)\n", hs,
           bytes / hs / 1e9);
    /* The same bytes as one file of params, m, v back to back would be: */
    double base =
        disk_baseline(dir, oa.m, oa.numel * 2) + disk_baseline(dir, a->params->data, a->params->numel);
    printf(
        "       disk baseline (write + fsync of the same bytes, two files): %.2f s (%.0f MB/s)\n",
        base, bytes / base / 1e6);
    unlink(path);
  }
  if (own_dir) rmdir(dir);
  slt_adamw_free(&oa);
  slt_adamw_free(&ob);
  slt_model_free(a);
  slt_model_free(b);
  return 0;
}
