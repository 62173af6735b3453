#!/usr/bin/python3
"""PyTorch baseline for experiments/bench/train_step: the identical model (tests/reference/
gpt_model.py) and AdamW step, same thread count; bf16 runs forward and loss under
torch.autocast("cpu", dtype=torch.bfloat16), as a PyTorch user on a bf16 CPU would. Prints one
line of key=value figures.
usage: torch_baseline.py CONFIG(a|b) THREADS STEPS WARMUP [fp32|bf16]"""
import contextlib
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "reference"))
from gpt_model import GPT  # noqa: E402

CONFIGS = {
    "a": dict(layers=4, d_model=256, heads=4, seq_len=256, micro_batch=8, vocab_size=8192),
    "b": dict(layers=12, d_model=768, heads=12, seq_len=1024, micro_batch=4, vocab_size=32000),
}


def main():
    name, threads, steps, warmup = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    bf16 = len(sys.argv) > 5 and sys.argv[5] == "bf16"
    torch.set_num_threads(threads)
    c = CONFIGS[name]
    cfg = dict(c, kv_heads=c["heads"], ffn_dim=4 * c["d_model"], norm="layernorm", pos="rope",
               act="gelu_tanh", bias=True, tie_embeddings=True, rope_base=10000.0)
    torch.manual_seed(0)
    model = GPT(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.999), weight_decay=0.1)
    B, T = c["micro_batch"], c["seq_len"]
    rows = torch.randint(0, c["vocab_size"], (B, T + 1))
    x, y = rows[:, :-1].contiguous(), rows[:, 1:].contiguous()
    times = []
    for i in range(warmup + steps):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=False)
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext():
            loss, _ = model.loss(x, y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    times.sort()
    ms = 1000 * times[len(times) // 2]  # median
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch ms_per_step={ms:.2f} tok_per_s={B * T / (ms / 1000):.1f} peak_mb={rss_mb:.0f} "
          f"loss={loss.item():.4f} version={torch.__version__}")


if __name__ == "__main__":
    main()
