"""Zhou et al. 2022 (arXiv 2210.02192), Fig. 1 on the UFM: NC1, NC2, NC3 along training for CE, FL, LS and MSE."""

from __future__ import annotations


import numpy as np

from ufm import theory
import ufm

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "losses22-fig1-losses"
TITLE = "All losses collapse: NC1, NC2, NC3 along training for CE, FL, LS, MSE"
REPRODUCES = "Zhou et al. 2022, \"Are All Losses Created Equal\", arXiv 2210.02192, Fig. 1 (there WideResNet50/CIFAR10; here the UFM)"
CAPTION = ("Full-batch SGD (lr 0.1, momentum 0.9) on the UFM with K = 10, n = 50, d = 32, λ_W = λ_H = λ_b = 5·10⁻⁴, "
           "the same N(0, 0.1²) start for each loss, with Zhou et al. 2022's (arXiv 2210.02192) settings FL γ = 3, LS δ = 0.1 and MSE target "
           "β = 15, κ = 1. MSE runs on Zhou et al.'s own scaling: their κ(z_k − β)² + Σ_{l≠k} z_l² (eq. 6) is "
           "2·MSE(α = κ, M = β) of this toolkit, so the MSE problem is the UFM at λ/2 stepped with 2·lr — the same "
           "iterates as SGD on Zhou et al.'s objective at λ = 5·10⁻⁴, lr 0.1. NC2 and NC3 in the conventions of Zhou et al. 2022 (arXiv 2203.01238 and 2210.02192) (‖WWᵀ/‖·‖ − E‖, ‖WM̄/‖·‖ − E‖). "
           "Every loss drives all three metrics to 0, as Zhou et al. 2022, arXiv 2210.02192, Thm 1 predicts; the final objective of each run "
           "is within the JSON's gap of the closed-form global minimum (Zhou et al. 2022, arXiv 2210.02192, Thm 1 scale for FL, Zhou et al. 2022, arXiv 2203.01238, Thm "
           "3.1 with Y → MY for MSE). Here MSE (β = 15) collapses fastest and FL slowest.")

LOSSES = (("CE", {"loss": "ce"}), ("FL (γ=3)", {"loss": "fl", "gamma": 3.0}), ("LS (δ=0.1)", {"loss": "ls", "delta": 0.1}),
          ("MSE (β=15)", {"loss": "mse", "M": 15.0}))
# Zhou et al. 2022 (arXiv 2210.02192) eq. 6 is κ(z_k − β)² + Σ_{l≠k} z_l² = 2·MSE(α = κ, M = β): loss → factor.
PAPER_LOSS_FACTOR = {"mse": 2.0}
SETUP = {"K": 10, "n": 50, "d": 32, "lam_w": 5e-4, "lam_h": 5e-4, "lam_b": 5e-4, "bias": True}


def params(quick: bool) -> dict:
    return {**SETUP, "losses": {name: kw for name, kw in LOSSES}, "optimizer": {"method": "sgd", "lr": 0.1,
            "momentum": 0.9}, "steps": 2000 if quick else 6000, "every": 20, "init": "N(0, 0.1²), seed 0"}


def draw(p: dict, quick: bool):
    fig, axes = subplots(1, 3, height=2.1)
    data, checks = {}, {}
    for i, (name, kw) in enumerate(LOSSES):
        c = PAPER_LOSS_FACTOR.get(kw["loss"], 1.0)  # c·L + λ/2‖·‖² = c·(L + (λ/c)/2‖·‖²): λ/c, step c·lr
        prob = ufm.Problem(**{**SETUP, **{k: SETUP[k] / c for k in ("lam_w", "lam_h", "lam_b")}}, **kw)
        tr = ufm.trajectory(prob, ufm.SGD(lr=0.1 * c, momentum=0.9), steps=p["steps"], every=p["every"])
        m = tr.metrics()
        pred = theory.predict(prob)
        for ax, key in zip(axes[0], ("nc1", "nc2_w", "nc3")):
            ax.plot(tr.step, np.maximum(m[key], 1e-16), color=PALETTE[i], label=name)
        gap = (tr.objective - pred.objective) / abs(pred.objective)
        data[name] = {"final": {k: m[k][-1] for k in ("nc1", "nc2_w", "nc3", "accuracy")}, "final_rel_gap": gap[-1],
                      "status": tr.status, "prediction_case": pred.case}
        checks[f"{name}: objective ≥ closed-form f* along the run"] = _record.check(
            float(-gap.min()), 1e-12, "f* is the global minimum; rounding only")
        checks[f"{name}: final gap to f*"] = _record.check(
            float(gap[-1]), 0.1 if quick else 5e-3, "first-order run of fixed length (quick: 3x shorter)")
        checks[f"{name}: final NC1"] = _record.check(
            float(m["nc1"][-1]), 0.05 if quick else 1e-3, "collapse in progress at a fixed budget")
    for ax, title in zip(axes[0], (r"$\mathcal{NC}_1$", r"$\mathcal{NC}_2$", r"$\mathcal{NC}_3$")):
        ax.set_yscale("log")
        ax.set_xlabel("iteration")
        ax.set_title(title, pad=2)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside right center")
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=8)
