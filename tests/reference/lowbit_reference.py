"""PyTorch reference of the ternary ops (SPEC §5 "Ternary, BitNet b1.58", "TriLM") and the
complex {±1, ±i} ops (SPEC §6, iFairy / Fairy2i), written from the SPEC, and the fixture
tests/fixtures/lowbit_ops.h5 that tests/test_lowbit_ops.c reads.

Rounding ops run in float32 exactly as the SPEC writes them (torch.round is half-to-even, a
division by γ, a division by s); their statistics (mean|W|, the PhaseQuant means) are summed in
float64 and rounded once to float32. Phase sectors come from atan2 in float64 of the float32
weights, so no boundary is blurred by a rounded angle. Smooth ops (norm, linear, RoPE, attention,
MLP) are computed in float64 with torch complex tensors from float32 inputs and stored as float32.
Gradients are those of sum(out * dy) for a stored dy; the STE passes dy to the input unchanged.

Run: /usr/bin/python3 tests/reference/lowbit_reference.py   (torch, h5py)"""
import math
import os

import h5py
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures", "lowbit_ops.h5")
FLOOR = 1e-5


class _Ste(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, q):
        return q.clone()

    @staticmethod
    def backward(ctx, g):
        return g, None


def ste(x, q):
    """Value exactly q, gradient the identity to x (x + (q - x).detach() would round)."""
    return _Ste.apply(x, q.detach())


# ---- SPEC §5: ternary weights, 8-bit absmax activations ----

def ternary_gammas(w, shards):
    blocks = w.detach().reshape(shards, -1).double()
    return blocks.abs().mean(dim=1).float().clamp(min=FLOOR)


def ternary_codes(w, shards):
    g = ternary_gammas(w, shards)
    wb = w.detach().reshape(shards, -1)
    return (wb / g[:, None]).round().clamp(-1, 1).reshape(w.shape), g


def ternary_weight(w, shards):
    codes, g = ternary_codes(w, shards)
    q = (codes.reshape(shards, -1) * g[:, None]).reshape(w.shape)
    return ste(w, q)


