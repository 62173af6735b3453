#!/usr/bin/python3
"""Writes the fake-quant fixtures tests/fixtures/quant_{int,lsq,fp}.bin (needs Debian's
python3-torch and python3-numpy).

quant_int.bin   torch.fake_quantize_per_tensor_affine / _per_channel_affine on fixed qparams
                (inputs with exact .5 ties x = (k + 0.5)·s and values far outside the range), and
                the on-the-fly scales of SPEC §5 (absmax s = amax/qmax per tensor, channel,
                group, token; minmax from torch's MinMaxObserver / PerChannelMinMaxObserver).
quant_lsq.bin   torch.ao.quantization._LearnableFakeQuantize (forward, dx, dscale, dzero_point;
                per tensor and per channel, grad scaling on and off), LSQ+ written as a torch
                autograd expression with a straight-through round, and the LSQ inits.
quant_fp.bin    the E4M3/E5M2/E3M2/E2M3/E2M1 quantizer written here in numpy from SPEC §5
                (microxcaling's elemwise quantizer: half away from zero or to even,
                saturating), unscaled on grids of representable values, ties and out-of-range
                values, scaled per tensor/channel/group, and MX (power-of-two scale per 32).

Format (binary, little-endian): records of a name (u8 length + bytes), a u32 count and that
many float32. <case>.cfg holds a case's integers; the C test reads them from there.
Run from the repository root:  /usr/bin/python3 tests/reference/quant_reference.py"""
import math
import os
import struct

import numpy as np
import torch
from torch.ao.quantization import MinMaxObserver, PerChannelMinMaxObserver
from torch.ao.quantization._learnable_fake_quantize import _LearnableFakeQuantize
from torch.ao.quantization.observer import (MovingAverageMinMaxObserver,
                                            MovingAveragePerChannelMinMaxObserver)

OUT = os.path.join(os.path.dirname(__file__), "..", "fixtures")
F32 = np.float32


class Writer:
    """Records: u8 name length, the name, u32 count, count float32 (all little-endian)."""

    def __init__(self, name):
        self.f = open(os.path.join(OUT, name), "wb")

    def put(self, name, arr):
        a = np.asarray(arr, dtype="<f4").ravel()
        assert np.all(np.isfinite(a)), name
        self.f.write(struct.pack("<B", len(name)) + name.encode() + struct.pack("<I", a.size))
        self.f.write(a.tobytes())

    def close(self):
        self.f.close()


def t32(a):
    return torch.tensor(np.asarray(a, dtype=F32))


def with_ties(rng, shape, scales, zeros, qmin, qmax):
    """Rows of x (rows, cols) with exact ties (k + 0.5)·s, values at and beyond the clamp, and
    random values; s per row. Ties are exact when s is a power of two; for other s,
    (k + 0.5)·s·(1/s) lands near, not on, the tie, which checks the reciprocal is used."""
    rows, cols = shape
    x = np.empty(shape, F32)
    for r in range(rows):
        s, z = F32(scales[r]), zeros[r]
        k = rng.integers(qmin - z - 3, qmax - z + 3, size=cols)
        x[r] = (k + F32(0.5)).astype(F32) * s
        x[r, ::5] = (rng.normal(size=len(x[r, ::5])) * (qmax - qmin) * s / 3).astype(F32)
        x[r, 1] = F32((qmax - z + 20) * s)   # far above
        x[r, 2] = F32((qmin - z - 20) * s)   # far below
        x[r, 3] = F32((qmax - z + 0.5) * s)  # the tie at the top edge
        x[r, 4] = F32((qmin - z - 0.5) * s)  # and at the bottom
    return x


# ---- integer affine ----

