/* HDF5 checkpoints: everything a run needs to continue bitwise identically, in a layout any
 * HDF5 reader understands (h5py needs no code of ours):
 *
 *   /                 attrs: format "slt-checkpoint", format_version, config (the resolved YAML),
 *                            complete = 1 (written last: a file without it is never resumed)
 *   /model/<param>    float32, PyTorch name and shape ("blocks.0.attn.qkv.weight" (out, in))
 *   /optim            attrs: name ("adamw"), step (the optimizer's own step count)
 *   /optim/<param>/<slot>  float32, the parameter's shape: one per optimizer slot ("m", "v")
 *   /guide/<param>    self-guided training's dense guides, while guidance lasts (train/sgt.h)
 *   /guide_optim      attrs: name, step; /guide_optim/<param>/<slot>: the guides' optimizer
 *   every float32 tensor above: attr xxh3_64 (uint64), slt_ckpt_checksum of its values as
 *                            little-endian float32 bytes; checked on every read (version 2 on)
 *   /state            attrs: step, tokens, world, sgt_alpha, sgt_guided_steps, schedule and
 *                            sgt notes
 *   /state/data_cursor     compound (world,): every rank's loader cursor (data/loader.h)
 *   /state/rng/<name>      uint64 (world, 4): xoshiro256** states, one row per rank
 *
 * A file is written as out_dir/.ckpt_<step>.h5.tmp, closed, fsynced, renamed to
 * out_dir/ckpt_<step, 8 digits>.h5 and the directory fsynced, so a crash leaves either the old
 * set of checkpoints or the new one complete, never a partial file under a checkpoint name. */
#ifndef SLT_CHECKPOINT_H
#define SLT_CHECKPOINT_H

#include "autograd/params.h"
#include "autograd/rng.h"
#include "data/loader.h"
#include "config/config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* 2: per-tensor checksums. Version 1 files (none) still load, unchecked. */
#define SLT_CKPT_FORMAT_VERSION 2
#define SLT_CKPT_MAX_SLOTS 4 /* optimizer state buffers per parameter (adamw: m, v) */
#define SLT_CKPT_MAX_RNGS 4  /* named RNG streams in /state/rng */
#define SLT_CKPT_PATH 1024

/* Optimizer state as (slot name, flat buffer) pairs, each buffer laid out like the parameter
 * store's flat data (parameter i at its offset), so any optimizer saves through this. */
typedef struct slt_ckpt_optim {
  const char *name; /* "adamw"; on read, the stored name is in slt_ckpt.optim_name */
  int64_t step;     /* the optimizer's step count (bias correction) */
  int nslots;
  const char *slot_names[SLT_CKPT_MAX_SLOTS];
  float *slots[SLT_CKPT_MAX_SLOTS];
} slt_ckpt_optim;

/* Where the run stands. Arrays have `world` entries, indexed by rank. */
typedef struct slt_ckpt_state {
  int64_t step;   /* optimizer steps done */
  int64_t tokens; /* training tokens seen */
  int world;      /* ranks */
  slt_loader_cursor *cursors;
  int nrngs;
  const char *rng_names[SLT_CKPT_MAX_RNGS];
  slt_rng *rngs[SLT_CKPT_MAX_RNGS]; /* rngs[i][rank] */
  double sgt_alpha;                 /* α of the next optimizer step (0 without guidance) */
  int64_t sgt_guided_steps;         /* T (0 without SGT) */
} slt_ckpt_state;

/* What slt_ckpt_write saves. */
typedef struct slt_ckpt_data {
  const slt_config *cfg;
  const slt_params *params;
  slt_ckpt_optim optim;
  slt_ckpt_state state;
  const slt_params *guide; /* SGT's guides while they exist, else NULL */
  slt_ckpt_optim guide_optim;
  /* What an export adds beside the tensors (/quant, /packed): called with the open HDF5 file
   * after the tensors and before the completion marker; NULL: nothing. 0 or -1 (recorded). */
  int (*extra)(int64_t h5_file, void *user);
  void *extra_user;
} slt_ckpt_data;

/* An open checkpoint: its header, config and state are read and checked by slt_ckpt_open;
 * tensors are read on demand. */
typedef struct slt_ckpt {
  char path[SLT_CKPT_PATH];
  int format_version;
  slt_config cfg;       /* the resolved config the run was started with */
  slt_ckpt_state state; /* arrays and names owned by the handle */
  char optim_name[32];
  int64_t optim_step;
  int64_t file_bytes;
  int64_t h5; /* HDF5 file id (internal) */
  char rng_name_buf[SLT_CKPT_MAX_RNGS][32];
} slt_ckpt;

/* ---- names (checkpoint_write.c) ---- */

/* dir/ckpt_<step as 8 digits>.h5 into buf. */
void slt_ckpt_path(char *buf, size_t len, const char *dir, int64_t step);
/* True when a file name (no directory) is exactly ckpt_<8+ digits>.h5; *step gets the step. */
bool slt_ckpt_parse_name(const char *name, int64_t *step);

/* ---- writing (checkpoint_write.c) ---- */

/* Write d to path atomically (temporary file in the same directory, fsync, rename, directory
 * fsync). 0, or -1 with the error recorded (the temporary file removed). */
int slt_ckpt_write(const char *path, const slt_ckpt_data *d);
/* slt_ckpt_write to dir/ckpt_<d->state.step>.h5; the path written goes to path_out (may be
 * NULL). 0 or -1. */
