"""The default method: L-BFGS to get close, then the Newton-CG polish to machine precision — an ordinary
composite of two solvers, driven by the same engine as any other."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._errors import ParameterError, check_int
from . import _tree as T
from ._lbfgs import LBFGS, LBFGSState
from ._newton import Newton, NewtonState
from ._protocol import Status, relative_gradient


class AutoState(NamedTuple):
    phase: jax.Array  # 0: L-BFGS, 1: Newton-CG
    taken: jax.Array  # steps taken in the current phase
    f0: jax.Array  # f at the start: the scale of the switch test (as the engine's tolerance)
    lbfgs: LBFGSState | None  # None where the problem is small (`Auto.small`): Newton from the start
    newton: NewtonState


@dataclasses.dataclass(frozen=True)
class Auto:
    """L-BFGS until the relative gradient norm reaches `switch`, L-BFGS stalls, or `lbfgs_steps` run out; then
    `Newton` until the solve's `max_steps` (default lbfgs_steps + polish_steps) run out. One solver state holds
    both phases.

    The defaults hand over early: L-BFGS is cheap per step far from the minimizer but slow on the flat
    weight-decay directions of the UFM (MSE took 200 L-BFGS steps where Newton-CG needs ~20). Ten L-BFGS
    steps then Newton converged on every problem of the comparison in the README's Performance section and
    was the fastest or within noise of it; Newton alone once stalled at float32's floor from a random start.
    Default tolerance: Newton's; default budget: lbfgs_steps + polish_steps = 210 steps. A larger `max_steps`
    goes to the Newton phase (it once stopped at polish_steps whatever max_steps said). At λ_W = λ_H = 1e-5
    (MSE, K = 2–5) the Newton phase needs 40–120 steps: with 100 it ended at max_steps, ‖∇f‖/|f| ~ 0.1–1.

    Small float64 problems — at most `small` free variables, which includes every exact class-mean solve up
    to K = 45 (2K² + K variables) — run Newton from the start: a step costs O(size) Hessian-vector products
    of a tiny problem, and the program leaves the L-BFGS phase out, which halves its compile (the first solve
    of a shape is compile-bound: 2 s of compile for a 0.01 s solve). `small=0` keeps both phases always.
    """

    lbfgs: LBFGS = LBFGS(memory=10)  # = lbfgs_steps: no more pairs can exist; half the memory of the default 20
    newton: Newton = Newton()
    switch: float = 1e-2
    lbfgs_steps: int = 10
    polish_steps: int = 200
    small: int = 4096

    def __post_init__(self):
        if not (isinstance(self.switch, (int, float)) and 0 < self.switch < 1):
            raise ParameterError("switch", self.switch, "in (0, 1)", "Auto")
        for key in ("lbfgs_steps", "polish_steps"):
            check_int(key, getattr(self, key), 1, "Auto")
        check_int("small", self.small, 0, "Auto")

    def defaults(self, dtype: str) -> tuple[float, int]:
        return self.newton.defaults(dtype)[0], self.lbfgs_steps + self.polish_steps

    def newton_only(self, x) -> bool:
        """Whether a solve from x skips the L-BFGS phase (static: x's size and dtype decide it at trace time).
        float32 keeps L-BFGS first: Newton alone once stalled at float32's floor from a random start."""
        return T.dtype(x) == jnp.float64 and sum(a.size for a in jax.tree_util.tree_leaves(x)) <= self.small

    def init(self, fun, x, f, g, max_steps):
        newton = self.newton.init(fun, x, f, g, max_steps)
        if self.newton_only(x):
            return AutoState(phase=jnp.ones((), jnp.int32), taken=jnp.zeros((), jnp.int32), f0=f, lbfgs=None,
                             newton=newton)
        close = relative_gradient(f, g, f) <= self.switch
        return AutoState(
            phase=jnp.where(close, 1, 0).astype(jnp.int32), taken=jnp.zeros((), jnp.int32), f0=f,
            lbfgs=self.lbfgs.init(fun, x, f, g, max_steps), newton=newton,
        )

    def step(self, fun, x, f, g, state, max_steps):
        if state.lbfgs is None:  # Newton from the start (`newton_only`)
            x1, f1, g1, s1 = self.newton.step(fun, x, f, g, state.newton, max_steps)
            return x1, f1, g1, state._replace(taken=state.taken + 1, newton=s1)

        def quasi_newton(_):
            x1, f1, g1, s1 = self.lbfgs.step(fun, x, f, g, state.lbfgs, max_steps)
            stalled, _ = self.lbfgs.terminate(fun, x1, f1, g1, s1, max_steps)
            switch = stalled | (relative_gradient(f1, g1, state.f0) <= self.switch)
            switch |= state.taken + 1 >= self.lbfgs_steps
            # The Newton phase starts from a fresh trust radius at the hand-over point.
            fresh = self.newton.init(fun, x1, f1, g1, max_steps)
            return x1, f1, g1, AutoState(
                phase=jnp.where(switch, 1, 0).astype(jnp.int32), taken=jnp.where(switch, 0, state.taken + 1),
                f0=state.f0, lbfgs=s1, newton=fresh,
            )

        def polish(_):
            x1, f1, g1, s1 = self.newton.step(fun, x, f, g, state.newton, max_steps)
            return x1, f1, g1, state._replace(taken=state.taken + 1, newton=s1)

        return lax.cond(state.phase == 0, quasi_newton, polish, None)

    def terminate(self, fun, x, f, g, state, max_steps):
        stalled, code = self.newton.terminate(fun, x, f, g, state.newton, max_steps)
        done = (state.phase == 1) & stalled  # the step budget is the engine's (max_steps)
        return done, jnp.where(done, code, Status.RUNNING.code).astype(jnp.int32)
