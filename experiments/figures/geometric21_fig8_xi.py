"""Zhu et al. 2021 (arXiv 2105.02375), Fig. 8: the CE objective on the neural-collapse family as a 1-D curve ξ(ρ; λ_W, λ_H), ρ = ‖W‖_F²
(App. B.1); its minimum is the CE global minimum."""

from __future__ import annotations


import numpy as np
from scipy.optimize import minimize_scalar

from ufm import theory
import ufm

from . import _record
from ._figure import Figure
from ._style import MARKERS, PALETTE, subplots

NAME = "geometric21-fig8-xi"
TITLE = "ξ(ρ): the CE objective along ‖W‖_F² = ρ, for n = 100"
REPRODUCES = "Zhu et al. 2021, \"A Geometric Analysis of Neural Collapse with Unconstrained Features\", arXiv 2105.02375, Fig. 8; App. B.1"
CAPTION = ("ξ(ρ; λ_W, λ_H) of Zhu et al. 2021, arXiv 2105.02375, App. B.1 for n = 100 and several (K, λ_W, λ_H). Diamonds: the minimum of "
           "each curve; crosses: (‖W‖_F², f) of a float64 `ufm.solve` of the full UFM (d = K); the minimum value "
           "equals the CE closed form f* of Guo et al. 2025, arXiv 2402.03979, Thm 4.1 (checks below). Dotted: ξ(0) = log K and ξ → ∞ as ρ → ∞, so "
           "the minimum is attained at a finite ρ.")

CONFIGS = ((10, 5e-4, 5e-4), (10, 1e-3, 1e-4), (10, 1e-4, 1e-3), (100, 5e-4, 5e-4), (100, 1e-3, 1e-4),
           (100, 1e-4, 1e-3))


def params(quick: bool) -> dict:
    return {"n": 100, "configs": [{"K": K, "lam_w": lw, "lam_h": lh} for K, lw, lh in CONFIGS],
            "solve_K": [10], "points": 300 if quick else 1200}


def xi_min(K, n, lw, lh):
    """The minimum of ξ by a bounded scalar search (ξ is smooth and unimodal here)."""
    f = lambda r: float(theory.xi_ce(r, K, n, lw, lh))  # noqa: E731
    hi = 10.0
    while f(2 * hi) < f(hi):
        hi *= 2
    r = minimize_scalar(f, bounds=(0.0, 2 * hi), method="bounded", options={"xatol": 1e-10 * hi})
    return float(r.x), float(r.fun)


def draw(p: dict, quick: bool):
    n = p["n"]
    fig, axes = subplots(1, 2, height=2.3)
    data, checks = {}, {}
    solved = [c for c in CONFIGS if c[0] in p["solve_K"]]
    sols = ufm.solve_batch([ufm.Problem(K=K, n=n, d=K, loss="ce", lam_w=lw, lam_h=lh) for K, lw, lh in solved])
    for j, K in enumerate(sorted({c[0] for c in CONFIGS})):
        ax = axes[0, j]
        mine = [c for c in CONFIGS if c[0] == K]
        top = 4 * max(xi_min(K, n, lw, lh)[0] for _, lw, lh in mine)
        for i, (K_, lw, lh) in enumerate(mine):
            prob = ufm.Problem(K=K, n=n, d=K, loss="ce", lam_w=lw, lam_h=lh)
            pred = theory.predict(prob)
            rho_star, xi_star = xi_min(K, n, lw, lh)
            rho = np.concatenate([[0.0], np.geomspace(1e-3 * top, top, p["points"])])
            xi = theory.xi_ce(rho, K, n, lw, lh)
            label = rf"$\lambda_W$={lw:g}, $\lambda_H$={lh:g}"
            ax.plot(rho[1:], xi[1:], color=PALETTE[i], label=label if j == 0 else None)
            ax.plot(rho_star, xi_star, MARKERS[3], color=PALETTE[i], ms=5)
            key = f"K={K}, lam_w={lw:g}, lam_h={lh:g}"
            checks[f"{key}: min ξ vs closed-form f*"] = _record.check(
                abs(xi_star - pred.objective) / pred.objective, 1e-9, "scalar search to 1e-10 in ρ; ξ flat there")
            checks[f"{key}: argmin ρ vs K‖w*‖²"] = _record.check(
                abs(rho_star - K * pred.w_norm**2) / rho_star, 1e-6, "argmin of a flat minimum: √(1e-9 rel in ξ)")
            entry = {"rho_star": rho_star, "xi_star": xi_star, "f_star_theory": pred.objective, "xi_0": xi[0]}
            checks[f"{key}: ξ(0) = log K"] = _record.check(abs(xi[0] - np.log(K)), 1e-12, "exact limit")
            if (K, lw, lh) in solved:
                s = sols[solved.index((K, lw, lh))]
                rho_s = float(np.sum(s.W**2))
                ax.plot(rho_s, s.objective, "x", color="k", ms=6, mew=1.2)
                entry.update(solve_rho=rho_s, solve_objective=s.objective, solve_status=s.status)
                checks[f"{key}: solve f vs min ξ"] = _record.check(
                    abs(s.objective - xi_star) / xi_star, 1e-9, "float64 solve at rel. gradient 1e-12")
            data[key] = entry
        ax.set_title(f"$K$ = {K}, $n$ = {n}", pad=2)
        ax.set_xlabel(r"$\rho = \|W\|_F^2$")
        ax.set_ylabel(r"$\xi(\rho;\lambda_W,\lambda_H)$")
        ax.set_xscale("log")  # ρ* spans a decade between the (λ_W, λ_H) pairs
        ax.axhline(np.log(K), color="0.5", lw=0.7, ls=":")
        ax.set_ylim(0, 1.6 * np.log(K))
    fig.legend(loc="outside lower center", ncol=3)
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=3)
