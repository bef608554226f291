"""ufm: the unconstrained feature model of Neural Collapse — objectives, solvers, metrics.

Layers (each uses only the public API of the ones below it; tests/core/test_architecture.py checks it):

    ufm.cli            the command line, one module per subcommand
    ufm.experiments    scans, figures, benchmarks
    ufm.theory         closed forms, certificates, Hessians, saddles, errata, the `ufm verify` battery
    ufm (core)         Problem, objectives, solvers, metrics

Importing ufm changes no global state: JAX's 64-bit mode, its compilation cache and matplotlib's settings stay
as they were. Float64 problems (the default) are still solved in float64: `solve`, `solve_batch`, `trajectory`,
`metrics.all` and the theory routines run inside the scoped switch `ufm.float64()`. `ufm.configure()` turns on
64-bit mode and the persistent compilation cache for the whole process (the command line calls it).

Names are loaded on first use, so `import ufm` (and `ufm --help`) does not import JAX.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from ._version import __version__

# public name → the module that defines it
_EXPORTS = {
    "Problem": "._problem", "simplex_etf": "._problem", "etf_basis": "._problem", "class_labels": "._problem",
    "one_hot": "._problem", "class_counts": "._problem",
    "Objective": "._objective", "Params": "._objective", "Layout": "._objective", "objective": "._objective",
    "logits": "._objective", "features": "._objective",
    "solve": "._solve", "solve_batch": "._solve", "prepare": "._solve", "minimize": "._solve",
    "Solution": "._solution", "Minimum": "._solution", "initial_point": "._start",
    "clear_caches": "._executables", "compilations": "._executables", "persistent_jit": "._executables",
    "solve_memory": "._memory", "estimate_bytes": "._memory", "default_execution": "._program",
    "reduction": "._reduce", "Reduction": "._reduce", "reduced_problem": "._reduce", "lift": "._reduce",
    "trajectory": "._trajectory", "Trajectory": "._trajectory",
    "Status": ".solvers", "Solver": ".solvers", "as_solver": ".solvers", "METHODS": ".solvers",
    "GD": ".solvers", "SGD": ".solvers", "Adam": ".solvers", "LBFGS": ".solvers", "Newton": ".solvers",
    "Auto": ".solvers",
    "curvature": "._curvature", "Curvature": "._curvature", "CURVATURE_BUDGET": "._curvature",
    "kinks": "._kinks", "Kinks": "._kinks", "KINK_VERDICTS": "._kinks",
    "configure": "._config", "float64": "._config", "x64_enabled": "._config",
    "UFMError": "._errors", "ParameterError": "._errors", "Float64Unavailable": "._errors",
    "jsonable": "._json", "dumps": "._json", "write_atomic": "._files", "available_bytes": "._features",
    "available_cpus": "._features",
}
_SUBMODULES = ("metrics", "solvers", "losses", "functional")

__all__ = sorted(_EXPORTS) + list(_SUBMODULES) + ["__version__"]


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module 'ufm' has no attribute {name!r}")
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))


if TYPE_CHECKING:  # the same names, for type checkers and editors
    from . import functional, losses, metrics, solvers  # noqa: F401
    from ._config import configure, float64, x64_enabled  # noqa: F401
    from ._curvature import CURVATURE_BUDGET, Curvature, curvature  # noqa: F401
    from ._kinks import KINK_VERDICTS, Kinks, kinks  # noqa: F401
    from ._errors import Float64Unavailable, ParameterError, UFMError  # noqa: F401
    from ._features import available_bytes, available_cpus  # noqa: F401
    from ._files import write_atomic  # noqa: F401
    from ._json import dumps, jsonable  # noqa: F401
    from ._objective import Layout, Objective, Params, features, logits, objective  # noqa: F401
    from ._problem import Problem, class_counts, class_labels, etf_basis, one_hot, simplex_etf  # noqa: F401
    from ._reduce import Reduction, lift, reduced_problem, reduction  # noqa: F401
    from ._executables import clear_caches, compilations, persistent_jit  # noqa: F401
    from ._memory import estimate_bytes, solve_memory  # noqa: F401
    from ._program import default_execution  # noqa: F401
    from ._solution import Minimum, Solution  # noqa: F401
    from ._solve import minimize, prepare, solve, solve_batch  # noqa: F401
    from ._start import initial_point  # noqa: F401
    from ._trajectory import Trajectory, trajectory  # noqa: F401
    from .solvers import GD, METHODS, SGD, Adam, Auto, LBFGS, Newton, Solver, Status, as_solver  # noqa: F401
