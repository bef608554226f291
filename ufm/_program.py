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
from ._errors import ParameterError, check_int
from ._executables import Executables, compiled
from ._objective import Layout, family_form, value
from ._problem import Hyper, Problem
from .solvers import GD, LBFGS, Adam, Auto, Newton, defaults, relative_gradient
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
    layout, h = family_form(problem)
    return layout, Hyper(*(jnp.asarray(v, problem.dtype) for v in h))


def solve_program(cfg: Settings, hyper: Hyper, x0, tol, mask=None) -> Out:
    """The whole solve as one pure function (jit/vmap it): (hyper, x0, tol) → `Out`. x0: the tuple of free
    arrays (`Layout.free`). mask: None, or 0/1 arrays like x0 — f is then minimised at x ⊙ mask (a bucketed
    program, `bucket`: the masked numbers neither enter f nor move)."""
    if mask is None:
        fun = lambda x: value(cfg.layout, hyper, cfg.layout.full(x))  # noqa: E731
    else:
        fun = lambda x: value(cfg.layout, hyper, cfg.layout.full(tuple(a * m for a, m in zip(x, mask))))  # noqa: E731
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

# ------------------------------------------------------------------------------------------------- buckets
# A one-layer problem is solved by the program of its bucket: d padded (class-mean form: to K; in full: to K + 1
# where d ≤ K + 1, else to the next power of two) and a bias added, the extra numbers masked (`solve_program`'s
# mask) — one program per (K, n, loss family, solver) instead of one per (K, n, d, bias, ...). Masked numbers
# start at 0 and their gradient is exactly 0, so the iterates are those of the unpadded solve (the Krylov space
# of Newton-CG stays in the real numbers too); sums gain exact zeros and may reassociate (results agree to
# rounding). Bucketed only where the padded program stays small (compile-bound sizes) and the solver's
# behaviour does not depend on the size of x.
BUCKET_MAX = 4096  # free numbers of a padded program: class-mean 2K² + K ≤ 4096, i.e. K ≤ 44
_SIZE_FREE = (Newton, LBFGS, GD, Adam, Auto)  # solvers whose steps do not depend on the size of x


def bucket_d(layout: Layout) -> int:
    """The feature dimension of `layout`'s bucket: K in the class-mean form (where d ≤ K), else K + 1 up to
    d = K + 1 and the next power of two above."""
    if layout.means:
        return layout.K
    return layout.K + 1 if layout.d <= layout.K + 1 else 1 << (layout.d - 1).bit_length()


_ANY = object()


def bucket(layout: Layout, solver=_ANY) -> Layout | None:
    """The layout of the program that solves `layout` with `solver`, or None: `layout` has a program of its own.

    One sample per class in full (N = K; deep, or d ≤ K) is the class-mean form with counts 1 — the same numbers
    and the same f — and runs in that program. A one-layer layout with a free W (d ≤ K in the class-mean form)
    and a ufm solver runs, where the padded layout holds ≤ BUCKET_MAX numbers, in the masked program of the
    layout with d = `bucket_d` and a bias (`Padding`)."""
    if layout.fixed_w:
        return None
    one = dataclasses.replace(layout, means=True, n=None) if not layout.means and layout.N == layout.K and \
        (layout.deep or layout.d <= layout.K) else None
    if layout.deep:
        return one  # same free arrays: no padding
    layout = one or layout
    if layout.means and layout.d > layout.K:
        return None
    if solver is not _ANY and type(solver) not in _SIZE_FREE:  # no solver given: the second-order test's program
        return None
    padded = dataclasses.replace(layout, d=bucket_d(layout), bias=True)
    if padded.size > BUCKET_MAX:
        return None
    if isinstance(solver, Auto) and solver.small is not None and \
            (layout.size <= solver.small) != (padded.size <= solver.small):
        return None  # Auto's phases depend on the size: the two programs would differ
    return padded


