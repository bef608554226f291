"""CE/LS closed form (Guo et al. 2025, arXiv 2402.03979, Thm 4.1, Lemma D.5) and the 1-D scale of any contrastive loss (Zhou et al. 2022, arXiv 2210.02192, Thm 1,
Zhou et al. 2022, arXiv 2210.02192, App. B–C), the lower-bound functions φ, and the CE curve ξ(ρ) of Zhu et al. 2021, arXiv 2105.02375, App. B.1."""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm import Problem, etf_basis, float64, persistent_jit
from ufm import losses as _losses
from ufm.functional import family_form

CONTRASTIVE = ("ce", "ls", "fl")


class ScaleMinima(NamedTuple):
    """Minimisers of g(a) on a ≥ 0: the global one and every local one (ascending a)."""

    a: float
    g: float
    local: tuple  # ((a, g(a)), ...)


def _check(problem: Problem) -> None:
    if not isinstance(problem.loss, _losses.Custom) and problem.loss not in CONTRASTIVE:
        raise ValueError(f"the contrastive scale needs loss in {CONTRASTIVE} or a user loss; got {problem.loss!r}")


@float64()
def scale_slope(problem: Problem) -> float:
    """c = (K−1)·√n·λ_Z, the slope of the regulariser in g(a) (λ_Z‖aΠY‖_* = c·a)."""
    return (problem.K - 1) * math.sqrt(problem.n) * problem.lam_z


@functools.partial(persistent_jit, static_argnums=(0, 1))
def _g_and_slope(loss, K: int, hyper, c, a):
    """g(a) and g'(a) for a vector of scales a: one compilation per (loss program, K, length of a) — CE, LS and FL
    run as their shared softmax family with (δ, γ) as numbers, and `_g_fn` pads a to one length."""
    e1 = jnp.zeros(K).at[0].set(1.0)
    u = (e1 - 1.0 / K)[:, None]

    def g(t):
        return _losses.per_sample(loss, t * u, e1[:, None], hyper)[0] + c * t

    return jax.vmap(g)(a), jax.vmap(jax.grad(g))(a)


def _family(problem: Problem) -> tuple:
    """(loss, hyper) as ufm's programs run them (`ufm.functional.family_form`: CE, LS and FL as one family)."""
    layout, hyper = family_form(problem)
    return layout.loss, hyper


@functools.partial(persistent_jit, static_argnums=0)
def _per_sample(loss, Z, Y, hyper):
    """The loss of each column, compiled once per (loss program, shape): run eagerly, each of its operations was a
    program of its own, per shape and loss."""
    return _losses.per_sample(loss, Z, Y, hyper)


_G_LENGTH = 8192  # `_g_fn`'s padded length: scale_minima's grids (2 × 4 001 points) and ξ's 4 001 fit
_G_SHORT = 8  # ... and for a few points (a prediction's one scale, a Brent step): 8 192 evaluations cost ~6 ms


def _g_fn(problem: Problem):
    loss, hyper = _family(problem)
    args = (loss, problem.K, hyper, scale_slope(problem))

    def both(a):
        a = np.atleast_1d(np.asarray(a, np.float64))
        # Two lengths for every call up to the grids' 8 192 points (8, and 8 192), powers of two beyond: two
        # programs per K, not one per length. A single point in the long program cost ~6 ms (8 192 evaluations of
        # a K-vector loss): per row of a scan's prediction, 5.4 s of a 900-row scan's 44 s (cProfile).
        size = _G_SHORT if a.size <= _G_SHORT else max(_G_LENGTH, 1 << max(a.size - 1, 0).bit_length())
        padded = np.concatenate([a, np.full(size - a.size, a[-1] if a.size else 0.0)])
        g, dg = _g_and_slope(*args, jnp.asarray(padded))
        return np.asarray(g)[:a.size], np.asarray(dg)[:a.size]

    return (lambda a: both(a)[0]), (lambda a: both(a)[1])


@float64()
def scale_objective(problem: Problem, a) -> np.ndarray:
    """g(a) = L(a(e_1 − 1/K), e_1) + (K−1)√n λ_Z a (Zhou et al. 2022, arXiv 2210.02192, proof of Thm 1): the UFM objective
    along the NC family Z = aΠY, b = 0, with balanced factors."""
    _check(problem)
    g, _ = _g_fn(problem)
    return g(a)


