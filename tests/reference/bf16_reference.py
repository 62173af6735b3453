#!/usr/bin/python3
"""Writes tests/fixtures/gpt_bf16.h5: 5 AdamW steps of a tiny GPT (tests/reference/gpt_model.py)
with forward and loss under torch.autocast("cpu", dtype=torch.bfloat16), the mode SPEC §10
follows, and the same 5 steps in fp32. The C test (tests/test_gemm.c) runs slt's bf16 steps from
the same weights and batch and compares the losses: to the autocast ones within the bf16
tolerance, and farther from them than slt's own fp32 steps are from the fp32 ones.
Run from the repository root:  /usr/bin/python3 tests/reference/bf16_reference.py"""
import contextlib
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from gpt_model import GPT  # noqa: E402

# d_model 64, ffn 256: long enough sums that bf16 rounding shows in the loss.
CFG = dict(vocab_size=96, seq_len=32, layers=2, d_model=64, heads=4, kv_heads=4, ffn_dim=256,
           norm_eps=1e-5, rope_base=10000.0, init_std=0.02, tie_embeddings=True,
           norm="layernorm", pos="rope", act="gelu_tanh", bias=True)
ADAMW = dict(lr=3e-3, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
B, STEPS = 4, 5


def losses_of(model, x, y, bf16):
    opt = torch.optim.AdamW(model.parameters(), **ADAMW)
    out = []
    for i in range(STEPS + 1):
        opt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss, _ = model.loss(x, y)
        out.append(loss.item())
        if i < STEPS:
            loss.backward()
            opt.step()
    return out


def main():
    torch.set_num_threads(1)
    torch.manual_seed(4321)
    model = GPT(CFG)
    with torch.no_grad():  # beyond init scale, so every product carries signal
        for _, p in model.named_parameters():
            p.add_(0.1 * torch.randn_like(p))
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = torch.Generator().manual_seed(77)
    rows = torch.randint(0, CFG["vocab_size"], (B, CFG["seq_len"] + 1), generator=g)
    x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
    fp32 = losses_of(model, x, y, False)
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(init[n])
    bf16 = losses_of(model, x, y, True)
    path = os.path.join(os.path.dirname(__file__), "..", "fixtures", "gpt_bf16.h5")
    with h5py.File(path, "w") as f:
        for k, v in list(CFG.items()) + [("adamw_" + k, v) for k, v in ADAMW.items()]:
            if isinstance(v, str):
                v = np.bytes_(v)
            elif isinstance(v, bool):
                v = np.int64(v)
            elif isinstance(v, tuple):
                v = np.array(v, dtype=np.float64)
            f.attrs[k] = v
        for n, p in init.items():
            f[f"params/{n}"] = p.numpy()
        f["batch/x"], f["batch/y"] = x.int().numpy(), y.int().numpy()
        f["fp32_losses"] = np.array(fp32, dtype=np.float64)
        f["bf16_losses"] = np.array(bf16, dtype=np.float64)
    print(f"{path}\n  fp32 {' '.join(f'{v:.6f}' for v in fp32)}\n  bf16 {' '.join(f'{v:.6f}' for v in bf16)}")
    print("  max |bf16 - fp32| / fp32:", max(abs(a - b) / b for a, b in zip(bf16, fp32)))


if __name__ == "__main__":
    main()
