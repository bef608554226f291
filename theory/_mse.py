"""Global minimizers of the MSE(α=1, M) UFM: the case formulas of Zhou et al. 2022, arXiv 2203.01238, Thm 3.1 and the SVD value route.

Notation (Zhou et al. 2022, arXiv 2203.01238, Thm B.1): λ̃ = Nλ_Z, x = sqrt(KNλ_Wλ_H) = λ̃/√n. MSE(1, M) is M² times vanilla MSE with
λ_W/M, λ_H/M, λ_b (substitute W = √M W', H = √M H', b = M b'), so every formula below is applied at M = 1
to the rescaled λ's and mapped back.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ufm import Problem, float64


class MSECase(NamedTuple):
    """Closed form of Zhou et al. 2022, arXiv 2203.01238, Thm B.1 (appendix version) for vanilla/rescaled MSE."""

    case: str
    objective: float
    b: float  # b* (all entries equal)
    x: float  # sqrt(KN λ_W λ_H) at the M = 1 scale
    gram_c: float | None  # H̄ᵀH̄ ∝ I − c 11ᵀ where unique (c = 1/K is Π); None for the zero solution/d < K−1


def _check(problem: Problem) -> None:
    if problem.loss != "mse" or problem.alpha != 1.0:
        raise ValueError(f"MSE closed forms need loss='mse' and alpha=1; got loss={problem.loss!r}, alpha={problem.alpha}")
    if problem.fixed_w:
        raise ValueError("MSE closed forms assume a learned W (fixed_w=None)")


def _unit(problem: Problem):
    """(K, n, d, λ_W', λ_H', λ_b, scale): the M = 1 problem whose minimum times M² is this one's."""
    M = problem.M
    return problem.K, problem.n, problem.d, problem.lam_w / M, problem.lam_h / M, problem.lam_b, M


def _value(b, K, n, d, lw, lh, lb):
    """f at the best (W, H) for a fixed bias b·1 (Zhou et al. 2022, arXiv 2203.01238, Lemma B.2 with the 1/N of eq. 9)."""
    N = n * K
    s = np.sort(np.array([math.sqrt(n)] * (K - 1) + [math.sqrt(n) * abs(1 - K * b)]))[::-1]
    lt = N * math.sqrt(lw * lh)
    r = min(d, K)
    eta = np.maximum(s[:r] - lt, 0.0)
    data = 0.5 * np.sum((s[:r] - eta) ** 2) + lt * np.sum(eta) + 0.5 * np.sum(s[r:] ** 2)
    return data / N + 0.5 * lb * K * b * b


def _value_grid(bs, K, n, d, lw, lh, lb):
    """`_value` for a vector of b (the same formula, vectorised for the grid search)."""
    N = n * K
    special = math.sqrt(n) * np.abs(1 - K * bs)
    s = np.sort(np.concatenate([np.full((bs.size, K - 1), math.sqrt(n)), special[:, None]], axis=1), axis=1)[:, ::-1]
    lt = N * math.sqrt(lw * lh)
    r = min(d, K)
    eta = np.maximum(s[:, :r] - lt, 0.0)
    data = 0.5 * np.sum((s[:, :r] - eta) ** 2, 1) + lt * np.sum(eta, 1) + 0.5 * np.sum(s[:, r:] ** 2, 1)
    return data / N + 0.5 * lb * K * bs * bs


@float64()
def value_route(problem: Problem) -> tuple[float, float]:
    """(f*, b*) with no case analysis (Zhou et al. 2022, arXiv 2203.01238, proof of Thm B.1 with Lemmas B.2–B.3).

    For a bias b·1, Ỹ = MY − b11ᵀ has singular values √n (K−1 times) and √n|1 − Kb|; W*H* keeps the top
    min(d, K) of them soft-thresholded at λ̃: f*(b) = (1/N)[Σ_{i≤min(d,K)} ½(σ_i − η_i)² + λ̃η_i +
    Σ_{i>min(d,K)} ½σ_i²] + (λ_b/2)Kb², η_i = [σ_i − λ̃]_+; then f* = min_b f*(b), found by a dense grid on
    [−1, 2] (b* ∈ [0, 1/K] by Lemma B.3) refined by bounded Brent to 1e-15.
    """
    _check(problem)
    K, n, d, lw, lh, lb, M = _unit(problem)
    f = lambda b: _value(b, K, n, d, lw, lh, lb)  # noqa: E731
    if not problem.bias:
        return M * M * f(0.0), 0.0
    grid = np.linspace(-1.0, 2.0, 6001)
    vals = _value_grid(grid, K, n, d, lw, lh, lb)
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    from scipy.optimize import minimize_scalar  # scipy loads on first use (~0.35 s of `ufm solve`)
    res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-15})
    return M * M * float(res.fun), M * float(res.x)


