/* SVD-based initialisers for the structured linears. OpenBLAS ships LAPACK's Fortran symbols
 * but not LAPACKE, so we call dgesdd_ directly (column-major, double for a clean factorisation). */
#include "structured.h"

#include "autograd/error.h"

#include <math.h>
#include <stdlib.h>

/* Fortran LAPACK; the trailing size_t is gfortran's hidden length of the JOBZ string. */
extern void dgesdd_(const char *jobz, const int *m, const int *n, double *a, const int *lda,
                    double *s, double *u, const int *ldu, double *vt, const int *ldvt, double *work,
                    const int *lwork, int *iwork, int *info, size_t jobz_len);

/* Thin SVD of row-major a (m, n): u col-major (m, k), s (k), vt col-major (k, n), k = min(m, n).
 * Returns 0 or -1. */
static int thin_svd(const float *a, int m, int n, double *u, double *s, double *vt) {
  int k = m < n ? m : n, info = 0, lwork = -1;
  double *ac = malloc(sizeof(double) * m * n), wq;
  int *iw = malloc(sizeof(int) * 8 * k);
  if (!ac || !iw) goto oom;
  for (int i = 0; i < m; i++)
    for (int j = 0; j < n; j++) ac[i + (size_t)j * m] = a[(size_t)i * n + j];
  dgesdd_("S", &m, &n, ac, &m, s, u, &m, vt, &k, &wq, &lwork, iw, &info, 1);
  lwork = (int)wq;
  double *work = malloc(sizeof(double) * lwork);
  if (!work) goto oom;
  dgesdd_("S", &m, &n, ac, &m, s, u, &m, vt, &k, work, &lwork, iw, &info, 1);
  free(work);
  free(ac);
  free(iw);
  if (info) slt_err_set("SVD of a (%d, %d) matrix failed (LAPACK info %d)", m, n, info);
  return info ? -1 : 0;
oom:
  free(ac);
  free(iw);
  slt_err_set("out of memory in the SVD of a (%d, %d) matrix", m, n);
  return -1;
}

static int svd_alloc(int m, int n, double **u, double **s, double **vt) {
  int k = m < n ? m : n;
  *u = malloc(sizeof(double) * m * k);
  *s = malloc(sizeof(double) * k);
  *vt = malloc(sizeof(double) * k * n);
  if (*u && *s && *vt) return 0;
  free(*u), free(*s), free(*vt);
  slt_err_set("out of memory in the SVD of a (%d, %d) matrix", m, n);
  return -1;
}

int slt_ortho_project(float *w, int m, int n) {
  int k = m < n ? m : n;
  double *u, *s, *vt;
  if (svd_alloc(m, n, &u, &s, &vt)) return -1;
  int rc = thin_svd(w, m, n, u, s, vt);
  /* w = P·Qᵀ: the (semi-)orthogonal factor of the polar decomposition, nearest in Frobenius. */
  for (int i = 0; !rc && i < m; i++)
    for (int j = 0; j < n; j++) {
      double acc = 0;
      for (int c = 0; c < k; c++) acc += u[i + (size_t)c * m] * vt[c + (size_t)j * k];
      w[(size_t)i * n + j] = (float)acc;
    }
  free(u), free(s), free(vt);
  return rc;
}

int slt_svd_lowrank_init(slt_rng *rng, float std, int m, int n, int r, float *uo, float *vo) {
  int k = m < n ? m : n;
  if (r > k) {
    slt_err_set("svd init: rank %d exceeds min(out, in) = %d", r, k);
    return -1;
  }
  float *w0 = malloc(sizeof(float) * m * n);
  double *u, *s, *vt;
  if (!w0 || svd_alloc(m, n, &u, &s, &vt)) {
    free(w0);
    slt_err_set("out of memory in svd init of (%d, %d)", m, n);
    return -1;
  }
  slt_rng_fill_normal(rng, w0, (int64_t)m * n, 0.0f, std);
  int rc = thin_svd(w0, m, n, u, s, vt);
  for (int c = 0; !rc && c < r; c++) {
    double rs = sqrt(s[c]); /* split √S between the factors so both have the same scale */
    for (int i = 0; i < m; i++) uo[(size_t)i * r + c] = (float)(u[i + (size_t)c * m] * rs);
    for (int j = 0; j < n; j++) vo[(size_t)c * n + j] = (float)(vt[c + (size_t)j * k] * rs);
  }
  free(w0), free(u), free(s), free(vt);
  return rc;
}

void slt_init_blocks(slt_rng *rng, float std, float *w, int nb, int m, int n, bool ortho) {
  for (int b = 0; b < nb; b++) {
    float *blk = w + (size_t)b * m * n;
    slt_rng_fill_normal(rng, blk, (int64_t)m * n, 0.0f, std);
    /* SPEC: replace by the nearest semi-orthogonal matrix; this drops the std scale (‖·‖₂ = 1). */
    if (ortho) slt_ortho_project(blk, m, n);
  }
}
