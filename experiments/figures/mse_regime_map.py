"""The toolkit's MSE regime map: the three cases of Zhou et al. 2022, arXiv 2203.01238, Thm 3.1 over (λ_Wλ_H, λ_b), computed by a grid
scan (`ufm.experiments.scan`) and compared cell by cell with the closed form."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap, LogNorm

from ufm import theory
from ufm.experiments import scan

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "mse-regime-map"
TITLE = "MSE regime map over (λ_Wλ_H, λ_b) with the case boundaries"
REPRODUCES = "toolkit figure (no paper has it); cases of Zhou et al. 2022, arXiv 2203.01238, Thm 3.1 = Thm B.1 (appendix forms, see errata)"
CAPTION = ("Vanilla MSE with bias, d ≥ K. Left: the case of Zhou et al. 2022, arXiv 2203.01238, Thm B.1 — the zero solution W* = H* = 0 "
           "where x = √(KNλ_Wλ_H) ≥ 1; otherwise b* = 1/(K(1+λ_b)) for λ_b ≤ x/(1−x) and b* = √(nλ_Wλ_H)/λ_b above. "
           "Middle: b* from a `ufm scan` of float64 solves (one per cell); right: the solved mean ‖w^k‖ "
           "(grey: below 10⁻⁸, the zero solution reached to rounding). Lines: the boundaries x = 1 and "
           "λ_b = x/(1−x); the main text of Zhou et al. 2022, arXiv 2203.01238, Thm 3.1 prints this threshold and b* wrongly (errata). "
           "The checks bound the largest cell error against the closed form.")

CASES = ("mse:zero", "mse:d>=K:lam_b-small", "mse:d>=K:lam_b-large")  # theory.mse_cases labels


def params(quick: bool) -> dict:
    g = 9 if quick else 24
    return {"loss": "mse", "K": 4, "n": 5, "d": 6, "bias": True, "lam_h": 0.1,
            "lam_w": {"logspace": [1e-4, 1.0, g]}, "lam_b": {"logspace": [1e-3, 1e2, g]}, "method": "newton",
            "tol": 1e-12}


def _case_index(case: str) -> int:
    if case in CASES:
        return CASES.index(case)
    raise ValueError(f"mse-regime-map: unexpected case {case!r}")


def draw(p: dict, quick: bool):
    group = {k: v for k, v in p.items() if k not in ("method", "tol")} | {"name": "mse-map", "seeds": 1}
    spec = scan.from_dict({"solver": {"method": p["method"], "tol": p["tol"], "chunk": 64}, "group": [group]})
    with tempfile.TemporaryDirectory() as tmp:
        store = str(Path(tmp) / "map.db")
        scan.run(spec, store, progress=False)
        cols = scan.load(store)
    N = p["K"] * p["n"]
    prod = cols["lam_w"] * cols["lam_h"]
    xs, ys = np.unique(prod), np.unique(cols["lam_b"])
    shape = (ys.size, xs.size)
    grid = {k: np.full(shape, np.nan) for k in ("case", "b", "w", "err_b", "err_f")}
    for r in range(prod.size):
        i, j = np.searchsorted(ys, cols["lam_b"][r]), np.searchsorted(xs, prod[r])
        grid["case"][i, j] = _case_index(str(cols["pred_case"][r]))
        grid["b"][i, j] = cols["b_mean"][r]
        grid["w"][i, j] = cols["w_norm_mean"][r]
        grid["err_b"][i, j] = cols["err_b"][r]
        grid["err_f"][i, j] = cols["err_objective"][r]
    ex, ey = _edges(xs), _edges(ys)
    fig, axes = subplots(1, 3, height=2.35)
    cmap = ListedColormap([PALETTE[6], PALETTE[4], PALETTE[3]][: len(CASES)])
    axes[0, 0].pcolormesh(ex, ey, grid["case"], cmap=cmap, vmin=-0.5, vmax=len(CASES) - 0.5)
    for k, (label, xy) in enumerate(zip(("W* = 0", r"$b^*=\frac{1}{K(1+\lambda_b)}$", r"$b^*=\frac{\sqrt{n\lambda_W\lambda_H}}{\lambda_b}$"),
                                        ((4.5e-2, 1.0), (1e-4, 1e-2), (1e-4, 30)))):
        axes[0, 0].text(*xy, label, color="white" if k == 0 else "black", fontsize=7, ha="center", va="center",
                        rotation=90 if k == 0 else 0)
    m1 = axes[0, 1].pcolormesh(ex, ey, grid["b"], norm=LogNorm(), cmap="viridis")
    fig.colorbar(m1, ax=axes[0, 1], label=r"solved $b^*$ (mean)")
    w = np.ma.masked_where(grid["w"] < 1e-8, grid["w"])  # the zero solution, reached to rounding
    axes[0, 2].set_facecolor("0.82")
    m2 = axes[0, 2].pcolormesh(ex, ey, w, norm=LogNorm(), cmap="viridis")
    fig.colorbar(m2, ax=axes[0, 2], label=r"solved mean $\|w^k\|$")
    xl = np.geomspace(ex[0], ex[-1], 400)
    x = theory.mse_x(p["K"], p["n"], xl, 1.0)  # λ_Wλ_H = xl on the horizontal axis
    for ax in axes[0]:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.axvline(1 / (N * p["K"]), color=PALETTE[1], lw=1.2, label=r"$\lambda_W\lambda_H = 1/(NK)$")
        ok = x < 1
        ax.plot(xl[ok], theory.mse_bias_threshold(x[ok]), color=PALETTE[5], lw=1.2, label=r"$\lambda_b = x/(1-x)$")
        ax.set_xlim(ex[0], ex[-1])
        ax.set_ylim(ey[0], ey[-1])
        ax.set_xlabel(r"$\lambda_W\lambda_H$")
        ax.grid(False)
    axes[0, 0].set_ylabel(r"$\lambda_b$")
    axes[0, 0].set_title("theory case", pad=2)
    axes[0, 1].set_title(r"$b^*$ from the scan", pad=2)
    axes[0, 2].set_title(r"$\|w^k\|$ from the scan", pad=2)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2)
    checks = {
        "max |b_solve − b*| over the grid": _record.check(np.nanmax(grid["err_b"]), 1e-9, "float64 solves at rel. gradient 1e-12"),
        "max rel. objective error over the grid": _record.check(np.nanmax(grid["err_f"]), 1e-10, "same solves"),
        "W* = 0 exactly where x ≥ 1": _record.check(
            float(np.sum((grid["w"] > 1e-6) != (grid["case"] > 0))), 0.0, "a cell on the wrong side of x = 1"),
        "every cell solved": _record.check(float(np.sum(np.isnan(grid["b"]))), 0.0, "the scan finished every job"),
    }
    data = {"lam_w_lam_h": xs, "lam_b": ys, "case": grid["case"], "b": grid["b"], "w_norm": grid["w"],
            "err_b": grid["err_b"], "cases": list(CASES)}
    return fig, data, checks


def _edges(v):
    lv = np.log10(v)
    mid = (lv[1:] + lv[:-1]) / 2
    return 10 ** np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]])


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=10)
