"""ufm: the unconstrained feature model of Neural Collapse — objectives, solvers, metrics.

Importing ufm enables JAX's 64-bit mode (``jax_enable_x64``), so that float64 problems (the default) work
without any configuration. Problems with ``dtype="float32"`` still compute in float32.

It also turns on JAX's persistent compilation cache in ``$UFM_CACHE_DIR`` (default ``~/.cache/ufm/xla``), so a
shape compiled once is loaded from disk by later processes (`ufm solve` compiles in ~4 s the first time and
~0.7 s after). ``UFM_CACHE_DIR=off`` disables it; a cache directory configured for JAX itself is left alone.
"""

import os as _os

import jax as _jax

_jax.config.update("jax_enable_x64", True)


def _enable_compilation_cache() -> None:
    where = _os.environ.get("UFM_CACHE_DIR", _os.path.join(_os.path.expanduser("~"), ".cache", "ufm", "xla"))
    if where.lower() in ("", "off", "0", "none") or _jax.config.jax_compilation_cache_dir:
        return
    try:
        _os.makedirs(where, exist_ok=True)
    except OSError:  # a read-only home: compile every time, as without the cache
        return
    _jax.config.update("jax_compilation_cache_dir", where)
    # The metrics, certificate and prediction of `ufm solve` compile small programs (0.1–1 s each): cache them too.
    _jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)


_enable_compilation_cache()

from . import metrics, solvers  # noqa: E402
from ._objective import Layout, Objective, Params, logits, objective  # noqa: E402
from ._problem import Problem, simplex_etf  # noqa: E402
from ._solve import STATUSES, Solution, initial_point, solve, solve_batch  # noqa: E402
from ._trajectory import Trajectory, trajectory  # noqa: E402
from .solvers import GD, SGD, Adam, Auto, LBFGS, Newton  # noqa: E402

__version__ = "0.1.0"


def __getattr__(name):
    # `ufm.scan` is the scan engine of experiments/ (imported on first use: it pulls in theory and sqlite).
    if name == "scan":
        import experiments.scan as scan

        return scan
    raise AttributeError(f"module 'ufm' has no attribute {name!r}")

__all__ = [
    "Problem", "simplex_etf", "Objective", "Params", "Layout", "objective", "logits",
    "solve", "solve_batch", "Solution", "STATUSES", "initial_point", "trajectory", "Trajectory",
    "GD", "SGD", "Adam", "LBFGS", "Newton", "Auto", "solvers", "metrics",
]
