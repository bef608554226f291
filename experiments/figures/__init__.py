"""`ufm figures`: every figure of the four UFM papers that the UFM alone reproduces, and the toolkit's own.

One module per figure, each defining `FIGURE`, a `Figure` (name, title, the paper figure it reproduces,
caption, `params(quick)` and `draw(params, quick)`); `Figure.make` is the one runner (style, timing, PNG, PDF and
NAME.json with the numbers and their checks against `theory/`). `modules()` finds them, `build` runs a selection
and writes the gallery `index.html`.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path

from ._figure import Figure
from ._gallery import rich as caption_html
from ._gallery import write_index


def __getattr__(name: str):
    if name == "MODULES":  # 0.2 kept the module list by hand; it is found now (`modules`)
        import warnings

        warnings.warn("figures.MODULES is deprecated since ufm 0.3: use figures.modules() (NAME → Figure)",
                      DeprecationWarning, stacklevel=2)
        return tuple(f.draw.__module__.rsplit(".", 1)[1] for f in modules().values())
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def modules() -> dict:
    """NAME → `Figure`, in gallery order: every module of this package that defines FIGURE."""
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        fig = getattr(importlib.import_module(f"{__name__}.{info.name}"), "FIGURE", None)
        if isinstance(fig, Figure):
            found.append(fig)
    return {f.name: f for f in sorted(found, key=lambda f: (f.order, f.name))}


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


__all__ = ["Figure", "modules", "build", "write_index", "caption_html"]
