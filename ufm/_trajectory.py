"""`trajectory`: the iterates of a run, for convergence plots (NC metrics, norms, certificates, Hessian spectra
along the path) — what `solve` does not keep. The same engine as `solve`, with a recorder of snapshots."""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np

from . import _engine
from . import metrics as _metrics
from ._compat import keyword_only_since_0_3
from ._config import float64
from ._errors import ParameterError, check_int
from ._executables import Executables, compiled
from ._objective import Layout, Params, value
from ._problem import Hyper, Problem
from ._curvature import curvature_test
from ._kinks import kink_test
from ._program import check_tol, program_form
from ._start import device_free, host_full, initial_point
from .solvers import Status, as_solver


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Snapshots of one run, every `every` steps from step 0 to `steps`.

    step (T,), W (T,K,d) (deep: the tuple of layers, each with the leading T axis), H (T,d,N), b (T,K),
    objective (T,), grad_norm (T,).
    status: a `ufm.Status`: "max_steps" when all `steps` ran; "diverged" after a non-finite or blown-up step
    (`diverged_at` is the step that failed); "stalled", "converged" or "saddle" (the gradient test
    holds where the Hessian has a negative eigenvalue) when the solver stopped early. Snapshots
    after an early end repeat the final iterate. steps_taken: the steps actually run.
    """

    problem: Problem
    method: object
    step: np.ndarray
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    objective: np.ndarray
    grad_norm: np.ndarray
    status: Status
    steps_taken: int
    seconds: float
    compile_seconds: float

    @property
    def diverged_at(self) -> int | None:
        return self.steps_taken if self.status == Status.DIVERGED else None

    def __len__(self):
        return self.step.size

    def __getitem__(self, i: int) -> Params:
        W = tuple(w[i] for w in self.W) if isinstance(self.W, tuple) else self.W[i]
        return Params(W, self.H[i], self.b[i])

    def metrics(self) -> dict:
        """`ufm.metrics.all` at every snapshot: a dict of (T,) arrays (deep: of W_L and the features H_L)."""
        p = self.problem
        return _metrics.all(self.W, self.H, self.b, labels=p.labels, activation=p.activation)

    def layers(self) -> list:
        """`ufm.metrics.layers` at every snapshot: a list (T) of lists (L) of dicts."""
        p = self.problem
        return [_metrics.layers(*self[i], p.labels, activation=p.activation) for i in range(len(self))]


def _run(layout: Layout, solver, steps: int, every: int, tol, hyper: Hyper, x0):
    fun = lambda x: value(layout, hyper, layout.full(x))  # noqa: E731
    r = _engine.run(solver, fun, x0, tol, steps, _engine.Snapshots(every, steps // every))
    xs, fs, gs = r.record
    return xs, fs, gs, r.steps, r.status


_COMPILED = Executables()


@keyword_only_since_0_3
@float64()
def trajectory(
    problem: Problem,
    method="gd",
    *,
    steps: int = 1000,
    every: int = 10,
    seed: int = 0,
    init=None,
    init_scale: float = 0.1,
    tol: float = 0.0,
) -> Trajectory:
    """Run `method` for `steps` iterations and keep the iterate every `every` steps, in one compiled loop (the
    engine of `ufm.solve` with a snapshot recorder).

    method: a method name, a solver object or any `ufm.Solver`. steps must be a multiple of every.
    tol: stop early when ‖∇f‖/min(|f|, |f(x0)|) ≤ tol (default 0: run every step unless ∇f vanishes exactly).
    seed, init, init_scale: as in `ufm.solve`. Memory: (steps/every + 1) copies of (W, H, b).
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"trajectory(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    solver = as_solver(method, "trajectory")
    check_int("steps", steps, 1, "trajectory", hi=2**31 - 2)
    check_int("every", every, 1, "trajectory")
    if steps % every:
        raise ParameterError("steps", steps, f"a multiple of every = {every}", "trajectory")
    tol = check_tol(tol, "trajectory")
    layout, hyper = program_form(problem)
    x0 = device_free(layout, initial_point(problem, seed, init, init_scale))
    tol_a = jnp.asarray(tol, problem.dtype)
    fn = lambda t, h, x: _run(layout, solver, steps, every, t, h, x)  # noqa: E731
    exe, compile_s = compiled(_COMPILED, (layout, solver, steps, every), fn, (tol_a, hyper, x0), "ufm_trajectory")
    t0 = time.perf_counter()
    xs, fs, gs, k, code = jax.block_until_ready(exe(tol_a, hyper, x0))
    seconds = time.perf_counter() - t0
    last = tuple(np.asarray(a)[-1] for a in xs)
    code, _, probe_s, vectors = curvature_test(layout, hyper, last, np.asarray(code))
    code, _ = kink_test(layout, hyper, last, code, vectors)  # deep ReLU: kinks with a descent direction
    compile_s += probe_s
    W, H, b = host_full(layout, xs, batched=True)
    return Trajectory(
        problem=problem, method=solver, step=np.arange(0, steps + 1, every), W=W, H=H, b=b,
        objective=np.asarray(fs), grad_norm=np.asarray(gs), status=Status.from_code(code), steps_taken=int(k),
        seconds=seconds, compile_seconds=compile_s,
    )
