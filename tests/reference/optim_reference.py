#!/usr/bin/python3
"""Writes the optimizer fixtures tests/fixtures/optim_<case>.h5 (needs Debian's python3-torch and
python3-h5py). AdamP and SGDP are written here from SPEC.md §4 in float32 torch ops (nothing is
imported from their authors); plain SGD and AdamW are torch.optim's own.

Each case steps a small set of parameters 20 times. The gradient of each parameter at each step
is built from the parameter's current value so that a chosen projection branch fires:
  channel  orthogonal to every row (dim 0) of the weight: a weight followed by a normalisation
  layer    orthogonal to the whole weight, clearly not to each row
  none     a random gradient with a component along the weight
The gradients are saved, so the C test replays them and compares the parameters (at the steps
in check_steps), the final optimizer state, and the branch taken at every step. Every branch
decision is checked here to be far (a factor 2) from its threshold, so rounding cannot flip it.
Run from the repository root:  /usr/bin/python3 tests/reference/optim_reference.py"""
import math
import os

import h5py
import numpy as np
import torch

STEPS = 20
CHECK_STEPS = [1, 2, 5, 10, 20]
VIEW = {"none": 0, "channel": 1, "layer": 2}

# name, shape, init std, weight decay, lr multiplier, gradient kinds cycled over the steps
SMALL = [
    ("chan.weight", (8, 3, 5), 0.5, 0.1, 1.0, ["channel"]),
    ("layer.weight", (16, 12), 0.3, 0.05, 1.0, ["layer"]),
    ("rand.weight", (10, 20), 0.4, 0.1, 1.0, ["none"]),
    ("mixed.weight", (6, 7), 0.5, 0.2, 0.5, ["channel", "layer", "none"]),
    ("bias", (10,), 0.2, 0.0, 2.0, ["none"]),
]
# Rows longer than the C code's piece size (SLT_PROJ_CHUNK = 2048): sums over several pieces.
BIG = [("big.weight", (2, 2100), 0.1, 0.1, 1.0, ["layer", "channel", "none"])]

CASES = {
    "adamp": dict(kind="adamp", lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8, delta=0.1,
                  wd_ratio=0.1, nesterov=0, params=SMALL + BIG),
    "adamp_nesterov": dict(kind="adamp", lr=1e-2, beta1=0.85, beta2=0.99, eps=1e-8, delta=0.2,
                           wd_ratio=0.25, nesterov=1, params=SMALL),
    "sgdp": dict(kind="sgdp", lr=5e-2, momentum=0.9, dampening=0.1, eps=1e-8, delta=0.1,
                 wd_ratio=0.1, nesterov=0, params=SMALL + BIG),
    "sgdp_nesterov": dict(kind="sgdp", lr=5e-2, momentum=0.8, dampening=0.05, eps=1e-8,
                          delta=0.15, wd_ratio=0.2, nesterov=1, params=SMALL),
    "sgd": dict(kind="sgd", lr=5e-2, momentum=0.9, dampening=0.1, nesterov=0, params=SMALL),
    "sgd_nesterov": dict(kind="sgd", lr=5e-2, momentum=0.9, dampening=0.0, nesterov=1,
                         params=SMALL),
    "adamw": dict(kind="adamw", lr=1e-2, beta1=0.9, beta2=0.95, eps=1e-8, params=SMALL),
}


def schedule(base):
    """lr per step (warmup, then cosine to 10%) and weight-decay factor (off from step 13)."""
    lrs = [base * (t + 1) / 4 if t < 4 else
           base * (0.1 + 0.45 * (1 + math.cos(math.pi * (t - 4) / (STEPS - 4)))) for t in range(STEPS)]
    return np.float32(lrs), np.float32([1.0 if t < 13 else 0.0 for t in range(STEPS)])


# ---- SPEC §4: the projection, AdamP, SGDP ----

