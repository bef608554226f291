"""The public pure-UFM solver, re-implemented: a PyTorch loop with H a free parameter, W and b learned,
N(0, 0.1²) initialisation, full-batch SGD (lr 0.1, momentum 0.9) in float32, the weight decay written into the
objective. It minimises exactly the `ufm` objective f (Zhou et al. 2022, arXiv 2210.02192, eq. 7), so gaps to theory's f* compare.

Needs the optional `bench` extra (torch); nothing else in the toolkit imports torch. The loop runs in a child
process (`python -m ufm.experiments.benchmarks._torch_loop`): torch and XLA in one process compete for threads, and a
JAX compile after torch was loaded crashed once in this project's test run.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import NamedTuple

import numpy as np


def available() -> bool:
    return importlib.util.find_spec("torch") is not None


class LoopResult(NamedTuple):
    reached: bool  # the relative gap reached `target` within the budget
    steps: int
    seconds: float  # wall time of the loop (including the per-step objective read that tests the gap)
    gap: float  # relative gap (f − f*)/|f*| at the last step, float32 objective
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    device: str


_FIELDS = ("K", "n", "d", "loss", "lam_w", "lam_h", "lam_b", "bias")


def run(problem, f_star: float, target: float = 1e-6, seconds: float = 60.0, max_steps: int = 10**7,
        seed: int = 0, lr: float = 0.1, momentum: float = 0.9) -> LoopResult:
    """SGD on f until (f − f*)/|f*| ≤ target, or the time or step budget runs out (in a child process)."""
    if not available():
        raise ImportError("the PyTorch loop needs torch: pip install -e '.[bench]'")
    if problem.loss not in ("mse", "ce") or problem.fixed_w:
        raise ValueError("the PyTorch loop covers the public setting: loss mse or ce, W learned")
    spec = {k: getattr(problem, k) for k in _FIELDS}
    args = {"problem": spec, "f_star": f_star, "target": target, "seconds": seconds, "max_steps": max_steps,
            "seed": seed, "lr": lr, "momentum": momentum}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.npz"
        proc = subprocess.run([sys.executable, "-m", __name__, json.dumps(args), str(out)], capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"PyTorch loop failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
        z = np.load(out)
        return LoopResult(bool(z["reached"]), int(z["steps"]), float(z["seconds"]), float(z["gap"]), z["W"], z["H"],
                          z["b"], str(z["device"]))


def run_deep(problem, init, f_star: float, target: float = 1e-6, seconds: float = 60.0, lr: float = 1e-2,
             max_steps: int = 10**7) -> LoopResult:
    """A plain PyTorch training loop on a deep UFM (`ufm.Problem(depth=L)`: W_1 … W_L, H, b free, σ between
    layers, the weight decay of every layer in the objective, float32, full batch, Adam with `lr`) from the same
    start point `init` = (W tuple, H, b) as the ufm solve it is compared with, until (f − f*)/|f*| ≤ target or
    the time budget runs out (in a child process). LoopResult.W is the last layer's W."""
    if not available():
        raise ImportError("the PyTorch loop needs torch: pip install -e '.[bench]'")
    W, H, b = init
    spec = {"K": problem.K, "n": problem.n, "loss": problem.loss, "lam_ws": list(problem.lam_ws),
            "lam_h": problem.lam_h, "lam_b": problem.lam_b, "bias": problem.bias, "activation": problem.activation,
            "f_star": f_star, "target": target, "seconds": seconds, "lr": lr, "max_steps": max_steps}
    with tempfile.TemporaryDirectory() as tmp:
        start, out = Path(tmp) / "start.npz", Path(tmp) / "out.npz"
        np.savez(start, H=H, b=b, **{f"W{i}": w for i, w in enumerate(W)})
        proc = subprocess.run([sys.executable, "-m", __name__, "--deep", json.dumps(spec), str(start), str(out)],
                              capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"PyTorch loop failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr else proc.returncode}")
        z = np.load(out)
        return LoopResult(bool(z["reached"]), int(z["steps"]), float(z["seconds"]), float(z["gap"]), z["W"], z["H"],
                          z["b"], str(z["device"]))


def _run_deep_here(a: dict, start: str):
    import torch

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    z = np.load(start)
    L = len(a["lam_ws"])
    Ws = [torch.tensor(z[f"W{i}"], dtype=torch.float32, device=dev).requires_grad_() for i in range(L)]
    H = torch.tensor(z["H"], dtype=torch.float32, device=dev).requires_grad_()
    b = torch.tensor(z["b"], dtype=torch.float32, device=dev).requires_grad_(a["bias"])
    K, n = a["K"], a["n"]
    N = H.shape[1]
    labels = torch.arange(K, device=dev).repeat_interleave(n)
    Y = torch.nn.functional.one_hot(labels, K).T.float()
    sigma = torch.relu if a["activation"] == "relu" else (lambda t: t)
    params = Ws + [H] + ([b] if a["bias"] else [])
    opt = torch.optim.Adam(params, lr=a["lr"])

    def objective():
        A = H
        for w in Ws[:-1]:
            A = sigma(w @ A)
        Z = Ws[-1] @ A + (b[:, None] if a["bias"] else 0.0)
        data = 0.5 * ((Z - Y) ** 2).sum() / N if a["loss"] == "mse" else torch.nn.functional.cross_entropy(Z.T, labels)
        reg = sum(0.5 * lam * (w * w).sum() for lam, w in zip(a["lam_ws"], Ws)) + 0.5 * a["lam_h"] * (H * H).sum()
        return data + reg + (0.5 * a["lam_b"] * (b * b).sum() if a["bias"] else 0.0)

    f_star, scale = a["f_star"], abs(a["f_star"])
    steps, reached, gap = 0, False, float("inf")
    t0 = time.perf_counter()
    while steps < a["max_steps"]:
        opt.zero_grad(set_to_none=True)
        f = objective()
        gap = (f.item() - f_star) / scale
        if gap <= a["target"]:
            reached = True
            break
        if not np.isfinite(gap) or time.perf_counter() - t0 > a["seconds"]:
            break
        f.backward()
        opt.step()
        steps += 1
    to_np = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    return LoopResult(reached, steps, time.perf_counter() - t0, gap, to_np(Ws[-1]), to_np(H), to_np(b), str(dev))


