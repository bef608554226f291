"""The imbalanced MSE UFM in closed form, and minority collapse located on certified solves.

Setting: class counts n_1 … n_K (N = Σ n_k), the vanilla MSE(α = 1, M) loss, W learned. The imbalanced MSE UFM
is studied by Dang, Tran, Osher, Tran-The, Ho, Nguyen 2023, "Neural collapse in deep linear networks: from
balanced to imbalanced data" (ICML 2023, arXiv 2301.00437); minority collapse is named by Fang, He, Long, Su
2021, "Exploring deep neural networks via layer-peeled model: minority collapse in imbalanced training"
(PNAS, arXiv 2101.12699). The forms below are derived here and checked against float64 solves (`ufm verify`).

Derivation. At a global minimiser the features of a class are equal (`ufm.reduction`), so with class means
h_k, D = diag(n_k) and G = H̄ D^{1/2} (H̄ = [h_1 … h_K], so Σ_k n_k ‖h_k‖² = ‖G‖²):

    f = (1/2N) ‖W G − T(b)‖² + λ_W/2 ‖W‖² + λ_H/2 ‖G‖² + λ_b/2 ‖b‖²,   T(b) = (M I − b 1ᵀ) D^{1/2}.

min_{WG = X} λ_W/2‖W‖² + λ_H/2‖G‖² = λ_Z‖X‖_* (λ_Z = √(λ_W λ_H); Zhu et al. 2021, "A Geometric Analysis of
Neural Collapse with Unconstrained Features", arXiv 2105.02375, Lemma A.3), and min over rank(X) ≤ d of
(1/2N)‖X − T‖² + λ_Z‖X‖_* soft-thresholds the d largest singular values s_i of T by Nλ_Z (the rest are 0):

    F(b) = Σ_{i ≤ d} φ(s_i) + Σ_{i > d} s_i²/(2N) + λ_b/2 ‖b‖²,  φ(s) = s²/(2N) if s ≤ Nλ_Z, else λ_Z s − Nλ_Z²/2,

and f* = min_b F(b). Without bias (b = 0), T = M D^{1/2} is diagonal: class k keeps σ_k = (M√n_k − Nλ_Z)_+
(the d largest), the rows of W and the class means are orthogonal with ‖w_k‖² = √(λ_H/λ_W) σ_k and
n_k ‖h_k‖² = √(λ_W/λ_H) σ_k, and class k collapses (w_k = 0, h_k = 0) exactly when M√n_k ≤ Nλ_Z: minority
classes collapse first, at λ_Z = M√n_min/N. With a bias and d ≥ K, F is convex in b (the Moreau envelope of a
nuclear norm at an affine function of b, plus a convex term) and b* is found by a K-variable smooth convex
minimisation, independent of the UFM solvers. From the SVD T(b*) = U S Vᵀ with σ = (S − Nλ_Z)_+:
W Wᵀ = √(λ_H/λ_W) U σ Uᵀ and H̄ᵀH̄ = D^{-1/2} V σ Vᵀ D^{-1/2} / √(λ_H/λ_W).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ufm import ParameterError, Problem, float64

SOURCE = ("derived in ufm.theory (module _imbalance) for the setting of Dang et al. 2023, \"Neural collapse in deep "
          "linear networks: from balanced to imbalanced data\", arXiv 2301.00437")


class ImbalancedMSE(NamedTuple):
    """The global minimum of an imbalanced MSE(α = 1, M) problem (see the module).

    objective: f*.  b: b* (K,).  sigma: the thresholded singular values (K,), largest first.
    gram_w: W Wᵀ (K, K).  gram_h: H̄ᵀH̄ of the class means (K, K).  w_norms, h_norms: ‖w_k‖, ‖h_k‖ (K,).
    collapsed: classes whose classifier and mean vanish (bias-free form; with a bias, the classes whose
    ‖w_k‖ is below 1e-9 of the largest).  threshold_lam_z: λ_Z at which the smallest class collapses (bias-free:
    M√n_min/N; None with a bias).  source: where the form comes from.
    """

    objective: float
    b: np.ndarray
    sigma: np.ndarray
    gram_w: np.ndarray
    gram_h: np.ndarray
    w_norms: np.ndarray
    h_norms: np.ndarray
    collapsed: tuple
    threshold_lam_z: float | None
    source: str


def _phi(s, N, lam_z):
    t = N * lam_z
    return np.where(s <= t, s * s / (2 * N), lam_z * s - N * lam_z * lam_z / 2)


def _target(problem: Problem, b):
    D = np.sqrt(np.asarray(problem.counts, np.float64))
    return (problem.M * np.eye(problem.K) - np.outer(b, np.ones(problem.K))) * D[None, :]


def _F(problem: Problem, b):
    """F(b) and ∇F(b) (see the module)."""
    N, lz, d = problem.N, problem.lam_z, problem.d
    T = _target(problem, b)
    U, s, Vt = np.linalg.svd(T)
    r = min(d, problem.K)
    val = float(np.sum(_phi(s[:r], N, lz)) + np.sum(s[r:] ** 2) / (2 * N) + 0.5 * problem.lam_b * b @ b)
    dphi = np.concatenate([np.minimum(s[:r], N * lz) / N, s[r:] / N])  # φ'(s), s/N beyond rank d
    dT = (U * dphi) @ Vt  # ∂F/∂T
    grad = -dT @ np.sqrt(np.asarray(problem.counts, np.float64)) + problem.lam_b * b
    return val, grad


def _check(problem: Problem) -> None:
    if not isinstance(problem, Problem):
        raise TypeError(f"imbalanced_mse(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    if problem.loss != "mse" or problem.alpha != 1.0:
        raise ParameterError("loss", f"{problem.loss} (α = {problem.alpha:g})", "'mse' with alpha = 1",
                             "imbalanced_mse")
    if problem.fixed_w:
        raise ParameterError("fixed_w", problem.fixed_w, "None (a learned W)", "imbalanced_mse")
    if problem.bias and problem.d < problem.K:
        raise ParameterError("d", problem.d, f"≥ K = {problem.K} with a bias (F(b) is convex in b only there)",
                             "imbalanced_mse")


def imbalanced_mse(problem: Problem) -> ImbalancedMSE:
    """The global minimum of the MSE(α = 1, M) UFM for any class counts (balanced included): bias-free for every
    d, with a bias for d ≥ K (see the module for the derivation)."""
    _check(problem)
    K, N, lz = problem.K, problem.N, problem.lam_z
    if problem.bias:
        b0 = np.full(K, problem.M / K)
        from scipy.optimize import minimize  # scipy loads on first use (~0.35 s of `ufm solve`)
        res = minimize(lambda x: _F(problem, x), b0, jac=True, method="BFGS", options={"gtol": 1e-15, "maxiter": 2000})
        b = res.x
        # A second BFGS run from the first's end point (a fresh Hessian estimate) still moves b by up to 1.2e-9
        # on the counts of the tests (the first stops early where the curvature is anisotropic): kept.
        res2 = minimize(lambda x: _F(problem, x), b, jac=True, method="BFGS", options={"gtol": 1e-15, "maxiter": 2000})
        b = res2.x if res2.fun <= res.fun else b
    else:
        b = np.zeros(K)
    value, _ = _F(problem, b)
    T = _target(problem, b)
    U, s, Vt = np.linalg.svd(T)
    sigma = np.maximum(s - N * lz, 0.0)
    sigma[min(problem.d, K):] = 0.0
    c = math.sqrt(problem.lam_h / problem.lam_w)
    gram_w = c * (U * sigma) @ U.T
    Dm = 1.0 / np.sqrt(np.asarray(problem.counts, np.float64))
    gram_h = (Dm[:, None] * ((Vt.T * sigma) @ Vt) * Dm[None, :]) / c
    w_norms = np.sqrt(np.maximum(np.diag(gram_w), 0.0))
    h_norms = np.sqrt(np.maximum(np.diag(gram_h), 0.0))
    top = max(float(w_norms.max()), np.finfo(float).tiny)
    collapsed = tuple(int(k) for k in np.flatnonzero(w_norms <= 1e-9 * top)) if top > 0 else tuple(range(K))
    threshold = None if problem.bias else problem.M * math.sqrt(min(problem.counts)) / N
    return ImbalancedMSE(float(value), b, sigma, gram_w, gram_h, w_norms, h_norms, collapsed, threshold, SOURCE)


def imbalanced_mse_minimizer(problem: Problem):
    """An explicit global minimiser (W (K, d), H (d, N), b) of `imbalanced_mse(problem)`: W = √c U σ^{1/2} Pᵀ,
    class means H̄ = P σ^{1/2} Vᵀ D^{-1/2} / √c (c = √(λ_H/λ_W), P the first min(d, K) coordinates), each repeated
    n_k times."""
    th = imbalanced_mse(problem)
    K, d = problem.K, problem.d
    U, _, Vt = np.linalg.svd(_target(problem, th.b))
    r = min(d, K)
    c = math.sqrt(problem.lam_h / problem.lam_w)
    root = np.sqrt(th.sigma[:r])
    W = np.zeros((K, d))
    W[:, :r] = math.sqrt(c) * U[:, :r] * root
    Hbar = np.zeros((d, K))
    Hbar[:r] = (root[:, None] * Vt[:r]) / np.sqrt(np.asarray(problem.counts, np.float64))[None, :] / math.sqrt(c)
    return W, np.repeat(Hbar, problem.counts, axis=1), (th.b if problem.bias else np.zeros(K))


def minority_spread(W, minority) -> float:
    """max_{k, l ∈ minority} ‖w_k − w_l‖ / max_k ‖w_k‖: 0 when the minority classifiers have collapsed onto one
    vector (Fang et al. 2021, arXiv 2101.12699, "minority collapse"); 0/0 (all of W zero) counts as collapsed."""
    W = np.asarray(W, np.float64)
    minority = list(minority)
    scale = float(np.max(np.linalg.norm(W, axis=-1)))
    if scale == 0.0:
        return 0.0
    Wm = W[minority]
    diff = np.linalg.norm(Wm[:, None, :] - Wm[None, :, :], axis=-1)
    return float(diff.max()) / scale


def merge_threshold(problem: Problem, minority) -> float:
    """λ_Z* = c·√n_S/N below which classes S of equal count n_S cannot share one classifier at a minimiser:
    c = 1 for CE, 1 − δ for LS, M for bias-free or biased MSE(α = 1). Derived here:

    In the class-mean form with G = ∇_Z g (columns weighted n_k/N), the certificate's dual matrix is G D^{-1/2}
    (the nuclear norm acts on Z D^{1/2}). At any point where the classes of S are merged (equal rows of W, equal
    class means), the logits of the S×S block are all equal, and on the antisymmetric direction
    u = (e_i − e_j)/√2 (i, j ∈ S) the softmax terms cancel: uᵀ G D^{-1/2} u = −c√n_S/N exactly, whatever the
    merged point. A merged minimiser needs ‖G D^{-1/2}‖₂ ≤ λ_Z, hence λ_Z ≥ c√n_S/N. That the merge happens
    exactly there (sufficiency) is checked numerically: `minority_threshold` locates it by bisection on certified
    solves and `ufm verify` compares (claim imb_mc). For bias-free MSE the merged classes vanish at the same λ_Z,
    the closed form of `imbalanced_mse`.
    """
    S = list(minority)
    counts = {problem.counts[k] for k in S}
    if len(S) < 2 or len(counts) != 1:
        raise ParameterError("minority", S, "two or more classes with equal counts", "merge_threshold")
    if problem.loss == "ce" or (problem.loss == "fl" and problem.gamma == 0):
        c = 1.0
    elif problem.loss == "ls":
        c = 1.0 - problem.delta
    elif problem.loss == "mse" and problem.alpha == 1.0:
        c = problem.M
    else:
        raise ParameterError("loss", problem.loss, "ce, ls or mse with α = 1", "merge_threshold")
    return c * math.sqrt(counts.pop()) / problem.N


def seli_gram(counts) -> np.ndarray:
    """W Wᵀ of the SELI geometry, normalised to trace 1: (Ẑ Ẑᵀ)^{1/2} with Ẑ = Y − 11ᵀ/K the simplex-encoded label
    matrix, so Ẑ Ẑᵀ = Π D Π (Π = I − 11ᵀ/K, D = diag(n_k)) (Thrampoulidis, Kini, Vakilian, Behnia 2022, "Imbalance
    Trouble: Revisiting Neural-Collapse Geometry", NeurIPS 2022, arXiv 2208.05512, Def. of SELI). Equal counts
    give the simplex ETF's Π/(K − 1)."""
    n = np.asarray(counts, np.float64)
    K = n.size
    Pi = np.eye(K) - 1.0 / K
    vals, vecs = np.linalg.eigh(Pi @ np.diag(n) @ Pi)
    root = (vecs * np.sqrt(np.maximum(vals, 0.0))) @ vecs.T
    return root / np.trace(root)


class MinorityThreshold(NamedTuple):
    """Where the global minimiser's logit matrix WH drops rank along λ (λ_W = λ_H = λ): `lam` with `bracket`
    (lo, hi): rank `rank_lo` at lo, `rank_hi` at hi; `steps` bisection steps; `spread_lo`, `spread_hi`: the
    `minority_spread` of the given classes at the ends (NaN without `minority`); `ratio_lo`, `ratio_hi`: the
    certificate ratios of the rank-`rank_hi` truncations there; `solved`: every solve passed its tests."""

    lam: float
    bracket: tuple
    rank_lo: int
    rank_hi: int
    steps: int
    spread_lo: float
    spread_hi: float
    ratio_lo: float
    ratio_hi: float
    solved: bool


def _rank(W, H) -> int:
    sv = np.linalg.svd(np.asarray(W) @ np.asarray(H), compute_uv=False)
    return int(np.sum(sv > 1e-9 * max(sv[0], 1.0)))


def _ratio_at_rank(problem: Problem, W, H, b, r: int) -> float:
    """‖∇_Z g(Ẑ + b1ᵀ)‖₂/λ_Z with Ẑ the rank-r truncation of WH: ≤ 1 iff the rank-r point is certified."""
    import jax.numpy as jnp

    from ufm.functional import Layout, data_term_and_grad

    U, s, Vt = np.linalg.svd(np.asarray(W) @ np.asarray(H), full_matrices=False)
    Zr = (U[:, :r] * s[:r]) @ Vt[:r] + np.asarray(b)[:, None]
    _, G = data_term_and_grad(Layout.of(problem), problem.hyper, jnp.asarray(Zr))
    return float(np.linalg.norm(np.asarray(G), 2)) / problem.lam_z


@float64()
def minority_threshold(problem: Problem, lo: float, hi: float, minority=None, rtol: float = 1e-9,
                       ratio_tol: float = 1e-9, method="auto", max_steps: int | None = None,
                       lam_ratio: float = 1.0) -> MinorityThreshold:
    """Bisection (on log λ) for the λ = λ_Z = √(λ_Wλ_H) in (lo, hi) at which the global minimiser of `problem`
    (its λ_W = λ√ρ, λ_H = λ/√ρ, ρ = `lam_ratio` = λ_W/λ_H) loses rank: minority collapse. (With W and H both
    learned the minimum depends on λ_W and λ_H through λ_Z alone, by the nuclear-norm reduction; ρ is there to
    solve at a paper's own λ's.) With imbalanced counts the minority classifiers first
    merge onto one vector (Fang et al. 2021, arXiv 2101.12699), which drops the rank of WH by (number merged − 1),
    and at a larger λ vanish (another drop); bracket one transition. Needs a convex loss, d ≥ K and W learned:
    the nuclear-norm certificate (`ufm.theory.certificate`) decides each step.

    The test is first order, hence sharp: at λ the solve's WH truncated to rank r = rank at `hi` is certified
    (‖∇_Z g‖₂/λ_Z ≤ 1 + `ratio_tol`). Above the transition the rank-r point is the minimum (ratio 1); below it
    the dropped direction is active and the ratio exceeds 1 by an amount linear in the distance. (The spread or
    the rank of a solve alone is not sharp: the landscape is flat to fourth order in the merging direction
    there, and a solve stops far from the minimum's spread.) `lo` must fail the test and `hi` pass it.
    `method`, `max_steps`: the solver of each step (as in `ufm.solve`)."""
    import ufm

    if problem.loss not in ("ce", "ls", "mse") or problem.d < problem.K or problem.fixed_w:
        raise ParameterError("problem", f"{problem.loss} d={problem.d}", "a convex loss (ce, ls, mse), d ≥ K, W "
                             "learned (the test uses the certificate)", "minority_threshold")
    if not (0 < lo < hi):
        raise ParameterError("lo", lo, f"a number in (0, hi = {hi:g})", "minority_threshold")
    if not (math.isfinite(lam_ratio) and lam_ratio > 0):
        raise ParameterError("lam_ratio", lam_ratio, "a positive finite λ_W/λ_H", "minority_threshold")
    solved = True
    root = math.sqrt(lam_ratio)

    def solve(lam):
        nonlocal solved
        p = problem.replace(lam_w=lam * root, lam_h=lam / root)
        sol = ufm.solve(p, method=method, max_steps=max_steps)
        solved = solved and bool(sol.converged)
        return p, sol

    spread = (lambda W: float("nan")) if minority is None else (lambda W: minority_spread(W, minority))

    def test(p, sol):
        ratio = _ratio_at_rank(p, sol.W, sol.H, sol.b, r_c)
        return ratio <= 1 + ratio_tol, spread(sol.W), ratio

    p_hi, sol_hi = solve(hi)
    r_c = _rank(sol_hi.W, sol_hi.H)
    p_lo, sol_lo = solve(lo)
    r_lo = _rank(sol_lo.W, sol_lo.H)
    c_lo, s_lo, q_lo = test(p_lo, sol_lo)
    c_hi, s_hi, q_hi = test(p_hi, sol_hi)
    if c_lo or r_lo <= r_c:
        raise ParameterError("lo", lo, f"a λ whose minimiser has rank > {r_c} (the rank at hi); it has rank {r_lo}, "
                             f"rank-{r_c} certificate ratio {q_lo:.12g}", "minority_threshold")
    if not c_hi:
        raise ParameterError("hi", hi, f"a λ with a certified rank-{r_c} minimiser (ratio {q_hi:.12g})",
                             "minority_threshold")
    steps = 0
    while hi / lo - 1 > rtol:
        mid = math.sqrt(lo * hi)
        c, sp, q = test(*solve(mid))
        if c:
            hi, s_hi, q_hi = mid, sp, q
        else:
            lo, s_lo, q_lo = mid, sp, q
        steps += 1
    return MinorityThreshold(math.sqrt(lo * hi), (lo, hi), r_lo, r_c, steps, s_lo, s_hi, q_lo, q_hi, solved)
