"""PyTorch reference of SPEC §2's structured linears (LowRank, BlockDense, BlockShuffle with
both permutations) and the fixtures tests/fixtures/structured_*.h5 that tests/test_structured.c
reads: weights, input, output, the gradient of every parameter and of the input for a fixed
upstream gradient, and the losses of 5 AdamW steps on a tiny regression loss mean((y - t)^2).

Run: /usr/bin/python3 tests/reference/structured_reference.py   (torch, h5py)"""
import os

import h5py
import torch

ADAMW = dict(lr=1e-2, betas=(0.9, 0.95), eps=1e-8, weight_decay=0.1)
HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "fixtures")


class LowRank(torch.nn.Module):
    """y = U(Vx) + b, V (R, N), U (M, R)."""

    def __init__(self, n, m, rank):
        super().__init__()
        self.v = torch.nn.Parameter(torch.randn(rank, n) * 0.3)
        self.u = torch.nn.Parameter(torch.randn(m, rank) * 0.3)
        self.bias = torch.nn.Parameter(torch.randn(m) * 0.3)

    def forward(self, x):
        return (x @ self.v.T) @ self.u.T + self.bias


class BlockDense(torch.nn.Module):
    """y = U·blockdiag(V_1..V_B)·x + b; blocks (B, R/B, N/B), U (M, R)."""

    def __init__(self, n, m, rank, nb):
        super().__init__()
        self.blocks = torch.nn.Parameter(torch.randn(nb, rank // nb, n // nb) * 0.3)
        self.u = torch.nn.Parameter(torch.randn(m, rank) * 0.3)
        self.bias = torch.nn.Parameter(torch.randn(m) * 0.3)

    def forward(self, x):
        nb, r, n = self.blocks.shape
        xb = x.reshape(-1, nb, n)                              # (rows, B, N/B)
        h = torch.einsum("kbn,brn->kbr", xb, self.blocks)      # (rows, B, R/B)
        return h.reshape(*x.shape[:-1], nb * r) @ self.u.T + self.bias


class BlockShuffle(torch.nn.Module):
    """Monarch-style, SPEC §2 steps 1-4 written from the definition (both permutations)."""

    def __init__(self, n, m, nb):
        super().__init__()
        inner = min(n, m)
        self.w1 = torch.nn.Parameter(torch.randn(nb, inner // nb, n // nb) * 0.3)  # (k, q, p)
        self.w2 = torch.nn.Parameter(torch.randn(nb, m // nb, inner // nb) * 0.3)  # (l, s, r)
        self.bias = torch.nn.Parameter(torch.randn(m) * 0.3)

    def forward(self, x):
        k, q, p = self.w1.shape
        l, s, r = self.w2.shape
        rows = x.reshape(-1, k, p)
        h = torch.einsum("zae,ace->zac", rows, self.w1)        # 1. h[a, c]
        f = h.reshape(-1, k * q)                               # f[a·q + c]
        g = f.reshape(-1, r, l)                                # 2. g[i, j] = f[i·l + j]
        z = torch.einsum("jti,zij->zjt", self.w2, g)           # 3. z[j, t] = Σ_i W2[j,t,i] g[i,j]
        y = z.transpose(1, 2).reshape(-1, s * l)               # 4. y[t·l + j] = z[j, t]
        return y.reshape(*x.shape[:-1], s * l) + self.bias


CASES = {
    "lowrank_up": (lambda: LowRank(12, 20, 4), dict(kind="lowrank", n=12, m=20, rank=4, nblocks=0)),
    "lowrank_down": (lambda: LowRank(20, 12, 5), dict(kind="lowrank", n=20, m=12, rank=5, nblocks=0)),
    "blockdense_up": (lambda: BlockDense(12, 20, 8, 2),
                      dict(kind="blockdense", n=12, m=20, rank=8, nblocks=2)),
    "blockdense_down": (lambda: BlockDense(24, 10, 12, 3),
                        dict(kind="blockdense", n=24, m=10, rank=12, nblocks=3)),
    "blockshuffle_up": (lambda: BlockShuffle(8, 24, 4),
                        dict(kind="blockshuffle", n=8, m=24, rank=0, nblocks=4)),
    "blockshuffle_down": (lambda: BlockShuffle(24, 12, 3),
                          dict(kind="blockshuffle", n=24, m=12, rank=0, nblocks=3)),
}


def write_fixture(name, make, meta):
    torch.manual_seed(1234)
    layer = make().double()
    # Draw in float32 so the stored inputs are exactly what the float64 reference used.
    x = torch.randn(2, 3, meta["n"]).double().requires_grad_(True)
    dy = torch.randn(2, 3, meta["m"]).double()
    target = torch.randn(2, 3, meta["m"])
    params = {k: v.detach().float().numpy() for k, v in layer.named_parameters()}
    y = layer(x)
    y.backward(dy)
    grads = {k: v.grad.float().numpy() for k, v in layer.named_parameters()}
    # AdamW in float32, like the C side, from the same weights.
    layer = layer.float()
    for p in layer.parameters():
        p.grad = None
    xf = x.detach().float()
    opt = torch.optim.AdamW(layer.parameters(), **ADAMW)
    losses = []
    for step in range(6):
        loss = ((layer(xf) - target.float()) ** 2).mean()
        losses.append(loss.item())
        if step < 5:
            opt.zero_grad()
            loss.backward()
            opt.step()
    with h5py.File(os.path.join(OUT, f"structured_{name}.h5"), "w") as f:
        for k, v in meta.items():
            f.attrs[k] = v
        for k, v in params.items():
            f[f"params/{k}"] = v
            f[f"grads/{k}"] = grads[k]
        f["x"] = x.detach().float().numpy()
        f["dy"] = dy.float().numpy()
        f["y"] = y.detach().float().numpy()
        f["grads/x"] = x.grad.float().numpy()
        f["target"] = target.float().numpy()
        f["adamw_losses"] = torch.tensor(losses, dtype=torch.float64).numpy()
        f.attrs["adamw_lr"] = ADAMW["lr"]
        f.attrs["adamw_betas"] = list(ADAMW["betas"])
        f.attrs["adamw_eps"] = ADAMW["eps"]
        f.attrs["adamw_weight_decay"] = ADAMW["weight_decay"]


def check_merge_semantics():
    """Self-check: BlockShuffle equals its explicit dense matrix (columns = images of e_i)."""
    torch.manual_seed(0)
    layer = BlockShuffle(8, 12, 2).double()
    eye = torch.eye(8, dtype=torch.float64)
    w = (layer(eye) - layer.bias).T                            # (M, N)
    x = torch.randn(5, 8, dtype=torch.float64)
    assert torch.allclose(layer(x), x @ w.T + layer.bias)


if __name__ == "__main__":
    check_merge_semantics()
    os.makedirs(OUT, exist_ok=True)
    for name, (make, meta) in CASES.items():
        write_fixture(name, make, meta)
        print("wrote", f"structured_{name}.h5")
