#!/usr/bin/python3
"""Writes the quantized-GPT parity fixtures tests/fixtures/qgpt_<name>.h5 (Debian's
python3-torch and python3-h5py). The GPT of gpt_model.py with every block linear wrapped in
fake-quant modules written here from SPEC §5 with PyTorch's own ops:
  w4a8:      weights per output channel, 4-bit symmetric (torch.fake_quantize_per_channel_affine,
             scale amax/7), inputs per token, 8-bit (the same op over the rows of x, amax/127);
             5 AdamW steps at a constant lr;
  bitlinear: BitNet b1.58 — ternary weights (γ = max(mean|W|, 1e-5)), absmax8 inputs
             (s = 127/max|x|), a parameterless RMSNorm (eps 1e-5) inside each linear and no
             block pre-norms; straight-through gradients; 5 AdamW steps on BitNet's two-stage
             schedule (SPEC §4-5, written out below), both stages inside the 5 steps.
For each: the weights, a batch, the logits, the loss, every gradient, the losses of the 5 steps
and the weights after them. Run from the repository root:
  /usr/bin/python3 tests/reference/quant_gpt_reference.py

Rounding margins (bitlinear). A ternary code or an absmax8 code is a step function: an input
within float noise of a rounding boundary (|W/γ| = ½, x·s = k + ½) rounds one way here and the
other way in slt, and the two trajectories part for good (a flipped code moves the value by a
whole γ or 1/s). So the fixture (seed, batch, shapes) is chosen so that, in every forward of the
run here, every |W/γ| is at least W_MARGIN from ½ and every x·s at least A_MARGIN from a
half-integer; the script prints the smallest distances per step and refuses to write a fixture
that breaks them (seeds before 420 all do: at 2·8 tokens a half-integer within 3e-4 is likely). AdamW eps is 1e-5 (TriLM's, SPEC §5): with 1e-8 a gradient near zero, whose
last bits depend on summation order, moves its weight by up to lr·δg/eps ≈ 1e-5 after one step."""
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(__file__))
from gpt_model import GPT  # noqa: E402

FLT_MIN = float(np.finfo(np.float32).tiny)
BASE = dict(vocab_size=96, seq_len=16, layers=2, d_model=32, heads=4, kv_heads=4, ffn_dim=64,
            norm_eps=1e-5, rope_base=10000.0, init_std=0.02, tie_embeddings=True)
CONFIGS = {
    "w4a8": dict(BASE, norm="layernorm", pos="rope", act="gelu_tanh", bias=True),
    # Small enough (2 x 8 tokens, d 16) that a seed with every code clear of the margins
    # below exists; grouped-query attention (2 heads, 1 kv head) on the way.
    "bitlinear": dict(BASE, vocab_size=64, seq_len=8, d_model=16, heads=2, kv_heads=1, ffn_dim=32,
                      norm="rmsnorm", pos="rope", act="swiglu", bias=False, tie_embeddings=False),
}
ADAMW = {"w4a8": dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1),
         "bitlinear": dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-5, weight_decay=0.1)}
# The bitnet schedule over T steps (only the first 5 run): warm-up steps, stage 2 from split·T
# at peak2 × the peak, weight decay off in stage 2.
SCHEDULE = dict(warmup=2, split=0.5, peak2=2.0 / 3.0, total=8)
SEEDS = {"w4a8": (1234, 99), "bitlinear": (420, 99)}  # (weights, batch): 420 is the first
BATCH = {"w4a8": 3, "bitlinear": 2}                     # weight seed clear of the margins
# Float32 against float64 here moves x·s by at most 5e-5 and W/γ by far less: the margins
# leave slt's own float32 rounding several times that room.
W_MARGIN, A_MARGIN = 5e-5, 3e-4
STEPS = 5


def fq_rows(x, bits):
    """Symmetric per-row fake quant of a 2-D x: s = amax/qmax (1 when below FLT_MIN)."""
    qmax = 2 ** (bits - 1) - 1
    s = x.detach().abs().amax(dim=1) / qmax
    s = torch.where(s >= FLT_MIN, s, torch.ones_like(s))
    z = torch.zeros(x.shape[0], dtype=torch.int32)
    return torch.fake_quantize_per_channel_affine(x, s, z, 0, -qmax - 1, qmax)


class STE(torch.autograd.Function):
    """Forward: the quantized value exactly; backward: the identity."""
    @staticmethod
    def forward(ctx, x, q):
        return q

    @staticmethod
    def backward(ctx, g):
        return g, None


class MarginError(Exception):
    """A code of the run sits within the margin of a rounding boundary."""


MARGINS = {"w": float("inf"), "a": float("inf")}  # smallest distances of the current forward


def ternary(w):
    g = w.detach().double().abs().mean().float().clamp(min=1e-5)
    r = w.detach() / g
    MARGINS["w"] = min(MARGINS["w"], (r.abs() - 0.5).abs().min().item())
    return STE.apply(w, torch.clamp(torch.round(r), -1, 1) * g)


def absmax8(x):
    m = x.detach().abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    s = 127.0 / m
    xs = x.detach() * s
    gap = (xs - torch.floor(xs) - 0.5).abs()
    MARGINS["a"] = min(MARGINS["a"], gap.min().item())
    return STE.apply(x, torch.clamp(torch.round(xs), -128, 127) / s)


