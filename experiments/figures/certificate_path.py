"""The toolkit's certificate figure: ‖G‖₂/λ_Z and the certified gap bound along first-order runs, against the
true gap f − f*."""

from __future__ import annotations


import numpy as np

from ufm import theory
import ufm

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "certificate-path"
TITLE = "The global-optimality certificate along a solve"
REPRODUCES = "toolkit figure (no paper has it); certificate of ufm.theory.certificate (nuclear-norm relaxation, Zhu et al. 2021, arXiv 2105.02375, Lemma A.3)"
CAPTION = ("Full-batch SGD (lr 0.1, momentum 0.9) from N(0, 0.1²) for CE, LS(δ = 0.1) and MSE (K = 4, n = 5, d = 6, "
           "λ_W = λ_H = λ_b = 5·10⁻³), then a Newton-CG polish from the last iterate (right of the dotted line; one Newton step per "
           "30 units of the x axis). (a) The "
           "distance of the ratio ‖G‖₂/λ_Z of the logit gradient from 1: the ratio starts near 20 at the small "
           "initialization (the origin is a strict saddle exactly when it exceeds 1) and tends to 1, its value at "
           "a global minimizer with Z* ≠ 0. (b) The certified bound on f − f* (solid) lies above the true gap to "
           "the closed-form f* (dashed) at every iterate, as it must. Along SGD it falls far more slowly than the "
           "true gap (it scales with a subgradient norm times a level-set radius of order F/λ_Z, and it is the "
           "minimum over truncation ranks of WH, which drops the slowly decaying spurious singular values); after "
           "the Newton polish it reaches rounding level.")

LOSSES = (("CE", {"loss": "ce"}), ("LS (δ=0.1)", {"loss": "ls", "delta": 0.1}), ("MSE", {"loss": "mse"}))
SETUP = {"K": 4, "n": 5, "d": 6, "lam_w": 5e-3, "lam_h": 5e-3, "lam_b": 5e-3, "bias": True}


def params(quick: bool) -> dict:
    return {**SETUP, "losses": {k: v for k, v in LOSSES}, "optimizer": {"method": "sgd", "lr": 0.1, "momentum": 0.9},
            "steps": 1500 if quick else 4000, "every": 50 if quick else 40, "polish": {"method": "newton", "steps": 6}}


def draw(p: dict, quick: bool):
    fig, axes = subplots(1, 2, height=2.35)
    data, checks = {}, {}
    for i, (name, kw) in enumerate(LOSSES):
        prob = ufm.Problem(**SETUP, **kw)
        f_star = theory.predict(prob).objective
        tr = ufm.trajectory(prob, ufm.SGD(lr=0.1, momentum=0.9), steps=p["steps"], every=p["every"])
        points = [(int(s), tr[j], float(tr.objective[j])) for j, s in enumerate(tr.step)]
        last = tr[len(tr) - 1]
        polish = ufm.trajectory(prob, "newton", steps=p["polish"]["steps"], every=1, init=tuple(last))
        points += [(p["steps"] + int(k) * p["every"], polish[j], float(polish.objective[j]))
                   for j, k in enumerate(polish.step) if k > 0]
        steps, ratio, bound, gap = [], [], [], []
        for step, (W, H, b), f in points:
            c = theory.certificate(prob, W, H, b)
            steps.append(step)
            ratio.append(c.ratio)
            bound.append(c.gap_bound)
            gap.append(f - f_star)
        steps, ratio, bound, gap = (np.array(v, dtype=float) for v in (steps, ratio, bound, gap))
        axes[0, 0].plot(steps, np.maximum(np.abs(ratio - 1.0), 1e-17), color=PALETTE[i], label=name)
        axes[0, 1].plot(steps, np.maximum(bound, 1e-17), color=PALETTE[i])
        axes[0, 1].plot(steps, np.maximum(gap, 1e-17), color=PALETTE[i], ls="--")
        scale = max(abs(f_star), 1.0)
        checks[f"{name}: bound ≥ true gap at every iterate"] = _record.check(
            float(np.max(gap - bound) / scale), 1e-13, "a rigorous bound; rounding of f and f* only")
        checks[f"{name}: final ratio ‖G‖₂/λ_Z"] = _record.check(
            abs(ratio[-1] - 1.0), 1e-6, "= 1 at a minimizer with Z* ≠ 0")
        checks[f"{name}: final certified gap (relative)"] = _record.check(
            float(bound[-1] / scale), 1e-9, "after the Newton polish")
        data[name] = {"step": steps, "ratio": ratio, "gap_bound": bound, "true_gap": gap, "f_star": f_star}
    for ax in axes[0]:
        ax.axvline(p["steps"], color="0.5", lw=0.8, ls=":")
        ax.text(p["steps"], 1.0, " Newton", transform=ax.get_xaxis_transform(), fontsize=6, va="top")
        ax.set_xlabel("iteration")
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylabel(r"$|\,\|G\|_2/\lambda_Z - 1\,|$")
    axes[0, 0].set_title("(a) certificate ratio", pad=2)
    axes[0, 1].set_yscale("log")
    axes[0, 1].set_ylabel(r"gap to $f^*$")
    axes[0, 1].set_title(r"(b) certified bound vs true gap", pad=2)
    from matplotlib.lines import Line2D  # one legend beside the panels: colour = loss, line style = quantity

    handles, labels = axes[0, 0].get_legend_handles_labels()
    handles += [Line2D([], [], color="0.2"), Line2D([], [], color="0.2", ls="--")]
    labels += ["(b) certified bound", r"(b) true gap $f-f^*$"]
    fig.legend(handles, labels, loc="outside right center")
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=13)
