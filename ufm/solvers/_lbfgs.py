"""L-BFGS with a zoom (strong-Wolfe) line search: optax.lbfgs."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, NamedTuple

import jax
import jax.numpy as jnp

from .._errors import check_int
from . import _tree as T
from ._protocol import Status

if TYPE_CHECKING:  # optax is imported where a solver runs (a Newton solve never loads it)
    import optax


class LBFGSState(NamedTuple):
    opt_state: optax.OptState
    idle: jax.Array  # consecutive steps that decreased neither f nor ‖∇f‖


@dataclasses.dataclass(frozen=True)
class LBFGS:
    """Limited-memory BFGS (Nocedal & Wright 2006, Alg. 7.4) with optax's zoom line search.

    Terminates with STALLED after `patience` consecutive steps that decrease neither f nor ‖∇f‖ (the line
    search can no longer resolve a decrease: the iterate is at the method's floor, see `Newton` to go further).
    Default tolerance ‖∇f‖/|f| ≤ 1e-10 in float64 (1e-5 in float32), at most 5000 steps.
    """

    memory: int = 20
    linesearch_steps: int = 30
    patience: int = 10

    def __post_init__(self):
        for key in ("memory", "linesearch_steps", "patience"):
            check_int(key, getattr(self, key), 1, "LBFGS")

    def defaults(self, dtype: str) -> tuple[float, int]:
        return (1e-10 if dtype == "float64" else 1e-5), 5000

    def _tx(self):
        import optax

        ls = optax.scale_by_zoom_linesearch(max_linesearch_steps=self.linesearch_steps)
        return optax.lbfgs(memory_size=self.memory, linesearch=ls)

    def init(self, fun, x, f, g, max_steps):
        return LBFGSState(self._tx().init(x), jnp.zeros((), jnp.int32))

    def step(self, fun, x, f, g, state, max_steps):
        import optax

        updates, opt_state = self._tx().update(g, state.opt_state, x, value=f, grad=g, value_fn=fun)
        x_new = optax.apply_updates(x, updates)
        f_new, g_new = optax.value_and_grad_from_state(fun)(x_new, state=opt_state)
        progress = (f_new < f) | (T.norm(g_new) < T.norm(g))
        idle = jnp.where(progress, 0, state.idle + 1)
        return x_new, f_new, g_new, LBFGSState(opt_state, idle)

    def terminate(self, fun, x, f, g, state, max_steps):
        stalled = state.idle >= self.patience
        return stalled, jnp.where(stalled, Status.STALLED.code, Status.RUNNING.code).astype(jnp.int32)
