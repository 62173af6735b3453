#!/usr/bin/python3
"""Writes the GPT parity fixtures tests/fixtures/gpt_<name>.h5 (needs Debian's python3-torch
and python3-h5py: scripts/install-deps.sh --torch). For each tiny config: the weights, a batch,
the logits, the loss, every parameter gradient, and the losses of 5 AdamW steps.
Run from the repository root:  /usr/bin/python3 tests/reference/gpt_reference.py"""
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from gpt_model import GPT  # noqa: E402

BASE = dict(vocab_size=96, seq_len=16, layers=2, d_model=32, heads=4, kv_heads=4, ffn_dim=64,
            norm_eps=1e-5, rope_base=10000.0, init_std=0.02, tie_embeddings=True)
CONFIGS = {
    "ln_rope_gelu": dict(BASE, norm="layernorm", pos="rope", act="gelu_tanh", bias=True),
    "rms_swiglu_gqa": dict(BASE, norm="rmsnorm", pos="rope", act="swiglu", bias=False,
                           kv_heads=2, tie_embeddings=False),
    "ln_learned_relu2": dict(BASE, norm="layernorm", pos="learned", act="relu2", bias=True),
}
ADAMW = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
B, STEPS = 3, 5


def write_fixture(name, cfg, path):
    torch.manual_seed(1234)
    model = GPT(cfg)
    # Larger than init-scale weights so every path (norm gains, biases) carries signal.
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.add_(0.05 * torch.randn_like(p))
    g = torch.Generator().manual_seed(99)
    rows = torch.randint(0, cfg["vocab_size"], (B, cfg["seq_len"] + 1), generator=g)
    x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
    with h5py.File(path, "w") as f:
        # Plain HDF5 types the C test reads directly: int64, float64, fixed-length strings.
        for k, v in list(cfg.items()) + [("adamw_" + k, v) for k, v in ADAMW.items()]:
            if isinstance(v, str):
                v = np.bytes_(v)
            elif isinstance(v, bool):
                v = np.int64(v)
            elif isinstance(v, tuple):
                v = np.array(v, dtype=np.float64)
            f.attrs[k] = v
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
        losses.append(model.loss(x, y)[0].item())  # after the last step
        f["adamw_losses"] = np.array(losses, dtype=np.float64)
    print(f"{path}: loss {losses[0]:.6f} -> {losses[-1]:.6f}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(__file__), "..", "fixtures")
    for name, cfg in CONFIGS.items():
        write_fixture(name, cfg, os.path.join(out, f"gpt_{name}.h5"))
