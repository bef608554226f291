"""Zhou et al. 2022 (arXiv 2203.01238), Fig. 4 on the UFM: feature dimension d below and above K − 1, MSE vs CE."""

from __future__ import annotations



from ufm import theory
import ufm

from . import _record
from ._figure import Figure
from ._style import MARKERS, PALETTE, subplots

NAME = "mse22-fig4-dimension"
TITLE = "Feature dimension d < K − 1 vs d ≥ K − 1: MSE vs CE at the global minimum"
REPRODUCES = "Zhou et al. 2022, \"On the Optimization Landscape of Neural Collapse under MSE Loss\", arXiv 2203.01238, Fig. 4 (there ResNet18/CIFAR10; here the UFM)"
CAPTION = ("Float64 Newton-CG solves of the UFM (K = 10, n = 20, λ_W = λ_H = λ_b = 5·10⁻⁴, bias) for each d. "
           "(a) What a dimension below K − 1 costs: the minimum objective's excess over its value at d = K − 1, "
           "(f*(d) − f*(K−1))/f*(K−1), for d < K − 1; from d = K − 1 on it is 0 (checks, 1e-10). NC1 is at rounding "
           "level (≤ 1e-12, checked) for every d: within-class variability collapses even when the ETF does not "
           "fit, so it is not plotted. (b) Minimum cosine margin; dashed: the simplex-ETF value K/(K−1), reached by both losses "
           "exactly from d = K − 1 (dotted) on. (c) Training accuracy: below K − 1, MSE's minimizer is the rank-d "
           "truncation of the targets (Zhou et al. 2022, arXiv 2203.01238, Thm 3.1, d < K), whose logits cannot separate all K classes (some "
           "classes get tied or wrong logits; ties go to the lowest index), while CE still separates all classes "
           "with a smaller margin. MSE objectives equal the closed form for every d; CE's "
           "for d ≥ K − 1 (checks).")

SETUP = {"K": 10, "n": 20, "lam_w": 5e-4, "lam_h": 5e-4, "lam_b": 5e-4, "bias": True}


def params(quick: bool) -> dict:
    ds = [2, 9, 12] if quick else [2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 16, 20]
    return {**SETUP, "d": ds, "losses": ["mse", "ce"], "method": "newton", "init": "N(0, 0.1²), seed 0"}


def draw(p: dict, quick: bool):
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
        ref = next(r["objective"] for r in rows if r["d"] == K - 1)
        low = [r for r in rows if r["d"] < K - 1]
        for r in rows:
            r["excess"] = (r["objective"] - ref) / ref
            if r["d"] < K - 1:
                checks[f"{loss} d={r['d']}: f*(d) above f*(K−1)"] = _record.check(
                    r["excess"], 1e-6, "a rank-d minimizer cannot reach the ETF's value", upper=False)
            else:
                checks[f"{loss} d={r['d']}: f*(d) = f*(K−1)"] = _record.check(
                    abs(r["excess"]), 1e-10, "the ETF fits in K − 1 dimensions; solves at rel. gradient 1e-12")
        axes[0, 0].plot([r["d"] for r in low], [r["excess"] for r in low], **style)
        axes[0, 1].plot(ds, [r["cm_min"] for r in rows], **style)
        axes[0, 2].plot(ds, [r["accuracy"] for r in rows], **style)
    axes[0, 0].set_yscale("log")
    axes[0, 0].set_xlim(axes[0, 1].get_xlim())
    axes[0, 1].axhline(K / (K - 1), color="0.3", ls="--", lw=0.8)
    for ax, title in zip(axes[0], (r"(a) excess of $f^*$ over $d = K-1$", "(b) min cosine margin", "(c) training accuracy")):
        ax.axvline(K - 1, color="0.3", ls=":", lw=0.9)
        ax.set_xlabel("feature dimension $d$")
        ax.set_title(title, pad=2)
    axes[0, 2].legend(loc="lower right")
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=9)
