"""Minority collapse in the imbalanced UFM: CE's minority classifiers merge, then vanish; MSE's per-class norms
against their closed form."""

from __future__ import annotations

import math

import numpy as np
from matplotlib.ticker import NullFormatter

import ufm
from ufm import theory

from . import _record
from ._figure import Figure
from ._style import MARKERS, PALETTE, subplots

NAME = "minority-collapse"
TITLE = ("Imbalanced classes: CE minority classifiers merge then vanish; MSE norms vs closed form; SELI, not the "
         "ETF, as λ → 0")
REPRODUCES = ("the toolkit's own (the phenomenon of Fang et al. 2021, \"Exploring Deep Neural Networks via "
              "Layer-Peeled Model: Minority Collapse in Imbalanced Training\", arXiv 2101.12699, on the regularised "
              "UFM; MSE setting of Dang et al. 2023, arXiv 2301.00437)")
CAPTION = ("Float64 solves of the imbalanced UFM, λ_W = λ_H = λ, d = K = 4. (a) CE with counts (100, 100, 10, 10), "
           "λ_b = 10⁻²: cosine between the two minority classifiers and their norm relative to a majority one. "
           "As λ grows the minority classifiers first merge onto one vector (cosine 1: minority collapse), then "
           "vanish; dashed lines: the two thresholds located by bisection on certified solves "
           "(ufm.theory.minority_threshold: the rank of WH drops there, and the certificate decides each step); "
           "the merge is at λ = √n_min/N = √10/220, derived here (ufm.theory.merge_threshold) and matched to 1e-8. "
           "(b) Bias-free MSE with counts (100, 40, 10, 4): ‖w_k‖ of the solves (markers) and the closed form "
           "(lines, ufm.theory.imbalanced_mse: ‖w_k‖² = √(λ_H/λ_W)(√n_k − Nλ)₊); class k vanishes at "
           "λ = √n_k/N (dotted), the smallest first. (c) Bias-free CE, counts (100, 100, 10, 10), λ → 0: distance "
           "of the trace-normalised W Wᵀ to the SELI geometry (Ẑ Ẑᵀ)^{1/2}, Ẑ = Y − 11ᵀ/K (Thrampoulidis et al. "
           "2022, \"Imbalance Trouble: Revisiting Neural-Collapse Geometry\", arXiv 2208.05512) and to the simplex "
           "ETF: the solutions approach SELI, slowly (about 1/log(1/λ)), and stay away from the ETF.")

CE = {"K": 4, "n": (100, 100, 10, 10), "d": 4, "loss": "ce", "lam_b": 1e-2}
MSE = {"K": 4, "n": (100, 40, 10, 4), "d": 4, "loss": "mse", "bias": False}


def params(quick: bool) -> dict:
    m = 8 if quick else 40
    return {"ce": {**CE, "n": list(CE["n"]), "lam": [2e-3, 3e-2, m], "brackets": [[0.01, 0.015], [0.0185, 0.03]],
                   "rtol": 1e-6 if quick else 1e-9},
            "mse": {**MSE, "n": list(MSE["n"]), "lam": [1e-3, 8e-2, m]},
            "seli": {"lam": [1e-2, 1e-4, 1e-8] if quick else [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6, 1e-7, 1e-8]},
            "method": "auto (reduced); L-BFGS in (c)", "init": "seed 0"}