int slt_ckpt_save(const char *dir, const slt_ckpt_data *d, char *path_out, size_t len);
/* Keep the keep_last newest checkpoints in dir (0 keeps all) and remove stale temporary files
 * of interrupted writes. Returns the number of files removed, or -1 with the error recorded. */
int slt_ckpt_prune(const char *dir, int keep_last);

/* The checksum stored with every tensor: XXH3-64 of its bytes (checkpoint_sum.c). */
uint64_t slt_ckpt_checksum(const void *p, size_t bytes);

/* slt export --quantize (checkpoint_quant.c): write d to path with m's quantized weight factors
 * as integer codes and scales under /quant (layout in checkpoint_quant.c) instead of float32
 * under /model, LSQ's scales folded into them, and the config's weight transforms off (the
 * stored weights are already quantized; activation transforms stay). Reading such a file
 * dequantizes them, so eval gives the fake-quant model's loss exactly. *count and *code_bytes
 * get the factors and the bytes of their codes. 0 or -1. */
int slt_ckpt_write_quantized(const char *path, const slt_ckpt_data *d, const slt_model *m,
                             int *count, int64_t *code_bytes);

/* slt export --packed (checkpoint_packed.c documents the layout): write d to path with m's
 * ternary block linears as 2-bit codes and γ per shard under /packed instead of float32, the
 * config's weight transforms off. Loading such a file runs those linears with the packed kernels.
 * Non-ternary quantized weights, or ternary ones outside dense block linears, are refused.
 * *count and *bytes get the packed tensors and their bytes. 0 or -1. */
int slt_ckpt_write_packed(const char *path, const slt_ckpt_data *d, slt_model *m, int *count,
                          int64_t *bytes);

/* ---- reading (checkpoint_read.c) ---- */

/* Open and check a checkpoint: HDF5, format and version, completion marker, config, state.
 * 0, or -1 with one message naming the file and what was expected. */
int slt_ckpt_open(slt_ckpt *c, const char *path);
void slt_ckpt_close(slt_ckpt *c);
/* -1 (naming the differing keys) unless cfg's model section equals the checkpoint's. */
int slt_ckpt_check_model(const slt_ckpt *c, const slt_config *cfg);
/* Read /model into the store: every parameter present with its shape and float32, and no
 * dataset the store lacks. 0 or -1. */
int slt_ckpt_read_params(const slt_ckpt *c, slt_params *p);
/* Read the slots o names (o->slot_names, into o->slots laid out like p) and o->step. The stored
 * optimizer name must equal o->name. 0 or -1. */
int slt_ckpt_read_optim(const slt_ckpt *c, const slt_params *p, slt_ckpt_optim *o);
/* True when the checkpoint holds SGT guides (/guide). */
bool slt_ckpt_has_guide(const slt_ckpt *c);
/* Read /guide into p and /guide_optim's slots and step into o (as slt_ckpt_read_params and
 * slt_ckpt_read_optim do for the model). 0 or -1. */
int slt_ckpt_read_guide(const slt_ckpt *c, slt_params *p, slt_ckpt_optim *o);
/* Index of the named RNG in c->state, or -1 (no message). */
int slt_ckpt_find_rng(const slt_ckpt *c, const char *name);

/* ---- verifying (checkpoint_verify.c) ---- */

/* What slt_ckpt_verify read. */
typedef struct slt_ckpt_verified {
  int64_t tensors, bytes; /* float32 datasets checked, and their bytes */
} slt_ckpt_verified;
/* Read every float32 tensor of an open checkpoint (/model, /optim, /guide, ...) through HDF5
 * and check each against its stored xxh3_64 (from format version 2) and for finite values, and
 * that /optim holds every slot of every /model tensor. 0, or -1 naming the first bad one. */
int slt_ckpt_verify(const slt_ckpt *c, slt_ckpt_verified *v);

/* Build the model a checkpoint was trained with (its stored config, into cfg) and load its
 * weights, for evaluation and generation. NULL with the error recorded on failure. */
slt_model *slt_ckpt_load_model(const char *path, slt_config *cfg);
/* The same; packed false loads a packed file's linears as dequantized fp32 (the fp32 twin of the
 * packed model, for comparisons and benchmarks) instead of running them packed. */
slt_model *slt_ckpt_load_model_ex(const char *path, slt_config *cfg, bool packed);
/* The model an open checkpoint's stored config describes, with its /model weights; NULL with
 * one message naming the file (checkpoint_export.c). */
slt_model *slt_ckpt_model(const slt_ckpt *c);
/* Write params as an inference checkpoint of cfg (SGT off, validated) at out, keeping src's
 * record (step, tokens, RNGs; cursors at the step) and no optimizer state. 0 or -1. */
int slt_ckpt_write_export(const char *out, const slt_ckpt *src, const slt_config *cfg,
                          const slt_params *params);

/* One /model dataset: its name, rank and shape. */
typedef int (*slt_ckpt_tensor_fn)(const char *name, int ndim, const int64_t *shape, void *user);
/* Call fn for every /model dataset (in the file's own order: HDF5 1.10's sorted listing crashes on
 * a damaged group); stops at and returns fn's non-zero. */
int slt_ckpt_each_tensor(const slt_ckpt *c, slt_ckpt_tensor_fn fn, void *user);

/* The newest complete checkpoint in dir: 1 (path in buf), 0 when there is none, -1 on error.
 * Files that carry a checkpoint name but do not open as complete checkpoints are skipped and
 * listed in skipped ("ckpt_00000300.h5 (truncated file ...)"; may be NULL). */
int slt_ckpt_latest(const char *dir, char *buf, size_t len, char *skipped, size_t skipped_len);

#endif