def fixed_cases(w, rng):
    cases = [  # name, per channel, rows, cols, qmin, qmax, scales, zeros
        ("t_pow2", False, 4, 50, -128, 127, [0.25], [0]),
        ("t_recip", False, 4, 50, -8, 7, [0.1], [3]),
        ("t_quint8", False, 4, 50, 0, 255, [0.05], [128]),
        ("c_sym", True, 6, 40, -128, 127, [0.5, 0.1, 0.03, 2.0, 0.0625, 0.7], [0] * 6),
        ("c_asym4", True, 6, 40, 0, 15, [0.5, 0.1, 0.03, 2.0, 0.0625, 0.7], [0, 3, 8, 15, 7, 1]),
    ]
    for name, pc, rows, cols, qmin, qmax, scales, zeros in cases:
        sc = scales if pc else scales * rows
        zc = zeros if pc else zeros * rows
        x = with_ties(rng, (rows, cols), sc, zc, qmin, qmax)
        dy = rng.normal(size=x.shape).astype(F32)
        xt = t32(x).requires_grad_()
        if pc:
            y = torch.fake_quantize_per_channel_affine(xt, t32(scales), torch.tensor(zeros, dtype=torch.int32),
                                                       0, qmin, qmax)
        else:
            y = torch.fake_quantize_per_tensor_affine(xt, float(scales[0]), int(zeros[0]), qmin, qmax)
        y.backward(t32(dy))
        w.put(f"{name}.cfg", [rows, cols, qmin, qmax, cols if pc else rows * cols])
        for k, v in (("x", x), ("dy", dy), ("scale", scales), ("zero", zeros), ("y", y.detach()),
                     ("dx", xt.grad)):
            w.put(f"{name}.{k}", v)


def spec_cases(w, rng):
    """The scales slt computes on the fly. absmax: s = amax/qmax in float32 (1 where amax is
    0), z = 0, then torch's per-channel op on the (blocks, block) view. minmax: torch's
    observers. kind codes as in the C enum: gran 0 tensor 1 channel 2 token 3 group."""
    cases = [  # name, shape, bits, gran, group, minmax, narrow
        ("a_chan8", (6, 40), 8, 1, 0, False, False),
        ("a_group4", (6, 40), 4, 3, 8, False, False),
        ("a_token8", (2, 3, 40), 8, 2, 0, False, False),
        ("a_tensor8n", (6, 40), 8, 0, 0, False, True),
        ("m_tensor8", (6, 40), 8, 0, 0, True, False),
        ("m_chan4", (6, 40), 4, 1, 0, True, False),
        ("m_tie4", (4, 16), 4, 0, 0, True, False),  # min/s = −2.5: z from a rounding tie
    ]
    for name, shape, bits, gran, group, minmax, narrow in cases:
        x = (rng.normal(size=shape) * rng.uniform(0.2, 3, size=shape[:-1] + (1,))).astype(F32)
        x.reshape(-1, shape[-1])[1] = 0  # an all-zero row
        if name == "m_tie4":  # range [−1.25, 6.25]: s = 7.5/15 = 0.5, min/s = −2.5 exactly
            x = rng.uniform(-1.25, 6.25, size=shape).astype(F32)
            x[0, :2] = [-1.25, 6.25]
        elif minmax:
            x.reshape(-1, shape[-1])[2] = np.abs(x.reshape(-1, shape[-1])[2]) + 0.5  # min > 0
        dy = rng.normal(size=shape).astype(F32)
        cols = shape[-1]
        block = x.size if gran == 0 else group if gran == 3 else cols
        v = t32(x).reshape(-1, block)
        if minmax:
            qmin, qmax = 0, 2 ** bits - 1
            if gran == 0:
                obs = MinMaxObserver(dtype=torch.quint8, qscheme=torch.per_tensor_affine,
                                     quant_min=qmin, quant_max=qmax)
            else:
                obs = PerChannelMinMaxObserver(ch_axis=0, dtype=torch.quint8,
                                               qscheme=torch.per_channel_affine,
                                               quant_min=qmin, quant_max=qmax)
            obs(v)
            scale, zero = obs.calculate_qparams()
            scale, zero = scale.reshape(-1).float(), zero.reshape(-1).int()
            if gran == 0:
                scale, zero = scale.expand(1), zero.expand(1)
            if name == "m_tie4":
                assert scale.item() == 0.5 and zero.item() == 2, (scale, zero)  # −2.5 -> −2
        else:
            qmax = 2 ** (bits - 1) - 1
            qmin = -qmax if narrow else -qmax - 1
            amax = v.abs().amax(dim=1)
            scale = amax / F32(qmax)
            scale = torch.where(scale >= np.finfo(F32).tiny, scale, torch.ones_like(scale))
            zero = torch.zeros(scale.shape, dtype=torch.int32)
        vt = v.clone().requires_grad_()
        y = torch.fake_quantize_per_channel_affine(vt, scale, zero, 0, qmin, qmax)
        y.backward(t32(dy).reshape(-1, block))
        w.put(f"{name}.cfg", [len(shape), *shape, bits, gran, group, int(minmax), int(narrow)])
        for k, val in (("x", x), ("dy", dy), ("scale", scale), ("zero", zero.float()),
                       ("y", y.detach()), ("dx", vt.grad)):
            w.put(f"{name}.{k}", val)


