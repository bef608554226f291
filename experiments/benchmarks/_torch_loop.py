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