def mse_x(K, n, lam_w, lam_h, M=1.0):
    """x = sqrt(KNλ_Wλ_H)/M, N = nK (numbers or numpy arrays): the MSE UFM's global minimum is W* = H* = 0
    iff x ≥ 1 (Zhou et al. 2022, arXiv 2203.01238, Thm B.1, with M scaling the targets)."""
    K = np.asarray(K, dtype=float)
    out = np.sqrt(K * np.asarray(n, dtype=float) * K * np.asarray(lam_w) * np.asarray(lam_h)) / np.asarray(M)
    return float(out) if out.ndim == 0 else out


def mse_bias_threshold(x):
    """λ_b = x/(1 − x) for x < 1: with bias and d ≥ K, b* = 1/(K(1+λ_b)) below it and sqrt(nλ_Wλ_H)/λ_b above
    (Zhou et al. 2022, arXiv 2203.01238, Thm B.1; its main-text Thm 3.1 misprints it, see errata). NaN for x ≥ 1."""
    x = np.asarray(x, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(x < 1, x / (1 - x), np.nan)
    return float(out) if out.ndim == 0 else out


@float64()
def cases(problem: Problem) -> MSECase:
    """The case formulas of Zhou et al. 2022, arXiv 2203.01238, Thm B.1 (appendix; the main-text Thm 3.1 misprints them, see errata).

    x = sqrt(KNλ_Wλ_H) (at M = 1).
    - x ≥ 1: W* = 0, H* = 0, b* = 1/(K(1+λ_b)).
    - x < 1, d < K: b* = 1/(K(1+λ_b)); d ≥ K: b* = 1/(K(1+λ_b)) if λ_b ≤ x/(1−x), else sqrt(nλ_Wλ_H)/λ_b.
    - H̄ᵀH̄ ∝ Π (d = K−1, or d ≥ K in the first λ_b regime), ∝ I − c11ᵀ with c = b*/(1−x) (second regime),
      a rank-d projector inside 1^⊥ (d < K−1, not unique).
    Without bias b* = 0 and the value follows from the value route at b = 0.
    """
    _check(problem)
    K, n, d, lw, lh, lb, M = _unit(problem)
    x = mse_x(K, n, lw, lh)
    b0 = 1.0 / (K * (1.0 + lb))
    if not problem.bias:
        b, tag = 0.0, "nobias"
    elif x >= 1:
        b, tag = b0, "zero"
    elif d < K or lb <= mse_bias_threshold(x):
        b, tag = b0, "lam_b-small" if d >= K else None
    else:
        b, tag = math.sqrt(n * lw * lh) / lb, "lam_b-large"
    f = M * M * _value(b, K, n, d, lw, lh, lb)
    if x >= 1:
        return MSECase("mse:zero", f, M * b, x, None)
    dim = "d<K-1" if d < K - 1 else "d=K-1" if d == K - 1 else "d>=K"
    if not problem.bias:
        # Without bias Y has K equal singular values √n: W*H* keeps all of them for d ≥ K (H̄ᵀH̄ ∝ I),
        # any d of them otherwise (not unique).
        gram_c = 0.0 if d >= K else None
        return MSECase(f"mse:{dim}:no-bias", f, 0.0, x, gram_c)
    if d < K - 1:
        return MSECase("mse:d<K-1", f, M * b, x, None)
    if d == K - 1:
        return MSECase("mse:d=K-1", f, M * b, x, 1.0 / K)
    gram_c = 1.0 / K if tag == "lam_b-small" else b / (1 - x)
    return MSECase(f"mse:d>=K:{tag}", f, M * b, x, gram_c)


@float64()
def minimizer(problem: Problem, P: np.ndarray | None = None):
    """An explicit global minimizer (W, H, b) of the MSE(1, M) UFM.

    With b* from `value_route`, Ỹ = MY − b*11ᵀ = Σ σ_i u_i v_iᵀ and η_i = [σ_i − Nλ_Z]_+ on the top
    r = min(d, K): W = (λ_H/λ_W)^{1/4} U_r diag(√η) Pᵀ, H = (λ_W/λ_H)^{1/4} P diag(√η) V_rᵀ, the balanced
    factorization of W*H* = Σ η_i u_i v_iᵀ (Zhou et al. 2022, arXiv 2203.01238, Lemma B.2). P (d, r) with orthonormal columns
    (default: the first r coordinate axes).
    """
    _check(problem)
    K, d, N = problem.K, problem.d, problem.N
    lw, lh = problem.lam_w, problem.lam_h
    b = cases(problem).b
    Y = problem.M * problem.Y - b
    U, s, Vt = np.linalg.svd(Y, full_matrices=False)
    r = min(d, K)
    eta = np.maximum(s[:r] - N * math.sqrt(lw * lh), 0.0)
    if P is None:
        P = np.eye(d)[:, :r]
    P = np.asarray(P, dtype=float)
    if P.shape != (d, r) or not np.allclose(P.T @ P, np.eye(r), atol=1e-10):
        raise ValueError(f"P must be ({d}, {r}) with orthonormal columns")
    root = np.sqrt(eta)
    W = (lh / lw) ** 0.25 * (U[:, :r] * root) @ P.T
    H = (lw / lh) ** 0.25 * P @ (root[:, None] * Vt[:r])
    return W, H, np.full(K, b if problem.bias else 0.0)
