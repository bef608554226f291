"""Global-optimality certificate for convex losses (derived here; none of the papers prints it).

References: Zhu et al. 2021 (arXiv 2105.02375) Lemma A.3 and Thm 3.2; Guo et al. 2025 (arXiv 2402.03979) Lemma C.3.

min_{WH=Z} λ_W/2‖W‖² + λ_H/2‖H‖² = λ_Z‖Z‖_* (Zhu et al. 2021, arXiv 2105.02375, Lemma A.3, Guo et al. 2025, arXiv 2402.03979, Lemma C.3), so

    f(W, H, b) ≥ F(Z, b) := g(Z + b1ᵀ) + λ_Z‖Z‖_* + λ_b/2‖b‖²,   Z = WH,

with F convex for convex L, and f* ≥ F* := min F. For any point, with Ẑ the rank-r truncation of WH:

    f − f* ≤ f − F* = [f − F(Ẑ, b)] + [F(Ẑ, b) − F*] ≤ [f − F(Ẑ, b)] + ‖s‖·(‖(Ẑ, b)‖ + R*),

s ∈ ∂F(Ẑ, b) the minimum-norm subgradient, R* ≥ ‖(Z*, b*)‖ from the level set (g ≥ 0 for every loss here:
‖Z*‖_F ≤ ‖Z*‖_* ≤ F(Ẑ, b)/λ_Z, ‖b*‖² ≤ 2F(Ẑ, b)/λ_b). The first bracket is the imbalance of the
factorization (0 at balanced W, H). At a stationary point of f, s vanishes iff ‖G‖₂ ≤ λ_Z with
G = ∇_Z g(Z + b1ᵀ) (the 1/N included): the ratio ‖G‖₂/λ_Z is 1 at a minimizer with Z* ≠ 0 (≤ 1 at Z* = 0)
and > 1 at a strict saddle (Zhu et al. 2021, arXiv 2105.02375, Thm 3.2 proof).

With W frozen (fixed_w="etf"), f is convex in (H, b) for a convex loss and the bound is the plain convex one,
f − f* ≤ ‖∇f‖·(‖(H, b)‖ + R*), R*² = 2f/λ_H + 2f/λ_b.
FL is not convex in z: only the ratio and the residual are reported (local statement, Zhou et al. 2022, arXiv 2210.02192, Cor. 2).
A user loss (`ufm.losses.Custom`) counts as convex where declared so (convex in z and ≥ 0; `theory.probe_loss`).

A point whose features are equal within each class (the lift of a class-mean solve) is certified on K columns
instead of N, exactly: a K × N matrix A whose columns repeat ā_k n_k times acts as A_c = Ā diag(√n_k) in every
quantity here (A Bᵀ = A_c B_cᵀ, the same nonzero singular values and left singular vectors, the same Frobenius
norm), and f, ∇f come from the class-mean form of the problem (∇_{h_k} of that form is n_k times a sample's).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm import Problem, float64, persistent_jit
from ufm.functional import Layout, Params, data_term_and_grad, family_form, padded_d, value, value_x

from ._userloss import is_convex



class Certificate(NamedTuple):
    """ratio: ‖G‖₂/λ_Z (None with a frozen W).  stationarity: ‖∇f‖₂ over the free variables.
    imbalance: f − F(Ẑ, b) ≥ 0.  subgradient: ‖s‖ of ∂F (or ‖∇f‖ with a frozen W).  gap_bound: rigorous
    upper bound on f − f* (None for FL, and with a bias but λ_b = 0, where b* is unbounded in the bound).
    note: what was certified."""

    ratio: float | None
    stationarity: float
    imbalance: float
    subgradient: float
    gap_bound: float | None
    note: str


@functools.partial(persistent_jit, static_argnums=0)
def _value_and_stationarity(layout: Layout, hyper, params):
    """(f, ‖∇f‖ over the free variables, ‖x‖) in one compiled program per layout: run eagerly, the packing and
    the loss were ~40 one-op programs, ~1 s of a first certificate."""
    x = layout.pack(params)
    f, g = jax.value_and_grad(lambda x: value_x(layout, hyper, x))(x)
    return f, jnp.linalg.norm(g), jnp.linalg.norm(x)


def _logit_layout(layout: Layout) -> Layout:
    """The layout g(Z) is evaluated in: it reads the loss, K and the class counts only — one program per (loss
    family, K, counts), whatever d or b."""
    return dataclasses.replace(layout, d=1, bias=False, fixed_w=None, etf_norm=1.0)


def _logit_gradient(problem: Problem, Zb):
    layout, hyper = family_form(problem)
    layout = _logit_layout(layout)
    g, G = data_term_and_grad(layout, hyper, jnp.asarray(Zb))
    return np.asarray(G), float(g)


def _stationarity(problem: Problem, params) -> tuple[float, float, float]:
    """(f, ‖∇f‖ over the free variables, ‖x‖) of a one-layer (W, H, b) (free W): in the program of the loss family
    with d padded by zero rows of H and columns of W to `ufm.functional.padded_d` — exact: those numbers add 0 to f
    and ‖x‖, and their gradient is exactly 0 (∂f/∂W_pad = ∇_Z g · H_padᵀ + λ_W W_pad, ∂f/∂H_pad = W_padᵀ ∇_Z g
    + λ_H H_pad, both 0) — so every d up to that bucket shares one program per (K, n, loss family, bias)."""
    layout, hyper = family_form(problem)
    W, H, b = params
    if layout.depth == 1 and not layout.fixed_w:
        d = W.shape[1]
        dp = padded_d(d, layout.K)
        W, H = np.pad(W, ((0, 0), (0, dp - d))), np.pad(H, ((0, dp - d), (0, 0)))
        layout = dataclasses.replace(layout, d=dp)
    f, g, x = _value_and_stationarity(layout, hyper, (W, H, b))
    return float(f), float(g), float(x)


@functools.partial(persistent_jit, static_argnums=0)
def _means_value_and_grads(layout: Layout, hyper, params):
    """(f, ∇_W f, ∇_H f, ∇_b f) of the class-mean form (`layout.means`): f is the full problem's at the lift."""
    f, g = jax.value_and_grad(lambda p: value(layout, hyper, Params(*p)))(params)
    return (f, *g)


