"""The toolkit's saddle figure: first-order runs started next to each constructed strict saddle, with the
objective and the smallest Hessian eigenvalue along the way."""

from __future__ import annotations


import numpy as np

from ufm import theory
import ufm

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "saddle-escape"
TITLE = "Escaping the strict saddles: objective and λ_min(∇²f) along the run"
REPRODUCES = ("toolkit figure (no paper has it); strict saddles of Zhou et al. 2022, arXiv 2203.01238, Thm 3.2–3.3, Zhu et al. 2021, arXiv 2105.02375, Thm 3.2 / App. C, "
              "Zhou et al. 2022, arXiv 2210.02192, Thm 2")
CAPTION = ("Each constructed critical point of `theory.saddles` (the origin, padded minimizers of feature dimension "
           "r < K − 1, and for MSE without bias the singular-subset points of Zhou et al. 2022, arXiv 2203.01238, eq. 22), perturbed by a "
           "generic 10⁻⁶ Gaussian, then full-batch SGD (lr 0.1, momentum 0.9); K = 4, n = 5, d = 6, "
           "λ_W = λ_H = 5·10⁻³. Top: f − f* (closed form). Bottom: the smallest eigenvalue of the full Hessian "
           "(dense) at the iterate: negative at the start (dots: the saddle's predicted λ_min for the origin, "
           "the Rayleigh quotient 2(λ_Z − ‖G‖₂)/‖Δ‖² along the constructed direction otherwise, an upper bound), "
           "then 0 at the global minimizer, where the rotation symmetry W → WR, H → RᵀH leaves zero modes. "
           "Plateaus show the run passing near the lower-rank saddles on its way.")

PROBLEMS = (("CE", {"loss": "ce", "bias": True, "lam_b": 5e-3}), ("MSE (no bias)", {"loss": "mse", "bias": False}))
SETUP = {"K": 4, "n": 5, "d": 6, "lam_w": 5e-3, "lam_h": 5e-3}


def params(quick: bool) -> dict:
    return {**SETUP, "problems": {k: v for k, v in PROBLEMS}, "perturbation": 1e-6,
            "optimizer": {"method": "sgd", "lr": 0.1, "momentum": 0.9}, "steps": 6000 if quick else 8000,
            "every": 100 if quick else 50}


def draw(p: dict, quick: bool):
    fig, axes = subplots(2, 2, height=3.6, sharex="col")
    data, checks = {}, {}
    rng = np.random.default_rng(0)
    for col, (title, kw) in enumerate(PROBLEMS):
        prob = ufm.Problem(**SETUP, **kw)
        f_star = theory.predict(prob).objective
        settled = 0  # last step at which some run is still above rounding level: the x range shown
        for i, sd in enumerate(theory.saddles(prob)):
            W, H, b = sd.point
            init = tuple(a + p["perturbation"] * rng.standard_normal(a.shape) for a in (W, H, b))
            tr = ufm.trajectory(prob, ufm.SGD(lr=0.1, momentum=0.9), steps=p["steps"], every=p["every"], init=init)
            lam = np.array([np.linalg.eigvalsh(theory.hessian_full(prob, *tr[j]))[0] for j in range(len(tr))])
            gap = tr.objective - f_star
            settled = max(settled, int(tr.step[np.nonzero(gap > 1e-13 * abs(f_star))[0][-1]]) if np.any(gap > 1e-13 * abs(f_star)) else 0)
            axes[0, col].plot(tr.step, np.maximum(gap, 1e-16), color=PALETTE[i], label=sd.name)
            axes[1, col].plot(tr.step, lam, color=PALETTE[i])
            start = sd.lambda_min if sd.lambda_min is not None else sd.rayleigh
            axes[1, col].plot(0, start, "o", color=PALETTE[i], ms=4)
            key = f"{title}: {sd.name}"
            if sd.lambda_min is not None:
                checks[f"{key}: λ_min at start vs exact"] = _record.check(
                    abs(lam[0] - sd.lambda_min), 1e-6, "the start is the saddle plus a 1e-6 perturbation")
            else:
                checks[f"{key}: λ_min at start ≤ Rayleigh quotient"] = _record.check(
                    lam[0] - sd.rayleigh, 1e-6, "Rayleigh quotient bounds λ_min; 1e-6 perturbation")
            checks[f"{key}: escaped to f* (relative gap)"] = _record.check(
                gap[-1] / abs(f_star), 1e-6 if quick else 1e-9, "fixed-length SGD run")
            checks[f"{key}: λ_min at the end"] = _record.check(
                -lam[-1], 1e-6 if quick else 1e-8, "PSD at the global minimizer up to the run's residual")
            data[key] = {"step": tr.step, "gap": gap, "lambda_min": lam, "predicted_start": start,
                         "curvature": sd.curvature}
        axes[0, col].set_title(title, pad=2)
        axes[0, col].set_yscale("log")
        axes[0, col].legend(loc="upper right")
        axes[1, col].axhline(0, color="0.4", lw=0.7)
        axes[1, col].set_xlabel("iteration")
        axes[1, col].set_xlim(0, min(p["steps"], 1.5 * settled + p["every"]))
    axes[0, 0].set_ylabel(r"$f - f^*$")
    axes[1, 0].set_ylabel(r"$\lambda_{\min}(\nabla^2 f)$")
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=14)
