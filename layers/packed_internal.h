/* What the packed linear kinds share: the model's set of packed linears (slt_model.packed),
 * which owns them. Private to layers/packed_*.c. */
#ifndef SLT_PACKED_INTERNAL_H
#define SLT_PACKED_INTERNAL_H

#include "layers/model.h"

/* Add p (freed by free_fn with the model) whose codes and scales take bytes to m's set. 0 or -1
 * (out of memory; p not taken). */
int slt_packed_set_add(slt_model *m, void *p, void (*free_fn)(void *), int64_t bytes);

#endif