def draw(prm: dict, quick: bool):
    fig, axes = subplots(1, 3, height=2.3)
    data, checks = {}, {}

    # (a) CE: merge, then vanish.
    base = ufm.Problem(**CE)
    lams = np.geomspace(*prm["ce"]["lam"][:2], prm["ce"]["lam"][2])
    rows = []
    for lam in lams:
        p = base.replace(lam_w=float(lam), lam_h=float(lam))
        s = ufm.solve(p)
        w = np.linalg.norm(s.W, axis=1)
        cos = float(s.W[2] @ s.W[3] / (w[2] * w[3])) if w[2] > 1e-9 * w[0] else math.nan
        rows.append({"lam": float(lam), "cos_minority": cos, "norm_ratio": float(w[2] / w[0]), "status": s.status})
        if s.status != "converged":
            checks[f"ce λ={lam:.3g}: converged"] = _record.check(0.0, 1.0, s.status, upper=False)
    thresholds = []
    for (lo, hi), what in zip(prm["ce"]["brackets"], ("merge", "vanish")):
        t = theory.minority_threshold(base, lo, hi, minority=[2, 3], rtol=prm["ce"]["rtol"])
        thresholds.append({"what": what, "lam": t.lam, "ranks": [t.rank_lo, t.rank_hi], "bracket": list(t.bracket)})
        checks[f"ce {what}: rank of WH drops {t.rank_lo} → {t.rank_hi}"] = _record.check(
            abs((t.rank_lo - t.rank_hi) - 1), 0, "one minority direction is lost at each transition")
        checks[f"ce {what}: certificate ratio just above λ*"] = _record.check(
            abs(t.ratio_hi - 1), 1e-9, "the collapsed point is the certified global minimum there")
        if what == "merge":
            exact = theory.merge_threshold(base, [2, 3])
            checks["ce merge: located λ* = √n_min/N (rel)"] = _record.check(
                abs(t.lam - exact) / exact, 1e-5 if quick else 1e-8, "bisection to rtol (1e-6 quick, 1e-9 full)")
    data["ce"] = {"rows": rows, "thresholds": thresholds}
    ax = axes[0, 0]
    x = [r["lam"] for r in rows]
    ax.plot(x, [r["cos_minority"] for r in rows], color=PALETTE[0], marker=MARKERS[0], label="cos(w₃, w₄)")
    ax.plot(x, [r["norm_ratio"] for r in rows], color=PALETTE[1], marker=MARKERS[1], label="‖w₃‖/‖w₁‖")
    for t, (y, ha) in zip(thresholds, ((-0.3, "right"), (-0.45, "left"))):
        ax.axvline(t["lam"], color="0.3", ls="--", lw=0.8)
        ax.text(t["lam"], y, f" {t['what']} λ={t['lam']:.4f} ", fontsize=6, va="bottom", ha=ha)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks([3e-3, 1e-2, 3e-2], ["0.003", "0.01", "0.03"])
    ax.set_ylim(-0.55, 1.08)
    ax.set_xlabel(r"$\lambda_W = \lambda_H = \lambda$")
    ax.set_title("(a) CE, counts (100, 100, 10, 10)", pad=2)
    ax.legend(loc="center left", fontsize=6)

    # (b) MSE bias-free: per-class norms vs the closed form.
    base = ufm.Problem(**MSE)
    lams = np.geomspace(*prm["mse"]["lam"][:2], prm["mse"]["lam"][2])
    fine = np.geomspace(*prm["mse"]["lam"][:2], 400)
    rows, worst = [], 0.0
    for lam in lams:
        p = base.replace(lam_w=float(lam), lam_h=float(lam))
        s = ufm.solve(p)
        th = theory.imbalanced_mse(p)
        w = np.linalg.norm(s.W, axis=1)
        worst = max(worst, float(np.max(np.abs(w - th.w_norms))))  # absolute; relative to the sweep's scale below
        rows.append({"lam": float(lam), "w_norms": w.tolist(), "w_norms_closed_form": th.w_norms.tolist(),
                     "objective": s.objective, "closed_form": th.objective})
        checks[f"mse λ={lam:.3g}: objective = closed form"] = _record.check(
            abs(s.objective - th.objective) / th.objective, 1e-12, "two float64 minimisations")
    scale = max(max(r["w_norms_closed_form"]) for r in rows)
    checks["mse: ‖w_k‖ = closed form (max error / largest norm)"] = _record.check(
        worst / scale, 1e-6, "norms move as √ of the objective's 1e-12 error near a vanishing class")
    curves = np.array([theory.imbalanced_mse(base.replace(lam_w=float(lam), lam_h=float(lam))).w_norms for lam in fine])
    ax = axes[0, 1]
    for k, nk in enumerate(MSE["n"]):
        ax.plot(fine, curves[:, k], color=PALETTE[k], lw=1.0, label=f"$n_{k + 1}$ = {nk}")
        ax.plot([r["lam"] for r in rows], [r["w_norms"][k] for r in rows], ls="none", color=PALETTE[k],
                marker=MARKERS[k], ms=3.5)
        ax.axvline(math.sqrt(nk) / base.N, color=PALETTE[k], ls=":", lw=0.8)
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel(r"$\lambda_W = \lambda_H = \lambda$")
    ax.set_ylabel(r"$\|w_k\|$")
    ax.set_title("(b) bias-free MSE: solves vs closed form", pad=2)
    ax.legend(loc="lower left", fontsize=6)
    data["mse"] = {"rows": rows, "thresholds": [math.sqrt(nk) / base.N for nk in MSE["n"]]}

    # (c) Vanishing regularisation: SELI, not the ETF.
    base = ufm.Problem(**{**CE, "bias": False})
    G_seli, G_etf = theory.seli_gram(CE["n"]), (np.eye(4) - 0.25) / 3
    rows = []
    for lam in prm["seli"]["lam"]:
        # L-BFGS: Newton-CG stalls at relative gradients ~1e-9 on this ill-conditioned path (λ = 1e-4).
        s = ufm.solve(base.replace(lam_w=lam, lam_h=lam), method="lbfgs")
        WW = s.W @ s.W.T / np.trace(s.W @ s.W.T)
        rows.append({"lam": lam, "to_seli": float(np.linalg.norm(WW - G_seli)),
                     "to_etf": float(np.linalg.norm(WW - G_etf)), "status": s.status,
                     "rel_grad_norm": s.rel_grad_norm})
        checks[f"seli λ={lam:g}: rel. gradient"] = _record.check(s.rel_grad_norm, 1e-10, "L-BFGS's default tolerance")
    checks["seli: distance to SELI decreases as λ → 0"] = _record.check(
        float(all(a["to_seli"] > b["to_seli"] for a, b in zip(rows, rows[1:]))), 1.0, "monotone path", upper=False)
    checks["seli: at the smallest λ, SELI is 10× closer than the ETF"] = _record.check(
        rows[-1]["to_seli"] / rows[-1]["to_etf"], 0.15, "slow ~1/log(1/λ) approach")
    data["seli"] = rows
    ax = axes[0, 2]
    x = [r["lam"] for r in rows]
    ax.plot(x, [r["to_seli"] for r in rows], color=PALETTE[0], marker=MARKERS[0], label="to SELI")
    ax.plot(x, [r["to_etf"] for r in rows], color=PALETTE[1], marker=MARKERS[1], label="to simplex ETF")
    ax.set_xscale("log")
    ax.set_xlabel(r"$\lambda_W = \lambda_H = \lambda$ (no bias)")
    ax.set_ylabel(r"$\|WW^\top/\mathrm{tr} - G\|_F$")
    ax.set_ylim(0, None)
    ax.set_title("(c) CE, λ → 0: SELI, not the ETF", pad=2)
    ax.legend(loc="upper center", fontsize=6)
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=16)
