/* The projection shared by AdamP and SGDP (SPEC §4, clovaai/AdamP). For a parameter with more
 * than one dim, seen as rows = dim 0 (the channel view) and then as one row (the layer view):
 * when every row's |cos(g_r, p_r)| of the RAW gradient is below delta/√(row length), the
 * component of the step direction d along each p_r is removed (d_r −= p̂_r·⟨p̂_r, d_r⟩ with
 * p̂_r = p_r/(‖p_r‖ + eps)) and weight decay is scaled by wd_ratio. The channel view is tried
 * first; the first view that fires wins.
 *
 * Speculation: the decision needs sums over the whole parameter, but a second pass over every
 * parameter would cost AdamP 9 floats of memory traffic per element against AdamW's 7. So the
 * first pass updates every parameter as if nothing fired, gathering the sums (Σg·p, Σg², Σp² and
 * Σp·d of the old p) on the way; parameters whose view fired (rare for an LM's weights) are then
 * redone from the old p, recovered in double as (p_new + scale·d)/decay: within an ulp or so of
 * the exact update. (When decay < 1/2, an absurd lr·wd, recovery would lose accuracy: that
 * parameter is not speculated on, the first pass only sums and the fix pass always runs.)
 *
 * Sums are per piece (a row cut into SLT_PROJ_CHUNK-element chunks: boundaries depend on the
 * shape alone), kept in double (short float partials inside, see projection.c) and combined in
 * piece order, so results do not depend on the thread count. The functions contain orphaned `omp for` loops: every thread of the optimizer's parallel
 * region calls them in the same order. A step has two barriers, not one per parameter, so a busy
 * machine that deschedules a thread stalls the others twice a step, not a hundred times. */
#ifndef SLT_PROJECTION_H
#define SLT_PROJECTION_H

#include "autograd/params.h"

#include <stdbool.h>
#include <stdint.h>

#define SLT_PROJ_CHUNK 2048

typedef enum { SLT_PROJ_NONE = 0, SLT_PROJ_CHANNEL = 1, SLT_PROJ_LAYER = 2 } slt_proj_view;

typedef struct slt_proj {
  double delta, wd_ratio, eps;
  int64_t *first; /* per parameter: its first piece in sums and coef (2-D only) */
  double *sums;   /* per piece (Σg·p, Σg², Σp², Σp·d), p before the step */
  double *coef;   /* per piece: ⟨p, d⟩/(‖p‖ + eps)² of its row (channel) or of the whole */
  uint8_t *views; /* per parameter: the view that fired at the last step (slt_proj_view) */
  uint8_t *held;  /* per parameter: this step's first pass left p as it was (decay < 1/2) */
  int64_t fired[3]; /* steps × parameters per view, since init (for logs and tests) */
  int count;
} slt_proj;

/* Elements per call of a kernel (a piece is cut into sub-chunks of this size). */
#define SLT_PROJ_SUB 256

/* The optimizer's side of a step of one parameter: p ← p·decay − scale·d. */
typedef struct slt_proj_kernel {
  /* Over elements [b, e) of the parameter (e − b ≤ SLT_PROJ_SUB): update the optimizer state,
   * write the step direction d into d[0, e − b) and p into old[0, e − b), then, unless hold,
   * p ← p·decay − scale·d. One loop over all the streams, as AdamW's. */
  void (*step)(void *ctx, int64_t b, int64_t e, bool hold, float *d, float *old);
  /* The direction again from the state step left, without changing it (e − b ≤ SLT_PROJ_SUB). */
  void (*redo)(void *ctx, int64_t b, int64_t e, float *d);
  void *ctx;
  float scale, decay; /* decay with wd_eff = 1 */
  float decay_proj;   /* decay with wd_eff = wd_ratio */
} slt_proj_kernel;

/* Allocate the scratch for the store's shapes (nothing is allocated per step); 0 or -1. */
int slt_proj_init(slt_proj *pr, const slt_params *p, double delta, double wd_ratio, double eps);
void slt_proj_free(slt_proj *pr);
/* Step parameter i (more than one dim) as if its projection did not fire, and keep its sums.
 * No barrier: call it for every such parameter, then `#pragma omp barrier`. */
void slt_proj_step(slt_proj *pr, const slt_params *p, int i, const slt_proj_kernel *k);
/* After that barrier: every parameter's view (pr->views); ends with a barrier. True (in every
 * thread) when some parameter needs slt_proj_fix (slt_proj_needs_fix). */
bool slt_proj_decide_all(slt_proj *pr, const slt_params *p);
/* Whether parameter i's step must be redone by slt_proj_fix: its view fired, or it was held. */
static inline bool slt_proj_needs_fix(const slt_proj *pr, int i) {
  return pr->views[i] != SLT_PROJ_NONE || pr->held[i];
}
/* Redo parameter i's step with its projection, if any. No barrier. */
void slt_proj_fix(slt_proj *pr, const slt_params *p, int i, const slt_proj_kernel *k);

#endif
