#!/usr/bin/python3
"""Writes the trainer-step fixtures (needs Debian's python3-torch and python3-h5py):

tests/fixtures/trainer_step.h5: 6 optimizer steps of a tiny GPT as PyTorch trains it, with
  gradient accumulation 2 (each micro-batch's loss divided by 2 before backward), global-norm
  clipping that clips (torch.nn.utils.clip_grad_norm_; every step's pre-clip norm is asserted
  to exceed the threshold by a margin), torch.optim.AdamW with three parameter groups (matrices
  with decay; the token embedding with decay and lr x 0.5; vectors without decay and lr x 2)
  and linear warm-up then cosine to 10% (llm.c's formula, written out here). The C test runs
  slt's trainer (slt_trainer_step) on the same token stream (written by it into a shard and read
  unshuffled: row i = tokens[i*T : i*T + T + 1]) from the same initial weights, and compares the
  losses, pre-clip gradient norms, final parameters and AdamW moments.
  Attributes: overrides (the slt config, one key=value per line), grad_accum, micro_batch,
  seq_len, steps, clip. Datasets: tokens (int32), params/<name> (initial), final/<name>,
  exp_avg/<name>, exp_avg_sq/<name>, losses, grad_norms, lrs (float64, one per step).

tests/fixtures/clip_grad_norm.h5: cases of torch.nn.utils.clip_grad_norm_ over several gradient
  tensors (one above slt's parallel threshold): /<case>/grad_<i> before, /<case>/clipped_<i>
  after, attributes max_norm, total_norm (what torch returns), n.

Run from the repository root:  /usr/bin/python3 tests/reference/trainer_reference.py"""
import math
import os
import sys

import h5py
import numpy as np
import torch

sys.path.insert(0, os.path.dirname(__file__))
from gpt_model import GPT  # noqa: E402

CFG = dict(vocab_size=96, seq_len=16, layers=2, d_model=32, heads=4, kv_heads=4, ffn_dim=64,
           norm_eps=1e-5, rope_base=10000.0, init_std=0.02, tie_embeddings=True,
           norm="layernorm", pos="rope", act="gelu_tanh", bias=True)
STEPS, ACCUM, B = 6, 2, 3
LR, BETAS, EPS, WD = 1e-3, (0.9, 0.95), 1e-8, 0.1
CLIP = 0.3
WARMUP, MIN_LR_RATIO = 2, 0.1
ROWS = 40  # rows in the token stream: 36 are read (6 steps x 2 micro-batches x 3 rows)
# The same groups in slt's terms: optim.no_decay_1d exempts vectors, then the rules in order.
GROUP_RULES = "ndim<=1 lr_mult=2; wte.* lr_mult=0.5"


def lr_at(step):
    """llm.c: linear warm-up with the first step at LR/WARMUP, then cosine to MIN_LR_RATIO*LR."""
    if step < WARMUP:
        return LR * (step + 1) / WARMUP
    ratio = (step - WARMUP) / (STEPS - WARMUP)
    lo = MIN_LR_RATIO * LR
    return lo + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (LR - lo)


def overrides():
    c = CFG
    kv = {
        "seed": 1, "model.vocab_size": c["vocab_size"], "model.seq_len": c["seq_len"],
        "model.layers": c["layers"], "model.d_model": c["d_model"], "model.heads": c["heads"],
        "model.kv_heads": c["kv_heads"], "model.ffn_dim": c["ffn_dim"],
        "model.norm_eps": c["norm_eps"], "model.rope_base": c["rope_base"],
        "model.init_std": c["init_std"], "model.tie_embeddings": "true", "model.norm": c["norm"],
        "model.pos": c["pos"], "model.act": c["act"], "model.bias": "true",
        "data.source": "shards", "data.shuffle": "false", "data.val": "",
        "optim.name": "adamw", "optim.lr": LR, "optim.betas": f"[{BETAS[0]},{BETAS[1]}]",
        "optim.eps": EPS, "optim.weight_decay": WD, "optim.clip": CLIP,
        "optim.no_decay_1d": "true", "optim.no_decay_embeddings": "false",
        "optim.groups": GROUP_RULES,
        "schedule.name": "cosine", "schedule.warmup": WARMUP, "schedule.min_lr_ratio": MIN_LR_RATIO,
        "train.steps": STEPS, "train.micro_batch": B, "train.grad_accum": ACCUM,
        "train.eval_every": 0, "train.ckpt_every": 0, "train.threads": 1,
    }
    return "\n".join(f"{k}={v}" for k, v in kv.items())


