#!/usr/bin/python3
"""Load an slt checkpoint into the PyTorch reference GPT (tests/reference/gpt_model.py) with
h5py alone, and print its loss on token shards computed exactly as `slt eval` does it: every full
row of seq_len+1 tokens (row i = stream tokens [i*T, i*T + T + 1), the shards sorted by name and
concatenated), in order, B rows per forward, mean over all predicted tokens.

usage: /usr/bin/python3 experiments/tools/ckpt_to_torch.py CKPT SHARD_GLOB [--batch B] [--batches N]
(Debian's /usr/bin/python3 has h5py, torch and yaml.) Prints val_loss=<x> ppl=<y> like slt eval.
"""
import argparse
import glob
import math
import os
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import yaml

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../tests/reference"))
from gpt_model import GPT  # noqa: E402

SHARD_FORMATS = {20240520: (1, np.uint16), 20240801: (7, np.uint32)}  # magic: (version, dtype)


def model_config(cfg):
    """The reference model's dict from the run config stored in the checkpoint."""
    m = cfg["model"]
    out = {k: m[k] for k in ("vocab_size", "seq_len", "layers", "d_model", "heads", "norm",
                             "norm_eps", "pos", "rope_base", "act", "bias", "tie_embeddings",
                             "init_std")}
    out["kv_heads"] = m["kv_heads"] or m["heads"]  # 0 means "same as heads"
    out["ffn_dim"] = m["ffn_dim"] or 4 * m["d_model"]
    for k in ("norm_eps", "rope_base", "init_std"):  # PyYAML (YAML 1.1) reads 1e-05 as a string
        out[k] = float(out[k])
    return out


def load(path):
    with h5py.File(path, "r") as f:
        if f.attrs.get("format") != "slt-checkpoint" or f.attrs.get("complete") != 1:
            sys.exit(f"{path}: not a complete slt checkpoint")
        cfg = yaml.safe_load(f.attrs["config"])
        state = {name: torch.from_numpy(f["model"][name][()]) for name in f["model"]}
        step = int(f["state"].attrs["step"])
    model = GPT(model_config(cfg))
    model.load_state_dict(state, strict=True)  # every name and shape must match
    return model.eval(), cfg, step


def read_stream(pattern):
    files = sorted(glob.glob(pattern))
    if not files:
        sys.exit(f"{pattern}: no shard matches")
    parts = []
    for name in files:
        header = np.fromfile(name, dtype="<i4", count=256)
        version, dtype = SHARD_FORMATS.get(int(header[0]), (None, None))
        if version != header[1]:
            sys.exit(f"{name}: not an llm.c shard (magic {header[0]}, version {header[1]})")
        tokens = np.fromfile(name, dtype=np.dtype(dtype).newbyteorder("<"), offset=1024)
        if len(tokens) != header[2]:
            sys.exit(f"{name}: header says {header[2]} tokens, file holds {len(tokens)}")
        parts.append(tokens.astype(np.int64))
    return np.concatenate(parts)


def evaluate(model, stream, T, B, batches):
    rows = (len(stream) - 1) // T
    if batches:
        rows = min(rows, batches * B)
    total, count = 0.0, 0
    with torch.no_grad():
        for r0 in range(0, rows, B):
            n = min(B, rows - r0)
            idx = np.arange(r0, r0 + n)[:, None] * T + np.arange(T + 1)[None, :]
            batch = torch.from_numpy(stream[idx])
            logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
            total += float(loss) * n * T  # as slt: float32 batch mean, summed in double
            count += n * T
    return total / count, count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ckpt")
    ap.add_argument("shards")
    ap.add_argument("--batch", type=int, default=0, help="rows per forward (default: train.micro_batch)")
    ap.add_argument("--batches", type=int, default=0, help="only the first N batches")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    model, cfg, step = load(a.ckpt)
    T = cfg["model"]["seq_len"]
    loss, tokens = evaluate(model, read_stream(a.shards), T, a.batch or cfg["train"]["micro_batch"],
                            a.batches)
    print(f"val_loss={loss:.7f} ppl={math.exp(loss):.5f} rows={tokens // T} tokens={tokens} "
          f"(PyTorch, checkpoint step {step})")


if __name__ == "__main__":
    main()