class _Means(NamedTuple):
    """A point's features as class means: Hbar (d, K), the counts n_k (float), and the class-mean form's layout
    and numbers (`ufm.functional.family_form` of the problem with means=True)."""

    Hbar: np.ndarray
    counts: np.ndarray
    layout: Layout
    hyper: tuple


def given_means(problem: Problem, H) -> bool:
    """Whether `certificate` reads H (d, K) as the K class means of features equal within each class: a
    one-layer problem in its full form whose N samples are not K (for N = K both readings are one)."""
    return problem.depth == 1 and not problem.means and H.shape[1] == problem.K != problem.N


def _as_means(problem: Problem, H) -> _Means | None:
    """H as class means where every class's columns are exactly equal, or where H is given as the K means
    (`given_means`) (one layer, W free, the full form), else None."""
    if problem.depth > 1 or problem.fixed_w or problem.means or H.shape[1] < problem.K:
        return None
    if given_means(problem, H):
        layout, hyper = family_form(problem.replace(means=True))
        return _Means(H, np.asarray(problem.counts, np.float64), layout, hyper)
    if H.shape[1] == problem.K:
        return None
    ends = np.cumsum(problem.counts)  # class-major labels: class k holds columns ends[k] − n_k … ends[k] − 1
    first = ends - np.asarray(problem.counts)
    Hbar = H[:, first]
    # Each class's columns against its first one, in place (no N-column copy of H).
    if not all(np.all(H[:, a:e] == H[:, a:a + 1]) for a, e in zip(first, ends)):
        return None
    layout, hyper = family_form(problem.replace(means=True))
    return _Means(Hbar, np.asarray(problem.counts, np.float64), layout, hyper)


