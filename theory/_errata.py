"""Errata: every place where a printed formula of the four papers disagrees with the float64 numerics.

Each record is re-checked when `errata()` runs: a small problem is solved, and the printed and the corrected
formulas are evaluated next to the numerical value. `holds` is True when the numerics agree with the
corrected formula (to `rtol`) and disagree with the printed one.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np

import ufm
from ufm import float64

from . import _hessian, _landscape
from ._papers import PAPERS
from ._predict import predict


class Erratum(NamedTuple):
    """One printed formula that disagrees with the float64 numerics. paper: the arXiv id (`PAPERS` has the
    authors, title and year); location: theorem/equation in that paper."""

    paper: str
    location: str
    printed: str
    corrected: str
    printed_value: float
    corrected_value: float
    numerical_value: float
    setting: str
    holds: bool

    @property
    def citation(self) -> str:
        """'Zhou et al. 2022 (arXiv 2203.01238), Thm 3.1 ...': where the printed formula stands."""
        return f"{PAPERS[self.paper].short}, {self.location}"

    @property
    def evidence(self) -> str:
        return (f"{self.setting}: numerics {self.numerical_value:.12g}, corrected {self.corrected_value:.12g}, "
                f"printed {self.printed_value:.12g}")


RTOL = 1e-8  # float64 solves reach ~1e-13; closed forms are evaluated exactly


def _record(paper, location, printed, corrected, pv, cv, nv, setting) -> Erratum:
    holds = abs(nv - cv) <= RTOL * max(abs(cv), 1e-300) and abs(nv - pv) > 1e3 * RTOL * max(abs(cv), 1e-300)
    return Erratum(paper, location, printed, corrected, float(pv), float(cv), float(nv), setting, bool(holds))


def _mse_bias_regime() -> Erratum:
    K, n, d, lam, lb = 4, 5, 6, 1e-2, 1.0
    p = ufm.Problem(K=K, n=n, d=d, loss="mse", lam_w=lam, lam_h=lam, lam_b=lb)
    b_num = float(np.mean(ufm.solve(p, method="newton", max_steps=2000).b))
    return _record(
        "2203.01238", "Thm 3.1 (main text), bias, d ≥ K, second λ_b regime",
        "b* = √n·λ_W·λ_H / λ_b", "b* = √(n·λ_W·λ_H) / λ_b  (as in App. Thm B.1)",
        math.sqrt(n) * lam * lam / lb, math.sqrt(n * lam * lam) / lb, b_num,
        f"vanilla MSE K={K} n={n} d={d} λ_W=λ_H={lam} λ_b={lb}",
    )


def _mse_threshold() -> Erratum:
    K, n, d, lam, lb = 4, 5, 6, 1e-2, 1e-2
    N = n * K
    p = ufm.Problem(K=K, n=n, d=d, loss="mse", lam_w=lam, lam_h=lam, lam_b=lb)
    b_num = float(np.mean(ufm.solve(p, method="newton", max_steps=2000).b))
    printed_thr = math.sqrt(K * N) * lam * lam / (1 - math.sqrt(K * N) * lam * lam)
    x = math.sqrt(K * N * lam * lam)
    # λ_b = 0.01 lies above the printed threshold (8.9e-4) and below the true one (x/(1−x) = 0.098):
    # the printed case analysis puts it in the second regime.
    assert printed_thr < lb < x / (1 - x)
    return _record(
        "2203.01238", "Thm 3.1 (main text), λ_b threshold (and the coefficient in C_4's regime)",
        "λ_b ≤ √(KN)·λ_Wλ_H / (1 − √(KN)·λ_Wλ_H)", "λ_b ≤ x/(1 − x), x = √(KN·λ_Wλ_H)  (as in App. Thm B.1)",
        math.sqrt(n * lam * lam) / lb, 1 / (K * (1 + lb)), b_num,
        f"b* at λ_b={lb} (printed threshold {printed_thr:.3g}, true {x / (1 - x):.3g}), K={K} n={n} d={d} λ={lam}",
    )


def _lemma_b2_tail() -> Erratum:
    K, n, d, lam = 4, 5, 2, 1e-2
    N = n * K
    p = ufm.Problem(K=K, n=n, d=d, loss="mse", lam_w=lam, lam_h=lam, bias=False)
    f_num = ufm.solve(p, method="newton", max_steps=2000).objective
    # ξ of (14) with λ's scaled by N (f = ξ/N); Y has K singular values √n.
    lt = N * lam
    s = np.full(K, math.sqrt(n))
    eta = np.maximum(s[:d] - lt, 0)
    head = np.sum(0.5 * (s[:d] - eta) ** 2 + lt * eta)
    return _record(
        "2203.01238", "Lemma B.2, eq. (15), case d < K",
        "ξ* = Σ_{i≤d} ½(σ_i − η_i)² + √(λ_Wλ_H)η_i + Σ_{i>d} σ_i²",
        "… + ½ Σ_{i>d} σ_i²",
        (head + np.sum(s[d:] ** 2)) / N, (head + 0.5 * np.sum(s[d:] ** 2)) / N, f_num,
        f"MSE without bias K={K} n={n} d={d} λ={lam} (f* = ξ*/N with λ's scaled by N)",
    )


def _hessian_w_scale() -> Erratum:
    p = ufm.Problem(K=4, n=3, d=5, loss="ls", delta=0.2, lam_w=2e-3, lam_h=1e-3, lam_b=1e-2)
    sol = ufm.solve(p, method="newton", max_steps=2000)
    top = float(_hessian.spectrum_w(p, sol.W, sol.H, sol.b).eigenvalues[-1])
    pred = predict(p)
    K, n, N, a, pt, pn = p.K, p.n, p.N, pred.a, pred.p_t, pred.p_n
    cw = n * math.sqrt(p.lam_w / (p.lam_h * n)) * a
    return _record(
        "2402.03979", "App. E eq. (52)",
        "∇²_w φ = n(λ_W/(λ_H n))^{1/2} a · D_P D_Π S D_Π D_Pᵀ",
        "∇²_w φ = (n/N)(λ_W/(λ_H n))^{1/2} a · D_P D_Π S D_Π D_Pᵀ  (φ = (1/N)·L, eq. 40)",
        cw * K * pn * pt, cw * K * pn * pt / N, top,
        "largest eigenvalue of ∇²_W φ at the solved LS(0.2) minimizer, K=4 n=3 d=5",
    )


def _kappa_k2() -> Erratum:
    """Guo et al. 2025 (arXiv 2402.03979) Thm 4.2 at K = 2: each Hessian block has one nonzero eigenvalue."""
    p = ufm.Problem(K=2, n=3, d=3, loss="ce", lam_w=2e-2, lam_h=1e-2, lam_b=5e-2)
    sol = ufm.solve(p, method="newton", max_steps=2000)
    pred = predict(p)
    cond = max(_hessian.spectrum_w(p, sol.W, sol.H, sol.b).condition,
               _hessian.spectrum_h(p, sol.W, sol.H, sol.b).condition)
    return _record(
        "2402.03979", "Thm 4.2 with App. E eqs. (49), (51), (58), (59), at K = 2",
        "κ(∇²_W φ) = κ(∇²_H φ) = K·p_t for every K (multiplicities K − 2 in eq. 49 and K² − 3K + 1 in eq. 58)",
        "K·p_t for K ≥ 3; at K = 2 each block has one nonzero eigenvalue (eq. 49's p_n has multiplicity K − 2 = 0, "
        "and eq. 58's eigenvectors Π diag(u) Π, u ⟂ 1, vanish), so κ = 1",
        p.K * pred.p_t, 1.0, cond,
        "the larger condition number (nonzero eigenspace) of ∇²_W φ and ∇²_H φ at the solved CE minimizer, K=2 n=3 d=3",
    )


def _thm1_gram() -> Erratum:
    p = ufm.Problem(K=4, n=3, d=6, loss="fl", gamma=2.0, lam_w=1e-3, lam_h=1e-3, lam_b=1e-2)
    sol = ufm.solve(p, method="newton", max_steps=2000)
    W = sol.W
    w2 = float(np.mean(np.sum(W**2, axis=1)))
    target = w2 * p.K / (p.K - 1) * (np.eye(p.K) - 1.0 / p.K)
    corrected = float(np.linalg.norm(W @ W.T - target) / np.linalg.norm(target))
    # The printed WᵀW is d×d: compare it with the target padded to d×d (the best it can do).
    pad = np.zeros((p.d, p.d))
    pad[: p.K, : p.K] = target
    printed = float(np.linalg.norm(W.T @ W - pad) / np.linalg.norm(target))
    return _record(
        "2210.02192", "Thm 1 (W ∈ R^{K×d}, rows w^k)",
        "W*ᵀW* = ‖w*‖² K/(K−1) (I_K − 11ᵀ/K)  (a d×d matrix)",
        "W*W*ᵀ = ‖w*‖² K/(K−1) (I_K − 11ᵀ/K)",
        printed, 0.0, corrected,
        "relative Frobenius error of each form at the solved FL(2) minimizer, K=4 n=3 d=6",
    )._replace(holds=corrected < 1e-10 < printed)


def _polar_mse() -> Erratum:
    K, s, th = 5, 1.3, 0.4
    W = ufm.simplex_etf(K, K - 1)
    h = _landscape.polar_feature(W, 0, 1, s, th)
    z = W @ h
    numeric = 0.5 * (z[0] - 1) ** 2 + 0.5 * np.sum(z[1:] ** 2)  # vanilla MSE of the class-0 feature
    zk, zk2, zo = _landscape.polar_logits(K, s, th)
    printed = 0.5 * (zk - 1) ** 2 + 0.5 * (zk2 - 1) ** 2 + 0.5 * (K - 2) * (zo - 1) ** 2
    return _record(
        "2203.01238", "App. C.1, eq. (30)",
        "Loss = α/2(⟨w^k,h⟩ + b_k − M)² + ½ Σ_{k''≠k} (⟨w^{k''},h⟩ + b_{k''} − 1)²",
        "… + ½ Σ_{k''≠k} (⟨w^{k''},h⟩ + b_{k''})²  (targets 0 off class, as in eq. 4 and eq. 31)",
        printed, float(_landscape.polar_mse(K, s, th)), numeric,
        f"vanilla MSE of h(s={s}, θ={th}) from eq. 28 with a unit simplex ETF, K={K}",
    )


def _polar_ce_grad() -> Erratum:
    import jax

    s, th = 2.0, 0.7

    def two_logit_ce(s, th):
        return -s * jax.numpy.cos(th) + jax.numpy.logaddexp(s * jax.numpy.cos(th), s * jax.numpy.sin(th))

    numeric = float(jax.grad(two_logit_ce, argnums=0)(s, th))
    printed = math.exp(math.sin(th)) * (math.sin(th) - math.cos(th)) / (math.exp(math.sin(th)) + math.exp(math.cos(th)))
    corrected = float(_landscape.polar_ce_two_logit_grad(s, th)[0])
    return _record(
        "2203.01238", "App. C.2, eq. (35)",
        "∂_s lim_{K→∞} CE = e^{sinθ}(sinθ − cosθ)/(e^{sinθ} + e^{cosθ})  (and ∂_θ alike)",
        "∂_s = e^{s sinθ}(sinθ − cosθ)/(e^{s cosθ} + e^{s sinθ}), ∂_θ = s e^{s sinθ}(sinθ + cosθ)/(…): the field of "
        "the two-logit CE; the K → ∞ limit of eq. 32 itself diverges ((K−2)e^{z_o} → ∞)",
        printed, corrected, numeric,
        f"∂_s of −log(e^{{s cosθ}}/(e^{{s cosθ}} + e^{{s sinθ}})) at s={s}, θ={th} by autodiff",
    )


def _prop_c4_sqrt_n() -> Erratum:
    """Guo et al. 2025 (arXiv 2402.03979) Prop. C.4, eq. (21): the class-mean form of the nuclear-norm identity.
    With Z = Z̄Y (each class column repeated n times), YYᵀ = nI, so ‖Z‖_* = √n‖Z̄‖_*; the middle problem of eq. 21
    has the same value (put H̄' = √n H̄). The numerical value is the minimum of that middle problem by a float64
    L-BFGS solve over an invertible W (H̄ = W^{-T}Z̄)."""
    import jax.numpy as jnp

    K, n, alpha = 4, 3, 0.7
    rng = np.random.default_rng(7)
    Zbar = rng.standard_normal((K, K))

    def middle(W):
        Hbar = jnp.linalg.solve(W.T, jnp.asarray(Zbar))
        return (jnp.sum(W**2) + alpha * n * jnp.sum(Hbar**2)) / (2 * math.sqrt(alpha))

    m = ufm.minimize(middle, jnp.eye(K, dtype=jnp.float64), method="lbfgs", tol=1e-13, max_steps=5000)
    nuc = float(np.linalg.svd(Zbar, compute_uv=False).sum())
    return _record(
        "2402.03979", "Prop. C.4, eq. (21)",
        "min_{Z̄ = WᵀH̄} (‖W‖² + αn‖H̄‖²)/(2√α) = ‖Z̄‖_*  (= min_{Z = WᵀH} (‖W‖² + α‖H‖²)/(2√α))",
        "= √n‖Z̄‖_* = ‖Z‖_*: Z = Z̄Y has the singular values of Z̄ times √n (YYᵀ = nI)",
        nuc, math.sqrt(n) * nuc, m.f,
        f"float64 L-BFGS minimum of the middle problem over invertible W, random Z̄ (K={K}), n={n}, α={alpha}",
    )


def _isotropic_bias() -> Erratum:
    """Zhou et al. 2022 (arXiv 2210.02192) App. C, Lemma 7: 'any critical point obeys b = τ1'. The stationarity
    in b is λ_b b = −∇_Z g(WH + b1ᵀ)1, which is isotropic at the global minimisers (Thm 1/Thm 3) but not at every
    critical point: the CE minimiser at d = 1, padded with zeros to d = 5, is a critical point (its padded
    gradient is zero) and its b is far from isotropic."""
    import jax.numpy as jnp

    from ufm.functional import Layout, data_term_and_grad

    from ._saddles import padded

    p = ufm.Problem(K=4, n=1, d=5, loss="ce", lam_w=1e-2, lam_h=1e-2, lam_b=1e-2)
    W, H, b = padded(p, 1).point
    obj = ufm.objective(p)
    grad = float(np.linalg.norm(np.asarray(obj.grad_x(obj.pack((W, H, b))))))
    _, G = data_term_and_grad(Layout.of(p), p.hyper, jnp.asarray(W @ H + b[:, None]))
    b_formula = -np.asarray(G).sum(axis=1) / p.lam_b
    return _record(
        "2210.02192", "App. C, Lemma 7 (critical points of eq. 16)",
        "any critical point (W, H, b) obeys b = τ1 (isotropic bias)",
        "b = −∇_Z g(WH + b1ᵀ)1/λ_b at any critical point; isotropic (b = τ1) at the global minimisers, not in "
        "general: the lemma holds where Thm 1 uses it, not as stated",
        0.0, float(np.ptp(b_formula)), float(np.ptp(b)),
        f"max − min of b at the CE minimiser for d = 1 padded to d = 5 (a critical point: ‖∇f‖ = {grad:.1e}), "
        "K=4 n=1 λ=1e-2",
    )


def _d_ge_k_necessary() -> Erratum:
    """Zhu et al. 2021 (arXiv 2105.02375), remark after Thm 3.1: 'd ≥ K is necessary for Theorem 3.1 to hold,
    simply because K vectors in R^d cannot form a K-simplex ETF if K > d'. The simplex ETF spans K − 1 dimensions:
    at d = K − 1 the CE global minimum is the same ETF with the same value."""
    K = 4
    p = ufm.Problem(K=K, n=1, d=K - 1, loss="ce", lam_w=1e-2, lam_h=1e-2, lam_b=1e-2)
    sol = ufm.solve(p, method="newton", max_steps=2000)
    f_star = predict(p.replace(d=K)).objective  # the d ≥ K value of Thm 3.1
    rel = abs(sol.objective - f_star) / abs(f_star)
    G = np.asarray(sol.W) @ np.asarray(sol.W).T
    etf = (np.eye(K) - 1.0 / K) * (np.trace(G) / (K - 1))
    dist = float(np.linalg.norm(G - etf) / np.linalg.norm(etf))
    return _record(
        "2105.02375", "remark after Thm 3.1 ('d ≥ K is necessary')",
        "d ≥ K is necessary: K vectors in R^d cannot form a K-simplex ETF if K > d",
        "d ≥ K − 1 suffices: the K-simplex ETF spans K − 1 dimensions; at d = K − 1 the global minimum is the same "
        "ETF with the same value (checked at d = K − 1 by claim ext of `ufm verify`)",
        float("nan"), 0.0, max(rel, dist),
        f"CE K={K} n=1 d={K - 1}: max(|f − f*(d ≥ K)|/|f*|, ‖WWᵀ − ETF‖/‖ETF‖) at the solved point "
        f"(f = {sol.objective:.15g}, f* = {f_star:.15g})",
    )._replace(holds=bool(sol.converged) and max(rel, dist) < 1e-9)


def _saddle_hessian_degenerate() -> Erratum:
    """Zhu et al. 2021 (arXiv 2105.02375) Thm 3.2 (and Thm C.1): at a critical point that is not a local minimiser
    'the Hessian is non-degenerate and has at least one negative eigenvalue'. It has a negative eigenvalue, but
    wherever W ≠ 0 the rotations W → WR, H → RᵀH leave f unchanged and give the Hessian zero eigenvalues: a padded
    rank-1 minimiser (a strict saddle) has d(d−1)/2 − (d−1)(d−2)/2 = d − 1 of them."""
    p = ufm.Problem(K=4, n=1, d=5, loss="ce", lam_w=1e-2, lam_h=1e-2, lam_b=1e-2)
    from ._saddles import padded

    s = padded(p, 1)
    W, H, b = s.point
    ev = np.linalg.eigvalsh(_hessian.hessian_full(p, W, H, b))
    scale = float(np.max(np.abs(ev)))
    zeros = int(np.sum(np.abs(ev) <= 1e-9 * scale))
    predicted = _hessian.rotation_zero_modes(p, 1)
    return _record(
        "2105.02375", "Thm 3.2 and Thm C.1 ('the Hessian … is non-degenerate')",
        "at a strict saddle ∇²f is non-degenerate (no zero eigenvalue) and has a negative eigenvalue",
        "∇²f has a negative eigenvalue, and d(d−1)/2 − (d−r)(d−r−1)/2 zero eigenvalues from the rotation symmetry "
        "wherever rank W = r ≥ 1 (non-degenerate only at the origin); 'strict saddle' needs only the negative one",
        0.0, float(predicted), float(zeros),
        f"number of |eigenvalues| ≤ 1e-9·max of the full Hessian at the padded rank-1 CE minimiser, K=4 n=1 d=5 "
        f"(λ_min = {ev[0]:.3e})",
    )._replace(holds=zeros == predicted and ev[0] < -1e-6 * scale)


def _rescaled_mse_d_k_minus_1() -> Erratum:
    """Zhou et al. 2022 (arXiv 2203.01238) §3.1, 'Extension to the rescaled MSE': the global-optimality results
    (NC1 and self-duality at every global minimiser, Thm 3.1) are expected to hold for the rescaled loss. At
    d ≥ K they do (certified; claim alpha of `ufm verify`). At d = K − 1 with α < 1 and a strong bias decay, the
    collapsed self-dual point is a critical point but not the minimum: Newton solves from other seeds reach a
    lower critical point whose class means are not self-dual."""
    p = ufm.Problem(K=4, n=3, d=3, loss="mse", alpha=0.5, M=1.0, lam_w=5e-3, lam_h=5e-3, lam_b=1.0)
    ends = []
    for seed in range(4):
        sol = ufm.solve(p, method="newton", max_steps=2000, seed=seed)
        ends.append((sol.objective, float(ufm.metrics.all(sol.W, sol.H, sol.b)["self_duality"]), sol.grad_norm))
    nc = min((f for f, sd, _ in ends if sd < 1e-8), default=math.nan)
    low = min(ends)
    return _record(
        "2203.01238", "§3.1 ('Extension to the rescaled MSE'), at d = K − 1",
        "the global optimality results (NC1, self-duality: Thm 3.1) should also hold for the rescaled MSE",
        "they hold at d ≥ K (certified); at d = K − 1, α < 1 and a large λ_b the self-dual collapsed point is not "
        "the global minimum: a lower critical point has class means that are not self-dual",
        nc, low[0], low[0],
        f"lowest of 4 Newton solves, rescaled MSE α=0.5 M=1 K=4 n=3 d=3 λ_W=λ_H=5e-3 λ_b=1: self-duality error "
        f"{low[1]:.3g} there (‖∇f‖ = {low[2]:.1e}); the self-dual point's f is the printed value",
    )._replace(holds=bool(low[1] > 1e-3 and low[0] < nc - 1e-6 and low[2] < 1e-10))


def _losses_scale_constant() -> Erratum:
    """Zhou et al. 2022 (arXiv 2210.02192) App. C, proof of Thm 3 (the display after eq. 29: f = φ(p*) +
    K√(nλ_Wλ_H)|p*|) and App. B, Fig. 10's caption (ψ(t) = φ(t) + c|t|, c = K√(nλ_Wλ_H)). On the NC family
    Z = aΠY the penalty is λ_Z‖Z‖_* = λ_Z(K−1)√n·a and t = Σ_{j≠k}(z_j − z_k) = −(K−1)a, so the slope on t is
    √(nλ_Wλ_H): (K−1)√(nλ_Wλ_H) per unit of the per-entry gap p = t/(K−1), as the same proof's eq. 32 has it.
    The numerical value is a float64 Newton solve of the UFM; each formula's 1-D minimum comes from
    `scale_minima` (ψ(t) with slope c on t is g(a) at λ_Z = c/√n, t = −(K−1)a), so the printed slope K·c is the
    problem with λ_W, λ_H scaled by K."""
    from ._contrastive import scale_minima

    K, n, lam = 4, 2, 1e-2
    p = ufm.Problem(K=K, n=n, d=K + 1, loss="ce", lam_w=lam, lam_h=lam, lam_b=lam)
    sol = ufm.solve(p, method="newton", max_steps=2000)
    return _record(
        "2210.02192", "App. C, proof of Thm 3 (after eq. 29) and App. B, Fig. 10 caption",
        "min f = min_t φ(t) + c|t| with c = K√(nλ_Wλ_H)",
        "c = √(nλ_Wλ_H) on t = Σ_{j≠k}(z_j − z_k), i.e. (K−1)√(nλ_Wλ_H) on the per-entry gap p = t/(K−1) (its "
        "eq. 32); the K of the display and of the caption is K − 1 on p and 1 on t",
        scale_minima(p.replace(lam_w=K * lam, lam_h=K * lam)).g, scale_minima(p).g, sol.objective,
        f"CE K={K} n={n} d={K + 1} λ_W=λ_H=λ_b={lam:g}: float64 Newton solve (‖∇f‖ = {sol.grad_norm:.1e}) vs the "
        "1-D minimum of ψ with each slope",
    )


CHECKS: tuple[Callable[[], Erratum], ...] = (
    _mse_bias_regime, _mse_threshold, _lemma_b2_tail, _hessian_w_scale, _kappa_k2, _thm1_gram, _polar_mse,
    _polar_ce_grad, _prop_c4_sqrt_n, _isotropic_bias,
    _d_ge_k_necessary, _saddle_hessian_degenerate, _rescaled_mse_d_k_minus_1, _losses_scale_constant,
)


@float64()
def errata() -> list[Erratum]:
    """Every erratum found by the toolkit's checks, each re-verified now (see `Erratum.holds`)."""
    return [check() for check in CHECKS]
