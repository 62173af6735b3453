#!/usr/bin/python3
"""Writes the scaling-law fit fixtures (needs Debian's python3-numpy and python3-scipy):
  tests/fixtures/fit_chinchilla.csv  20 noisy runs of Hoffmann et al.'s published law
  tests/fixtures/fit_compute.csv     12 noisy runs of L(C) = 1.8 + 2000·C^−0.15
  tests/fixtures/fit_reference.txt   scipy's fits of both: law, objective, coefficients

Approach 3 as Hoffmann et al. (2022, D.2) and SPEC §9: minimise
Σ huber_δ(logsumexp(a − α·log N, b − β·log D, e) − log L), δ = 1e-3, with scipy's L-BFGS-B from
every point of the grid α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1}, a, b ∈ {0, 5, …, 25} in
the raw (uncentred) variables, keeping the lowest objective. The compute law: least squares on
log L with scipy.optimize.least_squares from a grid of starts. Nothing is shared with the C
code; the C test checks it finds an objective at least as low and the same coefficients.
Run from the repository root:  /usr/bin/python3 tests/reference/fit_reference.py"""
import itertools
import os

import numpy as np
from scipy.optimize import least_squares, minimize
from scipy.special import huber, logsumexp, softmax

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures")
DELTA = 1e-3


def chinchilla_data(rng):
    n, d = np.meshgrid(1e7 * 10 ** (0.5 * np.arange(5)), 2e8 * 10 ** (0.8 * np.arange(4)))
    n, d = n.ravel(), d.ravel()
    loss = (1.69 + 406.4 / n**0.34 + 410.7 / d**0.28) * np.exp(rng.normal(0, 0.01, n.size))
    return n, d, loss


def chinchilla_objective(p, ln, ld, ll):
    a, b, e, alpha, beta = p
    t = np.stack([a - alpha * ln, b - beta * ld, np.full_like(ln, e)])
    r = logsumexp(t, axis=0) - ll
    w = softmax(t, axis=0)  # d logsumexp / d term
    dr = np.clip(r, -DELTA, DELTA)  # huber'(r)
    grad = np.array([np.sum(dr * w[0]), np.sum(dr * w[1]), np.sum(dr * w[2]),
                     np.sum(-dr * w[0] * ln), np.sum(-dr * w[1] * ld)])
    return np.sum(huber(DELTA, r)), grad


def fit_chinchilla(n, d, loss):
    ln, ld, ll = np.log(n), np.log(d), np.log(loss)
    best = None
    grid = itertools.product(np.arange(0, 30, 5), np.arange(0, 30, 5), np.arange(-1, 1.5, 0.5),
                             np.arange(0, 2.5, 0.5), np.arange(0, 2.5, 0.5))
    for start in grid:
        res = minimize(chinchilla_objective, np.array(start, float), args=(ln, ld, ll), jac=True,
                       method="L-BFGS-B", options={"maxiter": 10000, "ftol": 1e-15, "gtol": 1e-12})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    a, b, e, alpha, beta = best.x
    return best.fun, [np.exp(e), np.exp(a), np.exp(b), alpha, beta]


def fit_compute(c, loss):
    lc, ll = np.log(c), np.log(loss)

    def resid(p):  # log E, log A, alpha
        return np.logaddexp(p[0], p[1] - p[2] * lc) - ll

    best = None
    for e0, alpha0 in itertools.product([0.0, 0.3, 0.6], [0.05, 0.1, 0.2, 0.4]):
        a0 = alpha0 * lc.mean() + np.log(max(loss.mean() - np.exp(e0), 0.1))
        res = least_squares(resid, [e0, a0, alpha0], xtol=1e-15, ftol=1e-15, gtol=1e-15)
        if best is None or res.cost < best.cost:
            best = res
    e, a, alpha = best.x
    return best.cost, [np.exp(e), np.exp(a), alpha]  # cost = ½Σr², as the C objective


def main():
    rng = np.random.default_rng(1005)
    n, d, loss = chinchilla_data(rng)
    with open(os.path.join(OUT, "fit_chinchilla.csv"), "w") as f:
        f.write("params,tokens,flops,val_loss\n")
        for i in range(n.size):
            f.write(f"{n[i]:.17g},{d[i]:.17g},{6 * n[i] * d[i]:.17g},{loss[i]:.17g}\n")
    c = 1e15 * 10 ** (0.6 * np.arange(12))
    closs = (1.8 + 2000 * c**-0.15) * np.exp(rng.normal(0, 0.005, c.size))
    with open(os.path.join(OUT, "fit_compute.csv"), "w") as f:
        f.write("flops,val_loss\n")
        for i in range(c.size):
            f.write(f"{c[i]:.17g},{closs[i]:.17g}\n")
    fc, pc = fit_compute(c, closs)
    fh, ph = fit_chinchilla(n, d, loss)
    with open(os.path.join(OUT, "fit_reference.txt"), "w") as f:
        f.write("# law objective E A [B] alpha [beta] (tests/reference/fit_reference.py)\n")
        f.write("compute %.17g %s\n" % (fc, " ".join("%.17g" % v for v in pc)))
        f.write("chinchilla %.17g %s\n" % (fh, " ".join("%.17g" % v for v in ph)))
    print("compute", fc, pc)
    print("chinchilla", fh, ph)


if __name__ == "__main__":
    main()