def project(p, g, d, delta, wd_ratio, eps, margins):
    """Channel view, then layer view; returns (d, wd_eff, view). margins gets cos_max/threshold
    of every view evaluated."""
    for view, rows in ((1, p.shape[0]), (2, 1)):
        P, G, D = p.reshape(rows, -1), g.reshape(rows, -1), d.reshape(rows, -1)
        cos = (G * P).sum(dim=1).abs() / (G.norm(dim=1).clamp_min(eps) * P.norm(dim=1).clamp_min(eps))
        thr = delta / math.sqrt(P.shape[1])
        margins.append(cos.max().item() / thr)
        if cos.max().item() < thr:
            ph = P / (P.norm(dim=1, keepdim=True) + eps)
            D = D - ph * (ph * D).sum(dim=1, keepdim=True)
            return D.reshape(d.shape), wd_ratio, view
    return d, 1.0, 0


def adamp_step(p, g, st, lr, wd, h, margins):
    st["step"] += 1
    t, b1, b2 = st["step"], h["beta1"], h["beta2"]
    m, v = st["m"], st["v"]
    m.mul_(b1).add_(g, alpha=1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    denom = (v.sqrt() / math.sqrt(1 - b2 ** t)).add_(h["eps"])
    step_size = lr / (1 - b1 ** t)
    perturb = (b1 * m + (1 - b1) * g) / denom if h["nesterov"] else m / denom
    wd_eff, view = 1.0, 0
    if p.dim() > 1:
        perturb, wd_eff, view = project(p, g, perturb, h["delta"], h["wd_ratio"], h["eps"], margins)
    if wd > 0:
        p.mul_(1 - lr * wd * wd_eff)
    p.add_(perturb, alpha=-step_size)
    return view


def sgdp_step(p, g, st, lr, wd, h, margins):
    mu = h["momentum"]
    buf = st["buf"]
    buf.mul_(mu).add_(g, alpha=1 - h["dampening"])
    d = g + mu * buf if h["nesterov"] else buf.clone()
    wd_eff, view = 1.0, 0
    if p.dim() > 1:
        d, wd_eff, view = project(p, g, d, h["delta"], h["wd_ratio"], h["eps"], margins)
    if wd > 0:
        p.mul_(1 - lr * wd * wd_eff / (1 - mu))
    p.add_(d, alpha=-lr)
    return view


# ---- gradients that make a chosen branch fire ----

def make_grad(p, kind, scale, gen):
    P = p.detach().double().reshape(p.shape[0], -1) if p.dim() > 1 else p.detach().double()[None]
    G = torch.randn(P.shape, generator=gen, dtype=torch.float64)
    if kind == "channel":
        G -= P * (G * P).sum(1, keepdim=True) / (P * P).sum(1, keepdim=True)
    elif kind == "layer":
        # Rows get alternating-sign components along themselves, then the whole is made
        # orthogonal to the whole weight: each row's cosine stays large.
        s = torch.tensor([1.0 if r % 2 == 0 else -1.0 for r in range(P.shape[0])], dtype=torch.float64)
        G += 0.5 * s[:, None] * P * (G.norm(dim=1) / P.norm(dim=1))[:, None]
        G -= P * (G * P).sum() / (P * P).sum()
    else:
        G += 0.5 * P * G.norm() / P.norm()
    return (scale * G).reshape(p.shape).float()


def run_case(name, h, path):
    torch.manual_seed(7)
    gen = torch.Generator().manual_seed(11)
    params = [(n, (std * torch.randn(shape)).float()) for n, shape, std, *_ in h["params"]]
    wds = [wd for _, _, _, wd, _, _ in h["params"]]
    mults = [mu for _, _, _, _, mu, _ in h["params"]]
    kinds = [k for *_, k in h["params"]]
    lrs, wd_scales = schedule(h["lr"])
    kind = h["kind"]
    init = {n: p.clone() for n, p in params}
    grads = {n: [] for n, _ in params}
    checks = {n: [] for n, _ in params}
    views = {n: [] for n, _ in params}
    margins = []
    if kind in ("adamp", "sgdp"):
        states = [dict(step=0, m=torch.zeros_like(p), v=torch.zeros_like(p), buf=torch.zeros_like(p))
                  for _, p in params]
    else:
        leaves = [p.clone().requires_grad_(True) for _, p in params]
        groups = [dict(params=[x]) for x in leaves]
        if kind == "sgd":
            opt = torch.optim.SGD(groups, lr=h["lr"], momentum=h["momentum"],
                                  dampening=h["dampening"], nesterov=bool(h["nesterov"]))
        else:
            opt = torch.optim.AdamW(groups, lr=h["lr"], betas=(h["beta1"], h["beta2"]), eps=h["eps"])
    for t in range(STEPS):
        scale = 0.05 * (1 + 0.5 * math.sin(t))
        for i, (n, p) in enumerate(params):
            cur = p if kind in ("adamp", "sgdp") else leaves[i].detach()
            g = make_grad(cur, kinds[i][t % len(kinds[i])], scale, gen)
            grads[n].append(g.numpy())
            lr, wd = float(lrs[t]) * mults[i], wds[i] * float(wd_scales[t])
            if kind == "adamp":
                views[n].append(adamp_step(p, g, states[i], lr, wd, h, margins))
            elif kind == "sgdp":
                views[n].append(sgdp_step(p, g, states[i], lr, wd, h, margins))
            else:
                leaves[i].grad = g.clone()
                opt.param_groups[i]["lr"], opt.param_groups[i]["weight_decay"] = lr, wd
                views[n].append(0)
        if kind not in ("adamp", "sgdp"):
            opt.step()
        if t + 1 in CHECK_STEPS:
            for i, (n, p) in enumerate(params):
                checks[n].append((p if kind in ("adamp", "sgdp") else leaves[i]).detach().numpy().copy())
    bad = [m for m in margins if 0.5 < m < 2]
    assert not bad, f"{name}: branch decisions too close to the threshold: {bad}"
    # Every intended branch actually fired.
    for i, (n, _) in enumerate(params):
        if kind in ("adamp", "sgdp") and len(h["params"][i][1]) > 1:
            want = [VIEW[kinds[i][t % len(kinds[i])]] for t in range(STEPS)]
            assert views[n] == want, f"{name}/{n}: views {views[n]} != {want}"

    with h5py.File(path, "w") as f:
        for k in ("kind", "lr", "beta1", "beta2", "eps", "delta", "wd_ratio", "nesterov",
                  "momentum", "dampening"):
            if k in h:
                f.attrs[k] = np.bytes_(h[k]) if isinstance(h[k], str) else np.float64(h[k])
        f.attrs["steps"] = np.int64(STEPS)
        f.attrs["param_names"] = np.bytes_(",".join(n for n, _ in params))
        f["lrs"], f["wd_scales"] = lrs, wd_scales
        f["wd"], f["lr_mult"] = np.float32(wds), np.float32(mults)
        f["check_steps"] = np.int32(CHECK_STEPS)
        for i, (n, p) in enumerate(params):
            f[f"init/{n}"] = init[n].numpy()
            f[f"grads/{n}"] = np.stack(grads[n])
            f[f"params/{n}"] = np.stack(checks[n])
            f[f"views/{n}"] = np.int8(views[n])
            if kind == "adamp":
                f[f"state/m/{n}"], f[f"state/v/{n}"] = states[i]["m"].numpy(), states[i]["v"].numpy()
            elif kind == "sgdp":
                f[f"state/buf/{n}"] = states[i]["buf"].numpy()
            elif kind == "sgd":
                f[f"state/buf/{n}"] = opt.state[leaves[i]]["momentum_buffer"].numpy()
            else:
                f[f"state/m/{n}"] = opt.state[leaves[i]]["exp_avg"].numpy()
                f[f"state/v/{n}"] = opt.state[leaves[i]]["exp_avg_sq"].numpy()
    fired = np.bincount(np.concatenate([np.int8(v) for v in views.values()]), minlength=3)
    print(f"{path}: views fired none/channel/layer = {fired.tolist()}, "
          f"closest margin {min(margins, key=lambda m: abs(math.log(max(m, 1e-30)))) if margins else 0:.3g}")


if __name__ == "__main__":
    torch.set_num_threads(1)
    out = os.path.join(os.path.dirname(__file__), "..", "fixtures")
    for name, h in CASES.items():
        run_case(name, h, os.path.join(out, f"optim_{name}.h5"))
