"""`Figure`: what one figure is (its name, title, the paper figure it reproduces, caption, parameters and how to
draw it), and the one runner that makes it: the shared style, timing, PNG and PDF, and the NAME.json record of
its parameters, numbers and checks against theory. A figure module defines `FIGURE = Figure(...)` and nothing
else of this; `ufm.experiments.figures.modules()` finds every module that does."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Callable

from . import _record
from ._style import context, save


@dataclasses.dataclass(frozen=True)
class Figure:
    """One figure.

    name: the gallery's and `ufm figures --only`'s name; title; reproduces: the paper figure (authors, title,
    arXiv id, figure number) or "toolkit"; caption: plain text with `code`, x^{…} and x_{…} marks.
    params(quick) -> dict: every number the figure is computed from (quick: smaller grids, shorter runs).
    draw(params, quick) -> (matplotlib Figure, data, checks): the figure, the numbers it plots (JSON-ready) and
    its checks against theory (`_record.check`).
    order: its place in the gallery.
    """

    name: str
    title: str
    reproduces: str
    caption: str
    params: Callable[[bool], dict]
    draw: Callable[[dict, bool], tuple]
    order: int = 0

    def make(self, out_dir, quick: bool = False) -> list[Path]:
        """Draw the figure in the shared style and write NAME.png, NAME.pdf and NAME.json into out_dir."""
        t0 = time.perf_counter()
        p = self.params(quick)
        with context():
            fig, data, checks = self.draw(p, quick)
            paths = save(fig, out_dir, self.name)
        return paths + [_record.write(out_dir, self, quick, p, data, checks, time.perf_counter() - t0)]


__all__ = ["Figure"]