@float64()
def scale_minima(problem: Problem, points: int = 4001) -> ScaleMinima:
    """Every local minimiser of g on [0, A] and the global one, robustly.

    g ≥ c·a (L ≥ 0) and g(0) = L(0), so every minimiser lies in [0, A], A = g(0)/c. g' is sampled on a
    linear and a geometric grid of `points` each; each sign change − → + of g' is refined by Brent's method
    on g' (to ~1e-15), and a = 0 counts as a local minimiser when g'(0) ≥ 0. FL's g need not be convex
    (Zhou et al. 2022, arXiv 2210.02192, Figs. 9–10): all local minima are reported.
    """
    _check(problem)
    g, dg = _g_fn(problem)
    g0 = float(g(0.0)[0])
    A = 1.05 * g0 / scale_slope(problem)
    grid = np.unique(np.concatenate([np.linspace(0.0, A, points), np.geomspace(1e-9 * A, A, points)]))
    slope = dg(grid)
    d1 = lambda a: float(dg(a)[0])  # noqa: E731
    local = []
    if slope[0] >= 0:
        local.append((0.0, g0))
    from scipy.optimize import brentq  # scipy loads on first use (~0.35 s of `ufm solve`)

    for i in np.nonzero((slope[:-1] < 0) & (slope[1:] >= 0))[0]:
        a = brentq(d1, grid[i], grid[i + 1], xtol=1e-15, rtol=4 * np.finfo(float).eps, maxiter=200)
        local.append((a, float(g(a)[0])))
    a_best, g_best = min(local, key=lambda t: t[1])
    return ScaleMinima(a_best, g_best, tuple(local))


def ce_ls_s(K, n, lam_w, lam_h, delta=0.0):
    """s = √(KN)λ_Z + δ, N = nK (numbers or numpy arrays): CE/LS collapse to W* = H* = 0 iff s ≥ 1
    (Guo et al. 2025, arXiv 2402.03979, Lemma D.5; δ = 0 for CE)."""
    K = np.asarray(K, dtype=float)
    out = np.sqrt(K * np.asarray(n, dtype=float) * K) * np.sqrt(np.asarray(lam_w) * np.asarray(lam_h)) + np.asarray(delta)
    return float(out) if out.ndim == 0 else out


@float64()
def ce_ls_scale(problem: Problem) -> float:
    """a* = log(K/s − K + 1) if s = √(KN)λ_Z + δ < 1, else 0 (Guo et al. 2025, arXiv 2402.03979, Lemma D.5; δ = 0 for CE)."""
    if problem.loss not in ("ce", "ls"):
        raise ValueError(f"the closed-form scale is for loss 'ce' or 'ls'; got {problem.loss!r}")
    s = ce_ls_s(problem.K, problem.n, problem.lam_w, problem.lam_h, problem.delta if problem.loss == "ls" else 0.0)
    return math.log(problem.K / s - problem.K + 1) if s < 1 else 0.0


@float64()
def probabilities(K: int, a: float) -> tuple[float, float]:
    """(p_t, p_n) = (e^a, 1)/(K − 1 + e^a): softmax of a(e_k − 1/K) (Guo et al. 2025, arXiv 2402.03979, eq. 14)."""
    # Divide by e^a first so that large a does not overflow.
    pt = 1.0 / (1.0 + (K - 1) * math.exp(-a))
    return pt, (1.0 - pt) / (K - 1)


@float64()
def nc_minimizer(problem: Problem, a: float, P: np.ndarray | None = None):
    """(W, H, b) on the NC family with logit scale a (Guo et al. 2025, arXiv 2402.03979, Thm 4.1 eqs. 11–12, transposed):

    W = (nλ_H/λ_W)^{1/4} √a ΠPᵀ,  H̄ = (λ_W/(nλ_H))^{1/4} √a PΠ,  H = H̄Y,  b = 0,  so WH̄ = aΠ.

    P (d, K) with PᵀP = I (d ≥ K); by default `etf_basis`, which also works at d = K−1.
    """
    K, n, d = problem.K, problem.n, problem.d
    P = etf_basis(K, d) if P is None else np.asarray(P, dtype=float)
    if P.shape != (d, K):
        raise ValueError(f"P must have shape ({d}, {K}); got {P.shape}")
    Pi = np.eye(K) - 1.0 / K
    cw = (n * problem.lam_h / problem.lam_w) ** 0.25 * math.sqrt(a)
    ch = (problem.lam_w / (n * problem.lam_h)) ** 0.25 * math.sqrt(a)
    W = cw * Pi @ P.T
    Hbar = ch * P @ Pi
    return W, np.repeat(Hbar, n, axis=1), np.zeros(K)


