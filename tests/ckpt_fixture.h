/* Shared by the checkpoint suites: a tiny config, a fake run (model, AdamW state, cursors, RNGs)
 * to save without training, and small file edits. */
#ifndef SLT_TEST_CKPT_FIXTURE_H
#define SLT_TEST_CKPT_FIXTURE_H

#include "layers/model.h"
#include "optim/adamw.h"
#include "ckpt/checkpoint.h"
#include "config/config.h"

typedef struct {
  slt_model *m; /* through the model seam, as the trainer holds it */
  slt_adamw o;
  slt_loader_cursor cur[2];
  slt_rng rng[2];
} ckpt_fake_run;

void ckpt_copy_file(const char *from, const char *to);
/* A tiny synthetic run: 2 layers, d 32, T 16, grad accumulation 2, eval every 3 steps. */
void ckpt_tiny_config(slt_config *c, const char *out_dir, int64_t steps);
void ckpt_fake_build(ckpt_fake_run *f, const slt_config *c, uint64_t seed);
void ckpt_fake_free(ckpt_fake_run *f);
slt_ckpt_data ckpt_fake_data(ckpt_fake_run *f, const slt_config *c, int world);
/* Write a checkpoint at dir/ckpt_<step>.h5 from a fake run. */
void ckpt_fake_save(const char *dir, int64_t step);
/* Edit an HDF5 file in place: delete a link or an attribute of the root. */
void ckpt_h5_delete(const char *path, const char *link, const char *attr);

#endif
