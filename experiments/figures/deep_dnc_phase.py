"""Where deep neural collapse stops being optimal in the ReLU MSE DUFM: the lowest objective a census reaches
against the best DNC value, over (K, L) and over λ (`ufm.theory.deep_census`, `ufm.theory.dnc`)."""

from __future__ import annotations


import ufm
from ufm import theory

from . import _record
from ._figure import Figure
from ._style import MARKERS, PALETTE, subplots

NAME = "deep-dnc-phase"
TITLE = "Is deep neural collapse optimal? The lowest point found against f_DNC over classes, depth and λ"
REPRODUCES = ("the claim of Súkeník, Lampert, Mondelli 2024, \"Neural Collapse versus Low-rank Bias: Is Deep Neural "
              "Collapse Really Optimal?\", arXiv 2405.14468 (DNC optimal with two layers or two classes, not beyond), "
              "and of Súkeník, Mondelli, Lampert 2023, arXiv 2305.13165 (binary: DNC optimal), tested by census")
CAPTION = ("Bias-free MSE deep UFM with ReLU, n = 1, d and widths = K, every λ equal. For each problem a census "
           "(`theory.deep_census`, 8 starts: the DNC point, it perturbed, low-rank starts — middle layers keeping r < K "
           "directions —, random N(0, s²) starts; L-BFGS, seed 0) gives the lowest objective f_{best} reached — an upper bound on the global minimum whatever "
           "the solver's status — and the figure shows (f_{best} − f_{DNC})/f_{DNC}, f_{DNC} the best point with deep "
           "neural collapse (`theory.dnc`). Below 0 (filled markers) DNC is proved not optimal by the point found; "
           "at 0 (open markers) nothing below DNC was found (which proves nothing). (a) Over the number of "
           "classes K for each depth L at λ = 2·10⁻³. (b) Over λ for K = 4, L = 4. Checks: at K = 2 and at L = 2 "
           "no start ends below f_{DNC} (to 10⁻⁹).")

SETUP = {"n": 1, "loss": "mse", "bias": False, "activation": "relu"}


def params(quick: bool) -> dict:
    return {**SETUP, "Ks": [2, 4] if quick else [2, 3, 4, 5, 6], "Ls": [2, 4] if quick else [2, 3, 4],
            "lam": 2e-3, "lams": [1e-3, 2e-3, 4e-3] if quick else [5e-4, 1e-3, 2e-3, 3e-3, 4e-3, 6e-3],
            "sweep": {"K": 4, "L": 4}, "starts": 8, "seed": 0, "method": "lbfgs", "max_steps": 5000}


def _margin(K: int, L: int, lam: float, p: dict):
    prob = ufm.Problem(K=K, d=K, depth=L, lam_w=lam, lam_h=lam, **SETUP)
    c = theory.deep_census(prob, starts=p["starts"], seed=p["seed"], method=p["method"], max_steps=p["max_steps"])
    return {"K": K, "L": L, "lam": lam, "f_dnc": c.f_dnc, "lowest": c.lowest, "margin": c.margin,
            "below_dnc": c.below_dnc, "first_below": c.first_below}


def draw(p: dict, quick: bool):
    fig, axes = subplots(1, 2, height=2.3)
    data, checks = {"by_K": [], "by_lambda": []}, {}
    for i, L in enumerate(p["Ls"]):
        rows = [_margin(K, L, p["lam"], p) for K in p["Ks"]]
        data["by_K"] += rows
        for r in rows:
            if r["K"] == 2 or r["L"] == 2:
                checks[f"K={r['K']} L={r['L']}: nothing below DNC"] = _record.check(
                    max(-r["margin"], 0.0), 1e-9, "DNC is optimal with two classes or two layers (the papers)")
        _plot(axes[0, 0], [r["K"] for r in rows], rows, PALETTE[i], MARKERS[i], f"L = {L}")
    rows = [_margin(p["sweep"]["K"], p["sweep"]["L"], lam, p) for lam in p["lams"]]
    data["by_lambda"] = rows
    _plot(axes[0, 1], p["lams"], rows, PALETTE[0], MARKERS[0], f"K = {p['sweep']['K']}, L = {p['sweep']['L']}")
    axes[0, 1].set_xscale("log")
    axes[0, 1].set_xticks(p["lams"], [f"{v:g}" for v in p["lams"]], rotation=30)
    axes[0, 1].set_xticks([], minor=True)
    for ax, title, xlabel in zip(axes[0], (f"(a) by classes, λ = {p['lam']:g}", "(b) by λ"), ("classes K", "λ")):
        ax.axhline(0.0, color="0.3", ls=":", lw=0.9)
        ax.set_yscale("symlog", linthresh=1e-4)
        ax.set_ylim(-0.3, 1e-4)
        ax.set_title(title, pad=2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(r"$(f_{best} - f_{DNC})/f_{DNC}$")
    axes[0, 0].set_xticks(p["Ks"])
    axes[0, 0].legend(loc="lower left")
    axes[0, 1].legend(loc="lower left")
    return fig, data, checks


def _plot(ax, xs, rows, color, marker, label):
    ys = [min(r["margin"], 0.0) if r["margin"] > -1e-9 else r["margin"] for r in rows]
    ax.plot(xs, ys, color=color, lw=0.9, label=label)
    for x, y, r in zip(xs, ys, rows):
        ax.plot([x], [y], marker=marker, color=color, ms=4, ls="none",
                markerfacecolor=color if r["below_dnc"] else "white")


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=32)
