"""The GPT of SPEC §1 in PyTorch, parameter for parameter the same as slt's layers/gpt.c
(names, shapes, QKV column order [q heads | k heads | v heads], rotate-halves RoPE).
Used by the parity fixture generator and by experiments/ baselines and tools."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Norm(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.kind, self.eps = cfg["norm"], cfg.get("norm_eps", 1e-5)
        self.weight = nn.Parameter(torch.ones(cfg["d_model"]))
        has_bias = self.kind == "layernorm" and cfg["bias"]
        self.bias = nn.Parameter(torch.zeros(cfg["d_model"])) if has_bias else None

    def forward(self, x):
        if self.kind == "rmsnorm":
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight
        return F.layer_norm(x, x.shape[-1:], self.weight, self.bias, self.eps)


def rope(x, base, pos0=0):
    """x (B, H, T, D): rotate halves, θ_i = pos · base^(−2i/D)."""
    T, D = x.shape[-2], x.shape[-1]
    inv_freq = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.float64) / D))
    ang = torch.arange(pos0, pos0 + T, dtype=torch.float64)[:, None] * inv_freq[None, :]
    cos, sin = ang.cos().float(), ang.sin().float()
    x1, x2 = x[..., : D // 2], x[..., D // 2:]
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class Attention(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        d, h, hkv = cfg["d_model"], cfg["heads"], cfg["kv_heads"]
        self.hd = d // h
        self.qkv = nn.Linear(d, (h + 2 * hkv) * self.hd, bias=cfg["bias"])
        self.proj = nn.Linear(d, d, bias=cfg["bias"])

    def forward(self, x):
        B, T, _ = x.shape
        h, hkv, hd = self.cfg["heads"], self.cfg["kv_heads"], self.hd
        q, k, v = self.qkv(x).split([h * hd, hkv * hd, hkv * hd], dim=-1)
        q = q.view(B, T, h, hd).transpose(1, 2)
        k = k.view(B, T, hkv, hd).transpose(1, 2)
        v = v.view(B, T, hkv, hd).transpose(1, 2)
        if self.cfg["pos"] == "rope":
            q, k = rope(q, self.cfg["rope_base"]), rope(k, self.cfg["rope_base"])
        k = k.repeat_interleave(h // hkv, dim=1)  # query head i reads kv head i // (h/hkv)
        v = v.repeat_interleave(h // hkv, dim=1)
        s = q @ k.transpose(-2, -1) / math.sqrt(hd)
        mask = torch.ones(T, T, dtype=torch.bool).tril()
        a = s.masked_fill(~mask, float("-inf")).softmax(-1) @ v
        return self.proj(a.transpose(1, 2).reshape(B, T, h * hd))


class FFN(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.act, f = cfg["act"], cfg["ffn_dim"]
        self.fc1 = nn.Linear(cfg["d_model"], 2 * f if self.act == "swiglu" else f, bias=cfg["bias"])
        self.fc2 = nn.Linear(f, cfg["d_model"], bias=cfg["bias"])

    def forward(self, x):
        h = self.fc1(x)
        if self.act == "swiglu":
            a, u = h.chunk(2, dim=-1)
            h = F.silu(a) * u
        elif self.act == "relu2":
            h = F.relu(h).square()
        else:
            h = F.gelu(h, approximate="tanh")
        return self.fc2(h)


class Block(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.ln1, self.attn, self.ln2, self.ffn = Norm(cfg), Attention(cfg), Norm(cfg), FFN(cfg)

    def forward(self, x):
        x = x + self.attn(self.ln1(x))
        return x + self.ffn(self.ln2(x))


class GPT(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.wte = nn.Embedding(cfg["vocab_size"], cfg["d_model"])
        self.wpe = nn.Embedding(cfg["seq_len"], cfg["d_model"]) if cfg["pos"] == "learned" else None
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg["layers"]))
        self.ln_f = Norm(cfg)
        self.lm_head = None
        if not cfg["tie_embeddings"]:
            self.lm_head = nn.Linear(cfg["d_model"], cfg["vocab_size"], bias=False)
        for name, p in self.named_parameters():  # SPEC §1 init
            if name.endswith("bias"):
                nn.init.zeros_(p)
            elif p.dim() == 2:
                nn.init.normal_(p, 0.0, cfg.get("init_std", 0.02))

    def forward(self, idx):
        T = idx.shape[1]
        x = self.wte(idx)
        if self.wpe is not None:
            x = x + self.wpe(torch.arange(T))
        for b in self.blocks:
            x = b(x)
        x = self.ln_f(x)
        return x @ (self.lm_head.weight if self.lm_head is not None else self.wte.weight).t()

    def loss(self, x, y):
        logits = self.forward(x)
        return F.cross_entropy(logits.view(-1, logits.shape[-1]), y.view(-1)), logits
