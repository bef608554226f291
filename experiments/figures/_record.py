"""NAME.json beside each figure: the parameters, the numbers plotted, and the checks against `theory/` (each
check: value, tolerance, pass). The gallery and the tests read it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import ufm


def check(value: float, tol: float, why: str, upper: bool = True) -> dict:
    """A check `value ≤ tol` (upper) or `value ≥ tol` (lower bound), with the reason for the tolerance."""
    value = float(value)
    ok = math.isfinite(value) and (value <= tol if upper else value >= tol)
    return {"value": value, "tol": tol, "kind": "≤" if upper else "≥", "why": why, "pass": bool(ok)}


def write(out_dir, figure, quick: bool, params: dict, data: dict, checks: dict, seconds: float | None = None) -> Path:
    """NAME.json of a `Figure`: its description, parameters, numbers and checks."""
    path = Path(out_dir) / f"{figure.name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"name": figure.name, "title": figure.title, "reproduces": figure.reproduces, "caption": figure.caption,
            "quick": quick, "seconds": seconds, "params": params, "checks": checks, "data": data}
    ufm.write_atomic(path, ufm.dumps(body, indent=1))
    return path


def read(out_dir, name: str) -> dict:
    return json.loads((Path(out_dir) / f"{name}.json").read_text())
