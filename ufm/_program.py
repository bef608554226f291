"""The compiled programs of a solve: what one program is compiled for (`Settings`, `program_form`), the pure
function it runs (`solve_program`) and its compiled executable per shape (`executable`). (The second-order test
of its end points is `_curvature.curvature_test`.)"""

from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from . import _engine
from . import losses as _losses
from ._errors import ParameterError, check_int
from ._executables import Executables, compiled
from ._objective import Layout, value
from ._problem import Hyper, Problem
from .solvers import defaults, relative_gradient
from .solvers import _tree as T


class Settings(NamedTuple):
    """The static settings of one compiled solve (hashable: part of the compilation key)."""

    layout: Layout
    solver: object
    max_steps: int
    every: int  # history stride
    rows: int  # history rows


class Out(NamedTuple):
    """What a solve program returns (`_engine.Run`, reduced to what a `Solution` needs)."""

    x: jax.Array
    f: jax.Array
    grad_norm: jax.Array
    rel_grad_norm: jax.Array
    steps: jax.Array
    status: jax.Array
    history: jax.Array
    f0: jax.Array
    lifted_grad_norm: jax.Array  # ‖∇f‖ of the full problem at the lift of a class-mean solve; grad_norm otherwise


def program_form(problem: Problem) -> tuple[Layout, Hyper]:
    """The layout a solve program is compiled for and the numbers it runs with (device arrays): the layout
    names the loss's program family (`ufm.losses.Loss.program`) and the numbers switch off the family's terms
    the loss does not have (`Loss.program_numbers`). So CE, LS(δ) and FL(γ) are one program — a shape compiles
    once whichever of the three it is solved with (`trajectory` and the second-order test too)."""
    layout, rec = Layout.of(problem), _losses.record(problem.loss)
    h = rec.program_numbers(problem.hyper)
    if rec.program:
        layout = dataclasses.replace(layout, loss=rec.program)
    return layout, Hyper(*(jnp.asarray(v, problem.dtype) for v in h))


def solve_program(cfg: Settings, hyper: Hyper, x0, tol) -> Out:
    """The whole solve as one pure function (jit/vmap it): (hyper, x0, tol) → `Out`. x0: the tuple of free
    arrays (`Layout.free`)."""
    fun = lambda x: value(cfg.layout, hyper, cfg.layout.full(x))  # noqa: E731
    r = _engine.run(cfg.solver, fun, x0, tol, cfg.max_steps, _engine.History(cfg.every, cfg.rows))
    gnorm = T.norm(r.g)
    lifted = gnorm
    if cfg.layout.means:  # ∇_{h_{k,i}} f = ∇_{h_k} f_r / n_k for the n_k copies: Σ_k ‖∇_{h_k} f_r‖²/n_k in all
        h = 0 if cfg.layout.fixed_w else cfg.layout.depth  # the index of H among the free arrays
        gsq = sum(jnp.vdot(a, a) for j, a in enumerate(r.g) if j != h)
        lifted = jnp.sqrt(gsq + jnp.sum(jnp.sum(r.g[h] * r.g[h], axis=0) / hyper.counts))
    return Out(r.x, r.f, gnorm, relative_gradient(r.f, r.g, r.f0), r.steps, r.status, r.record, r.f0, lifted)


EXECUTIONS = ("auto", "vmap", "map")


def default_execution() -> str:
    """"vmap" on accelerators (the batch runs in parallel lanes), "map" on CPU.

    A vmapped while_loop runs in lockstep: every member pays for the batch's largest number of outer steps and,
    inside Newton-CG, of CG iterations, and the converged members are masked, not skipped. An accelerator has
    the width to absorb that; a CPU does not (measured: experiments/benchmarks/batched_scan.py). "map" runs the
    members one after another through the single-solve program of their shape — the one `solve` compiles, for
    any batch size: no lockstep, and no program per batch size (with several devices: lax.map over the shards).
    """
    return "map" if jax.default_backend() == "cpu" else "vmap"


_SOLVES = Executables()


def executable(cfg: Settings, batch, execution, hyper, x0, tol):
    """The compiled `solve_program` for (settings, batch size, execution): batch None is the single solve (which
    `solve` and `solve_batch(execution="map")` share); returns (executable, compile seconds)."""
    fn = lambda h, x, t: solve_program(cfg, h, x, t)  # noqa: E731
    if batch is not None and execution == "map":
        one = fn
        fn = lambda h, x, t: lax.map(lambda hx: one(hx[0], hx[1], t), (h, x))  # noqa: E731
    elif batch is not None:
        fn = jax.vmap(fn, in_axes=(0, 0, None))
    name = "ufm_solve" if batch is None else f"ufm_solve_batch_{execution}"
    return compiled(_SOLVES, (cfg, batch, execution if batch is not None else None), fn, (hyper, x0, tol), name)


def check_tol(tol, owner: str) -> float:
    """The relative gradient tolerance as a float in [0, 1), else ParameterError."""
    if not (isinstance(tol, (int, float, np.floating)) and not isinstance(tol, bool) and 0 <= tol < 1):
        raise ParameterError("tol", tol, "a number in [0, 1)", owner)
    return float(tol)


def settings(layout: Layout, solver, dtype: str, tol, max_steps, history_every, owner: str = "solve"):
    """(tol, `Settings`) of a solve: the solver's defaults for `dtype` where tol or max_steps is None, checked."""
    tol0, steps0 = defaults(solver, dtype)
    tol = check_tol(tol0 if tol is None else tol, owner)
    max_steps = steps0 if max_steps is None else max_steps
    check_int("max_steps", max_steps, 1, owner, hi=2**31 - 2)
    stride = max(1, math.ceil(max_steps / 500)) if history_every is None else history_every
    check_int("history_every", stride, 1, owner)
    return tol, Settings(layout, solver, int(max_steps), int(stride), int(max_steps) // int(stride) + 2)


__all__ = ["Settings", "Out", "program_form", "solve_program", "executable", "settings", "check_tol",
           "EXECUTIONS", "default_execution"]
