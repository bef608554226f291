"""Strict saddles of the UFM with their negative-curvature directions (Zhou et al. 2022, arXiv 2203.01238,
Thms 3.2–3.3; Zhu et al. 2021, arXiv 2105.02375, Thm 3.2 and App. C; Zhou et al. 2022, arXiv 2210.02192, Thm 2).

At a critical point (W, H, b) take α ∈ R^d with Wα = 0 and αᵀH = 0, (u, v) the top singular pair of −G,
G = ∇_Z g(WH + b1ᵀ), and

    Δ_W = (λ_H/λ_W)^{1/4} u αᵀ,  Δ_H = (λ_W/λ_H)^{1/4} α vᵀ,  Δ_b = 0.

Then WΔ_H = 0 and Δ_W H = 0, so the logits do not move to first order and
∇²f[Δ, Δ] = λ_W‖Δ_W‖² + λ_H‖Δ_H‖² + 2⟨G, Δ_WΔ_H⟩ = 2(λ_Z − ‖G‖₂)  (Zhu et al. 2021, arXiv 2105.02375, Thm 3.2 proof, App. C;
Zhou et al. 2022, arXiv 2203.01238, Thm 3.3; Zhou et al. 2022, arXiv 2210.02192, Thm 2), negative exactly when the certificate ratio ‖G‖₂/λ_Z exceeds 1.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

import ufm
from ufm import Problem, float64

from ._certificate import _logit_gradient

from ._predict import minimizer, origin_bias, predict


class Saddle(NamedTuple):
    """A constructed critical point and its predicted negative curvature.

    name: "origin", "padded-r<r>", "mse-subset-<s>", "mse-mean-direction".  point: (W, H, b).  direction: (Δ_W, Δ_H, Δ_b).
    curvature: predicted ∇²f[Δ, Δ] = 2(λ_Z − ‖G‖₂).  rayleigh: curvature / ‖Δ‖².
    lambda_min: the exact smallest Hessian eigenvalue where known (the origin), else None.
    source: seed and statement.
    """

    name: str
    point: tuple
    direction: tuple
    curvature: float
    rayleigh: float
    lambda_min: float | None
    source: str


def _direction(problem: Problem, W, H, b, alpha):
    G, _ = _logit_gradient(problem, W @ H + b[:, None])
    U, s, Vt = np.linalg.svd(-G)
    u, v = U[:, 0], Vt[0]
    lw, lh = problem.lam_w, problem.lam_h
    dW = (lh / lw) ** 0.25 * np.outer(u, alpha)
    dH = (lw / lh) ** 0.25 * np.outer(alpha, v)
    curvature = 2 * (problem.lam_z - s[0])
    norm2 = float(np.sum(dW**2) + np.sum(dH**2))
    return (dW, dH, np.zeros(problem.K)), curvature, curvature / norm2, s[0]


@float64()
def origin(problem: Problem) -> Saddle:
    """(0, 0, b₀): critical for every loss (b₀ = `origin_bias`). Its W–H Hessian block is
    [[λ_W I, G⊗], [G⊗ᵀ, λ_H I]], so λ_min = (λ_W+λ_H)/2 − sqrt(((λ_W−λ_H)/2)² + ‖G‖₂²) (derived here)."""
    K, d, N = problem.K, problem.d, problem.N
    W, H, b = np.zeros((K, d)), np.zeros((d, N)), origin_bias(problem)
    alpha = np.eye(d)[0]
    direction, curvature, rayleigh, g2 = _direction(problem, W, H, b, alpha)
    lw, lh = problem.lam_w, problem.lam_h
    lam_min = (lw + lh) / 2 - math.sqrt(((lw - lh) / 2) ** 2 + g2**2)
    return Saddle("origin", (W, H, b), direction, curvature, rayleigh, lam_min,
                  "Zhu et al. 2021, arXiv 2105.02375, Thm 3.2 / Zhou et al. 2022, arXiv 2203.01238, Thm 3.3 (origin); exact λ_min from the 2×2 block structure")


def _lower_dim_minimizer(problem: Problem, r: int):
    small = problem.replace(d=r)
    pred = predict(small)
    if pred.objective is not None:
        return minimizer(small)
    # Newton-CG with the budget of `ufm verify`'s solves: the same compiled program as theirs for this shape.
    sol = ufm.solve(small, method="newton", max_steps=2000, tol=1e-13, seed=0)
    return sol.W, sol.H, sol.b


@float64()
def padded(problem: Problem, r: int) -> Saddle:
    """A global minimizer of the same problem with feature dimension r < K−1, padded with zero columns of W
    and zero rows of H to d > r: still critical (the padded coordinates see zero gradient), not global;
    α = e_{r+1} is in null(W) ∩ null(Hᵀ) (Zhu et al. 2021, arXiv 2105.02375, App. C)."""
    if not 1 <= r < min(problem.K - 1, problem.d):
        raise ValueError(f"padded: r must satisfy 1 ≤ r < min(K−1, d) = {min(problem.K - 1, problem.d)}; got {r}")
    Wr, Hr, b = _lower_dim_minimizer(problem, r)
    K, d, N = problem.K, problem.d, problem.N
    W = np.zeros((K, d))
    W[:, :r] = Wr
    H = np.zeros((d, N))
    H[:r] = Hr
    b = np.asarray(b) if problem.bias else np.zeros(K)
    direction, curvature, rayleigh, _ = _direction(problem, W, H, b, np.eye(d)[r])
    return Saddle(f"padded-r{r}", (W, H, b), direction, curvature, rayleigh, None,
                  "Zhu et al. 2021, arXiv 2105.02375, App. C / Zhou et al. 2022, arXiv 2210.02192, Thm 2: non-global critical point of a lower-dimensional solution")


@float64()
def mse_subset(problem: Problem, size: int) -> Saddle:
    """MSE without bias: W H = Σ_{k<size} (√n − Nλ_Z) e_k v_kᵀ (v_k = 1_{class k}/√n), a proper subset of the
    singular triplets of Y (Zhou et al. 2022, arXiv 2203.01238, eq. 22, Lemma B.2 proof), balanced; critical, with the unused triplet's
    σ = √n > Nλ_Z giving ‖G‖₂ = √n/N > λ_Z."""
    if problem.loss != "mse" or problem.alpha != 1.0 or problem.M != 1.0 or problem.bias:
        raise ValueError("mse_subset needs vanilla MSE (alpha = M = 1) without bias")
    K, n, d, N = problem.K, problem.n, problem.d, problem.N
    if not 1 <= size < min(d, K):
        raise ValueError(f"mse_subset: size must satisfy 1 ≤ size < min(d, K) = {min(d, K)}; got {size}")
    eta = math.sqrt(n) - N * problem.lam_z
    if eta <= 0:
        raise ValueError("mse_subset needs √n > Nλ_Z (x < 1), else the only critical point is the origin")
    lw, lh = problem.lam_w, problem.lam_h
    W = np.zeros((K, d))
    H = np.zeros((d, N))
    for k in range(size):
        W[k, k] = (lh / lw) ** 0.25 * math.sqrt(eta)
        H[k, k * n : (k + 1) * n] = (lw / lh) ** 0.25 * math.sqrt(eta) / math.sqrt(n)
    b = np.zeros(K)
    direction, curvature, rayleigh, _ = _direction(problem, W, H, b, np.eye(d)[size])
    return Saddle(f"mse-subset-{size}", (W, H, b), direction, curvature, rayleigh, None,
                  "Zhou et al. 2022, arXiv 2203.01238, Thm 3.2, eq. 22 (critical points from subsets of singular triplets)")


@float64()
def mse_mean_direction(problem: Problem) -> Saddle:
    """MSE with bias, d < K, balanced: a full-rank (rank d) critical point that spends one of its d directions on
    the wrong singular direction of Y − b1ᵀ — the all-ones direction e = 1/√K, whose singular value 1 − Kβ is
    below the centred ones (1). Zhou et al. 2022 (arXiv 2203.01238) state the strict-saddle property for MSE
    without a bias at any d (Thm 3.2, where no such point exists: see below) and with a bias at d > K (Thm 3.3);
    this is the d < K case with a bias, built by the same subset-of-singular-triplets argument (their eq. 22).

    In the class-mean form (1/(2K))‖Z + b1ᵀ − I‖² + c‖Z‖_* + λ_b/2‖b‖², c = √(λ_Wλ_H n), with b = β1:
    Z = s₁ eeᵀ + s Σ_{i<d−1} u_i u_iᵀ (u_i centred, orthonormal), s = 1 − Kc, s₁ = 1 − Kβ − Kc, and
    b-stationarity (s₁ + Kβ − 1)/K + λ_b β = 0 gives β = c/λ_b. It exists when s₁ > 0, i.e.
    Kc(1 + 1/λ_b) < 1. Rotating the e column of W (and the e row of H̄) toward an unused centred direction u keeps
    the penalties and changes the data term by (s₁/K)(s₁ − s) sin²θ < 0, so along Δ_W = ρ√s₁ u e_jᵀ,
    Δ_H = (√s₁/ρ) e_j uᵀ ⊗ 1ᵀ (ρ⁴ = λ_H n/λ_W): ∇²f[Δ, Δ] = 2 s₁(s₁ − s)/K. For bias-free MSE there is no such
    point: Y's K singular values are all √n and every d-subset of them is a global minimiser."""
    if problem.loss != "mse" or problem.alpha != 1.0 or problem.M != 1.0 or not problem.bias:
        raise ValueError("mse_mean_direction needs vanilla MSE (alpha = M = 1) with a bias")
    if not problem.balanced:
        raise ValueError("mse_mean_direction needs a balanced problem")
    K, n, d, N = problem.K, problem.n, problem.d, problem.N
    if not 1 <= d < K:
        raise ValueError(f"mse_mean_direction needs 1 ≤ d < K = {K}; got d = {d}")
    lw, lh, lb = problem.lam_w, problem.lam_h, problem.lam_b
    c = math.sqrt(lw * lh * n)
    beta = c / lb
    s, s1 = 1 - K * c, 1 - K * beta - K * c
    if s1 <= 0:
        raise ValueError(f"mse_mean_direction needs Kc(1 + 1/λ_b) < 1 (c = √(λ_Wλ_H n)); got {K * c * (1 + 1 / lb):.4g}")
    # An orthonormal basis: e = 1/√K first, then centred directions.
    Q = np.linalg.qr(np.concatenate([np.ones((K, 1)), np.eye(K)[:, :K - 1]], axis=1))[0]
    Q[:, 0] = np.ones(K) / math.sqrt(K)
    rho = (lh * n / lw) ** 0.25
    sv = np.array([s1] + [s] * (d - 1))
    W = Q[:, :d] * (rho * np.sqrt(sv))[None, :]
    Hbar = (np.sqrt(sv) / rho)[:, None] * Q[:, :d].T
    H = np.repeat(Hbar, n, axis=1)
    b = np.full(K, beta)
    u = Q[:, d]  # an unused centred direction
    dW = np.zeros((K, d))
    dW[:, 0] = rho * math.sqrt(s1) * u
    dH = np.zeros((d, N))
    dH[0] = np.repeat(math.sqrt(s1) / rho * u, n)
    curvature = 2 * s1 * (s1 - s) / K
    norm2 = float(np.sum(dW**2) + np.sum(dH**2))
    return Saddle("mse-mean-direction", (W, H, b), (dW, dH, np.zeros(K)), curvature, curvature / norm2, None,
                  "derived by the argument of Zhou et al. 2022, arXiv 2203.01238, eq. 22 (a subset of singular "
                  "triplets with the all-ones direction; MSE with a bias at d < K, beyond Thm 3.2–3.3)")


