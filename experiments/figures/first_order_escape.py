"""The toolkit's first-order escape figure: plain gradient descent leaves every constructed strict saddle, at the
time the saddle's Hessian predicts."""

from __future__ import annotations


import numpy as np

import ufm
from ufm import theory

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "first-order-escape"
TITLE = "Gradient descent leaves each strict saddle when its negative curvature says"
REPRODUCES = ("toolkit figure (no paper has it); strict saddles of Zhou et al. 2022, arXiv 2210.02192, Thm 2; "
              "Zhu et al. 2021, arXiv 2105.02375, Thm 3.2; Zhou et al. 2022, arXiv 2203.01238, Thms 3.2–3.3")
CAPTION = ("Every critical point built by theory.saddles (the origin, zero-padded lower-rank minimisers, and for "
           "MSE without bias the singular-subset points), for CE, LS (δ = 0.2), FL (γ = 2) and MSE, with d above "
           "and at or below K; λ_W = λ_H = 10⁻². Plain gradient descent with step η = 1/λ_max(∇²f) starts 10⁻⁶ "
           "from the saddle in a random direction and runs until f has dropped 10⁻⁶·|f(saddle)|. Left: the "
           "measured number of steps against the quadratic model's, ½ Σ λ_i (1 − ηλ_i)^{2t} c_i² = −10⁻⁶|f| "
           "(c_i: the start's components on the Hessian's eigenvectors); the line is equality. Middle: escape "
           "time t·η against |λ_min|, the steepest negative curvature; the line is c/|λ_min| fitted in log "
           "(c = log of the growth the steepest mode needs, about 10 e-folds here); the scatter around it is the "
           "other negative modes and the start's projection. Right: f − f(saddle) along three runs (symlog).")

PROBLEMS = (
    ("CE d=5", {"loss": "ce", "K": 4, "n": 1, "d": 5}),
    ("CE d=3 (d < K)", {"loss": "ce", "K": 4, "n": 1, "d": 3}),
    ("LS d=4", {"loss": "ls", "delta": 0.2, "K": 3, "n": 2, "d": 4}),
    ("FL d=2 (d < K)", {"loss": "fl", "gamma": 2.0, "K": 3, "n": 1, "d": 2}),
    ("MSE no bias d=3 (d < K)", {"loss": "mse", "bias": False, "K": 4, "n": 2, "d": 3}),
    ("MSE d=6", {"loss": "mse", "K": 4, "n": 2, "d": 6}),
)
SETUP = {"lam_w": 1e-2, "lam_h": 1e-2}


def params(quick: bool) -> dict:
    return {**SETUP, "problems": dict(PROBLEMS), "radius": 1e-6, "drop": 1e-6, "step": "1/λ_max"}


def draw(p: dict, quick: bool):
    fig, axes = subplots(1, 3, height=3.0)
    axes = axes[0]
    data, checks = {}, {}
    traces = []
    for i, (title, kw) in enumerate(PROBLEMS):
        prob = ufm.Problem(**SETUP, **kw)
        for j, sd in enumerate(theory.saddles(prob)):
            e = theory.escape(prob, sd.point, radius=p["radius"], drop=p["drop"], seed=10 * i + j)
            key = f"{title}: {sd.name}"
            ok = e.steps is not None and e.predicted is not None
            checks[f"{key}: escaped, steps vs quadratic model"] = _record.check(
                max(abs(e.steps - e.predicted) - 1, 0) / e.predicted if ok else float("inf"), 0.02,
                "the model is exact to second order; the exit at 10⁻⁶|f| is still quadratic (±1 step rounding)")
            data[key] = {"steps": e.steps, "predicted": e.predicted, "lambda_min": e.lambda_min, "step": e.step,
                         "negative": e.negative, "f_saddle": e.f_saddle}
            marker = "o" if kw.get("d", 0) > kw["K"] else "s"
            axes[0].plot(e.predicted, e.steps, marker, color=PALETTE[i % len(PALETTE)], ms=4,
                         label=title if j == 0 else None)
            axes[1].plot(abs(e.lambda_min), e.steps * e.step, marker, color=PALETTE[i % len(PALETTE)], ms=4)
            if sd.name in ("origin", "padded-r1") and title in ("CE d=5", "FL d=2 (d < K)"):
                traces.append((f"{title}, {sd.name}", e.trace, PALETTE[i % len(PALETTE)], sd.name == "origin"))
    steps = [v["steps"] for v in data.values()]
    lo, hi = 0.7 * min(steps), 1.4 * max(steps)
    axes[0].plot([lo, hi], [lo, hi], color="0.4", lw=0.7, zorder=0)
    axes[0].set(xscale="log", yscale="log", xlabel="predicted steps (quadratic model)", ylabel="measured steps")
    axes[0].legend(loc="upper left", fontsize=6)
    lam = np.geomspace(min(abs(v["lambda_min"]) for v in data.values()) * 0.8,
                       max(abs(v["lambda_min"]) for v in data.values()) * 1.2, 50)
    x = np.array([abs(v["lambda_min"]) for v in data.values()])
    y = np.array([v["steps"] * v["step"] for v in data.values()])
    c = float(np.exp(np.mean(np.log(y * x))))  # least squares in log: t·η ≈ c/|λ_min|
    axes[1].plot(lam, c / lam, color="0.4", lw=0.7, zorder=0, label=rf"${c:.1f}/|\lambda_{{\min}}|$")
    axes[1].legend(loc="upper right", fontsize=6)
    data["fit: t·η·|λ_min|"] = c
    axes[1].set(xscale="log", yscale="log", xlabel=r"$|\lambda_{\min}(\nabla^2 f)|$ at the saddle",
                ylabel=r"escape time $t\,\eta$")
    for label, tr, color, solid in traces:
        axes[2].plot(np.arange(len(tr)), tr, color=color, ls="-" if solid else "--", label=label)
    axes[2].set_yscale("symlog", linthresh=1e-12)
    axes[2].set_ylim(top=1e-8)  # headroom above the plateau for the legend
    axes[2].set(xlabel="gradient step", ylabel=r"$f - f(\mathrm{saddle})$")
    axes[2].legend(loc="upper right", fontsize=6, framealpha=1.0)
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=15)
