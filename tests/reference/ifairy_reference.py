"""PyTorch reference of the complex iFairy transformer of SPEC §6, written from the SPEC with the
ops of lowbit_reference.py, and the fixture tests/fixtures/lowbit_ifairy.h5 that
tests/test_ifairy.c reads: a tiny model's parameters (named as layers/ifairy.h), token ids and
targets, and for each variant (full precision; PhaseQuant + 8-bit activations; Fairy2i's
two-stage PhaseQuant) the logits, the loss and the gradient of every parameter.

The model runs in float64 from float32 parameters; PhaseQuant runs on the float32 weights
(bit-exact), the activation quantizer on float64 activations (SPEC formula, round half to even).

Run: /usr/bin/python3 tests/reference/ifairy_reference.py   (torch, h5py)"""
import os
import sys

import h5py
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lowbit_reference as L  # noqa: E402

OUT = os.path.join(L.HERE, "..", "fixtures", "lowbit_ifairy.h5")
CFG = dict(vocab_size=37, seq_len=8, layers=2, hidden=8, heads=2, ffn_dim=12, norm_eps=1e-5,
           rope_base=10000.0)
VARIANTS = {"fp": (0, False), "pq": (1, True), "pq2": (2, False)}  # name: (weight stages, act)


class CLinear(torch.nn.Module):
    def __init__(self, out, inp):
        super().__init__()
        self.weight_re = torch.nn.Parameter(torch.randn(out, inp) * 0.3)
        self.weight_im = torch.nn.Parameter(torch.randn(out, inp) * 0.3)

    def forward(self, x, q):
        w_re, w_im = self.weight_re, self.weight_im
        if q["stages"]:
            w_re, w_im, _, _ = L.phasequant(w_re, w_im, q["stages"])
        return L.cplx_linear(x, w_re, w_im)


class CNorm(torch.nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.weight = torch.nn.Parameter(1 + 0.2 * torch.randn(2 * dim))

    def forward(self, x):
        return L.cplx_rmsnorm(x, self.weight.double(), CFG["norm_eps"])


def act_in(x, q):
    return L.absmax8(x, segments=2) if q["act"] else x


class Attn(torch.nn.Module):
    def __init__(self, h):
        super().__init__()
        self.q_proj, self.k_proj, self.v_proj = CLinear(h, h), CLinear(h, h), CLinear(h, h)
        self.sub_norm = CNorm(h)
        self.o_proj = CLinear(h, h)

    def forward(self, x, q, pos0=0):
        h = CFG["hidden"]
        x = act_in(x, q)
        a, b, c = self.q_proj(x, q), self.k_proj(x, q), self.v_proj(x, q)
        qkv = torch.cat([a[..., :h], b[..., :h], c[..., :h], a[..., h:], b[..., h:], c[..., h:]], -1)
        o = L.cplx_attention(qkv, CFG["heads"], h // CFG["heads"], pos0)
        return self.o_proj(act_in(self.sub_norm(o), q), q)


class Mlp(torch.nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.gate_proj, self.up_proj = CLinear(f, h), CLinear(f, h)
        self.sub_norm = CNorm(f)
        self.down_proj = CLinear(h, f)

    def forward(self, x, q):
        x = act_in(x, q)
        h = L.cplx_conj_mul(L.cplx_relu2(self.gate_proj(x, q)), self.up_proj(x, q))
        return self.down_proj(act_in(self.sub_norm(h), q), q)


class Block(torch.nn.Module):
    def __init__(self, h, f):
        super().__init__()
        self.attn_norm, self.attn = CNorm(h), Attn(h)
        self.mlp_norm, self.mlp = CNorm(h), Mlp(h, f)

    def forward(self, x, q):
        x = x + self.attn(self.attn_norm(x), q)
        return x + self.mlp(self.mlp_norm(x), q)


class IFairy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        h, v = CFG["hidden"], CFG["vocab_size"]
        self.embed = torch.nn.Embedding(v, 2 * h)  # [re table | im table]
        self.blocks = torch.nn.ModuleList(Block(h, CFG["ffn_dim"]) for _ in range(CFG["layers"]))
        self.norm = CNorm(h)
        self.lm_head = torch.nn.Linear(2 * h, v, bias=False)
        with torch.no_grad():
            self.lm_head.weight.mul_(3.0)

    def forward(self, ids, q):
        x = self.embed(ids).double()
        for b in self.blocks:
            x = b(x, q)
        return self.norm(x) @ self.lm_head.weight.double().T


def main():
    torch.manual_seed(611)
    model = IFairy()
    B, T = 2, 6
    ids = torch.randint(0, CFG["vocab_size"], (B, T))
    targets = torch.randint(0, CFG["vocab_size"], (B, T))
    with h5py.File(OUT, "w") as f:
        for k, v in CFG.items():
            f.attrs[k] = v
        f["x"], f["y"] = ids.to(torch.int32).numpy(), targets.to(torch.int32).numpy()
        for name, p in model.named_parameters():
            f[f"params/{name}"] = L.f32(p)
        for variant, (stages, act) in VARIANTS.items():
            model.zero_grad()
            logits = model(ids, dict(stages=stages, act=act))
            loss = torch.nn.functional.cross_entropy(logits.reshape(B * T, -1), targets.reshape(-1))
            loss.backward()
            g = f.create_group(variant)
            g.attrs["weight_stages"], g.attrs["act_quant"] = stages, int(act)
            g["logits"], g["loss"] = L.f32(logits), L.f32(loss.reshape(1))
            for name, p in model.named_parameters():
                g[f"grads/{name}"] = L.f32(p.grad)
            print(variant, "loss", loss.item())
    print("wrote", os.path.relpath(OUT))


if __name__ == "__main__":
    main()