def _stationarity_of_means(m: _Means, W, b) -> tuple[float, float, float]:
    """(f, ‖∇f‖ over the free variables, ‖x‖) at the lift of (W, Hbar, b), from the class-mean form:
    ‖∇_H f‖² = Σ_k n_k ‖∇_{h_i} f‖² = Σ_k ‖∇_{h_k} f_means‖² / n_k, ‖H‖² = Σ_k n_k ‖h_k‖²."""
    d = W.shape[1]
    dp = padded_d(d, m.layout.K)  # zero features, as `_stationarity`: one program for every d of the bucket
    layout = dataclasses.replace(m.layout, d=dp)
    Wp, Hp = np.pad(W, ((0, 0), (0, dp - d))), np.pad(m.Hbar, ((0, dp - d), (0, 0)))
    f, gW, gH, gb = (np.asarray(v) for v in _means_value_and_grads(layout, m.hyper, (Wp, Hp, b)))
    grad2 = np.sum(gW**2) + np.sum(np.sum(gH**2, axis=0) / m.counts) + (np.sum(gb**2) if m.layout.bias else 0.0)
    x2 = np.sum(W**2) + np.sum(m.counts * np.sum(m.Hbar**2, axis=0)) + (b @ b if m.layout.bias else 0.0)
    return float(f), math.sqrt(grad2), math.sqrt(x2)


def _gradient_of_means(m: _Means, Zc, b):
    """(G_c, g, G·1) at the logits whose compressed form is Zc (K, K): G_c = G diag(1/√n_k) in the compressed
    coordinates (G's column of class k is (1/N)∇L(z̄_k), the class-mean form's is n_k times it)."""
    root = np.sqrt(m.counts)
    layout = _logit_layout(m.layout)
    g, G = data_term_and_grad(layout, m.hyper, jnp.asarray(Zc / root + b[:, None]))
    G = np.asarray(G)
    return G / root, float(g), G.sum(axis=1)


@float64()
def certificate(problem: Problem, W, H, b, rank_tol: float = 1e-9) -> Certificate:
    """Certify (W, H, b) for `problem` (see the module docstring). H: the features (d, N), or for a point whose
    features are equal within each class (a reduced solve's lift), their K class means (d, K) — read so whenever
    the one-layer problem's N samples are not K; the certificate is the same (`Solution.class_means` gives them
    without building H). `rank_tol`: singular values of WH below
    rank_tol·max(σ_max, 1) are truncated (the truncation is accounted for exactly in `imbalance`); the gap
    bound is the smallest over the truncation ranks r ≤ that rank (each is valid), the ratio is at that rank."""
    if problem.depth > 1:  # the nuclear-norm relaxation bounds the one-layer problem only
        Ws = tuple(jnp.asarray(np.asarray(w, np.float64)) for w in W)
        b = np.zeros(problem.K) if not problem.bias else np.asarray(b, np.float64)
        f, stationarity, _ = (float(v) for v in _value_and_stationarity(
            *family_form(problem), (Ws, jnp.asarray(np.asarray(H, np.float64)), jnp.asarray(b))))
        return Certificate(None, stationarity, 0.0, stationarity, None,
                           f"depth {problem.depth}: no certificate (the convex relaxation is one-layer); "
                           "stationarity only")
    W, H, b = (np.asarray(a, dtype=np.float64) for a in (W, H, b))
    if not problem.bias:
        b = np.zeros(problem.K)
    if given_means(problem, H) and problem.fixed_w:  # the frozen-W bound reads the N features themselves
        H = np.repeat(H, problem.counts, axis=1)
    means = _as_means(problem, H)
    if means is None:
        f, stationarity, norm_x = _stationarity(problem, (W, H, b))
    else:
        f, stationarity, norm_x = _stationarity_of_means(means, W, b)
    convex = is_convex(problem)

    if problem.fixed_w:
        # f is convex in (H, b) for a convex loss: f − f* ≤ ‖∇f‖ (‖x‖ + R*).
        if not convex or (problem.bias and problem.lam_b == 0):
            return Certificate(None, stationarity, 0.0, stationarity, None, "frozen W: residual only")
        R = math.sqrt(2 * f / problem.lam_h + (2 * f / problem.lam_b if problem.bias else 0.0))
        gap = stationarity * (norm_x + R)
        return Certificate(None, stationarity, 0.0, stationarity, gap, "frozen W: convex in (H, b)")

    if means is None:
        Z = W @ H

        def gradient(Zr):
            G, g_val = _logit_gradient(problem, Zr + b[:, None])
            return G, g_val, G.sum(axis=1)
    else:
        Z = (W @ means.Hbar) * np.sqrt(means.counts)  # compressed: the same singular values and U

        def gradient(Zr):
            return _gradient_of_means(means, Zr, b)
    U, s, Vt = np.linalg.svd(Z, full_matrices=False)
    # Relative to max(σ_max, 1): logits are O(1), so a Z of norm 1e-12 counts as 0, not as rank 1.
    rank = int(np.sum(s > rank_tol * max(s[0] if s.size else 0.0, 1.0)))
    bounded = convex and not (problem.bias and problem.lam_b == 0)
    # The bound holds for every truncation Ẑ; a first-order iterate carries spurious small singular values
    # (they decay at the weight-decay rate) that keep the nuclear-norm subgradient at λ_Z in their directions,
    # so the ranks that drop only such small values are tried and the tightest bound is reported.
    # The ratio is always the one at the rank_tol truncation (the point itself). Only truncations that drop
    # small singular values (below 1e-2·σ_max) can tighten the bound; trying every rank cost 8 s at K=100.
    at_rank = _at_rank(problem, gradient, f, U, s, Vt, b, rank)
    small = [r for r in range(rank) if s[r] < 1e-2 * s[0]]
    best = min((_at_rank(problem, gradient, f, U, s, Vt, b, r) for r in small), key=lambda c: c[3], default=at_rank)
    best = best if bounded and best[3] < at_rank[3] else at_rank
    ratio = at_rank[0]
    _, imbalance, subgradient, gap = best
    if not convex:
        why = ("FL is not convex in z" if problem.loss == "fl" else
               f"the loss {problem.loss} is not declared convex in z")
        return Certificate(ratio, stationarity, imbalance, subgradient, None,
                           f"{why}: local certificate only (Zhou et al. 2022, arXiv 2210.02192, Cor. 2)")
    if not bounded:
        return Certificate(ratio, stationarity, imbalance, subgradient, None,
                           "bias with λ_b = 0: b* unbounded in the level-set bound, no gap bound")
    return Certificate(ratio, stationarity, imbalance, subgradient, gap,
                       "convex relaxation F(Z, b) with nuclear norm (ufm.theory.certificate)")