# ---- LSQ ----

def avoid_fma_ties(x, scales, zeros):
    """torch's learnable backward takes q = nearbyint(z + x·(1/s)): the sum rounded to float
    (and, as GCC contracts it on x86 builds, one fma), unlike its own forward's
    z + nearbyint(x·(1/s)), which SPEC §5 and slt use. With z != 0 the two differ for x whose
    x/s lies within float rounding of a .5 tie; such x are moved toward 0 one ulp at a time
    until every form agrees. Exact ties (power-of-two s) agree in every form and stay."""
    x = x.copy()
    for r in range(x.shape[0]):
        inv, z = F32(1) / F32(scales[r]), zeros[r]
        for c in range(x.shape[1]):
            while z != 0:
                p = x[r, c] * inv  # float32
                ours = np.rint(p) + z
                fused = np.rint(F32(np.float64(x[r, c]) * np.float64(inv) + z))
                summed = np.rint(p + F32(z))
                if ours == fused == summed:
                    break
                x[r, c] = np.nextafter(x[r, c], F32(0))
    return x


def lsq_torch(x, dy, scale, zero, qmin, qmax, per_channel, symmetric, gs):
    """_LearnableFakeQuantize in parameter-learning mode with the given scale and zero point."""
    if per_channel:
        obs = MovingAveragePerChannelMinMaxObserver
        kw = dict(ch_axis=0, qscheme=torch.per_channel_symmetric if symmetric else torch.per_channel_affine)
    else:
        obs = MovingAverageMinMaxObserver
        kw = dict(qscheme=torch.per_tensor_symmetric if symmetric else torch.per_tensor_affine)
    kw["dtype"] = torch.qint8 if qmin < 0 else torch.quint8
    fq = _LearnableFakeQuantize(obs, quant_min=qmin, quant_max=qmax, scale=1.0, zero_point=0.0,
                                channel_len=len(scale) if per_channel else -1,
                                use_grad_scaling=gs, **kw)
    fq.enable_param_learning()
    fq.scale.data = t32(scale)
    fq.zero_point.data = t32(zero)
    xt = t32(x).requires_grad_()
    y = fq(xt)
    y.backward(t32(dy))
    return y.detach(), xt.grad, fq.scale.grad, fq.zero_point.grad


def lsq_terms(x, dy, s, z, qmin, qmax, g):
    """|per-element terms| of ds and dz, summed per block (the tolerance scale of the sums),
    written from SPEC §5 in float64; also the sums themselves, checked against torch here."""
    inv = F32(1) / s.astype(F32)
    q = np.rint(x.astype(F32) * inv[:, None]).astype(np.float64) + z[:, None]  # float32 product
    inr = (q >= qmin) & (q <= qmax)
    y = (np.clip(q, qmin, qmax) - z[:, None]) * s[:, None]
    ds = np.where(inr, dy * (y - x) / s[:, None], dy * (np.where(q < qmin, qmin, qmax) - z[:, None])) * g
    dz = np.where(inr, 0, -dy * s[:, None]) * g
    return ds.sum(1), dz.sum(1), np.abs(ds).sum(1), np.abs(dz).sum(1)