class Padding(NamedTuple):
    """A layout inside its bucket's layout: pad a start point, crop an end point, the 0/1 masks."""

    real: Layout
    padded: Layout

    def masks(self) -> tuple:
        d, K, dp, dt = self.real.d, self.real.K, self.padded.d, self.real.dtype
        W, H = np.zeros((K, dp), dt), np.zeros((dp, self.real.N), dt)
        W[:, :d], H[:d, :] = 1, 1
        return W, H, np.full(K, 1 if self.real.bias else 0, dt)

    def index(self) -> np.ndarray:
        """Where the numbers of `real`'s free vector x sit in `padded`'s: the unmasked places of the packed masks
        (`Layout.pack` keeps W, H, b in order, so they come in x's order)."""
        return np.flatnonzero(self.padded.pack(self.masks()))

    def pad(self, x) -> tuple:
        """The free arrays (W, H[, b]) of `real` (any leading batch axes) as those of `padded`, zeros added."""
        x = [np.asarray(a) for a in x]
        W, H = x[0], x[1]
        lead, K, d, dp = W.shape[:-2], self.real.K, self.real.d, self.padded.d
        Wp, Hp = np.zeros(lead + (K, dp), W.dtype), np.zeros(lead + (dp, H.shape[-1]), H.dtype)
        Wp[..., :d], Hp[..., :d, :] = W, H
        b = x[2] if self.real.bias else np.zeros(lead + (K,), W.dtype)
        return Wp, Hp, b

    def crop(self, x) -> tuple:
        """The free arrays of `padded` (numpy, any leading axes) back in `real`'s shapes."""
        W, H, b = (np.asarray(a) for a in x)
        d = self.real.d
        return (W[..., :d], H[..., :d, :]) + ((b,) if self.real.bias else ())


class Program:
    """A compiled solve as its callers run it: program(hyper, x0, tol) → `Out`, x0 and Out.x in the caller's
    layout (a bucketed program pads x0 and crops Out.x on the host: no device operation, no program of its
    own)."""

    def __init__(self, exe, padding: Padding | None):
        self.exe, self.padding = exe, padding
        self.mask = None if padding is None else padding.masks()

    def __call__(self, hyper, x0, tol) -> Out:
        if self.padding is None:
            return self.exe(hyper, x0, tol)
        out = self.exe(hyper, self.padding.pad(x0), tol, self.mask)
        return out._replace(x=self.padding.crop(out.x))

    def memory_analysis(self):
        return self.exe.memory_analysis()


def _program_fn(cfg: Settings, batch, execution, masked: bool):
    fn = (lambda h, x, t, m: solve_program(cfg, h, x, t, m)) if masked else \
        (lambda h, x, t: solve_program(cfg, h, x, t))  # noqa: E731
    if batch is not None and execution == "map":
        one = fn
        fn = (lambda h, x, t, m: lax.map(lambda hx: one(hx[0], hx[1], t, m), (h, x))) if masked else \
            (lambda h, x, t: lax.map(lambda hx: one(hx[0], hx[1], t), (h, x)))  # noqa: E731
    elif batch is not None:
        fn = jax.vmap(fn, in_axes=(0, 0, None, None) if masked else (0, 0, None))
    return fn


def program_key(cfg: Settings, batch, execution) -> tuple:
    """(the compiled program's settings, its cache key, its padding or None) of a solve with `cfg`."""
    sharded = isinstance(batch, tuple)  # (size, devices): inputs placed across devices stay as they are
    layout = None if sharded else bucket(cfg.layout, cfg.solver)
    padding = None if layout is None or layout.deep else Padding(cfg.layout, layout)  # deep: same arrays
    cfg = cfg if layout is None else cfg._replace(layout=layout)
    return cfg, (cfg, batch, execution if batch is not None else None, padding is not None), padding


def job(cfg: Settings, batch, execution, hyper, x0, tol) -> tuple:
    """What `executable` compiles, as `_executables.compile_many` takes it: (cache, key, fn, args, name), and the
    padding (None: the program is the layout's own)."""
    cfg, key, padding = program_key(cfg, batch, execution)
    args = (hyper, x0, tol) if padding is None else (hyper, padding.pad(x0), tol, padding.masks())
    name = "ufm_solve" if batch is None else f"ufm_solve_batch_{execution}"
    return (_SOLVES, key, _program_fn(cfg, batch, execution, padding is not None), args, name), padding


def executable(cfg: Settings, batch, execution, hyper, x0, tol):
    """The compiled `solve_program` for (settings, batch size, execution) as a `Program`: batch None is the
    single solve (which `solve` and `solve_batch(execution="map")` share); returns (program, compile seconds).
    A layout with a bucket (`bucket`) runs in its bucket's program."""
    spec, padding = job(cfg, batch, execution, hyper, x0, tol)
    exe, seconds = compiled(*spec)
    return Program(exe, padding), seconds


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
           "EXECUTIONS", "default_execution", "bucket", "Padding", "Program", "program_key", "BUCKET_MAX", "job", "bucket_d"]
