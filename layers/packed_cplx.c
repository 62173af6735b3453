/* Packed complex linears: W·conj(x) from 2-bit {±1, ±i} codes, int8 activations. */
#include "packed_cplx.h"
#include "packed_internal.h"

#include "autograd/error.h"

#include <stdlib.h>
#include <string.h>

struct slt_packed_cplx {
  slt_cplx2 w;
  int64_t out, in;
  slt_cplx_act act; /* int8 activations, grown to the largest token count seen */
  int cap;
};

/* p->act for n tokens (the buffers kept when large enough). */
static int buffers_for(slt_packed_cplx *p, int n) {
  if (n > p->cap) {
    slt_cplx_act_free(&p->act);
    p->cap = 0;
    if (slt_cplx_act_alloc(&p->act, n, p->in)) return -1;
    p->cap = n;
  }
  p->act.re.n = p->act.im.n = n;
  return 0;
}

slt_tensor *slt_packed_cplx_forward(slt_packed_cplx *p, slt_ctx *c, slt_tensor *x) {
  if (!x) return NULL;
  if (!c->no_grad) {
    slt_err_set("a packed complex linear (slt export --packed) runs under no-grad only: it has "
                "no gradient (train from the fp32 checkpoint)");
    return NULL;
  }
  if (x->shape[x->ndim - 1] != 2 * p->in) {
    slt_err_set("packed complex linear: input has %d columns, expected 2 x %lld ([re | im])",
                x->shape[x->ndim - 1], (long long)p->in);
    return NULL;
  }
  int64_t n = x->numel / (2 * p->in);
  int shape[SLT_MAX_DIMS];
  memcpy(shape, x->shape, sizeof shape);
  shape[x->ndim - 1] = (int)(2 * p->out);
  slt_tensor *y = slt_new(c, x->ndim, shape);
  if (!y || n > INT32_MAX || buffers_for(p, (int)n)) return NULL;
  slt_cplx2_quantize(&p->act, x->data, 2 * p->in);
  return slt_cplx2_gemm(&p->w, &p->act, y->data, 2 * p->out) ? NULL : y;
}

static void packed_cplx_free(void *v) {
  slt_packed_cplx *p = v;
  slt_cplx2_free(&p->w);
  slt_cplx_act_free(&p->act);
  free(p);
}

int slt_packed_install_cplx(slt_model *m, const char *param, slt_cplx2 *w) {
  int shape[2];
  slt_packed_cplx **slot = m->vt->cplx_slot ? m->vt->cplx_slot(m, param, shape) : NULL;
  if (!slot) {
    slt_err_set("%s: no complex linear of this model has that weight", param);
    return -1;
  }
  if (shape[0] != w->out || shape[1] != w->in) {
    slt_err_set("%s: packed (%lld, %lld) but the model's complex linear is (%d, %d)", param,
                (long long)w->out, (long long)w->in, shape[0], shape[1]);
    return -1;
  }
  if (m->cfg->act_quant != SLT_ACT_QUANT_INT8) return 0; /* see the header: stays fp32 */
  if (*slot) {
    slt_err_set("%s: packed twice", param);
    return -1;
  }
  slt_packed_cplx *p = calloc(1, sizeof *p);
  if (!p || slt_packed_set_add(m, p, packed_cplx_free, w->out * w->row_bytes + 8)) {
    free(p);
    slt_err_set("out of memory installing %s", param);
    return -1;
  }
  p->w = *w;
  p->out = w->out, p->in = w->in;
  memset(w, 0, sizeof *w);
  *slot = p;
  return 0;
}
