"""`ufm figures`: every UFM-reproducible figure of the seed papers (THEORY §9) and the toolkit's own.

One module per figure; each has NAME, TITLE, REPRODUCES, CAPTION, `params(quick)` and
`make(out_dir, quick=False) -> list[Path]` (PNG, PDF and NAME.json with the numbers and their checks against
`theory/`). `build` runs a selection and writes the gallery `index.html`.
"""

from __future__ import annotations

import importlib
import sys
import time
from pathlib import Path

from ._gallery import write_index

MODULES = (
    "seed001_fig2_landscape",
    "seed001_fig8_gradient_field",
    "seed002_fig8_xi",
    "seed000_fig9_10_psi_fl",
    "seed004_fig10_convergence",
    "seed004_fig8_norm_error",
    "seed004_fig6_delta",
    "seed003_fig1_losses",
    "seed001_fig4_dimension",
    "mse_regime_map",
    "hessian_condition",
    "certificate_path",
    "saddle_escape",
)


def modules() -> dict:
    """NAME → module, in gallery order."""
    out = {}
    for m in MODULES:
        mod = importlib.import_module(f"{__name__}.{m}")
        out[mod.NAME] = mod
    return out


def build(out_dir="figures", only=None, quick: bool = False, progress: bool = True) -> dict:
    """Make the figures named in `only` (default: all) into out_dir and (re)write out_dir/index.html, which
    lists every figure whose JSON is in out_dir. Returns NAME → [paths]."""
    mods = modules()
    names = list(mods) if not only else list(only)
    unknown = [n for n in names if n not in mods]
    if unknown:
        raise ValueError(f"figures: unknown name(s) {', '.join(unknown)}; --list shows the names")
    out = {}
    for name in names:
        t0 = time.perf_counter()
        if progress:
            print(f"figures: {name} ...", end="", file=sys.stderr, flush=True)
        out[name] = mods[name].make(Path(out_dir), quick=quick)
        if progress:
            print(f" {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    write_index(Path(out_dir), mods)
    return out


__all__ = ["MODULES", "modules", "build", "write_index"]
