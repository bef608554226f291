"""Strict JSON: the one encoder of every JSON ufm writes (CLI output, figure records, scan exports, reports).

JSON has no NaN or Infinity; Python's json module writes them anyway unless told not to. Here a non-finite
number becomes null, numpy scalars and arrays become numbers and lists, and `dumps` refuses anything else
it cannot represent.
"""

from __future__ import annotations

import enum
import json
import math

import numpy as np


def jsonable(obj):
    """`obj` with NaN/±Inf → None, numpy → Python numbers and lists, enums → their value, tuples → lists,
    recursively through dicts and lists. Other objects are returned as they are."""
    if isinstance(obj, enum.Enum):
        return jsonable(obj.value)
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray) or hasattr(obj, "__array__"):
        return jsonable(np.asarray(obj).tolist())
    return obj


def dumps(obj, **kw) -> str:
    """json.dumps of `jsonable(obj)` that never writes NaN or Infinity (allow_nan=False)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kw)


__all__ = ["jsonable", "dumps"]