# --- lower bounds of the contrastive property (Zhou et al. 2022, arXiv 2210.02192, Def. 1, Zhou et al. 2022, arXiv 2210.02192, App. B) -------------------------


def _xi(t, K):
    """ξ(t) = 1 + (K−1)e^{t/(K−1)} ∈ [1, ∞): Jensen's bound on 1 + Σ_{j≠k} e^{z_j − z_k} at Σ(z_j − z_k) = t."""
    return 1.0 + (K - 1) * np.exp(np.asarray(t, dtype=float) / (K - 1))


@float64()
def phi(loss: str, t, K: int, delta: float = 0.0, gamma: float = 0.0):
    """φ(t) with L(z, y_k) ≥ φ(Σ_{j≠k}(z_j − z_k)), equality iff all z_j (j ≠ k) are equal.

    CE: log ξ(t) (Zhou et al. 2022, arXiv 2210.02192, eq. 8); LS(δ): log ξ(t) − (δ/K)·t (Zhou et al. 2022, arXiv 2210.02192, App. B.3, since −Σ_l log p_l/K =
    −log p_k − (1/K)Σ_{j≠k}(z_j − z_k)); FL(γ): η(ξ(t)) with η(u) = (1 − 1/u)^γ log u, increasing on u ≥ 1
    (Zhou et al. 2022, arXiv 2210.02192, App. B.2).
    """
    xi = _xi(t, K)
    if loss == "ce":
        return np.log(xi)
    if loss == "ls":
        return np.log(xi) - (delta / K) * np.asarray(t, dtype=float)
    if loss == "fl":
        return (1.0 - 1.0 / xi) ** gamma * np.log(xi)
    raise ValueError(f"phi is defined for ce, ls, fl; got {loss!r}")


@float64()
def lower_bound_gap(problem: Problem, Z) -> np.ndarray:
    """L(z_i, y_i) − φ(Σ_{j≠k}(z_j − z_k)) for each column of Z (K, N): ≥ 0, and 0 iff the off-target
    logits of that column are equal."""
    _check(problem)
    Z = np.asarray(Z, dtype=float)
    Y = problem.Y
    loss, hyper = _family(problem)
    L = np.asarray(_per_sample(loss, jnp.asarray(Z), jnp.asarray(Y, jnp.float64), hyper))
    zk = np.sum(Y * Z, axis=0)
    t = np.sum(Z, axis=0) - problem.K * zk
    return L - phi(problem.loss, t, problem.K, problem.delta, problem.gamma)


@float64()
def psi(loss: str, t, K: int, c: float, delta: float = 0.0, gamma: float = 0.0):
    """ψ(t) = φ(t) + c|t| (Zhou et al. 2022, arXiv 2210.02192, eq. 10; Zhou et al. 2022, arXiv 2210.02192, Figs. 9–10). With t = −(K−1)a and c = √n λ_Z this is
    g(a) of `scale_objective`."""
    return phi(loss, t, K, delta, gamma) + c * np.abs(np.asarray(t, dtype=float))


@float64()
def xi_ce(rho, K: int, n: int, lam_w: float, lam_h: float):
    """ξ(ρ; λ_W, λ_H) of Zhu et al. 2021, arXiv 2105.02375, App. B.1 (its Fig. 8): the CE objective on the NC family with ‖W‖_F² = ρ,

    ξ = −ρ/((1+c₁)(K−1))·√(λ_W/(λ_H n)) + c₂ + λ_W ρ,  c₁ = [(K−1)exp(−ρ/(K−1)·√(λ_W/(λ_H n)))]^{-1},
    c₂ = log((1+c₁)(K−1))/(1+c₁) + c₁/(1+c₁)·log((1+c₁)/c₁).

    Equal to g(a) at a = ρ√(λ_W/(λ_H n))/(K−1); its minimum is the CE global minimum.
    """
    rho = np.asarray(rho, dtype=float)
    r = math.sqrt(lam_w / (lam_h * n))
    a = rho * r / (K - 1)
    c1 = np.exp(a) / (K - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        c2 = np.log((1 + c1) * (K - 1)) / (1 + c1) + c1 / (1 + c1) * np.log1p(1 / c1)
    return -rho / ((1 + c1) * (K - 1)) * r + c2 + lam_w * rho
