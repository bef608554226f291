"""NAME.json beside each figure: the parameters, the numbers plotted, and the checks against `theory/` (each
check: value, tolerance, pass). The gallery and the tests read it."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import ufm


def check(value: float, tol: float, why: str, upper: bool = True) -> dict:
    """A check `value ≤ tol` (upper) or `value ≥ tol` (lower bound), with the reason for the tolerance."""
    value = float(value)
    ok = math.isfinite(value) and (value <= tol if upper else value >= tol)
    return {"value": value, "tol": tol, "kind": "≤" if upper else "≥", "why": why, "pass": bool(ok)}


def write(out_dir, module_name: str, quick: bool, params: dict, data: dict, checks: dict, seconds: float | None = None) -> Path:
    module = sys.modules[module_name]
    path = Path(out_dir) / f"{module.NAME}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"name": module.NAME, "title": module.TITLE, "reproduces": module.REPRODUCES, "caption": module.CAPTION,
            "quick": quick, "seconds": seconds, "params": params, "checks": checks, "data": data}
    ufm.write_atomic(path, ufm.dumps(body, indent=1))
    return path


def read(out_dir, name: str) -> dict:
    return json.loads((Path(out_dir) / f"{name}.json").read_text())
