"""The default method: Newton-CG (float64), or L-BFGS to get close then the Newton-CG polish (float32) — a
composite of solvers run as phases, one loop each, by the same engine as any other."""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from .._errors import ParameterError, check_int
from . import _tree as T
from ._lbfgs import LBFGS
from ._newton import Newton
from ._protocol import Status, relative_gradient


class HandoverState(NamedTuple):
    inner: Any  # the wrapped solver's state
    taken: jax.Array  # steps taken
    f0: jax.Array  # f where the phase started (the run's start): the scale of the switch test


@dataclasses.dataclass(frozen=True)
class Handover:
    """`solver` as the first phase of a composite: done once the relative gradient ‖∇f‖/min(|f|, |f0|) reaches
    `switch`, `solver` itself says done (e.g. L-BFGS stalled), or `steps` steps were taken."""

    solver: Any
    switch: float
    steps: int

    def init(self, fun, x, f, g, max_steps):
        return HandoverState(self.solver.init(fun, x, f, g, max_steps), jnp.zeros((), jnp.int32), f)

    def step(self, fun, x, f, g, state, max_steps):
        x1, f1, g1, inner = self.solver.step(fun, x, f, g, state.inner, max_steps)
        return x1, f1, g1, HandoverState(inner, state.taken + 1, state.f0)

    def terminate(self, fun, x, f, g, state, max_steps):
        stalled, _ = self.solver.terminate(fun, x, f, g, state.inner, max_steps)
        done = stalled | (relative_gradient(f, g, state.f0) <= self.switch) | (state.taken >= self.steps)
        return done, jnp.where(done, Status.STALLED.code, Status.RUNNING.code).astype(jnp.int32)


@dataclasses.dataclass(frozen=True)
class Auto:
    """The default method. float64: `Newton` from the start. float32 (and float64 above `small` variables, where
    set): L-BFGS until the relative gradient norm reaches `switch`, L-BFGS stalls, or `lbfgs_steps` run out; then
    `Newton` until the solve's `max_steps` (default lbfgs_steps + polish_steps) run out. The two phases are two
    loops run in turn (`phases`): L-BFGS's pairs and line search are gone before Newton's vectors exist, so the
    peak memory is the larger phase's, not the sum. XLA's buffers of a CE solve, K = 40, n = 20, d = 128, float32,
    in units of the parameters: 36× as one loop holding both states with 10 L-BFGS pairs, 34.6× as two loops,
    20.6× with 3 pairs (the default here: the phase takes at most `lbfgs_steps` steps; with 3, 5 and 10 pairs the
    float32 solves of CE, MSE, FL, LS at (K, n, d) = (10, 50, 64), (40, 20, 128), 3 seeds each, all converged
    to the same objectives in 16–31 steps and the same time within noise). The rest of the L-BFGS phase is
    optax's state and line search (~14×); Newton-CG alone is ~10×.

    float64 runs Newton from the start at every size up to `small` free variables (default: no bound). Measured
    (2 cores, float64, `reduce="never"`, run seconds without compile, two-phase → Newton only): CE K=100 n=100
    d=512 21.0 → 20.4 s (15 → 15 steps), MSE K=100 n=50 d=128 2.66 → 2.27 s (34 → 20), FL γ=2 K=200 n=10
    d=256 6.36 → 5.99 s (23 → 23), CE/MSE at λ = 1e-5 K=5 0.08–0.21 → 0.05–0.18 s, same objectives to 1e-14;
    and the program without the L-BFGS phase compiles in half the time (5.5 → 2.4 s for the first). Newton's
    trust region takes the first steps from a random start about as cheaply as L-BFGS does (its CG stops at the
    boundary after few products). Newton alone holds ~10× the parameters, L-BFGS with 10 pairs ~32×.

    float32 keeps L-BFGS first: Newton alone once stalled at float32's floor from a random start. There the
    defaults hand over early: L-BFGS is cheap per step far from the minimizer but slow on the flat weight-decay
    directions of the UFM (MSE took 200 L-BFGS steps where Newton-CG needs ~20). Ten L-BFGS steps then Newton
    converged on every problem of the comparison in the README's Performance section and was the fastest or
    within noise of it. Default tolerance: Newton's; default budget: lbfgs_steps + polish_steps = 210 steps.
    A larger `max_steps` goes to the Newton phase. At λ_W = λ_H = 1e-5 (MSE, K = 2–5) the Newton phase needs
    40–120 steps: with 100 it ended at max_steps, ‖∇f‖/|f| ~ 0.1–1. `small=0` keeps both phases always.
    """

    lbfgs: LBFGS = LBFGS(memory=3)  # the phase is short (lbfgs_steps): 3 pairs did as well as 10 (docstring)
    newton: Newton = Newton()
    switch: float = 1e-2
    lbfgs_steps: int = 10
    polish_steps: int = 200
    small: int | None = None

    def __post_init__(self):
        if not (isinstance(self.switch, (int, float)) and 0 < self.switch < 1):
            raise ParameterError("switch", self.switch, "in (0, 1)", "Auto")
        for key in ("lbfgs_steps", "polish_steps"):
            check_int(key, getattr(self, key), 1, "Auto")
        if self.small is not None:
            check_int("small", self.small, 0, "Auto")

    def defaults(self, dtype: str) -> tuple[float, int]:
        return self.newton.defaults(dtype)[0], self.lbfgs_steps + self.polish_steps

    def newton_only(self, x) -> bool:
        """Whether a solve from x skips the L-BFGS phase (static: x's dtype and size decide it at trace time)."""
        size = sum(a.size for a in jax.tree_util.tree_leaves(x))
        return T.dtype(x) == jnp.float64 and (self.small is None or size <= self.small)

    def phases(self, x) -> tuple:
        """The solvers the engine runs in turn from x: (Newton,) or (L-BFGS until the hand-over, Newton)."""
        if self.newton_only(x):
            return (self.newton,)
        return Handover(self.lbfgs, self.switch, self.lbfgs_steps), self.newton
