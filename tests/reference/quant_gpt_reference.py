#!/usr/bin/python3
"""Writes the quantized-GPT parity fixtures tests/fixtures/qgpt_<name>.h5 (Debian's
python3-torch and python3-h5py). The GPT of gpt_model.py with every block linear wrapped in
fake-quant modules written here from SPEC §5 with PyTorch's own ops:
  w4a8:      weights per output channel, 4-bit symmetric (torch.fake_quantize_per_channel_affine,
             scale amax/7), inputs per token, 8-bit (the same op over the rows of x, amax/127);
  bitlinear: BitNet b1.58 — ternary weights (γ = max(mean|W|, 1e-5)), absmax8 inputs
             (s = 127/max|x|), a parameterless RMSNorm (eps 1e-5) inside each linear and no
             block pre-norms; straight-through gradients.
For each: the weights, a batch, the logits, the loss, every gradient, the losses of 5 AdamW
steps and the weights after them. Run from the repository root:
  /usr/bin/python3 tests/reference/quant_gpt_reference.py"""
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
    "bitlinear": dict(BASE, norm="rmsnorm", pos="rope", act="swiglu", bias=False,
                      tie_embeddings=False),
}
ADAMW = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
B, STEPS = 3, 5


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


def ternary(w):
    g = w.detach().double().abs().mean().float().clamp(min=1e-5)
    return STE.apply(w, torch.clamp(torch.round(w.detach() / g), -1, 1) * g)


def absmax8(x):
    m = x.detach().abs().amax(dim=-1, keepdim=True).clamp(min=1e-5)
    s = 127.0 / m
    return STE.apply(x, torch.clamp(torch.round(x.detach() * s), -128, 127) / s)


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


def write_fixture(kind, cfg, path):
    torch.manual_seed(1234)
    model = GPT(cfg)
    quantize(model, kind)
    with torch.no_grad():  # larger than init-scale weights, as gpt_reference.py
        for _, p in model.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(99)
    rows = torch.randint(0, cfg["vocab_size"], (B, cfg["seq_len"] + 1), generator=g)
    x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
    with h5py.File(path, "w") as f:
        for k, v in list(cfg.items()) + [("adamw_" + k, v) for k, v in ADAMW.items()]:
            if isinstance(v, str):
                v = np.bytes_(v)
            elif isinstance(v, bool):
                v = np.int64(v)
            elif isinstance(v, tuple):
                v = np.array(v, dtype=np.float64)
            f.attrs[k] = v
        f.attrs["quant"] = np.bytes_(kind)
        for n, p in model.named_parameters():
            f[f"params/{n}"] = p.detach().numpy()
        f["batch/x"], f["batch/y"] = x.int().numpy(), y.int().numpy()
        loss, logits = model.loss(x, y)
        loss.backward()
        f["logits"] = logits.detach().numpy()
        f["loss"] = np.float32(loss.item())
        for n, p in model.named_parameters():
            f[f"grads/{n}"] = p.grad.numpy()
        opt = torch.optim.AdamW(model.parameters(), **ADAMW)
        losses = []
        for _ in range(STEPS):
            opt.zero_grad()
            loss, _ = model.loss(x, y)
            loss.backward()
            opt.step()
            losses.append(loss.item())
        losses.append(model.loss(x, y)[0].item())
        f["adamw_losses"] = np.array(losses, dtype=np.float64)
        for n, p in model.named_parameters():
            f[f"final/{n}"] = p.detach().numpy()
    print(f"{path}: loss {losses[0]:.6f} -> {losses[-1]:.6f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(__file__), "..", "fixtures")
    for kind, cfg in CONFIGS.items():
        write_fixture(kind, cfg, os.path.join(out, f"qgpt_{kind}.h5"))
