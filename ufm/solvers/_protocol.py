"""The solver protocol, the status of a run, and method names.

A solver is any object with these three pure methods (a frozen dataclass of its settings is the usual form;
it must be hashable for the compiled solve to be cached, and its state a pytree of arrays):

    init(fun, x, f, g, max_steps) -> state
    step(fun, x, f, g, state, max_steps) -> (x, f, g, state)
    terminate(fun, x, f, g, state, max_steps) -> (done, status)

`fun` maps the iterate x (a pytree: the tuple of free arrays (W, H, b)) to the scalar objective; (f, g) are
f(x) and ∇f(x) at the current iterate, and `step` returns the next iterate with its own (f, g). `terminate`
says whether the method itself must stop (a bool array) and with which `Status` code (e.g. STALLED: it can make
no further progress). `max_steps` is the run's step budget (a static int), for schedules.

The engine (`ufm.solve`, `solve_batch`, `trajectory`) owns everything else: the relative-gradient tolerance,
the step budget, divergence (a non-finite or blown-up step stops the run at the last finite iterate) and the
history. Optionally, `defaults(dtype) -> (tol, max_steps)` gives a solver its own default tolerance and budget.
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

from .._errors import ParameterError


class Status(enum.StrEnum):
    """How a run ended. A str (``sol.status == "converged"``) with an integer `code` used inside JAX."""

    RUNNING = "running"
    CONVERGED = "converged"
    MAX_STEPS = "max_steps"
    DIVERGED = "diverged"
    STALLED = "stalled"
    SADDLE = "saddle"  # the gradient test holds, but the Hessian has a negative eigenvalue: not a minimiser

    @property
    def code(self) -> int:
        return _ORDER.index(self)

    @classmethod
    def from_code(cls, code: int) -> "Status":
        return _ORDER[int(code)]


_ORDER = tuple(Status)


@runtime_checkable
class Solver(Protocol):
    """See the module docstring. `ufm.solve(problem, method=my_solver)` accepts any object that has these."""

    def init(self, fun, x, f, g, max_steps: int) -> Any: ...

    def step(self, fun, x, f, g, state, max_steps: int) -> tuple: ...

    def terminate(self, fun, x, f, g, state, max_steps: int) -> tuple: ...


# Default relative gradient tolerance ‖∇f‖₂/|f| and step budget of a solver without `defaults`: those of the
# first-order methods (they reach ~1e-8 in float64 and need many steps).
FIRST_ORDER_DEFAULTS = {"float64": (1e-8, 20000), "float32": (1e-4, 20000)}


def defaults(solver, dtype: str) -> tuple[float, int]:
    """(tol, max_steps) for `solver` on a problem of `dtype`."""
    own = getattr(solver, "defaults", None)
    return own(dtype) if callable(own) else FIRST_ORDER_DEFAULTS[dtype]


def methods() -> dict:
    """Method name → solver class (the names `ufm.solve(method=...)` and `ufm solve --method` accept)."""
    from . import GD, SGD, Adam, Auto, LBFGS, Newton

    return {"auto": Auto, "gd": GD, "sgd": SGD, "adam": Adam, "lbfgs": LBFGS, "newton": Newton}


def as_solver(method, owner: str = "solve"):
    """A method name (`METHODS`) or any object following the `Solver` protocol → a solver object."""
    if isinstance(method, str):
        table = methods()
        if method not in table:
            raise ParameterError("method", method, "one of " + ", ".join(table) + " or a solver object", owner)
        return table[method]()
    missing = [m for m in ("init", "step", "terminate") if not callable(getattr(method, m, None))]
    if missing:
        raise ParameterError(
            "method", method,
            "one of " + ", ".join(methods()) + " or an object with init/step/terminate (missing: "
            + ", ".join(missing) + ")", owner,
        )
    return method


__all__ = ["Status", "Solver", "defaults", "methods", "as_solver", "FIRST_ORDER_DEFAULTS"]
