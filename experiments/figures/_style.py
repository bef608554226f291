"""The one matplotlib style of every figure: sizes for a two-column paper, the Okabe–Ito colorblind-safe
palette, and `save` (PNG for screens, PDF for papers). Figures are bare `matplotlib.figure.Figure` objects
(no pyplot, no backend switch) and the style is scoped: nothing here touches matplotlib's global state."""

from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib
from cycler import cycler
from matplotlib.figure import Figure

# Okabe & Ito (2008), distinguishable under the common colour-vision deficiencies.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#56B4E9", "#CC79A7", "#000000", "#F0E442")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
SINGLE, DOUBLE = 3.4, 7.0  # column widths of a two-column paper, inches

RC = {
    "font.size": 8, "axes.titlesize": 8.5, "axes.labelsize": 8, "xtick.labelsize": 7, "ytick.labelsize": 7,
    "legend.fontsize": 6.5, "legend.framealpha": 0.85, "legend.borderaxespad": 0.3, "legend.handlelength": 1.6,
    "lines.linewidth": 1.3, "lines.markersize": 3.5, "axes.linewidth": 0.6, "axes.grid": True,
    "grid.linewidth": 0.4, "grid.alpha": 0.35, "axes.prop_cycle": cycler(color=PALETTE),
    "figure.dpi": 100, "savefig.dpi": 220, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "mathtext.fontset": "dejavusans", "image.cmap": "viridis",
}


@contextlib.contextmanager
def context():
    """The style, scoped: nothing leaks into the caller's matplotlib settings."""
    with matplotlib.rc_context(RC):
        yield


def subplots(nrows: int = 1, ncols: int = 1, width: float = DOUBLE, height: float = 2.2, **kw):
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots(nrows, ncols, squeeze=False, **kw)


def save(fig, out_dir, name: str) -> list[Path]:
    """NAME.png and NAME.pdf in out_dir (created)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    for p in paths:
        fig.savefig(p)
    return paths
