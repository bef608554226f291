"""`solve` and `solve_batch`: one compiled `lax.while_loop` per solve, `vmap` over a batch of problems."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import NamedTuple, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from ._executables import Executables
from ._objective import Layout, Params, value
from ._problem import Hyper, Problem
from .solvers import GD, SGD, Adam, Auto, LBFGS, Newton
from .solvers import _tree as T

STATUSES = ("running", "converged", "max_steps", "diverged", "stalled")
RUNNING, CONVERGED, MAX_STEPS, DIVERGED, STALLED = range(5)
BLOWUP = 1e12

METHODS = {"gd": GD, "sgd": SGD, "adam": Adam, "lbfgs": LBFGS, "newton": Newton, "auto": Auto}

# Default relative gradient tolerance ‖∇f‖₂/|f| by method family and dtype.
_TOL = {
    ("second", "float64"): 1e-12, ("second", "float32"): 1e-5,
    ("lbfgs", "float64"): 1e-10, ("lbfgs", "float32"): 1e-5,
    ("first", "float64"): 1e-8, ("first", "float32"): 1e-4,
}
_MAX_STEPS = {"second": 200, "lbfgs": 5000, "first": 20000}


def _family(solver) -> str:
    if isinstance(solver, (Auto, Newton)):
        return "second"
    return "lbfgs" if isinstance(solver, LBFGS) else "first"


def as_solver(method):
    """A method name ("auto", "gd", "sgd", "adam", "lbfgs", "newton") or a solver object → solver object."""
    if isinstance(method, str):
        if method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)} or a solver object; got {method!r}")
        return METHODS[method]()
    if isinstance(method, tuple(METHODS.values())):
        return method
    raise ValueError(f"method must be one of {', '.join(METHODS)} or a solver object; got {method!r}")


@dataclasses.dataclass(frozen=True)
class Solution:
    """Result of `solve` (scalars) or `solve_batch` (every array field gains a leading batch axis).

    W (K,d), H (d,N), b (K,): the final iterate (for a diverged solve, the last finite one).
    objective: f at it. grad_norm: ‖∇f‖₂ over the free variables.
    rel_grad_norm: grad_norm / min(|f|, |f(x0)|), the quantity `tol` bounds.
    steps: iterations taken. status: "converged", "max_steps", "diverged" or "stalled".
    history: rows (step, objective, grad_norm) every `history_every` steps and at the end (in a batch,
    padded with NaN rows after each problem's own end; `solution[i]` trims them).
    seconds: run time of the compiled solve; compile_seconds: compilation time paid by this call (0 if cached).
    """

    problem: Problem | tuple
    method: object
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray
    objective: float | np.ndarray
    grad_norm: float | np.ndarray
    rel_grad_norm: float | np.ndarray
    steps: int | np.ndarray
    status: str | np.ndarray
    history: np.ndarray
    seconds: float
    compile_seconds: float

    @property
    def converged(self):
        """True where status == "converged" (a bool, or a bool array for a batch)."""
        return self.status == "converged" if isinstance(self.status, str) else np.asarray(self.status) == "converged"

    @property
    def params(self) -> Params:
        return Params(self.W, self.H, self.b)

    def __len__(self):
        if isinstance(self.problem, Problem):
            raise TypeError("a single Solution has no length; solve_batch returns batched ones")
        return len(self.problem)

    def __getitem__(self, i: int) -> "Solution":
        """The i-th solution of a batch, as if from `solve` (seconds are the batch's, divided evenly)."""
        n = len(self)
        hist = self.history[i]
        return Solution(
            problem=self.problem[i], method=self.method, W=self.W[i], H=self.H[i], b=self.b[i],
            objective=float(self.objective[i]), grad_norm=float(self.grad_norm[i]),
            rel_grad_norm=float(self.rel_grad_norm[i]), steps=int(self.steps[i]), status=str(self.status[i]),
            history=hist[~np.isnan(hist[:, 0])], seconds=self.seconds / n, compile_seconds=self.compile_seconds / n,
        )

    def unstack(self) -> list["Solution"]:
        return [self[i] for i in range(len(self))]


class _Out(NamedTuple):
    x: jax.Array
    f: jax.Array
    gnorm: jax.Array
    rel: jax.Array
    steps: jax.Array
    status: jax.Array
    history: jax.Array


def _scale(f, f0):
    """|f| capped at |f(x0)|: a run whose f blows up cannot pass as converged by a small ‖∇f‖/|f|."""
    return jnp.maximum(jnp.minimum(jnp.abs(f), jnp.abs(f0)), jnp.finfo(f.dtype).tiny)


def _rel(f, g, f0):
    return T.norm(g) / _scale(f, f0)


def _phase(solver, fun, x, f, g, k, status, hist, row, tol, max_steps, stride, f0):
    """Run `solver` from (x, f, g) at step k until it converges, stalls, diverges or reaches max_steps.

    Diverged: a non-finite f, ∇f or x, or f above BLOWUP·max(|f(x0)|, 1) (no solver here may raise f so far).
    """
    state = solver.init(fun, x, f, g, max_steps)
    status = jnp.where(status != RUNNING, status, jnp.where(_rel(f, g, f0) <= tol, CONVERGED, RUNNING))
    status = jnp.where((status == RUNNING) & (k >= max_steps), MAX_STEPS, status)

    def cond(c):
        return c[5] == RUNNING

    def body(c):
        x, f, g, state, k, _, hist, row = c
        x1, f1, g1, state1, stalled = solver.step(fun, x, f, g, state, max_steps)
        k1 = k + 1
        finite = jnp.isfinite(f1) & T.all_finite(g1) & T.all_finite(x1)
        finite &= f1 <= BLOWUP * jnp.maximum(jnp.abs(f0), 1.0)
        x1, f1, g1 = (T.where(finite, new, old) for new, old in ((x1, x), (f1, f), (g1, g)))
        status = jnp.select(
            [~finite, _rel(f1, g1, f0) <= tol, stalled, k1 >= max_steps],
            [DIVERGED, CONVERGED, STALLED, MAX_STEPS],
            RUNNING,
        )
        record = (k1 % stride == 0) & (row < hist.shape[0])
        entry = jnp.stack([k1.astype(f1.dtype), f1, T.norm(g1)])
        hist = jnp.where(record, hist.at[jnp.minimum(row, hist.shape[0] - 1)].set(entry), hist)
        return x1, f1, g1, state1, k1, status, hist, row + record

    c = lax.while_loop(cond, body, (x, f, g, state, k, status, hist, row))
    return c[0], c[1], c[2], c[4], c[5], c[6], c[7]


def _run(layout: Layout, solver, max_steps: int, stride: int, rows: int, hyper: Hyper, x0, tol):
    """The whole solve as one pure function (jit/vmap it): (hyper, x0, tol) → _Out. x0: the tuple of free
    arrays (`Layout.free`)."""
    fun = lambda x: value(layout, hyper, layout.full(x))  # noqa: E731
    f, g = jax.value_and_grad(fun)(x0)
    f0 = f
    hist = jnp.full((rows, 3), jnp.nan, f.dtype).at[0].set(jnp.stack([jnp.zeros_like(f), f, T.norm(g)]))
    k, row = jnp.zeros((), jnp.int32), jnp.ones((), jnp.int32)
    start = jnp.where(jnp.isfinite(f) & T.all_finite(g), RUNNING, DIVERGED)
    if isinstance(solver, Auto):
        x, f, g, k, status, hist, row = _phase(
            solver.lbfgs, fun, x0, f, g, k, start, hist, row, jnp.maximum(tol, solver.switch),
            min(max_steps, solver.lbfgs_steps), stride, f0,
        )
        status = jnp.where(status == DIVERGED, DIVERGED, RUNNING)
        x, f, g, k, status, hist, row = _phase(
            solver.newton, fun, x, f, g, k, status, hist, row, tol, k + solver.polish_steps, stride, f0
        )
    else:
        x, f, g, k, status, hist, row = _phase(solver, fun, x0, f, g, k, start, hist, row, tol, max_steps, stride, f0)
    # The final iterate always closes the history.
    last = hist[jnp.maximum(row - 1, 0), 0]
    entry = jnp.stack([k.astype(f.dtype), f, T.norm(g)])
    hist = jnp.where((last != k) & (row < rows), hist.at[jnp.minimum(row, rows - 1)].set(entry), hist)
    return _Out(x, f, T.norm(g), _rel(f, g, f0), k, status, hist)


_COMPILED = Executables()


EXECUTIONS = ("auto", "vmap", "map")


def default_execution() -> str:
    """"vmap" on accelerators (the batch runs in parallel lanes), "map" on CPU.

    A vmapped while_loop runs in lockstep: every member pays for the batch's largest number of outer steps and,
    inside Newton-CG, of CG iterations, and the converged members are masked, not skipped. An accelerator has
    the width to absorb that; a CPU does not (measured: experiments/benchmarks/batched_scan.py). "map" runs the
    members one after another inside the same compiled program (lax.map): no lockstep, no Python per problem.
    """
    return "map" if jax.default_backend() == "cpu" else "vmap"


def _compiled(layout, solver, max_steps, stride, rows, batch, hyper, x0, tol, execution="vmap"):
    """AOT-compile `_run` once per (layout, solver, steps, batch size, execution); returns (executable, compile
    seconds)."""
    key = (layout, solver, max_steps, stride, rows, batch, execution if batch is not None else None)
    exe = _COMPILED.get(key)
    if exe is not None:
        return exe, 0.0
    fn = lambda h, x, t: _run(layout, solver, max_steps, stride, rows, h, x, t)  # noqa: E731
    if batch is not None and execution == "map":
        one = fn
        fn = lambda h, x, t: lax.map(lambda hx: one(hx[0], hx[1], t), (h, x))  # noqa: E731
    elif batch is not None:
        fn = jax.vmap(fn, in_axes=(0, 0, None))
    t0 = time.perf_counter()
    exe = jax.jit(fn).lower(hyper, x0, tol).compile()
    seconds = time.perf_counter() - t0
    _COMPILED.put(key, exe)
    return exe, seconds


def _check_int(name, v, lo):
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
        raise ValueError(f"{name} must be an integer ≥ {lo}; got {v!r}")


def initial_point(problem: Problem, seed: int = 0, init=None, init_scale: float = 0.1) -> np.ndarray:
    """The free vector x0 a solve starts from.

    init=None: W, H with i.i.d. N(0, init_scale²) entries from numpy's default_rng(seed) (W first), b = 0.
    init=(W, H, b): that point (the frozen W and, without bias, b are ignored).
    """
    layout = Layout.of(problem)
    K, d, N = layout.K, layout.d, layout.N
    if init is None:
        if not (isinstance(init_scale, (int, float)) and init_scale >= 0 and math.isfinite(init_scale)):
            raise ValueError(f"init_scale must be a finite number ≥ 0; got {init_scale!r}")
        _check_int("seed", seed, 0)
        rng = np.random.default_rng(seed)
        W = init_scale * rng.standard_normal((K, d))
        H = init_scale * rng.standard_normal((d, N))
        b = np.zeros(K)
    else:
        try:
            W, H, b = (np.asarray(a, dtype=np.float64) for a in init)
        except (TypeError, ValueError) as e:
            raise ValueError(f"init must be a (W, H, b) triple of arrays; got {type(init).__name__}") from e
        for name, a, shape in (("W", W, (K, d)), ("H", H, (d, N)), ("b", b, (K,))):
            if a.shape != shape:
                raise ValueError(f"init {name} must have shape {shape}; got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"init {name} must be finite")
    return np.asarray(layout.pack(Params(W, H, b)))


def _resolve(solver, dtype, tol, max_steps, history_every):
    fam = _family(solver)
    tol = _TOL[(fam, dtype)] if tol is None else tol
    if not (isinstance(tol, (int, float)) and 0 <= tol < 1):
        raise ValueError(f"tol must be a number in [0, 1); got {tol!r}")
    max_steps = _MAX_STEPS[fam] if max_steps is None else max_steps
    _check_int("max_steps", max_steps, 1)
    stride = max(1, math.ceil(max_steps / 500)) if history_every is None else history_every
    _check_int("history_every", stride, 1)
    total = max_steps + (solver.polish_steps if isinstance(solver, Auto) else 0)
    rows = total // stride + 2
    return float(tol), int(max_steps), int(stride), int(rows)


def _to_solution(problem, solver, layout, out, seconds, compile_seconds, batched):
    full = jax.vmap(layout.full) if batched else layout.full
    W, H, b = (np.asarray(a) for a in full(out.x))
    f, gnorm, rel = np.asarray(out.f), np.asarray(out.gnorm), np.asarray(out.rel)
    status = np.asarray(STATUSES, dtype=object)[np.asarray(out.status)]
    hist = np.asarray(out.history)
    if not batched:
        f, gnorm, rel = float(f), float(gnorm), float(rel)
        status, hist = str(status), hist[~np.isnan(hist[:, 0])]
    return Solution(
        problem=problem, method=solver, W=W, H=H, b=b, objective=f, grad_norm=gnorm, rel_grad_norm=rel,
        steps=int(out.steps) if not batched else np.asarray(out.steps), status=status, history=hist,
        seconds=seconds, compile_seconds=compile_seconds,
    )


def solve(
    problem: Problem,
    method="auto",
    tol: float | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    init=None,
    init_scale: float = 0.1,
    history_every: int | None = None,
) -> Solution:
    """Minimise f of `problem` from a random (or given) point in one compiled `lax.while_loop`.

    method: "auto" (L-BFGS then Newton-CG polish), "gd", "sgd", "adam", "lbfgs", "newton", or a solver object
      from `ufm.solvers` with its own settings (learning rate, schedule, memory, ...).
    tol: stop when ‖∇f‖₂ ≤ tol·min(|f|, |f(x0)|) (default 1e-12 for auto/newton, 1e-10 for lbfgs, 1e-8 for first-order
      methods in float64; 1e-5, 1e-5, 1e-4 in float32).
    max_steps: iteration cap (default 200 newton and auto, 5000 lbfgs, 20000 first-order; auto's L-BFGS phase also
      stops after Auto.lbfgs_steps, its Newton polish after Auto.polish_steps more).
    seed, init, init_scale: see `initial_point`.
    history_every: stride of the (step, objective, grad_norm) history (default: about 500 rows).

    A non-finite objective or gradient stops the solve with status "diverged" and returns the last finite
    iterate. Compilation is cached per (problem shape, method, max_steps).
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"solve(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    solver = as_solver(method)
    layout = Layout.of(problem)
    tol, max_steps, stride, rows = _resolve(solver, problem.dtype, tol, max_steps, history_every)
    x0 = layout.free(layout.unpack(jnp.asarray(initial_point(problem, seed, init, init_scale), problem.dtype)))
    hyper = Hyper(*(jnp.asarray(v, problem.dtype) for v in problem.hyper))
    tol_a = jnp.asarray(tol, problem.dtype)
    exe, compile_s = _compiled(layout, solver, max_steps, stride, rows, None, hyper, x0, tol_a)
    t0 = time.perf_counter()
    out = jax.block_until_ready(exe(hyper, x0, tol_a))
    return _to_solution(problem, solver, layout, out, time.perf_counter() - t0, compile_s, batched=False)


def solve_batch(
    problems: Sequence[Problem],
    method="auto",
    tol: float | None = None,
    max_steps: int | None = None,
    seeds: int | Sequence[int] = 0,
    init=None,
    init_scale: float = 0.1,
    history_every: int | None = None,
    devices=None,
    execution: str = "auto",
) -> Solution:
    """`solve` vmapped over problems that share (K, n, d, loss, bias, fixed_w, dtype) and differ in the
    λ's, the loss parameters and the seed. Returns one `Solution` whose fields are stacked along axis 0;
    `solution[i]` equals `solve(problems[i], seed=seeds[i], ...)` up to floating-point reassociation.

    seeds: one seed for all, or one per problem. init: None, or one (W, H, b) per problem.
    devices: several local devices to split the batch across (jax.sharding, batch axis); the batch size
    must be a multiple of their number. None: the default device.
    execution: "vmap" (all members in lockstep lanes), "map" (members one after another in one compiled
    program) or "auto" (`default_execution`: vmap on accelerators, map on CPU). Same results either way.
    """
    problems = tuple(problems)
    if not problems:
        raise ValueError("solve_batch(problems): problems must be a non-empty sequence of ufm.Problem")
    for i, p in enumerate(problems):
        if not isinstance(p, Problem):
            raise TypeError(f"solve_batch(problems): problems[{i}] must be a ufm.Problem; got {type(p).__name__}")
        if p.static != problems[0].static:
            raise ValueError(
                f"solve_batch(problems): problems[{i}] differs from problems[0] in a static field "
                "(K, n, d, loss, bias, fixed_w, etf_norm, dtype); group problems by shape first"
            )
    if execution not in EXECUTIONS:
        raise ValueError(f"solve_batch: execution must be one of {', '.join(EXECUTIONS)}; got {execution!r}")
    execution = default_execution() if execution == "auto" else execution
    B = len(problems)
    seeds = [seeds] * B if isinstance(seeds, (int, np.integer)) else list(seeds)
    if len(seeds) != B:
        raise ValueError(f"solve_batch: seeds must be one int or {B} ints; got {len(seeds)}")
    inits = [None] * B if init is None else list(init)
    if len(inits) != B:
        raise ValueError(f"solve_batch: init must be None or {B} (W, H, b) triples; got {len(inits)}")
    p0 = problems[0]
    solver = as_solver(method)
    layout = Layout.of(p0)
    tol, max_steps, stride, rows = _resolve(solver, p0.dtype, tol, max_steps, history_every)
    x0 = jnp.asarray(np.stack([initial_point(p, s, i, init_scale) for p, s, i in zip(problems, seeds, inits)]), p0.dtype)
    x0 = layout.free(jax.vmap(layout.unpack)(x0))
    hyper = Hyper(*(jnp.asarray(col, p0.dtype) for col in zip(*(p.hyper for p in problems))))
    tol_a = jnp.asarray(tol, p0.dtype)
    if devices is not None and len(devices) > 1:
        if B % len(devices):
            raise ValueError(f"solve_batch: {B} problems do not split evenly across {len(devices)} devices")
        sharding = NamedSharding(Mesh(np.asarray(devices), ("batch",)), PartitionSpec("batch"))
        hyper, x0 = jax.device_put((hyper, x0), sharding)
        key_batch = (B, tuple(str(d) for d in devices))
    else:
        key_batch = B
    exe, compile_s = _compiled(layout, solver, max_steps, stride, rows, key_batch, hyper, x0, tol_a, execution)
    t0 = time.perf_counter()
    out = jax.block_until_ready(exe(hyper, x0, tol_a))
    return _to_solution(problems, solver, layout, out, time.perf_counter() - t0, compile_s, batched=True)
