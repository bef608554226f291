"""Solvers: objects following the `Solver` protocol (init / step / terminate with a pytree state), driven by
one engine in `ufm.solve`, `ufm.solve_batch` and `ufm.trajectory`. Any object with the three methods works
there too; see `Solver`.

    GD, SGD, Adam      full-batch first-order methods (optax transformations)
    LBFGS              limited-memory BFGS with a zoom line search (optax)
    Newton             trust-region Newton-CG on Hessian-vector products
    Auto               the default: Newton (float64), or LBFGS then Newton (float32), one loop per phase
"""

from ._protocol import (
    FIRST_ORDER_DEFAULTS, Solver, Status, as_solver, defaults, gradient_scale, methods, relative_gradient,
)
from ._first_order import GD, SGD, Adam
from ._lbfgs import LBFGS
from ._newton import Newton, steihaug_cg
from ._auto import Auto

METHODS = tuple(methods())  # the method names, from the one table in _protocol.methods


__all__ = [
    "Solver", "Status", "as_solver", "defaults", "methods", "METHODS", "FIRST_ORDER_DEFAULTS",
    "GD", "SGD", "Adam", "LBFGS", "Newton", "Auto", "steihaug_cg", "relative_gradient",
    "gradient_scale",
]