class QLinear(nn.Linear):
    def __init__(self, lin, kind):
        super().__init__(lin.in_features, lin.out_features, bias=lin.bias is not None)
        self.kind = kind
        with torch.no_grad():
            self.weight.copy_(lin.weight)
            if lin.bias is not None:
                self.bias.copy_(lin.bias)

    def forward(self, x):
        if self.kind == "w4a8":
            shape = x.shape
            x = fq_rows(x.reshape(-1, shape[-1]), 8).reshape(shape)
            w = fq_rows(self.weight, 4)
        else:
            x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)
            x, w = absmax8(x), ternary(self.weight)
        return nn.functional.linear(x, w, self.bias)


def quantize(model, kind):
    for b in model.blocks:
        b.attn.qkv, b.attn.proj = QLinear(b.attn.qkv, kind), QLinear(b.attn.proj, kind)
        b.ffn.fc1, b.ffn.fc2 = QLinear(b.ffn.fc1, kind), QLinear(b.ffn.fc2, kind)
        if kind == "bitlinear":  # BitLinear normalises inside: no block pre-norms
            b.ln1, b.ln2 = nn.Identity(), nn.Identity()


def bitnet_point(t, peak):
    """(lr, weight-decay factor) at step t, from SPEC §4-5 (iFairy's form with BitNet's split and
    lower peak): linear warm-up with the first step at peak/warmup; stage 1 peak·(1 − (t − w)/T);
    from split·T on, stage 2 peak2·peak·(1 − t/T) down to 0 at T, weight decay off."""
    w, T, t2 = SCHEDULE["warmup"], SCHEDULE["total"], SCHEDULE["split"] * SCHEDULE["total"]
    if t < w:
        return peak * (t + 1) / w, 1.0
    if t < t2:
        return peak * (1 - (t - w) / T), 1.0
    return SCHEDULE["peak2"] * peak * (1 - t / T), 0.0


def write_attrs(f, kind, cfg):
    for k, v in list(cfg.items()) + [("adamw_" + k, v) for k, v in ADAMW[kind].items()]:
        if isinstance(v, str):
            v = np.bytes_(v)
        elif isinstance(v, bool):
            v = np.int64(v)
        elif isinstance(v, tuple):
            v = np.array(v, dtype=np.float64)
        f.attrs[k] = v
    f.attrs["quant"] = np.bytes_(kind)
    if kind == "bitlinear":
        for k, v in SCHEDULE.items():
            f.attrs["schedule_" + k] = v


def check_margins(kind, step):
    """Prints this forward's smallest distances to a rounding boundary; refuses small ones."""
    if kind != "bitlinear":
        return
    w, a = MARGINS["w"], MARGINS["a"]
    print(f"  step {step}: min ||W/γ| − ½| {w:.2e}, min |x·s − (k+½)| {a:.2e}")
    if w < W_MARGIN or a < A_MARGIN:
        raise MarginError(f"{kind}: a code within the margin of a rounding boundary at step "
                          f"{step}: choose another seed")
    MARGINS["w"] = MARGINS["a"] = float("inf")


def train(f, kind, model, x, y):
    opt = torch.optim.AdamW(model.parameters(), **ADAMW[kind])
    losses, lrs, wds = [], [], []
    for step in range(STEPS):
        lr, wd = ADAMW[kind]["lr"], 1.0
        if kind == "bitlinear":
            lr, wd = bitnet_point(step, lr)
        for grp in opt.param_groups:
            grp["lr"], grp["weight_decay"] = lr, wd * ADAMW[kind]["weight_decay"]
        opt.zero_grad()
        loss, _ = model.loss(x, y)
        check_margins(kind, step)
        loss.backward()
        opt.step()
        losses.append(loss.item())
        lrs.append(lr)
        wds.append(wd)
    losses.append(model.loss(x, y)[0].item())
    check_margins(kind, STEPS)
    f["adamw_losses"] = np.array(losses, dtype=np.float64)
    f["schedule_lr"], f["schedule_wd"] = np.array(lrs), np.array(wds)
    return losses


def write_fixture(kind, cfg, path):
    torch.manual_seed(SEEDS[kind][0])
    model = GPT(cfg)
    quantize(model, kind)
    with torch.no_grad():  # larger than init-scale weights, as gpt_reference.py
        for _, p in model.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(SEEDS[kind][1])
    rows = torch.randint(0, cfg["vocab_size"], (BATCH[kind], cfg["seq_len"] + 1), generator=g)
    x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
    with h5py.File(path + ".partial", "w") as f:  # renamed once the margins held
        write_attrs(f, kind, cfg)
        for n, p in model.named_parameters():
            f[f"params/{n}"] = p.detach().numpy()
        f["batch/x"], f["batch/y"] = x.int().numpy(), y.int().numpy()
        loss, logits = model.loss(x, y)
        loss.backward()
        f["logits"] = logits.detach().numpy()
        f["loss"] = np.float32(loss.item())
        for n, p in model.named_parameters():
            f[f"grads/{n}"] = p.grad.numpy()
        losses = train(f, kind, model, x, y)
        for n, p in model.named_parameters():
            f[f"final/{n}"] = p.detach().numpy()
    os.replace(path + ".partial", path)
    print(f"{path}: loss {losses[0]:.6f} -> {losses[-1]:.6f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(__file__), "..", "fixtures")
    try:
        for kind, cfg in CONFIGS.items():
            write_fixture(kind, cfg, os.path.join(out, f"qgpt_{kind}.h5"))
    except MarginError as e:
        sys.exit(str(e))
