"""Hessians of the UFM and their spectra (Guo et al. 2025, arXiv 2402.03979, Thm 4.2 and App. E).

φ(W, H) = g(WH + b1ᵀ) is the data term alone (Guo et al. 2025, arXiv 2402.03979, eq. 40: no weight decay). Its Hessian w.r.t. W with H
fixed is (Kd × Kd); w.r.t. H with W fixed it is block-diagonal with one (d × d) block per sample,
(1/N) Wᵀ ∇²L(z_i) W (Guo et al. 2025, arXiv 2402.03979, eq. 46), so its spectrum is computed block by block at any size.
The full Hessian of f in the free variables is dense up to `max_dense`, matrix-free (Lanczos on
Hessian-vector products, scipy's eigsh) beyond.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm import Problem, float64, persistent_jit
from ufm import losses as _losses
from ufm.functional import Layout, data_term, hessian_x, hvp_x

from ._predict import predict


class Spectrum(NamedTuple):
    """Eigenvalues (ascending) and their clusters [(value, multiplicity), ...] (relative tolerance `rtol`)."""

    eigenvalues: np.ndarray
    clusters: list
    condition: float  # largest / smallest eigenvalue above rtol·max|λ| (the nonzero eigenspace)


@float64()
def clusters(eigs, rtol: float = 1e-8) -> list:
    """Group sorted eigenvalues whose gap is ≤ rtol·max|λ| (zeros: |λ| ≤ rtol·max|λ|, reported as 0.0)."""
    eigs = np.sort(np.asarray(eigs, dtype=float))
    if eigs.size == 0:
        return []
    scale = max(float(np.max(np.abs(eigs))), np.finfo(float).tiny)
    tol = rtol * scale
    out: list = []
    start = 0
    for i in range(1, eigs.size + 1):
        if i == eigs.size or eigs[i] - eigs[i - 1] > tol:
            group = eigs[start:i]
            value = float(np.mean(group))
            out.append((0.0 if abs(value) <= tol else value, int(group.size)))
            start = i
    # Merge clusters that both rounded to zero.
    merged: list = []
    for v, m in out:
        if merged and merged[-1][0] == v == 0.0:
            merged[-1] = (0.0, merged[-1][1] + m)
        else:
            merged.append((v, m))
    return merged


@float64()
def spectrum(eigs, rtol: float = 1e-8) -> Spectrum:
    eigs = np.sort(np.asarray(eigs, dtype=float))
    scale = max(float(np.max(np.abs(eigs))), np.finfo(float).tiny) if eigs.size else 1.0
    nz = eigs[np.abs(eigs) > rtol * scale]
    cond = float(np.max(np.abs(nz)) / np.min(np.abs(nz))) if nz.size else math.nan
    return Spectrum(eigs, clusters(eigs, rtol), cond)


@functools.partial(persistent_jit, static_argnums=0)
def _hessian_w(layout: Layout, hyper, W, H, b):
    fn = lambda w: data_term(layout, hyper, w.reshape(W.shape) @ H + b[:, None])  # noqa: E731
    return jax.hessian(fn)(W.ravel())


@functools.partial(persistent_jit, static_argnums=0)
def _hessian_h_blocks(layout: Layout, hyper, W, H, b):
    Z = W @ H + b[:, None]
    Y = layout.Y()
    N = Z.shape[1]

    def one(z, y):  # ∇²_z of the i-th term of g = (1/N) Σ_i L(z_i, y_i)
        return jax.hessian(lambda v: _losses.per_sample(layout.loss, v[:, None], y[:, None], hyper)[0])(z) / N

    per = jax.vmap(one, in_axes=(1, 1))(Z, Y)  # (N, K, K)
    return jnp.einsum("kd,nkl,le->nde", W, per, W)


def _args(problem: Problem, W, H, b):
    b = b if problem.bias else np.zeros(problem.K)
    return Layout.of(problem), problem.hyper, jnp.asarray(W), jnp.asarray(H), jnp.asarray(b)


@float64()
def hessian_w(problem: Problem, W, H, b) -> np.ndarray:
    """∇²_W φ at (W, H, b), dense (Kd × Kd), W vectorised row by row."""
    return np.asarray(_hessian_w(*_args(problem, W, H, b)))


@float64()
def hessian_h_blocks(problem: Problem, W, H, b) -> np.ndarray:
    """The N diagonal blocks (1/N) Wᵀ ∇²_z L(z_i) W of ∇²_H φ (Guo et al. 2025, arXiv 2402.03979, eq. 46), shape (N, d, d)."""
    return np.asarray(_hessian_h_blocks(*_args(problem, W, H, b)))


@float64()
def spectrum_w(problem: Problem, W, H, b, rtol: float = 1e-8) -> Spectrum:
    return spectrum(np.linalg.eigvalsh(hessian_w(problem, W, H, b)), rtol)


@float64()
def spectrum_h(problem: Problem, W, H, b, rtol: float = 1e-8) -> Spectrum:
    return spectrum(np.linalg.eigvalsh(hessian_h_blocks(problem, W, H, b)).ravel(), rtol)


def _free(problem: Problem, W, H, b):
    layout = Layout.of(problem)
    return layout, layout.pack((jnp.asarray(W), jnp.asarray(H), jnp.asarray(b)))


@float64()
def hessian_full(problem: Problem, W, H, b, max_dense: int = 4000) -> np.ndarray:
    """∇²f in the free variables (W unless frozen, H, b if bias), dense; ValueError beyond `max_dense`."""
    layout, x = _free(problem, W, H, b)
    if x.size > max_dense:
        raise ValueError(f"hessian_full: {x.size} variables exceed max_dense={max_dense}; use extreme_eigenvalues")
    return np.asarray(hessian_x(layout, problem.hyper, x))


@float64()
def spectrum_full(problem: Problem, W, H, b, rtol: float = 1e-8, max_dense: int = 4000) -> Spectrum:
    return spectrum(np.linalg.eigvalsh(hessian_full(problem, W, H, b, max_dense)), rtol)


@float64()
def extreme_eigenvalues(problem: Problem, W, H, b, k: int = 1, which: str = "SA", tol: float = 1e-12) -> np.ndarray:
    """k extreme eigenvalues of ∇²f to `tol` by scipy's ARPACK on Hessian-vector products (no dense matrix).

    which: "SA" (smallest algebraic) or "LA" (largest). Works at any size, but its cost is not bounded (a
    spectrum of a few huge clusters can keep ARPACK restarting for many minutes): to decide whether a point
    has negative curvature use `ufm.curvature` (budgeted, seeded, with an "undecided" verdict).
    """
    if which not in ("SA", "LA"):
        raise ValueError(f"extreme_eigenvalues: which must be 'SA' or 'LA'; got {which!r}")
    layout, x = _free(problem, W, H, b)
    hyper = problem.hyper

    def mv(v):
        return np.asarray(hvp_x(layout, hyper, x, jnp.asarray(np.ravel(v))))

    from scipy.sparse.linalg import LinearOperator, eigsh  # scipy loads on first use (~0.35 s of `ufm solve`)
    op = LinearOperator((x.size, x.size), matvec=mv, dtype=np.float64)
    if which == "SA":
        # Shift so that the smallest eigenvalue becomes the largest in magnitude: Lanczos converges fast there.
        top = float(eigsh(op, k=1, which="LA", tol=1e-6, return_eigenvectors=False)[0])
        shifted = LinearOperator(op.shape, matvec=lambda v: op.matvec(v) - top * np.ravel(v), dtype=np.float64)
        vals = eigsh(shifted, k=k, which="LM", tol=tol, return_eigenvectors=False) + top
    else:
        vals = eigsh(op, k=k, which="LA", tol=tol, return_eigenvectors=False)
    return np.sort(vals)


class PredictedSpectra(NamedTuple):
    """Guo et al. 2025 (arXiv 2402.03979), App. E at the CE/LS minimizer: (value, multiplicity) lists for ∇²_W φ and ∇²_H φ, and κ = Kp_t."""

    w: list
    h: list
    kappa: float


@float64()
def predicted_spectra(problem: Problem) -> PredictedSpectra:
    """Eigenvalues with multiplicities of the block Hessians at the CE/LS global minimizer (d ≥ K, s < 1).

    D_k = diag(p̄_k) − p̄_k p̄_kᵀ has eigenvalues 0, p_n (K−2 times), Kp_tp_n (Guo et al. 2025, arXiv 2402.03979, eq. 45).
    H-block (eqs. 46–50): c_H·{0, p_n, Kp_tp_n} with multiplicities N(1+d−K), N(K−2), N, c_H = a_W²/N,
      a_W² = √(λ_H n/λ_W)·a.
    W-block (eqs. 52–58): c_W·{0, p_n, (1−p_t+p_n)(p_n+(K−1)p_t)/K, Kp_np_t} with multiplicities
      Kd − K² + 2K − 1, K² − 3K + 1, K − 1, 1 (equal values merged: at K = 2 the second and third cancel), where c_W = n√(λ_W/(λ_H n))·a/N — eq. 52 omits the 1/N of
      φ = (1/N)·L (see errata). Condition number of both: Kp_t (eq. 15).
    """
    pred = predict(problem)
    if pred.kappa is None:
        raise ValueError(f"predicted_spectra needs CE/LS with d ≥ K and s < 1; got case {pred.case}")
    K, n, d, N = problem.K, problem.n, problem.d, problem.N
    a, pt, pn = pred.a, pred.p_t, pred.p_n
    cH = math.sqrt(problem.lam_h * n / problem.lam_w) * a / N
    cW = n * math.sqrt(problem.lam_w / (problem.lam_h * n)) * a / N
    lam2 = (1 - pt + pn) * (pn + (K - 1) * pt) / K
    h = [(0.0, N * (1 + d - K)), (cH * pn, N * (K - 2)), (cH * K * pt * pn, N)]
    w = [(0.0, K * d - K * K + 2 * K - 1), (cW * pn, K * K - 3 * K + 1), (cW * lam2, K - 1), (cW * K * pn * pt, 1)]
    w, h = _merge(w), _merge(h)
    # At K = 2, eq. 58's p_n has multiplicity K² − 3K + 1 = −1 and coincides with λ₂ = p_n (multiplicity K − 1 = 1):
    # merged, they cancel, leaving one nonzero eigenvalue per block and κ = 1 (errata).
    nonzero = [v for v, m in w if v != 0.0]
    return PredictedSpectra(w, h, max(nonzero) / min(nonzero))


def _merge(clusters):
    """Sum the multiplicities of equal eigenvalues (to 1e-12 relative) and drop those left ≤ 0."""
    out = []
    for v, m in clusters:
        for i, (u, k) in enumerate(out):
            if abs(u - v) <= 1e-12 * max(abs(u), abs(v)):
                out[i] = (u, k + m)
                break
        else:
            out.append((v, m))
    return [(v, m) for v, m in out if m > 0]


def zero_modes(problem: Problem, rank: int) -> int:
    """Zero eigenvalues of ∇²f that symmetries force at a point whose W and H have rank `rank`: the rotation
    orbit (`rotation_zero_modes`), plus one for CE/LS/FL with a bias and λ_b = 0, where b → b + c1 shifts every
    logit equally, moves no softmax and costs nothing."""
    shift = problem.bias and problem.lam_b == 0 and not problem.fixed_w and problem.loss in ("ce", "ls", "fl")
    return rotation_zero_modes(problem, rank) + int(shift)


@float64()
def rotation_zero_modes(problem: Problem, rank: int) -> int:
    """Dimension of the orbit {(WR, RᵀH)} of a point whose W and H have rank `rank`:
    d(d−1)/2 − (d−r)(d−r−1)/2 zero modes of ∇²f from the rotation symmetry W → WR, H → RᵀH."""
    d, r = problem.d, rank
    if problem.fixed_w:
        return 0
    return d * (d - 1) // 2 - (d - r) * (d - r - 1) // 2
