/* Pre-merge (SPEC §2): a GPT whose FFN linears are structured equals, up to float rounding, the
 * same GPT with each fc1/fc2 replaced by its merged dense weight. The dense twin serves
 * inference (export, and generation when the dense form is the faster one). */
#ifndef SLT_GPT_MERGE_H
#define SLT_GPT_MERGE_H

#include "layers/gpt.h"

/* True when some FFN linear of m is not dense (there is something to merge). */
bool slt_gpt_has_structured_ffn(const slt_gpt *m);
/* Build dst as src's dense twin: every parameter copied by name, every fc1/fc2 weight the merged
 * dense (out, in) weight of src's linear, biases copied. 0, or -1 with the error recorded (dst
 * left freed). */
int slt_gpt_merge(const slt_gpt *src, slt_gpt *dst);

#endif
