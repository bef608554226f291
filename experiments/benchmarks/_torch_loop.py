"""The public pure-UFM solver, re-implemented: a PyTorch loop with H a free parameter, W and b learned,
N(0, 0.1²) initialisation, full-batch SGD (lr 0.1, momentum 0.9) in float32, the weight decay written into the
objective. It minimises exactly the `ufm` objective f (seed 003 eq. 7), so gaps to theory's f* compare.

Needs the optional `bench` extra (torch); nothing else in the toolkit imports torch.
"""

from __future__ import annotations

import time
from typing import NamedTuple

import numpy as np


def available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


class LoopResult(NamedTuple):
    reached: bool  # the relative gap reached `target` within the budget
    steps: int
    seconds: float  # wall time of the loop (including the per-step objective read that tests the gap)
    gap: float  # relative gap (f − f*)/|f*| at the last step, float32 objective
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    device: str


def run(problem, f_star: float, target: float = 1e-6, seconds: float = 60.0, max_steps: int = 10**7,
        seed: int = 0, lr: float = 0.1, momentum: float = 0.9) -> LoopResult:
    """SGD on f until (f − f*)/|f*| ≤ target, or the time or step budget runs out."""
    import torch

    if problem.loss not in ("mse", "ce") or problem.fixed_w:
        raise ValueError("the PyTorch loop covers the public setting: loss mse or ce, W learned")
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
