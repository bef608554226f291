"""The deep linear UFM with balanced bias-free MSE: the closed form against float64 solves over λ, for depths
L = 1 … 4, with each depth's collapse threshold λ* marked (`ufm.theory.deep_linear_mse`)."""

from __future__ import annotations

import numpy as np

import ufm
from ufm import theory

from . import _record
from ._figure import Figure
from ._style import MARKERS, PALETTE, subplots

NAME = "deep-linear-threshold"
TITLE = "Deep linear UFM, MSE: the global minimum over λ and its collapse to the origin, by depth"
REPRODUCES = ("toolkit figure (no paper has it); the closed form of ufm.theory.deep_linear_mse, derived, in the setting "
              "of Dang et al. 2023, \"Neural Collapse in Deep Linear Networks\", arXiv 2301.00437 (bias-free MSE)")
CAPTION = ("Bias-free MSE deep linear UFM f = ‖W_{L}⋯W_{1}H − Y‖²/(2N) + Σ λ/2 ‖W_{l}‖² + λ/2 ‖H‖² "
           "(K = 4, n = 2, d = 5, every λ equal), for depth L = 1 … 4 against λ/λ*(L), λ*(L) each depth's "
           "collapse threshold (dotted). Lines: the closed form (the L + 1 penalties are a Schatten-2/(L+1) "
           "quasi-norm of Z = W_{L}⋯W_{1}H, aligned with Y: a 1-D problem per singular value); markers: the lower "
           "of two float64 Newton solves (from N(0, 1) and N(0, 10⁻⁴) starts). (a) f* over the origin's value "
           "1/2: it reaches 1 at λ* and stays there. (b) The singular value s* of Z* over √n: at L = 1 it falls "
           "continuously to 0 (Zhou et al. 2022, arXiv 2203.01238, Thm 3.1); for L ≥ 2 it jumps from "
           "(L − 1)/L to 0 — the origin is a local minimum at every λ and becomes the global one at λ*. Checks: "
           "every solve's f equals the closed form to 10⁻¹⁰.")

SETUP = {"K": 4, "n": 2, "d": 5, "loss": "mse", "bias": False}


def params(quick: bool) -> dict:
    ratios = [0.3, 0.9, 1.1, 1.6] if quick else list(np.round(np.geomspace(0.2, 2.0, 13), 4))
    return {**SETUP, "depths": [1, 2] if quick else [1, 2, 3, 4], "lambda_over_threshold": ratios,
            "method": "newton", "starts": "N(0, 1) seed 0 and N(0, 1e-4) seed 0; the lower end point"}


def draw(p: dict, quick: bool):
    fig, axes = subplots(1, 2, height=2.3)
    data, checks = {}, {}
    fine = np.geomspace(0.2, 2.0, 200)
    for i, L in enumerate(p["depths"]):
        base = ufm.Problem(depth=L, **SETUP)
        lam_star = theory.deep_linear_mse_threshold(base)
        rows = []
        for r in p["lambda_over_threshold"]:
            prob = base.replace(lam_w=r * lam_star, lam_h=r * lam_star)
            cf = theory.deep_linear_mse(prob)
            sols = [ufm.solve(prob, method="newton", init_scale=s, max_steps=3000) for s in (1.0, 1e-2)]
            best = min(sols, key=lambda s: s.objective)
            Z = ufm.logits(best.params, "linear")
            s_max = float(np.linalg.svd(Z, compute_uv=False)[0])
            rows.append({"ratio": r, "lambda": r * lam_star, "objective": best.objective, "closed_form": cf.objective,
                         "s_over_sqrt_n": s_max / np.sqrt(prob.n), "closed_s_over_sqrt_n": cf.s / np.sqrt(prob.n),
                         "status": best.status})
            checks[f"L={L} λ/λ*={r:g}: solve f = closed form"] = _record.check(
                abs(best.objective - cf.objective) / cf.objective, 1e-10, "float64 Newton solve at rel. gradient 1e-12")
        data[f"L={L}"] = {"lambda_star": lam_star, "rows": rows}
        curve = [theory.deep_linear_mse(base.replace(lam_w=r * lam_star, lam_h=r * lam_star)) for r in fine]
        style = {"color": PALETTE[i], "lw": 1.0}
        axes[0, 0].plot(fine, [2 * c.objective for c in curve], label=f"L = {L}", **style)
        axes[0, 1].plot(fine, [c.s / np.sqrt(p["n"]) for c in curve], **style)
        mk = {"color": PALETTE[i], "marker": MARKERS[i], "ls": "none", "ms": 3.5}
        axes[0, 0].plot([r["ratio"] for r in rows], [2 * r["objective"] for r in rows], **mk)
        axes[0, 1].plot([r["ratio"] for r in rows], [r["s_over_sqrt_n"] for r in rows], **mk)
    for ax, title in zip(axes[0], (r"(a) $f^*$ / $f(0)$", r"(b) $s^*/\sqrt{n}$, the singular value of $Z^*$")):
        ax.axvline(1.0, color="0.3", ls=":", lw=0.9)
        ax.set_xscale("log")
        ax.set_xticks([0.2, 0.5, 1.0, 2.0], ["0.2", "0.5", "1", "2"])
        ax.set_xticks([], minor=True)
        ax.set_xlabel(r"$\lambda / \lambda^*(L)$")
        ax.set_title(title, pad=2)
    axes[0, 0].legend(loc="lower right")
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=30)