def lsq_cases(w, rng):
    cases = [  # name, rows, cols, qmin, qmax, per channel, symmetric, grad scaling, scales, zeros
        ("l_t4", 5, 24, -8, 7, False, True, False, [0.2], [0.0]),
        ("l_t4g", 5, 24, -8, 7, False, True, True, [0.2], [0.0]),
        ("l_tq8g", 5, 24, 0, 255, False, False, True, [0.03], [100.3]),
        ("l_c4g", 5, 24, -8, 7, True, True, True, [0.2, 0.05, 0.7, 0.125, 1.3], [0.0] * 5),
        ("l_cq4", 5, 24, 0, 15, True, False, False, [0.2, 0.05, 0.7, 0.125, 1.3],
         [3.7, 7.0, 0.2, 12.4, 15.0]),
    ]
    for name, rows, cols, qmin, qmax, pc, sym, gs, scales, zeros in cases:
        sr = np.array(scales * (1 if pc else rows), F32)
        zr = np.array(zeros * (1 if pc else rows), np.float64)
        zi = np.clip(np.rint(zr), qmin, qmax)
        x = avoid_fma_ties(with_ties(rng, (rows, cols), sr, zi.astype(int), qmin, qmax), sr, zi)
        dy = rng.normal(size=x.shape).astype(F32)
        y, dx, ds, dz = lsq_torch(x, dy, scales, zeros, qmin, qmax, pc, sym, gs)
        g = 1 / math.sqrt(x.size * qmax) if gs else 1.0
        rs, rz, abs_s, abs_z = lsq_terms(x.astype(np.float64), dy.astype(np.float64),
                                         sr.astype(np.float64), zi, qmin, qmax, g)
        if not pc:
            rs, rz, abs_s, abs_z = rs.sum(keepdims=True), rz.sum(keepdims=True), abs_s.sum(keepdims=True), abs_z.sum(keepdims=True)
        assert np.all(np.abs(rs - ds.numpy()) <= 1e-5 * abs_s), (name, rs, ds)
        if not sym:
            assert np.all(np.abs(rz - dz.numpy()) <= 1e-5 * abs_z + 1e-12), (name, rz, dz)
        w.put(f"{name}.cfg", [rows, cols, qmin, qmax, cols if pc else rows * cols, int(sym), int(gs)])
        for k, v in (("x", x), ("dy", dy), ("scale", scales), ("zero", zeros), ("y", y),
                     ("dx", dx), ("ds", ds), ("dz", dz), ("ds_abs", abs_s), ("dz_abs", abs_z)):
            w.put(f"{name}.{k}", v)