def step_gflops(K: int, n: int, d: int) -> float:
    """GFLOP/s (6KdN per step) of one CE forward + backward as the loop computes it (float32, child process)."""
    if not available():
        raise ImportError("needs torch: pip install -e '.[bench]'")
    proc = subprocess.run([sys.executable, "-m", __name__, "--step", str(K), str(n), str(d)], capture_output=True,
                          text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def _step_here(K: int, n: int, d: int) -> float:
    import torch

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    W = (0.1 * torch.randn(K, d, device=dev)).requires_grad_()
    H = (0.1 * torch.randn(d, K * n, device=dev)).requires_grad_()
    labels = torch.arange(K, device=dev).repeat_interleave(n)

    def step():
        W.grad = H.grad = None
        f = torch.nn.functional.cross_entropy((W @ H).T, labels) + 5e-4 * ((W * W).sum() + (H * H).sum())
        f.backward()
        if dev.type == "cuda":
            torch.cuda.synchronize()

    step()
    best = float("inf")
    for _ in range(7):
        t0 = time.perf_counter()
        step()
        best = min(best, time.perf_counter() - t0)
    return 6.0 * K * d * K * n / best / 1e9


def _run_here(problem, f_star, target, seconds, max_steps, seed, lr, momentum) -> LoopResult:
    import torch

    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    K, d, n, N = problem.K, problem.d, problem.n, problem.N
    gen = torch.Generator(device="cpu").manual_seed(seed)
    W = (0.1 * torch.randn(K, d, generator=gen)).to(dev).requires_grad_()
    H = (0.1 * torch.randn(d, N, generator=gen)).to(dev).requires_grad_()
    b = torch.zeros(K, device=dev, requires_grad=problem.bias)
    labels = torch.arange(K, device=dev).repeat_interleave(n)
    Y = torch.nn.functional.one_hot(labels, K).T.float()
    lw, lh, lb = problem.lam_w, problem.lam_h, problem.lam_b
    params = [W, H] + ([b] if problem.bias else [])
    opt = torch.optim.SGD(params, lr=lr, momentum=momentum)

    def objective():
        Z = W @ H + b[:, None]
        if problem.loss == "mse":
            data = 0.5 * ((Z - Y) ** 2).sum() / N
        else:
            data = torch.nn.functional.cross_entropy(Z.T, labels)
        reg = 0.5 * lw * (W * W).sum() + 0.5 * lh * (H * H).sum()
        return data + reg + (0.5 * lb * (b * b).sum() if problem.bias else 0.0)

    scale = abs(f_star)
    steps, reached, gap = 0, False, float("inf")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    while steps < max_steps:
        opt.zero_grad(set_to_none=True)
        f = objective()
        gap = (f.item() - f_star) / scale  # the gap of the current iterate; .item() synchronises
        if gap <= target:
            reached = True
            break
        if not np.isfinite(gap) or time.perf_counter() - t0 > seconds:
            break
        f.backward()
        opt.step()
        steps += 1
    seconds_used = time.perf_counter() - t0
    to_np = lambda t: t.detach().cpu().double().numpy()  # noqa: E731
    return LoopResult(reached, steps, seconds_used, gap, to_np(W), to_np(H), to_np(b), str(dev))


def _main(argv) -> int:
    if argv[0] == "--deep":
        r = _run_deep_here(json.loads(argv[1]), argv[2])
        np.savez(argv[3], reached=r.reached, steps=r.steps, seconds=r.seconds, gap=r.gap, W=r.W, H=r.H, b=r.b,
                 device=r.device)
        return 0
    if argv[0] == "--step":
        print(_step_here(*(int(v) for v in argv[1:4])))
        return 0
    a = json.loads(argv[0])
    p = types.SimpleNamespace(**a["problem"])
    p.N, p.fixed_w = p.K * p.n, None
    r = _run_here(p, a["f_star"], a["target"], a["seconds"], a["max_steps"], a["seed"], a["lr"], a["momentum"])
    np.savez(argv[1], reached=r.reached, steps=r.steps, seconds=r.seconds, gap=r.gap, W=r.W, H=r.H, b=r.b,
             device=r.device)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main(sys.argv[1:]))
