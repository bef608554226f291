"""ufm: the unconstrained feature model of Neural Collapse — objectives, solvers, metrics.

Importing ufm enables JAX's 64-bit mode (``jax_enable_x64``), so that float64 problems (the default) work
without any configuration. Problems with ``dtype="float32"`` still compute in float32.
"""

import jax as _jax

_jax.config.update("jax_enable_x64", True)

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