@float64()
def saddles(problem: Problem, padded_ranks=None) -> list[Saddle]:
    """Every construction that applies to `problem`: the origin (when it is a strict saddle, ‖G‖₂ > λ_Z);
    padded minimizers of the ranks in `padded_ranks` (default 1 and K−2, where r < min(K−1, d); for CE/LS/FL
    each needs a solve of the rank-r problem); for MSE without bias, singular-subset points of size 1 and
    min(d, K) − 1; for MSE with a bias at d < K, the full-rank point on the all-ones direction
    (`mse_mean_direction`)."""
    if problem.fixed_w:
        return []
    out = []
    o = origin(problem)
    if o.curvature < 0:
        out.append(o)
    for r in sorted({1, problem.K - 2} if padded_ranks is None else set(padded_ranks)):
        if 1 <= r < min(problem.K - 1, problem.d):
            s = padded(problem, r)
            if s.curvature < 0:
                out.append(s)
    if problem.loss == "mse" and problem.alpha == 1.0 and problem.M == 1.0 and not problem.bias:
        if math.sqrt(problem.n) > problem.N * problem.lam_z:
            for size in sorted({1, min(problem.d, problem.K) - 1}):
                if 1 <= size < min(problem.d, problem.K):
                    out.append(mse_subset(problem, size))
    if problem.loss == "mse" and problem.alpha == 1.0 and problem.M == 1.0 and problem.bias and problem.balanced \
            and problem.d < problem.K:
        c = math.sqrt(problem.lam_w * problem.lam_h * problem.n)
        if problem.K * c * (1 + 1 / problem.lam_b) < 1:
            out.append(mse_mean_direction(problem))
    return out