def _at_rank(problem: Problem, gradient, f: float, U, s, Vt, b, r: int):
    """(ratio, imbalance, subgradient, gap bound) with Ẑ the rank-r truncation of WH (gap: inf if unbounded).
    gradient(Ẑ) → (G, g(Ẑ + b1ᵀ), G·1), in the coordinates of U, s, Vt (compressed for class means)."""
    lam_z = problem.lam_z
    Zr = (U[:, :r] * s[:r]) @ Vt[:r]
    G, g_val, G_sum = gradient(Zr)
    ratio = float(np.linalg.norm(G, 2)) / lam_z
    F = g_val + lam_z * float(np.sum(s[:r])) + 0.5 * problem.lam_b * float(b @ b)
    imbalance = f - F

    # Minimum-norm subgradient of λ_Z‖·‖_* + G at Ẑ: G + λ_Z(U_r V_rᵀ + R), ‖R‖₂ ≤ 1, R ⟂ range.
    Ur, Vr = U[:, :r], Vt[:r].T
    PU = np.eye(U.shape[0]) - Ur @ Ur.T
    G_perp = PU @ (G - (G @ Vr) @ Vr.T)  # PU G PV without forming the N × N projector PV
    a_, sg, ct = np.linalg.svd(G_perp, full_matrices=False)
    excess = (a_ * np.maximum(sg - lam_z, 0.0)) @ ct
    sZ = (G - G_perp) + lam_z * Ur @ Vr.T + excess
    sb = G_sum + problem.lam_b * b if problem.bias else np.zeros(0)
    subgradient = float(math.sqrt(np.sum(sZ**2) + np.sum(sb**2)))
    if not is_convex(problem) or (problem.bias and problem.lam_b == 0):
        return ratio, imbalance, subgradient, math.inf
    R = math.sqrt((F / lam_z) ** 2 + (2 * F / problem.lam_b if problem.bias else 0.0))
    norm_x = math.sqrt(float(np.sum(Zr**2)) + float(b @ b))
    return ratio, imbalance, subgradient, max(imbalance + subgradient * (norm_x + R), 0.0)
