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

A composite is an object with `phases(x0) -> tuple of solvers` in place of the three methods (`Auto`): the
engine runs each phase as a loop of its own, in turn; a phase hands over when its `terminate` says done, and the
last phase's `terminate` ends the run. A phase's state exists only during its loop (peak memory: the largest
phase's).
"""

from __future__ import annotations

import enum
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np

from .._errors import ParameterError
from . import _tree as T


class Status(enum.StrEnum):
    """How a run ended. A str (``sol.status == "converged"``) with a fixed integer `code` (what a compiled
    program carries; stored in scan rows, so a code never changes meaning) and a one-line `message`."""

    def __new__(cls, value: str, code: int, message: str):
        obj = str.__new__(cls, value)
        obj._value_ = value
        obj.code = code
        obj.message = message
        return obj

    RUNNING = "running", 0, "the run had not ended"
    CONVERGED = "converged", 1, "‖∇f‖ ≤ tol·min(|f|, |f(x0)|), and no negative curvature was found"
    MAX_STEPS = "max_steps", 2, "the step budget ran out before the gradient test held"
    DIVERGED = "diverged", 3, "a step was non-finite or blew up; the last finite iterate is returned"
    STALLED = "stalled", 4, "the solver could make no further progress before the gradient test held"
    SADDLE = "saddle", 5, "the gradient test holds, but the Hessian has a negative eigenvalue: not a minimiser"
    NONSTATIONARY = ("nonstationary", 6, "the gradient test holds with relu′(0) = 0, but a descent direction leaves "
                     "the point through a ReLU kink (found by ufm.kinks): not a minimiser")

    @classmethod
    def from_code(cls, code: int) -> "Status":
        try:
            return _BY_CODE[int(code)]
        except KeyError:
            raise ValueError(f"Status.from_code: no status has code {code!r}") from None


_BY_CODE = {s.code: s for s in Status}


def gradient_scale(f, f0):
    """min(|f|, |f(x0)|), floored at the dtype's smallest normal number: the scale the relative gradient is
    measured against, capped at |f(x0)| so that a run whose f blows up cannot pass a small ratio. JAX arrays in a
    program, numpy arrays or floats on the host (no program is compiled for them)."""
    xp = jnp if isinstance(f, jax.Array) or isinstance(f0, jax.Array) else np
    dtype = getattr(f, "dtype", np.dtype(np.float64))
    return xp.maximum(xp.minimum(xp.abs(f), xp.abs(f0)), xp.finfo(dtype).tiny)


def relative_gradient(f, g, f0):
    """‖∇f‖₂ / min(|f|, |f(x0)|) (`gradient_scale`): the quantity a run's `tol` bounds — the engine's stopping
    test, `Auto`'s switch to Newton and a class-mean solve's lifted gradient use this one definition."""
    return T.norm(g) / gradient_scale(f, f0)


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
    if missing and not callable(getattr(method, "phases", None)):
        raise ParameterError(
            "method", method,
            "one of " + ", ".join(methods()) + " or an object with init/step/terminate or phases (missing: "
            + ", ".join(missing) + ")", owner,
        )
    return method


__all__ = ["Status", "Solver", "defaults", "methods", "as_solver", "relative_gradient", "gradient_scale",
           "FIRST_ORDER_DEFAULTS"]
