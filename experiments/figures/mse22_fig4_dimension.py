"""Zhou et al. 2022 (arXiv 2203.01238), Fig. 4 on the UFM: feature dimension d below and above K − 1, MSE vs CE."""

from __future__ import annotations

import time


from ufm import theory
import ufm

from . import _record
from ._style import MARKERS, PALETTE, save, styled, subplots

NAME = "mse22-fig4-dimension"
TITLE = "Feature dimension d < K − 1 vs d ≥ K − 1: MSE vs CE at the global minimum"
REPRODUCES = "Zhou et al. 2022, \"On the Optimization Landscape of Neural Collapse under MSE Loss\", arXiv 2203.01238, Fig. 4 (there ResNet18/CIFAR10; here the UFM)"
CAPTION = ("Float64 Newton-CG solves of the UFM (K = 10, n = 20, λ_W = λ_H = λ_b = 5·10⁻⁴, bias) for each d. "
           "(a) NC1 is at rounding level for every d: within-class variability collapses even when the ETF does "
           "not fit. (b) Minimum cosine margin; dashed: the simplex-ETF value K/(K−1), reached by both losses "
           "exactly from d = K − 1 (dotted) on. (c) Training accuracy: below K − 1, MSE's minimizer is the rank-d "
           "truncation of the targets (Zhou et al. 2022, arXiv 2203.01238, Thm 3.1, d < K), whose logits cannot separate all K classes (some "
           "classes get tied or wrong logits; ties go to the lowest index), while CE still separates all classes "
           "with a smaller margin. MSE objectives equal the closed form for every d; CE's "
           "for d ≥ K − 1 (checks).")

SETUP = {"K": 10, "n": 20, "lam_w": 5e-4, "lam_h": 5e-4, "lam_b": 5e-4, "bias": True}


def params(quick: bool) -> dict:
    ds = [2, 9, 12] if quick else [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20]
    return {**SETUP, "d": ds, "losses": ["mse", "ce"], "method": "newton", "init": "N(0, 0.1²), seed 0"}


@styled
def make(out_dir, quick: bool = False) -> list:
    t0 = time.perf_counter()
    p = params(quick)
    K = SETUP["K"]
    fig, axes = subplots(1, 3, height=2.1)
    data, checks = {}, {}
    for i, loss in enumerate(p["losses"]):
        rows = []
        for d in p["d"]:
            prob = ufm.Problem(d=d, loss=loss, **SETUP)
            s = ufm.solve(prob, method="newton")
            m = ufm.metrics.all(s.W, s.H, s.b)
            pred = theory.predict(prob)
            rows.append({"d": d, "nc1": m["nc1"], "cm_min": m["cm_min"], "accuracy": m["accuracy"],
                         "objective": s.objective, "status": s.status, "theory_objective": pred.objective})
            if s.status != "converged":
                checks[f"{loss} d={d}: solve converged"] = _record.check(0.0, 1.0, s.status, upper=False)
            if pred.objective is not None:
                checks[f"{loss} d={d}: objective vs closed form"] = _record.check(
                    abs(s.objective - pred.objective) / pred.objective, 1e-10, "float64 solve at rel. gradient 1e-12")
            if d >= K - 1:
                checks[f"{loss} d={d}: min cosine margin = K/(K−1)"] = _record.check(
                    abs(m["cm_min"] - K / (K - 1)), 1e-8, "angles at a simplex ETF, from a solve at 1e-12")
            checks[f"{loss} d={d}: NC1"] = _record.check(m["nc1"], 1e-12, "exact collapse at the minimizer")
        data[loss] = rows
        ds = [r["d"] for r in rows]
        style = {"color": PALETTE[i], "marker": MARKERS[i], "label": loss.upper()}
        axes[0, 0].plot(ds, [max(r["nc1"], 1e-40) for r in rows], **style)
        axes[0, 1].plot(ds, [r["cm_min"] for r in rows], **style)
        axes[0, 2].plot(ds, [r["accuracy"] for r in rows], **style)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_ylim(1e-34, 1e-8)  # everything here is rounding noise: show it against a wide range
    axes[0, 1].axhline(K / (K - 1), color="0.3", ls="--", lw=0.8)
    for ax, title in zip(axes[0], (r"(a) $\mathcal{NC}_1$", "(b) min cosine margin", "(c) training accuracy")):
        ax.axvline(K - 1, color="0.3", ls=":", lw=0.9)
        ax.set_xlabel("feature dimension $d$")
        ax.set_title(title, pad=2)
    axes[0, 2].legend(loc="lower right")
    paths = save(fig, out_dir, NAME)
    return paths + [_record.write(out_dir, __name__, quick, p, data, checks, time.perf_counter() - t0)]
