"""Solver objects. Each is a frozen dataclass with two pure methods run inside one `lax.while_loop`:

    init(fun, x, f, g, max_steps) -> state
    step(fun, x, f, g, state, max_steps) -> (x, f, g, state, stalled)

where `fun` maps the free vector x to f, (f, g) are f(x) and ∇f(x) at the current iterate, and `stalled`
says the method can make no further progress. The driver (`ufm.solve`) owns convergence, divergence and
history, so a solver only says how to take one step.
"""

from ._first_order import GD, SGD, Adam
from ._lbfgs import LBFGS
from ._newton import Newton
from ._auto import Auto

__all__ = ["GD", "SGD", "Adam", "LBFGS", "Newton", "Auto"]
