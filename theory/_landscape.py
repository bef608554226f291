"""Loss geometry: the sharp convexity threshold of focal loss on p_k, and the polar landscape of
Zhou et al. 2022, arXiv 2203.01238, Prop. C.1 (eqs. 28–35) used by its Figs. 2 and 8."""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm import etf_basis, float64, persistent_jit
from ufm import losses as _losses

# ---------------------------------------------------------------------------------------------- focal loss


def _fl(z, k, gamma):
    K = z.shape[0]
    Y = jax.nn.one_hot(k, K, dtype=z.dtype)[:, None]
    return _losses.fl(z[:, None], Y, gamma)[0]


_fl_hessian = persistent_jit(jax.hessian(_fl), static_argnums=1, name="_fl_hessian")


@float64()
def fl_min_curvature(p, gamma: float) -> float:
    """λ_min of ∇²_z FL(γ) at logits z = log p with true class 0, restricted to 1^⊥ (FL is shift-invariant, so
    1 is always a null direction). By automatic differentiation, independent of `fl_convexity_margin`."""
    z = jnp.log(jnp.asarray(p, jnp.float64))
    Hs = np.asarray(_fl_hessian(z, 0, gamma))
    K = z.shape[0]
    Q = etf_basis(K, K - 1).T  # (K, K−1): an orthonormal basis of 1^⊥
    return float(np.linalg.eigvalsh(Q.T @ Hs @ Q)[0])


def _fl_derivatives(t, gamma):
    """ψ'(u), ψ''(u) of ψ(u) = −(1 − e^u)^γ u at u = log t (FL as a function of u = log p_k)."""
    t = np.asarray(t, dtype=float)
    u, q = np.log(t), 1.0 - t
    d1 = gamma * t * q ** (gamma - 1) * u - q**gamma
    d2 = gamma * t * q ** (gamma - 1) * u - gamma * (gamma - 1) * t * t * q ** (gamma - 2) * u + 2 * gamma * t * q ** (gamma - 1)
    return d1, d2


@float64()
def fl_convexity_margin(t, gamma: float):
    """c(t) = ψ''(1 − t) − ψ't at p_k = t: FL(γ) is convex at z iff c(p_k(z)) ≥ 0, whatever K and the
    off-target probabilities.

    With u = log p_k, ∇u = e_k − p =: v and ∇²u = −D, D = diag(p) − ppᵀ, so ∇²FL = ψ'' vvᵀ − ψ' D with
    −ψ' > 0. D⁺v = (e_k − 1/K)/p_k gives vᵀD⁺v = (1 − p_k)/p_k for every distribution of the other classes,
    so ∇²FL ⪰ 0 iff ψ'' (1 − p_k)/p_k ≥ ψ' (derived here; Zhou et al. 2022, arXiv 2210.02192, Cor. 2 only gives p_k ≥ 0.21 as sufficient).
    """
    d1, d2 = _fl_derivatives(t, gamma)
    t = np.asarray(t, dtype=float)
    return d2 * (1 - t) - d1 * t


class FLThreshold(NamedTuple):
    """tau: the sharp threshold — FL(γ) is convex in z wherever p_k ≥ tau and not convex just below it
    (the same for every K). printed_value: the sufficient 0.21 of Zhou et al. 2022, arXiv 2210.02192, Cor. 2."""

    gamma: float
    tau: float
    printed_value: float = 0.21


@float64()
def fl_convexity_threshold(gamma: float) -> FLThreshold:
    """Sharp convexity threshold on p_k for FL(γ) (derived here; Zhou et al. 2022, arXiv 2210.02192, Cor. 2 states a sufficient p_k): tau = sup{t ∈ (0, 1) : c(t) < 0} with c from
    `fl_convexity_margin`, by a scan of 20001 points and Brent's method on the last sign change (to 1e-14).
    γ = 0 (CE) is convex everywhere: tau = 0."""
    if not gamma >= 0:
        raise ValueError(f"fl_convexity_threshold: gamma must be ≥ 0; got {gamma}")
    ts = np.linspace(1e-9, 1 - 1e-9, 20001)
    c = fl_convexity_margin(ts, gamma)
    neg = np.nonzero(c < 0)[0]
    if neg.size == 0:
        return FLThreshold(gamma, 0.0)
    i = int(neg.max())
    if i == ts.size - 1:
        return FLThreshold(gamma, 1.0)
    from scipy.optimize import brentq  # scipy loads on first use (~0.35 s of `ufm solve`)
    tau = brentq(lambda t: float(fl_convexity_margin(t, gamma)), ts[i], ts[i + 1], xtol=1e-14)
    return FLThreshold(gamma, tau)