def groups(model):
    """decay: matrices but wte; wte: decay, lr x 0.5; vectors: no decay, lr x 2."""
    mats = [p for n, p in model.named_parameters() if p.dim() >= 2 and not n.startswith("wte.")]
    vecs = [p for n, p in model.named_parameters() if p.dim() <= 1]
    assert len(mats) + len(vecs) + 1 == len(list(model.parameters()))
    return [dict(params=mats, weight_decay=WD, lr_mult=1.0),
            dict(params=[model.wte.weight], weight_decay=WD, lr_mult=0.5),
            dict(params=vecs, weight_decay=0.0, lr_mult=2.0)]


def write_trainer(path):
    torch.manual_seed(4321)
    model = GPT(CFG)
    with torch.no_grad():  # larger than init-scale weights, as gpt_reference.py does
        for p in model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    T = CFG["seq_len"]
    g = torch.Generator().manual_seed(77)
    tokens = torch.randint(0, CFG["vocab_size"], (ROWS * T + 1,), generator=g)
    rows = torch.stack([tokens[i * T: i * T + T + 1] for i in range(ROWS)])
    init = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW(groups(model), lr=LR, betas=BETAS, eps=EPS, foreach=False)
    losses, norms, lrs = [], [], []
    for step in range(STEPS):
        for grp in opt.param_groups:
            grp["lr"] = lr_at(step) * grp["lr_mult"]
        opt.zero_grad()
        total = 0.0
        for micro in range(ACCUM):
            r0 = (step * ACCUM + micro) * B  # the loader's global row of (step, micro, b = 0)
            batch = rows[r0: r0 + B]
            loss, _ = model.loss(batch[:, :-1].contiguous(), batch[:, 1:].contiguous())
            (loss / ACCUM).backward()
            total += loss.item()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP).item()
        assert norm > 1.5 * CLIP, f"step {step}: grad norm {norm} does not clip at {CLIP}"
        opt.step()
        losses.append(total / ACCUM)
        norms.append(norm)
        lrs.append(lr_at(step))
    with h5py.File(path, "w") as f:
        f.attrs["overrides"] = np.bytes_(overrides())
        for k, v in dict(grad_accum=ACCUM, micro_batch=B, seq_len=T, steps=STEPS).items():
            f.attrs[k] = np.int64(v)
        f.attrs["clip"] = np.float64(CLIP)
        f["tokens"] = tokens.int().numpy()
        for n, p in model.named_parameters():
            st = opt.state[p]
            f[f"params/{n}"] = init[n].numpy()
            f[f"final/{n}"] = p.detach().numpy()
            f[f"exp_avg/{n}"] = st["exp_avg"].numpy()
            f[f"exp_avg_sq/{n}"] = st["exp_avg_sq"].numpy()
        f["losses"] = np.array(losses, dtype=np.float64)
        f["grad_norms"] = np.array(norms, dtype=np.float64)
        f["lrs"] = np.array(lrs, dtype=np.float64)
    print(f"{path}: losses {' '.join(f'{x:.5f}' for x in losses)}; pre-clip norms "
          f"{' '.join(f'{x:.3f}' for x in norms)} (clip {CLIP})")


# Shapes of the gradients per case; 20000 elements is above slt's parallel threshold (16384).
SHAPES = [(64, 32), (32,), (20000,), (17, 3), (1,)]
CLIP_CASES = {"clips": 1.0, "no_clip": None, "tiny_max": 1e-3}


def write_clip(path):
    g = torch.Generator().manual_seed(5)
    with h5py.File(path, "w") as f:
        for case, max_norm in CLIP_CASES.items():
            grads = [torch.randn(s, generator=g) * (0.1 + i) for i, s in enumerate(SHAPES)]
            params = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
            for p, gr in zip(params, grads):
                p.grad = gr.clone()
            if max_norm is None:  # just above the norm: nothing is scaled
                max_norm = 1.01 * torch.norm(torch.stack([x.norm() for x in grads])).item()
            total = torch.nn.utils.clip_grad_norm_(params, max_norm).item()
            scaled = max_norm < total
            assert scaled == (case != "no_clip")
            grp = f.create_group(case)
            grp.attrs["max_norm"] = np.float64(max_norm)
            grp.attrs["total_norm"] = np.float64(total)
            grp.attrs["n"] = np.int64(len(SHAPES))
            for i, (gr, p) in enumerate(zip(grads, params)):
                grp[f"grad_{i}"] = gr.numpy()
                grp[f"clipped_{i}"] = p.grad.numpy()
            print(f"{path}/{case}: total norm {total:.6f}, max_norm {max_norm:g}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(__file__), "..", "fixtures")
    write_trainer(os.path.join(out, "trainer_step.h5"))
    write_clip(os.path.join(out, "clip_grad_norm.h5"))
