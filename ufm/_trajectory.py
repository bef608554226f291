"""`trajectory`: the iterates of a fixed-length run, for convergence plots (NC metrics, norms, certificates,
Hessian spectra along the path) — what `solve` does not keep."""

from __future__ import annotations

import dataclasses
import time

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import metrics as _metrics
from ._executables import Executables
from ._objective import Layout, Params, value
from ._problem import Hyper, Problem
from ._solve import BLOWUP, _check_int, as_solver, initial_point
from .solvers import Auto
from .solvers import _tree as T


@dataclasses.dataclass(frozen=True)
class Trajectory:
    """Snapshots of one run, every `every` steps from step 0 to `steps`.

    step (T,), W (T,K,d), H (T,d,N), b (T,K), objective (T,), grad_norm (T,).
    status: "completed" or "diverged" (a non-finite or blown-up step; the snapshots after it repeat the last
    finite iterate, and `diverged_at` is the first step that failed).
    """

    problem: Problem
    method: object
    step: np.ndarray
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    objective: np.ndarray
    grad_norm: np.ndarray
    status: str
    diverged_at: int | None
    seconds: float
    compile_seconds: float

    def __len__(self):
        return self.step.size

    def __getitem__(self, i: int) -> Params:
        return Params(self.W[i], self.H[i], self.b[i])

    def metrics(self) -> dict:
        """`ufm.metrics.all` at every snapshot: a dict of (T,) arrays."""
        return _metrics.all(self.W, self.H, self.b)


def _run(layout: Layout, solver, steps: int, every: int, hyper: Hyper, x0):
    fun = lambda x: value(layout, hyper, layout.full(x))  # noqa: E731
    f, g = jax.value_and_grad(fun)(x0)
    cap = BLOWUP * jnp.maximum(jnp.abs(f), 1.0)
    state = solver.init(fun, x0, f, g, steps)
    never = jnp.asarray(-1, jnp.int32)

    def one(k, c):
        x, f, g, state, failed = c
        x1, f1, g1, state1, _ = solver.step(fun, x, f, g, state, steps)
        ok = (failed < 0) & jnp.isfinite(f1) & T.all_finite(g1) & T.all_finite(x1) & (f1 <= cap)
        keep = lambda new, old: jax.tree_util.tree_map(lambda a, b: jnp.where(ok, a, b), new, old)  # noqa: E731
        failed = jnp.where((failed < 0) & ~ok, (k + 1).astype(failed.dtype), failed)
        return keep(x1, x), keep(f1, f), keep(g1, g), keep(state1, state), failed

    def chunk(c, i):
        c = lax.fori_loop(i * every, (i + 1) * every, one, c)
        return c, (c[0], c[1], T.norm(c[2]))

    c, (xs, fs, gs) = lax.scan(chunk, (x0, f, g, state, never), jnp.arange(steps // every, dtype=jnp.int32))
    xs = jax.tree_util.tree_map(lambda a0, a: jnp.concatenate([a0[None], a]), x0, xs)
    fs = jnp.concatenate([f[None], fs])
    gs = jnp.concatenate([T.norm(g)[None], gs])
    return xs, fs, gs, c[4]


_COMPILED = Executables()


def trajectory(
    problem: Problem,
    method="gd",
    steps: int = 1000,
    every: int = 10,
    seed: int = 0,
    init=None,
    init_scale: float = 0.1,
) -> Trajectory:
    """Run `method` for exactly `steps` iterations (no convergence stop) and keep the iterate every `every`
    steps, in one compiled `lax.scan` over `lax.fori_loop` chunks.

    method: "gd", "sgd", "adam", "lbfgs", "newton" or a solver object (not "auto": its two phases switch on a
    tolerance, which a fixed-length path does not have). steps must be a multiple of every.
    seed, init, init_scale: as in `ufm.solve`. Memory: (steps/every + 1) copies of (W, H, b).
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"trajectory(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    solver = as_solver(method)
    if isinstance(solver, Auto):
        raise ValueError("trajectory: method must be one solver (gd, sgd, adam, lbfgs, newton); 'auto' switches "
                         "solvers on a tolerance")
    _check_int("steps", steps, 1)
    _check_int("every", every, 1)
    if steps % every:
        raise ValueError(f"trajectory: steps ({steps}) must be a multiple of every ({every})")
    layout = Layout.of(problem)
    x0 = layout.free(layout.unpack(jnp.asarray(initial_point(problem, seed, init, init_scale), problem.dtype)))
    hyper = Hyper(*(jnp.asarray(v, problem.dtype) for v in problem.hyper))
    key = (layout, solver, steps, every)
    compile_s = 0.0
    exe = _COMPILED.get(key)
    if exe is None:
        t0 = time.perf_counter()
        fn = lambda h, x: _run(layout, solver, steps, every, h, x)  # noqa: E731
        exe = jax.jit(fn).lower(hyper, x0).compile()
        _COMPILED.put(key, exe)
        compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    xs, fs, gs, failed = jax.block_until_ready(exe(hyper, x0))
    seconds = time.perf_counter() - t0
    W, H, b = (np.asarray(a) for a in jax.vmap(layout.full)(xs))
    failed = int(failed)
    return Trajectory(
        problem=problem, method=solver, step=np.arange(0, steps + 1, every), W=W, H=H, b=b,
        objective=np.asarray(fs), grad_norm=np.asarray(gs), status="completed" if failed < 0 else "diverged",
        diverged_at=None if failed < 0 else failed, seconds=seconds, compile_seconds=compile_s,
    )
