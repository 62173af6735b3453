/* The real matrix of a widely-linear map y = U·x + W·conj(x) (Fairy2i, SPEC §6). */
#include "complex.h"

#include "op_util.h"
#include "ops.h"
#include "parallel.h"

/* A = [[A11, A12], [A21, A22]] with A11 = U_re + W_re, A12 = W_im − U_im, A21 = U_im + W_im,
 * A22 = U_re − W_re; so dU_re = dA11 + dA22, dW_re = dA11 − dA22, dU_im = dA21 − dA12,
 * dW_im = dA21 + dA12. */
static void wl_backward(slt_ctx *c, slt_node *n) {
  (void)c;
  slt_tensor *ur = n->in[0], *ui = n->in[1], *wr = n->in[2], *wi = n->in[3];
  int NO = ur->shape[0], NI = ur->shape[1];
  const float *dA = n->out->grad;
#pragma omp parallel for schedule(static) if (ur->numel >= SLT_PAR_MIN)
  for (int i = 0; i < NO; i++) {
    const float *top = dA + (int64_t)i * 2 * NI, *bot = dA + (int64_t)(NO + i) * 2 * NI;
    int64_t o = (int64_t)i * NI;
    for (int j = 0; j < NI; j++) {
      float a11 = top[j], a12 = top[NI + j], a21 = bot[j], a22 = bot[NI + j];
      if (ur->requires_grad) ur->grad[o + j] += a11 + a22;
      if (wr->requires_grad) wr->grad[o + j] += a11 - a22;
      if (ui->requires_grad) ui->grad[o + j] += a21 - a12;
      if (wi->requires_grad) wi->grad[o + j] += a21 + a12;
    }
  }
}

slt_tensor *slt_cplx_wl_weight(slt_ctx *c, slt_tensor *u_re, slt_tensor *u_im, slt_tensor *w_re,
                               slt_tensor *w_im) {
  if (!u_re || !u_im || !w_re || !w_im) return NULL;
  if (u_re->ndim != 2 || !slt_tensor_same_shape(u_re, u_im) || !slt_tensor_same_shape(u_re, w_re) ||
      !slt_tensor_same_shape(u_re, w_im))
    return slt_op_shape_error("cplx_wl_weight", "U and W parts must be (out, in) alike", u_re,
                              w_im);
  int NO = u_re->shape[0], NI = u_re->shape[1];
  slt_tensor *a = slt_new(c, 2, (int[]){2 * NO, 2 * NI});
  if (!a) return NULL;
#pragma omp parallel for schedule(static) if (u_re->numel >= SLT_PAR_MIN)
  for (int i = 0; i < NO; i++) {
    int64_t o = (int64_t)i * NI;
    const float *ur = u_re->data + o, *ui = u_im->data + o, *wr = w_re->data + o,
                *wi = w_im->data + o;
    float *top = a->data + (int64_t)i * 2 * NI, *bot = a->data + (int64_t)(NO + i) * 2 * NI;
    for (int j = 0; j < NI; j++) {
      top[j] = ur[j] + wr[j], top[NI + j] = wi[j] - ui[j];
      bot[j] = ui[j] + wi[j], bot[NI + j] = ur[j] - wr[j];
    }
  }
  slt_tensor *in[4] = {u_re, u_im, w_re, w_im};
  if (slt_needs_grad(c, 4, in) && !slt_record(c, "cplx_wl_weight", wl_backward, a, 4, in, 0))
    return NULL;
  return a;
}

slt_tensor *slt_cplx_wl_linear(slt_ctx *c, slt_tensor *x, slt_tensor *u_re, slt_tensor *u_im,
                               slt_tensor *w_re, slt_tensor *w_im) {
  if (!x || !u_re) return NULL;
  if (u_re->ndim == 2 && slt_tensor_cols(x) != 2 * u_re->shape[1])
    return slt_op_shape_error("cplx_wl_linear", "x's last dim must be 2·in ([re | im])", x, u_re);
  return slt_linear(c, x, slt_cplx_wl_weight(c, u_re, u_im, w_re, w_im), NULL);
}