def lsq_plus_cases(w, rng):
    """LSQ+: y = round(clamp((x − β)/s, qmin, qmax))·s + β, the round straight-through and s, β
    gradient-scaled by g (the LSQ paper's scale trick: forward value unchanged, gradient × g)."""
    cases = [  # name, rows, cols, qmin, qmax, per channel, grad scaling, scales, betas
        ("p_t4g", 5, 24, 0, 15, False, True, [0.3], [-0.7]),
        ("p_c4", 5, 24, 0, 15, True, False, [0.3, 0.05, 0.9, 0.125, 0.4], [-0.7, 0.1, -2.0, 0.0, 0.33]),
    ]
    for name, rows, cols, qmin, qmax, pc, gs, scales, betas in cases:
        sr = np.array(scales * (1 if pc else rows), F32)
        br = np.array(betas * (1 if pc else rows), F32)
        x = with_ties(rng, (rows, cols), sr, [0] * rows, qmin, qmax) + br[:, None]
        dy = rng.normal(size=x.shape).astype(F32)
        g = 1 / math.sqrt(x.size * qmax) if gs else 1.0
        s, b = t32(scales).requires_grad_(), t32(betas).requires_grad_()
        sg = (s - s * g).detach() + s * g
        bg = (b - b * g).detach() + b * g
        sv, bv = (sg[:, None], bg[:, None]) if pc else (sg, bg)
        xt = t32(x).requires_grad_()
        vc = torch.clamp((xt - bv) * (1.0 / sv), qmin, qmax)
        y = (vc + (torch.round(vc) - vc).detach()) * sv + bv
        y.backward(t32(dy))
        # tolerance scales: |terms| per block from the element formulas (float64)
        v = (x.astype(np.float64) - br[:, None]) / sr[:, None]
        inr = (v >= qmin) & (v <= qmax)
        ts = np.where(inr, dy * (np.rint(v) - v), dy * np.where(v < qmin, qmin, qmax)) * g
        tb = np.where(inr, 0, dy) * g
        abs_s, abs_b = np.abs(ts).sum(1), np.abs(tb).sum(1)
        if not pc:
            abs_s, abs_b = abs_s.sum(keepdims=True), abs_b.sum(keepdims=True)
        w.put(f"{name}.cfg", [rows, cols, qmin, qmax, cols if pc else rows * cols, 0, int(gs)])
        for k, val in (("x", x), ("dy", dy), ("scale", scales), ("zero", betas), ("y", y.detach()),
                       ("dx", xt.grad), ("ds", s.grad), ("dz", b.grad), ("ds_abs", abs_s),
                       ("dz_abs", abs_b)):
            w.put(f"{name}.{k}", val)


def lsq_init_cases(w, rng):
    """LSQ: s = 2·mean|x|/sqrt(qmax) per row, 4 bits (qmax 7). LSQ+: s = (max − min)/15, β = min."""
    x = (rng.normal(size=(5, 24)) * rng.uniform(0.2, 3, size=(5, 1)) + 0.3).astype(F32)
    xd = x.astype(np.float64)
    w.put("init.x", x)
    w.put("init.lsq_chan", 2 * np.abs(xd).mean(1) / math.sqrt(7))
    w.put("init.lsq_tensor", [2 * np.abs(xd).mean() / math.sqrt(7)])
    w.put("init.plus_scale", (xd.max(1) - xd.min(1)) / 15)
    w.put("init.plus_beta", xd.min(1))


# ---- floating point (SPEC §5, microxcaling's elemwise quantizer) ----

FORMATS = [  # name, E, M, emax, max_norm (enum order of slt_quant_format)
    ("e4m3", 4, 3, 8, 448.0), ("e5m2", 5, 2, 15, 57344.0), ("e3m2", 3, 2, 4, 28.0),
    ("e2m3", 2, 3, 2, 7.5), ("e2m1", 2, 1, 2, 6.0),
]


def fp_q(x, E, M, max_norm, even):
    x = np.asarray(x, F32)
    emin = 2 - 2 ** (E - 1)
    ax = np.abs(x).astype(np.float64)
    e = np.floor(np.log2(np.where(ax == 0, 1.0, ax)))  # exact in float64 for float32 inputs
    e = np.maximum(e, emin)
    a = (x * (2.0 ** (M - e)).astype(F32)).astype(F32)  # power-of-two scaling: exact
    if even:
        r = np.rint(a)
    else:
        r = (np.sign(a) * np.floor(np.abs(a) + F32(0.5))).astype(F32)  # float32, as written
    q = (r * (2.0 ** (e - M)).astype(F32)).astype(F32)
    return np.clip(q, -F32(max_norm), F32(max_norm)).astype(F32)


