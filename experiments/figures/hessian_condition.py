"""The toolkit's Hessian figure: measured condition numbers of the block Hessians at CE/LS minimizers against
Guo et al. 2025's (arXiv 2402.03979) K·p_t, over δ, and one measured W-block spectrum against eqs. 52–58."""

from __future__ import annotations


import numpy as np

from ufm import theory
import ufm

from . import _record
from ._figure import Figure
from ._style import MARKERS, PALETTE, subplots

NAME = "hessian-condition"
TITLE = "Hessian condition number K·p_t over δ, measured vs Guo et al. 2025, arXiv 2402.03979, Thm 4.2"
REPRODUCES = "toolkit figure (no paper has it); Guo et al. 2025, arXiv 2402.03979, Thm 4.2, App. E eqs. 45–59"
CAPTION = ("Left: condition numbers (largest / smallest nonzero eigenvalue) of ∇²_W φ (H fixed) and ∇²_H φ "
           "(W fixed), φ the data term alone, computed densely at float64 `ufm.solve` minimizers of LS(δ) (δ = 0 is "
           "CE), against K·p_t(δ) of Guo et al. 2025, arXiv 2402.03979, Thm 4.2 (lines). κ falls towards 1 as δ → 1 − √(KN)λ_Z: label "
           "smoothing conditions the data term's blocks better (the full regularised Hessian goes the other way: "
           "figure ls-full-conditioning). Right: the measured ∇²_W φ spectrum (dots, ascending) at one δ "
           "and the predicted eigenvalues of eqs. 52–58 with their multiplicities (lines), using eq. 52's scale "
           "with the missing 1/N restored (errata).")

SETUP = {"n": 10, "lam_w": 5e-4, "lam_h": 5e-4, "lam_b": 5e-4, "bias": True}
KS = (4, 10)


def params(quick: bool) -> dict:
    return {**SETUP, "K": list(KS), "d": "K + 2", "deltas": 6 if quick else 14, "spectrum_at": {"K": 10, "delta": 0.2}, "method": "newton"}


def _problem(K, delta):
    return ufm.Problem(K=K, d=K + 2, loss="ls", delta=float(delta), **SETUP)


def draw(p: dict, quick: bool):
    fig, axes = subplots(1, 2, height=2.35)
    ax = axes[0, 0]
    data, checks = {}, {}
    for i, K in enumerate(KS):
        thr = 1 - theory.ce_ls_s(K, SETUP["n"], SETUP["lam_w"], SETUP["lam_h"])  # the largest δ before collapse
        deltas = np.linspace(0.0, 0.97 * thr, p["deltas"])
        dense = np.linspace(0.0, 0.999 * thr, 300)
        ax.plot(dense, [theory.predict(_problem(K, d)).kappa for d in dense], color=PALETTE[i], label=f"$K p_t$, $K$={K}")
        sols = ufm.solve_batch([_problem(K, d) for d in deltas], method="newton")
        cw, ch = [], []
        for j, d in enumerate(deltas):
            prob, s = _problem(K, d), sols[j]
            cw.append(theory.spectrum_w(prob, s.W, s.H, s.b).condition)
            ch.append(theory.spectrum_h(prob, s.W, s.H, s.b).condition)
            kappa = theory.predict(prob).kappa
            checks[f"K={K}, δ={d:.3f}: cond(∇²_W φ), cond(∇²_H φ) vs K·p_t"] = _record.check(
                max(abs(cw[-1] - kappa), abs(ch[-1] - kappa)) / kappa, 1e-7,
                "eigenvalues of a float64 minimizer (rel. gradient 1e-12), dense eigh")
        ax.plot(deltas, cw, MARKERS[0], color=PALETTE[i], mfc="none", ms=6, label=rf"cond $\nabla^2_W\varphi$, $K$={K}")
        ax.plot(deltas, ch, "x", color=PALETTE[i], ms=4, label=rf"cond $\nabla^2_H\varphi$, $K$={K}")
        data[f"K={K}"] = {"delta": deltas, "cond_w": cw, "cond_h": ch, "threshold_delta": thr}
    ax.set_xlabel(r"$\delta$")
    ax.set_ylabel("condition number")
    ax.set_title(r"(a) $\kappa$ at the minimizer", pad=2)
    ax.legend(loc="upper right", ncol=1)

    ax = axes[0, 1]
    K, delta = p["spectrum_at"]["K"], p["spectrum_at"]["delta"]
    prob = _problem(K, delta)
    s = ufm.solve(prob, method="newton")
    eig = theory.spectrum_w(prob, s.W, s.H, s.b).eigenvalues
    pred = theory.predicted_spectra(prob)
    ax.plot(np.arange(eig.size), eig, ".", color=PALETTE[0], ms=3, label="measured")
    start = 0
    predicted = []
    for j, (value, mult) in enumerate(pred.w):
        ax.hlines(value, start - 0.5, start + mult - 0.5, color=PALETTE[1], lw=1.6, label="eqs. 52–58" if j == 0 else None)
        ax.annotate(f"×{mult}", (start + mult / 2, value), textcoords="offset points", xytext=(0, 4), fontsize=6,
                    ha="center")
        predicted += [value] * mult
        start += mult
    predicted = np.array(predicted)
    err = float(np.max(np.abs(np.sort(predicted) - eig)) / np.max(eig))
    checks[f"K={K}, δ={delta}: W-block spectrum vs eqs. 52–58 (1/N restored)"] = _record.check(
        err, 1e-8, "dense eigh of a float64 minimizer; relative to the largest eigenvalue")
    ax.set_xlabel("eigenvalue index (ascending)")
    ax.set_ylabel(r"eigenvalue of $\nabla^2_W\varphi$")
    ax.set_title(rf"(b) spectrum at $K$={K}, $\delta$={delta}", pad=2)
    ax.legend(loc="upper left")
    data["spectrum"] = {"K": K, "delta": delta, "measured": eig, "predicted": [list(c) for c in pred.w]}
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=11)