def absmax8(x, segments=1):
    xs = x.detach().reshape(*x.shape[:-1], segments, x.shape[-1] // segments)
    # torch.tensor(127.0) / t, not 127 / t: PyTorch evaluates a Python number over a tensor as
    # t.reciprocal() * 127, which is an ulp off the SPEC's quotient for about a quarter of values
    s = torch.tensor(127.0) / xs.abs().amax(dim=-1, keepdim=True).clamp(min=FLOOR)
    q = ((xs * s).round().clamp(-128, 127) / s).reshape(x.shape)
    return ste(x, q)


# ---- SPEC §6: PhaseQuant ----

def phase_codes(w_re, w_im):
    """0: +1, 1: +i, 2: -1, 3: -i (w = s·i^k)."""
    phi = torch.atan2(w_im.double(), w_re.double())
    pi = math.pi
    code = torch.full(w_re.shape, 2, dtype=torch.int64)
    code[(phi >= -pi / 4) & (phi < pi / 4)] = 0
    code[(phi >= pi / 4) & (phi < 3 * pi / 4)] = 1
    code[(phi >= -3 * pi / 4) & (phi < -pi / 4)] = 3
    code[(w_re == 0) & (w_im == 0)] = 0
    return code


def masked_mean_floor(v, mask):
    if mask.sum() == 0:
        return torch.tensor(FLOOR, dtype=torch.float32)
    return v.double().abs()[mask].mean().float().clamp(min=FLOOR)


def pq_stage(w_re, w_im):
    code = phase_codes(w_re, w_im)
    s_re = masked_mean_floor(w_re, (code % 2) == 0)
    s_im = masked_mean_floor(w_im, (code % 2) == 1)
    zero = torch.zeros_like(w_re)
    q_re = torch.where(code == 0, s_re.expand_as(w_re), torch.where(code == 2, -s_re, zero))
    q_im = torch.where(code == 1, s_im.expand_as(w_im), torch.where(code == 3, -s_im, zero))
    return code, torch.stack([s_re, s_im]), q_re, q_im


def phasequant(w_re, w_im, stages):
    """Returns (q_re, q_im) with the STE, and the codes and scales of every stage."""
    c1, s1, q_re, q_im = pq_stage(w_re.detach(), w_im.detach())
    codes, scales = [c1], [s1]
    if stages == 2:
        c2, s2, r_re, r_im = pq_stage(w_re.detach() - q_re, w_im.detach() - q_im)
        q_re, q_im = q_re + r_re, q_im + r_im
        codes.append(c2)
        scales.append(s2)
    return ste(w_re, q_re), ste(w_im, q_im), torch.stack(codes), torch.cat(scales)


# ---- SPEC §6: complex building blocks; activations [re | im] along the last dim ----

def to_c(x):
    h = x.shape[-1] // 2
    return torch.complex(x[..., :h], x[..., h:])


def from_c(z):
    return torch.cat([z.real, z.imag], dim=-1)


def cplx_linear(x, w_re, w_im):
    """y = W·conj(x), W (out, in) complex."""
    w = torch.complex(w_re.double(), w_im.double())
    return from_c(torch.conj(to_c(x.double())) @ w.T)


def cplx_rmsnorm(x, gain, eps=1e-5):
    z = to_c(x)
    r = 1 / torch.sqrt((z.real ** 2 + z.imag ** 2).mean(dim=-1, keepdim=True) + eps)
    h = z.shape[-1]
    return torch.cat([gain[:h] * z.real * r, gain[h:] * z.imag * r], dim=-1)


def cplx_relu2(a):
    z = to_c(a)
    keep = ~((z.real < 0) & (z.imag < 0))
    return torch.cat([torch.where(keep, z.real, 0 * z.real) ** 2,
                      torch.where(keep, z.imag, 0 * z.imag) ** 2], dim=-1)


def cplx_conj_mul(a, u):
    return from_c(torch.conj(to_c(a)) * to_c(u))


def cplx_rope(z, pos0, base=10000.0):
    """z (B, H, T, D) complex times e^{iθ}, θ_d = pos·base^(-d/D), angles in float32 as PyTorch
    RoPE implementations make them."""
    d = z.shape[-1]
    inv = 1.0 / (base ** (torch.arange(d, dtype=torch.float32) / d))
    theta = (torch.arange(pos0, pos0 + z.shape[2], dtype=torch.float32)[:, None] * inv).double()
    return z * torch.polar(torch.ones_like(theta), theta)


def cplx_attention(qkv, heads, head_dim, pos0):
    """qkv (B, T, 6C) = [q_re | k_re | v_re | q_im | k_im | v_im] -> (B, T, 2C) = [re | im]."""
    b, t, _ = qkv.shape
    c = heads * head_dim
    z = to_c(qkv)
    q, k, v = (z[..., i * c:(i + 1) * c].reshape(b, t, heads, head_dim).transpose(1, 2)
               for i in range(3))
    q, k = cplx_rope(q, pos0), cplx_rope(k, pos0)
    s = (q @ k.conj().transpose(-1, -2)).real / math.sqrt(2 * head_dim)
    mask = torch.ones(t, t, dtype=torch.bool).tril()
    p = torch.softmax(s.masked_fill(~mask, float("-inf")), dim=-1)
    o = p.to(v.dtype) @ v
    return from_c(o.transpose(1, 2).reshape(b, t, c))


# ---- fixture ----

def grads(out, dy, *inputs):
    for t in inputs:
        t.grad = None
    (out * dy).sum().backward()
    return [t.grad for t in inputs]


def leaf(*shape, std=1.0):
    return (torch.randn(*shape) * std).requires_grad_(True)


def f32(t):
    return t.detach().float().numpy()


def pq_specials():
    """Weights on every sector boundary, the axes and signed zeros (re, im)."""
    a = 0.75
    pts = [(a, a), (a, -a), (-a, a), (-a, -a), (0.0, a), (0.0, -a), (a, 0.0), (-a, 0.0),
           (-a, -0.0), (0.0, 0.0), (-0.0, 0.0), (-0.0, -0.0), (0.0, -0.0), (-0.0, a), (-0.0, -a),
           (2.0, -2.0), (-1.5, 1.5), (1e-30, 1e-30), (-1e-30, -1e-30), (3.0, 3.0000002)]
    return torch.tensor([p[0] for p in pts]), torch.tensor([p[1] for p in pts])


def write_ternary(f):
    g = f.create_group("ternary")
    w = leaf(16, 24, std=0.05)
    w.data[4:8] *= 20  # shards of very different scale: one γ per shard matters
    dy = torch.randn(16, 24)
    g["w"], g["dy"] = f32(w), f32(dy)
    for shards in (1, 4):
        y = ternary_weight(w, shards)
        (dw,) = grads(y, dy, w)
        codes, gam = ternary_codes(w, shards)
        g[f"y{shards}"], g[f"dw{shards}"] = f32(y), f32(dw)
        g[f"gamma{shards}"] = f32(gam)
        g[f"codes{shards}"] = codes.to(torch.int8).numpy()
        g[f"counts{shards}"] = torch.tensor([(codes == v).sum() for v in (-1, 0, 1)]).numpy()
    # γ = 1 exactly and w/γ = ±0.5: half-to-even rounds to 0 (half away from zero would give ±1)
    g["w_ties"] = f32(torch.tensor([[2, 0.5, -0.5, 1, 1.5, -1.5, 0, -1]]))
    g["y_ties"] = f32(ternary_weight(torch.tensor(g["w_ties"][()]), 1))
    g["w_tiny"] = f32(torch.randn(4, 6) * 1e-7)
    g["y_tiny"] = f32(ternary_weight(torch.tensor(g["w_tiny"][()]), 1))


def write_act8(f):
    g = f.create_group("act8")
    x = leaf(2, 3, 40, std=2.0)
    x.data[0, 1] = 0
    x.data[0, 2] *= 1e-6  # max|x| < 1e-5: the floor sets the scale
    x.data[1, 2] *= 1e4
    x.data[1, 0, :6] = torch.tensor([127, 0.5, 1.5, 2.5, -0.5, -3.5])  # s = 1: ties to even
    x.data[1, 0, 6:] = x.data[1, 0, 6:].clamp(-100, 100)
    g["x"], g["y"] = f32(x), f32(absmax8(x))
    xc = leaf(2, 3, 48)
    xc.data[0, 0, 24:] *= 100  # re and im of very different scale
    xc.data[1, 1, :24] = 0
    g["xc"], g["yc"] = f32(xc), f32(absmax8(xc, segments=2))


def write_pq(f):
    g = f.create_group("pq")
    w_re, w_im = torch.randn(10, 16) * 0.05, torch.randn(10, 16) * 0.05
    s_re, s_im = pq_specials()
    w_re.view(-1)[:20], w_im.view(-1)[:20] = s_re, s_im
    g["w_re"], g["w_im"] = f32(w_re), f32(w_im)
    for stages in (1, 2):
        q_re, q_im, codes, scales = phasequant(w_re, w_im, stages)
        g[f"q{stages}_re"], g[f"q{stages}_im"] = f32(q_re), f32(q_im)
        g[f"codes{stages}"] = codes.to(torch.uint8).numpy()
        g[f"scales{stages}"] = f32(scales)
    # every weight on the real axis side: the ±i set is empty, s_im is the floor
    e_re = torch.randn(4, 8)
    e_im = 0.5 * e_re.abs() * (2 * torch.rand(4, 8) - 1)
    g["e_re"], g["e_im"] = f32(e_re), f32(e_im)
    g["e_scales"] = f32(phasequant(e_re, e_im, 1)[3])


def write_smooth(f):
    g = f.create_group("cnorm")
    x, gain = leaf(2, 3, 40).double(), (1 + 0.3 * torch.randn(40)).double().requires_grad_(True)
    x.retain_grad()
    dy = torch.randn(2, 3, 40).double()
    y = cplx_rmsnorm(x, gain)
    dx, dg = grads(y, dy, x, gain)
    g["x"], g["gain"], g["dy"], g["y"], g["dx"], g["dgain"] = map(f32, (x, gain, dy, y, dx, dg))

    g = f.create_group("mlp")
    a, u = leaf(2, 3, 32).double(), leaf(2, 3, 32).double()
    a.retain_grad(), u.retain_grad()
    dy = torch.randn(2, 3, 32).double()
    y = cplx_relu2(a)
    (da,) = grads(y, dy, a)
    g["a"], g["u"], g["dy"], g["relu2"], g["relu2_da"] = map(f32, (a, u, dy, y, da))
    h = cplx_conj_mul(a, u)
    da, du = grads(h, dy, a, u)
    g["h"], g["h_da"], g["h_du"] = map(f32, (h, da, du))

    g = f.create_group("attn")
    heads, hd, pos0 = 2, 4, 3
    qkv = leaf(2, 5, 6 * heads * hd).double()
    qkv.retain_grad()
    dy = torch.randn(2, 5, 2 * heads * hd).double()
    o = cplx_attention(qkv, heads, hd, pos0)
    (dqkv,) = grads(o, dy, qkv)
    g["qkv"], g["dy"], g["o"], g["dqkv"] = map(f32, (qkv, dy, o, dqkv))
    g.attrs["heads"], g.attrs["head_dim"], g.attrs["pos0"] = heads, hd, pos0


def write_linear(f):
    g = f.create_group("clinear")
    x = leaf(2, 3, 24)
    w_re, w_im = leaf(10, 12, std=0.3), leaf(10, 12, std=0.3)
    dy = torch.randn(2, 3, 20)
    g["x"], g["w_re"], g["w_im"], g["dy"] = map(f32, (x, w_re, w_im, dy))
    y = cplx_linear(x, w_re, w_im)
    dx, dr, di = grads(y, dy, x, w_re, w_im)
    g["y"], g["dx"], g["dw_re"], g["dw_im"] = map(f32, (y, dx, dr, di))
    # quantized: 8-bit complex activations and PhaseQuant weights (1 and 2 stages), STE
    for stages in (1, 2):
        q_re, q_im, _, _ = phasequant(w_re, w_im, stages)
        y = cplx_linear(absmax8(x, segments=2), q_re, q_im)
        dx, dr, di = grads(y, dy, x, w_re, w_im)
        g[f"yq{stages}"], g[f"dxq{stages}"] = f32(y), f32(dx)
        g[f"dw_req{stages}"], g[f"dw_imq{stages}"] = f32(dr), f32(di)


def self_checks():
    """The block weight of DESIGN.md equals W·conj(x); PhaseQuant of exact points."""
    torch.manual_seed(1)
    x, w_re, w_im = torch.randn(3, 8), torch.randn(5, 4), torch.randn(5, 4)
    block = torch.cat([torch.cat([w_re, w_im], 1), torch.cat([w_im, -w_re], 1)], 0)
    assert torch.allclose(x @ block.T, cplx_linear(x, w_re, w_im).float(), atol=1e-5)
    s_re, s_im = pq_specials()
    expect = [1, 0, 2, 3, 1, 3, 0, 2, 2, 0, 0, 0, 0, 1, 3, 0, 2, 1, 3, 1]
    assert phase_codes(s_re, s_im).tolist() == expect, phase_codes(s_re, s_im).tolist()


if __name__ == "__main__":
    self_checks()
    torch.manual_seed(20240611)
    with h5py.File(OUT, "w") as f:
        write_ternary(f)
        write_act8(f)
        write_pq(f)
        write_smooth(f)
        write_linear(f)
    print("wrote", os.path.relpath(OUT))