def fp_grid(E, M, max_norm):
    """Every positive normal/subnormal value up to max_norm, the midpoints (ties) between
    neighbours, quarter points, values beyond max_norm and below the smallest subnormal, and
    zero. Positive only: the C test checks Q(−x) = −Q(x) itself."""
    emin = 2 - 2 ** (E - 1)
    vals = {0.0}
    for e in range(emin, 64):
        for m in range(2 ** M):
            v = (1 + m / 2 ** M) * 2.0 ** e
            if v > max_norm:
                break
            vals.add(v)
        else:
            continue
        break
    for m in range(1, 2 ** M):
        vals.add(m / 2 ** M * 2.0 ** emin)  # subnormals
    v = np.array(sorted(vals))
    mids = (v[:-1] + v[1:]) / 2
    quarters = np.concatenate([v[:-1] * 0.75 + v[1:] * 0.25, v[:-1] * 0.25 + v[1:] * 0.75])
    extra = [max_norm * 1.01, max_norm * 1.5, max_norm * 4, 1e30, 2.0 ** emin / 2 ** (M + 2),
             2.0 ** emin / 2 ** (M + 1), 1e-30]
    return np.concatenate([v, mids, quarters, extra]).astype(F32)


def fp_cases(w, rng):
    for fi, (name, E, M, emax, max_norm) in enumerate(FORMATS):
        g = fp_grid(E, M, max_norm)
        w.put(f"{name}.grid", g)
        w.put(f"{name}.away", fp_q(g, E, M, max_norm, False))
        w.put(f"{name}.even", fp_q(g, E, M, max_norm, True))
        # scaled: x (4, 64); rows 0-1 hold ±max_norm·2^k so s is a power of two and ties stay
        x = (rng.normal(size=(4, 64)) * rng.uniform(0.01, 50, size=(4, 1))).astype(F32)
        x[:2] *= F32(max_norm / 1000)  # rows 0-1: the planted values set amax
        x[0, 7], x[1, 9] = max_norm * 0.25, -max_norm * 8
        x[0, :6] = g[rng.integers(0, len(g) // 2, 6)] * F32(0.25) * np.sign(rng.normal(size=6))
        x[2] = 0  # an all-zero row
        x[3, 33:] *= F32(1e-3)  # a quiet second half: MX blocks with different scales
        w.put(f"{name}.x", x)
        for gname, block in (("tensor", x.size), ("chan", 64), ("group8", 8)):
            v = x.reshape(-1, block)
            s = (np.abs(v).max(1) / F32(max_norm)).astype(F32)
            s = np.where(s >= np.finfo(F32).tiny, s, F32(1)).astype(F32)
            for even in (False, True):
                y = s[:, None] * fp_q((v / s[:, None]).astype(F32), E, M, max_norm, even)
                w.put(f"{name}.{gname}.{'even' if even else 'away'}", y)
        # MX: blocks of 32, scale 2^clamp(floor(log2 amax) − emax, −127, 127), amax 0 -> −126
        xm = x.copy()
        xm[3, :32] *= F32(1e-37)  # a block whose shared exponent clamps at −127 (e4m3, e5m2),
        am = np.abs(xm[3, :32]).max()  # with elements far below its max, so the clamped scale
        xm[3, 1:5] = am * (2.0 ** np.array([-13.3, -14.7, -21.5, -22.6])).astype(F32)  # shows
        v = xm.reshape(-1, 32)
        amax = np.abs(v).max(1).astype(np.float64)
        k = np.floor(np.log2(np.where(amax == 0, 2.0 ** -126, amax))) - emax
        sc = (2.0 ** np.clip(k, -127, 127)).astype(F32)
        w.put(f"{name}.mx.x", xm)
        for even in (False, True):
            y = sc[:, None] * fp_q((v / sc[:, None]).astype(F32), E, M, max_norm, even)
            w.put(f"{name}.mx.{'even' if even else 'away'}", y)


def main():
    rng = np.random.default_rng(20240605)
    w = Writer("quant_int.bin")
    fixed_cases(w, rng)
    spec_cases(w, rng)
    w.close()
    w = Writer("quant_lsq.bin")
    lsq_cases(w, rng)
    lsq_plus_cases(w, rng)
    lsq_init_cases(w, rng)
    w.close()
    w = Writer("quant_fp.bin")
    fp_cases(w, rng)
    w.close()
    for n in ("int", "lsq", "fp"):
        print(f"quant_{n}.bin", os.path.getsize(os.path.join(OUT, f"quant_{n}.bin")), "bytes")


if __name__ == "__main__":
    main()
