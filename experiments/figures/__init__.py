"""`ufm figures`: every figure of the four UFM papers that the UFM alone reproduces, and the toolkit's own.

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
    "mse22_fig2_landscape",
    "mse22_fig8_gradient_field",
    "geometric21_fig8_xi",
    "losses22_figs9_10_psi_fl",
    "ls25_fig10_convergence",
    "ls25_fig8_norm_error",
    "ls25_fig6_delta",
    "losses22_fig1_losses",
    "mse22_fig4_dimension",
    "mse_regime_map",
    "hessian_condition",
    "ls_full_conditioning",
    "certificate_path",
    "saddle_escape",
    "first_order_escape",
    "minority_collapse",
    "digits_mlp",
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
