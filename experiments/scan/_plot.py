"""Phase diagrams of a scan: heatmap of z over (x, y) with the theory boundaries drawn where they exist."""

from __future__ import annotations

import math
import os

import matplotlib.style
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ufm import theory

from ._io import load

PARAMS = ("K", "n", "d", "lam_w", "lam_h", "lam_b", "delta", "gamma", "alpha", "M")
LABELS = {"lam_w": r"$\lambda_W$", "lam_h": r"$\lambda_H$", "lam_b": r"$\lambda_b$", "delta": r"$\delta$",
          "gamma": r"$\gamma$", "alpha": r"$\alpha$", "M": "$M$", "K": "$K$", "n": "$n$", "d": "$d$"}


def _boundaries(row: dict, x: str, y: str, X, Y):
    """Implicit theory boundaries B(x, y) = 0 evaluated on the mesh (X, Y), as (label, values) pairs:
    MSE: √(KNλ_Wλ_H)/M = 1 (zero solution) and λ_b = x/(1−x) (bias regimes, d ≥ K; Zhou et al. 2022, arXiv 2203.01238, Thm B.1);
    CE/LS: √(KN)λ_Z + δ = 1 (Guo et al. 2025, arXiv 2402.03979, Lemma D.5)."""
    def val(key):
        if key == x:
            return X
        if key == y:
            return Y
        return np.full_like(X, float(row[key]))

    if isinstance(row.get("n"), (list, tuple)):
        return []  # the balanced thresholds do not apply to imbalanced counts
    K, n, lam_w, lam_h = val("K"), val("n"), val("lam_w"), val("lam_h")
    out = []
    if row["loss"] == "mse":
        xm = theory.mse_x(K, n, lam_w, lam_h, val("M"))
        out.append((r"$\lambda_W\lambda_H = M^2/(NK)$", xm - 1))
        if row.get("bias") and float(row["d"]) >= float(row["K"]) and "lam_b" in (x, y):
            out.append((r"$\lambda_b = x/(1-x)$", val("lam_b") - theory.mse_bias_threshold(xm)))
    elif row["loss"] in ("ce", "ls"):
        delta = val("delta") if row["loss"] == "ls" else 0.0
        out.append((r"$\sqrt{KN}\lambda_Z + \delta = 1$", theory.ce_ls_s(K, n, lam_w, lam_h, delta) - 1))
    return out


def plot(store: str, x: str, y: str, z: str, log: bool = False, where: dict | None = None,
         out: str | None = None) -> list[str]:
    """Heatmap of the mean of z (over seeds) on the (x, y) grid of `store`; other parameters must be fixed
    (filter with `where`). Saves PNG and PDF next to `out` (default: STORE-z-x-y). Returns the paths."""
    cols = load(store)
    if not cols:
        raise ValueError(f"plot: store {store!r} has no finished rows")
    for key, name in ((x, "--x"), (y, "--y"), (z, "--z")):
        if key not in cols:
            raise ValueError(f"plot: {name} {key!r} is not a column (columns: {', '.join(sorted(cols))})")
    mask = np.ones(len(cols[x]), bool)
    for key, value in (where or {}).items():
        if key not in cols:
            raise ValueError(f"plot: --where {key!r} is not a column")
        mask &= np.array([str(v) == str(value) or _num_eq(v, value) for v in cols[key]])
    for key in PARAMS + ("loss", "bias"):
        if key in (x, y) or key not in cols:
            continue
        vals = {str(v) for v in cols[key][mask]}
        if len(vals) > 1:
            raise ValueError(f"plot: {key} takes {len(vals)} values ({', '.join(sorted(vals))}); fix it with --where {key}=VALUE")
    xs, ys = np.unique(cols[x][mask].astype(float)), np.unique(cols[y][mask].astype(float))
    Z = np.full((ys.size, xs.size), np.nan)
    acc: dict = {}
    for xv, yv, zv in zip(cols[x][mask].astype(float), cols[y][mask].astype(float), cols[z][mask]):
        acc.setdefault((xv, yv), []).append(np.nan if zv is None else float(zv))
    for (xv, yv), v in acc.items():
        Z[np.searchsorted(ys, yv), np.searchsorted(xs, xv)] = np.nanmean(v)
    # A bare Figure (no pyplot, no backend switch) under matplotlib's defaults, scoped to this plot.
    with matplotlib.style.context("default"):
        fig = Figure(figsize=(5.2, 4.2), dpi=150)
        ax = fig.subplots()
        data = np.log10(np.maximum(Z, np.finfo(float).tiny)) if log else Z
        mesh = ax.pcolormesh(_edges(xs, x in LOG_AXES), _edges(ys, y in LOG_AXES), data, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=ax, label=(f"log10 {z}" if log else z))
        if x in LOG_AXES:
            ax.set_xscale("log")
        if y in LOG_AXES:
            ax.set_yscale("log")
        row = {k: cols[k][mask][0] for k in cols}
        fx = np.geomspace(xs.min(), xs.max(), 400) if x in LOG_AXES and xs.min() > 0 else np.linspace(xs.min(), xs.max(), 400)
        fy = np.geomspace(ys.min(), ys.max(), 400) if y in LOG_AXES and ys.min() > 0 else np.linspace(ys.min(), ys.max(), 400)
        FX, FY = np.meshgrid(fx, fy)
        handles = []
        for (label, B), style in zip(_boundaries(row, x, y, FX, FY), ("--", ":")):
            if np.nanmin(B) < 0 < np.nanmax(B):
                ax.contour(FX, FY, B, levels=[0.0], colors="white", linestyles=style)
                handles.append(Line2D([], [], color="white", linestyle=style, label=label))
        if handles:
            leg = ax.legend(handles=handles, loc="lower left", fontsize=8, framealpha=0.5, facecolor="gray")
            for t in leg.get_texts():
                t.set_color("white")
        ax.set_xlabel(LABELS.get(x, x))
        ax.set_ylabel(LABELS.get(y, y))
        ax.set_title(f"{z} ({row['loss']}, K={row['K']}, n={row['n']}, d={row['d']})", fontsize=10)
        fig.tight_layout()
        base = out or f"{os.path.splitext(store)[0]}-{z}-{x}-{y}"
        base = os.path.splitext(base)[0] if base.endswith((".png", ".pdf")) else base
        paths = [f"{base}.png", f"{base}.pdf"]
        for p in paths:
            fig.savefig(p)
    return paths


LOG_AXES = ("lam_w", "lam_h", "lam_b")


def _num_eq(a, b) -> bool:
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    except (TypeError, ValueError):
        return False


def _edges(v: np.ndarray, logscale: bool) -> np.ndarray:
    """Cell edges around sorted centres (geometric midpoints on log axes)."""
    if v.size == 1:
        return np.array([v[0] * 0.9, v[0] * 1.1]) if logscale else np.array([v[0] - 0.5, v[0] + 0.5])
    if logscale and v.min() > 0:
        lv = np.log(v)
        mid = (lv[1:] + lv[:-1]) / 2
        return np.exp(np.concatenate([[lv[0] - (mid[0] - lv[0])], mid, [lv[-1] + (lv[-1] - mid[-1])]]))
    mid = (v[1:] + v[:-1]) / 2
    return np.concatenate([[v[0] - (mid[0] - v[0])], mid, [v[-1] + (v[-1] - mid[-1])]])