# ------------------------------------------------------------------------- polar landscape (Zhou et al. 2022, arXiv 2203.01238, App. C)


@float64()
def polar_feature(W, k: int, k2: int, s, theta):
    """h on span{w^k, w^k'} at polar coordinates (s, θ), polar axis w^k (Zhou et al. 2022, arXiv 2203.01238, eq. 28), W a simplex ETF
    with unit rows: h = s(sinθ/√(K²−2K) + cosθ) w^k + s(K−1) sinθ/√(K²−2K) w^k'."""
    K = W.shape[0]
    r = math.sqrt(K * K - 2 * K)
    s, theta = np.asarray(s, float), np.asarray(theta, float)
    return (s * (np.sin(theta) / r + np.cos(theta)))[..., None] * W[k] + (s * (K - 1) * np.sin(theta) / r)[..., None] * W[k2]


@float64()
def polar_logits(K: int, s, theta):
    """(z_k, z_k', z_other) at (s, θ) (Zhou et al. 2022, arXiv 2203.01238, eq. 29), b = 0."""
    s, theta = np.asarray(s, float), np.asarray(theta, float)
    zk = s * np.cos(theta)
    zk2 = s * math.sqrt(K * K - 2 * K) / (K - 1) * np.sin(theta) - s / (K - 1) * np.cos(theta)
    zo = -s * math.sqrt(K / (K - 2)) / (K - 1) * np.sin(theta) - s / (K - 1) * np.cos(theta)
    return zk, zk2, zo


@float64()
def polar_mse(K: int, s, theta, alpha: float = 1.0, M: float = 1.0):
    """Rescaled MSE of a class-k feature at (s, θ) (Zhou et al. 2022, arXiv 2203.01238, eq. 31)."""
    zk, zk2, zo = polar_logits(K, s, theta)
    return 0.5 * alpha * (zk - M) ** 2 + 0.5 * zk2**2 + 0.5 * (K - 2) * zo**2


@float64()
def polar_ce(K: int, s, theta):
    """CE of a class-k feature at (s, θ) (Zhou et al. 2022, arXiv 2203.01238, eq. 32), computed stably."""
    zk, zk2, zo = polar_logits(K, s, theta)
    m = np.maximum(np.maximum(zk, zk2), zo)
    return -(zk - m) + np.log(np.exp(zk - m) + np.exp(zk2 - m) + (K - 2) * np.exp(zo - m))


@float64()
def polar_mse_limit_grad(s, theta, alpha: float = 1.0, M: float = 1.0):
    """(∂_s, ∂_θ) of lim_{K→∞} MSE = α/2 (s cosθ − M)² + ½ s² sin²θ (Zhou et al. 2022, arXiv 2203.01238, eqs. 33–34)."""
    s, theta = np.asarray(s, float), np.asarray(theta, float)
    c, sn = np.cos(theta), np.sin(theta)
    return s + (alpha - 1) * s * c**2 - alpha * M * c, alpha * M * s * sn - (alpha - 1) * s**2 * sn * c


@float64()
def polar_ce_two_logit_grad(s, theta):
    """(∂_s, ∂_θ) of the two-logit CE −log(e^{s cosθ}/(e^{s cosθ} + e^{s sinθ})), the K → ∞ field of
    Zhou et al. 2022, arXiv 2203.01238, Fig. 8 with the other classes dropped: e^{s sinθ}(sinθ − cosθ)/(e^{s cosθ}+e^{s sinθ}) and
    s e^{s sinθ}(sinθ + cosθ)/(e^{s cosθ}+e^{s sinθ}). Zhou et al. 2022, arXiv 2203.01238, eq. 35 prints the exponents without s
    (it holds at s = 1 only; see errata)."""
    s, theta = np.asarray(s, float), np.asarray(theta, float)
    c, sn = np.cos(theta), np.sin(theta)
    w = 1.0 / (1.0 + np.exp(s * (c - sn)))  # e^{s sinθ}/(e^{s cosθ} + e^{s sinθ})
    return w * (sn - c), s * w * (sn + c)
