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

from . import _engine, _reduce
from . import losses as _losses
from ._config import float64
from ._errors import ParameterError, check_int
from ._executables import Executables, hashable
from ._objective import Layout, Params, value
from ._problem import Hyper, Problem
from .solvers import Status, as_solver, defaults, relative_gradient
from .solvers import _tree as T

@dataclasses.dataclass(frozen=True)
class Solution:
    """Result of `solve` (scalars) or `solve_batch` (every array field gains a leading batch axis).

    W (K,d), H (d,N), b (K,): the final iterate (for a diverged solve, the last finite one).
    objective: f at it. grad_norm: ‖∇f‖₂ over the free variables.
    rel_grad_norm: grad_norm / min(|f|, |f(x0)|), the quantity `tol` bounds.
    steps: iterations taken. status: a `ufm.Status` (a str: "converged", "max_steps", "diverged", "stalled",
    "saddle": the gradient test holds at a point where the Hessian has a negative eigenvalue).
    min_curvature: the smallest Ritz value of the Hessian found by the second-order test at a point that
    passed the gradient test (NaN where the test did not run).
    reduced: the class-mean problem that was solved in place of `problem` (`ufm.solve(reduce=...)`), or None
    for a solve in full. A reduced solution is lifted exactly: W, H, b, objective, grad_norm and
    rel_grad_norm are those of the full problem at the lifted point; steps, history and min_curvature are the
    reduced solve's (the other blocks of the full Hessian are positive definite for the losses "auto" reduces,
    except the padded dimensions when d > K, which are ⪰ 0 exactly where `ufm.theory.certificate` holds).
    path: "reduced" or "full".
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
    status: Status | np.ndarray
    history: np.ndarray
    seconds: float
    compile_seconds: float
    min_curvature: float | np.ndarray = float("nan")
    reduced: Problem | tuple | None = None

    @property
    def path(self) -> str:
        return "full" if self.reduced is None else "reduced"

    @property
    def converged(self):
        """True where status == "converged" (a bool, or a bool array for a batch)."""
        if isinstance(self.status, str):
            return self.status == Status.CONVERGED
        return np.asarray(self.status) == Status.CONVERGED

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
            rel_grad_norm=float(self.rel_grad_norm[i]), steps=int(self.steps[i]), status=Status(self.status[i]),
            history=hist[~np.isnan(hist[:, 0])], seconds=self.seconds / n, compile_seconds=self.compile_seconds / n,
            min_curvature=float(self.min_curvature[i]),
            reduced=None if self.reduced is None else self.reduced[i],
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
    f0: jax.Array
    lifted: jax.Array  # ‖∇f‖ of the full problem at the lift of a class-mean solve (`_reduce`); gnorm otherwise


class _Settings(NamedTuple):
    """The static settings of one compiled solve (hashable: part of the compilation key)."""

    layout: Layout
    solver: object
    max_steps: int
    every: int  # history stride
    rows: int  # history rows


def _run(cfg: _Settings, hyper: Hyper, x0, tol) -> _Out:
    """The whole solve as one pure function (jit/vmap it): (hyper, x0, tol) → _Out. x0: the tuple of free
    arrays (`Layout.free`)."""
    fun = lambda x: value(cfg.layout, hyper, cfg.layout.full(x))  # noqa: E731
    r = _engine.run(cfg.solver, fun, x0, tol, cfg.max_steps, _engine.History(cfg.every, cfg.rows))
    gnorm = T.norm(r.g)
    lifted = gnorm
    if cfg.layout.means:  # ∇_{h_{k,i}} f = ∇_{h_k} f_r / n_k for the n_k copies: Σ_k ‖∇_{h_k} f_r‖²/n_k in all
        h = 0 if cfg.layout.fixed_w else 1
        gsq = sum(jnp.vdot(a, a) for j, a in enumerate(r.g) if j != h)
        lifted = jnp.sqrt(gsq + jnp.sum(jnp.sum(r.g[h] * r.g[h], axis=0) / hyper.counts))
    return _Out(r.x, r.f, gnorm, relative_gradient(r.f, r.g, r.f0), r.steps, r.status, r.record, r.f0, lifted)


_PROBES = Executables()


def second_order(layout: Layout, hyper: Hyper, x, status):
    """The second-order test of `solve`'s end points: for each converged member (x: the tuple of free arrays,
    with a leading batch axis when `status` is an array), the extreme Lanczos Ritz values of ∇²f
    (`_engine.lanczos`); a member with negative curvature gets status SADDLE. Returns (status codes,
    λ_min: NaN where the test did not run, compile seconds). One program per problem shape, whatever the method,
    step budget or batch size, and it runs only for the members that converged."""
    codes = np.array(status, dtype=np.int32, copy=True)
    lam = np.full(codes.shape, np.nan)
    todo = np.flatnonzero(codes.ravel() == Status.CONVERGED.code)
    seconds = 0.0
    if todo.size == 0:
        return codes, lam, seconds
    exe = _PROBES.get(layout)
    one = lambda h, x: _engine.lanczos(lambda z: value(layout, h, layout.full(z)), x)  # noqa: E731
    hyper, x = tuple(np.asarray(v) for v in hyper), tuple(np.asarray(a) for a in x)  # host slicing: no programs
    pick = (lambda a, i: a) if codes.ndim == 0 else (lambda a, i: a[i])
    for i in todo:
        h_i = Hyper(*(pick(v, i) for v in hyper))
        x_i = tuple(pick(a, i) for a in x)
        if exe is None:
            t0 = time.perf_counter()
            one.__name__ = "ufm_second_order"  # the name compile profiles (`ufm.compilations`) show
            exe = jax.jit(one).lower(h_i, x_i).compile()
            seconds = time.perf_counter() - t0
            _PROBES.put(layout, exe)
        alphas, betas = (np.asarray(a, np.float64) for a in exe(h_i, x_i))
        ritz = np.linalg.eigvalsh(np.diag(alphas) + np.diag(betas[:-1], 1) + np.diag(betas[:-1], -1))
        lam.flat[i] = ritz[0]
        if _engine.negative(ritz[0], ritz[-1], x_i[0].dtype):
            codes.flat[i] = Status.SADDLE.code
    return codes, lam, seconds


_COMPILED = Executables()


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


def _compiled(cfg: _Settings, batch, execution, hyper, x0, tol):
    """AOT-compile `_run` once per (settings, batch size, execution); returns (executable, compile seconds).
    A solver that cannot be hashed is compiled for this call only."""
    key = (cfg, batch, execution if batch is not None else None)
    cacheable = hashable(cfg.solver)
    exe = _COMPILED.get(key) if cacheable else None
    if exe is not None:
        return exe, 0.0
    fn = lambda h, x, t: _run(cfg, h, x, t)  # noqa: E731
    if batch is not None and execution == "map":
        one = fn
        fn = lambda h, x, t: lax.map(lambda hx: one(hx[0], hx[1], t), (h, x))  # noqa: E731
    elif batch is not None:
        fn = jax.vmap(fn, in_axes=(0, 0, None))
    t0 = time.perf_counter()
    fn.__name__ = "ufm_solve" if batch is None else f"ufm_solve_batch_{execution}"
    exe = jax.jit(fn).lower(hyper, x0, tol).compile()
    seconds = time.perf_counter() - t0
    if cacheable:
        _COMPILED.put(key, exe)
    return exe, seconds


def check_tol(tol, owner: str) -> float:
    """The relative gradient tolerance as a float in [0, 1), else ParameterError."""
    if not (isinstance(tol, (int, float, np.floating)) and not isinstance(tol, bool) and 0 <= tol < 1):
        raise ParameterError("tol", tol, "a number in [0, 1)", owner)
    return float(tol)


class Minimum(NamedTuple):
    """Result of `minimize`: the final x (same pytree structure as x0), f(x), ‖∇f(x)‖₂, steps, `Status` and
    the smallest Ritz value of ∇²f found by the second-order test at a converged x (NaN where it did not run)."""

    x: object
    f: float
    grad_norm: float
    steps: int
    status: Status
    min_curvature: float = float("nan")


def minimize(fun, x0, method="auto", tol: float | None = None, max_steps: int | None = None) -> Minimum:
    """Minimise any smooth scalar JAX function `fun(x)` over a pytree of arrays x0 with a solver (a method name
    or any `ufm.Solver`), by the engine of `solve`: stop at ‖∇f‖ ≤ tol·min(|f|, |f(x0)|), at the solver's own
    `terminate`, at max_steps, or on divergence (the last finite iterate is returned). A point that passes the
    gradient test but has negative curvature ends with status "saddle". Defaults as in `solve`,
    for x0's dtype. Computes in x0's dtype: pass float64 arrays inside `ufm.float64()` for float64."""
    solver = as_solver(method, "minimize")
    dtype = T.dtype(x0)
    tol0, steps0 = defaults(solver, "float64" if dtype == jnp.float64 else "float32")
    tol = check_tol(tol0 if tol is None else tol, "minimize")
    max_steps = check_int("max_steps", steps0 if max_steps is None else max_steps, 1, "minimize", hi=2**31 - 2)
    run = jax.jit(lambda x, t: _engine.run(solver, fun, x, t, max_steps, _engine.History(max_steps + 1, 2),
                                           probe=_engine.PROBE_STEPS))
    r = run(x0, jnp.asarray(tol, dtype))
    return Minimum(r.x, float(r.f), float(T.norm(r.g)), int(r.steps), Status.from_code(r.status),
                   float(r.curvature))


def estimate_bytes(problem: Problem, reduce: str = "never") -> int:
    """An upper estimate of the memory one `solve(problem, reduce=reduce)` needs, before anything is allocated:
    the free vector and the solvers' working copies (L-BFGS history included: about 2·20 + 16 vectors of the
    free size) plus the logits, their gradient and the one-hot labels (3·K·N). A reduced solve needs that for
    the class-mean problem plus the lifted (W, H, b) and a few copies of H for the metrics (5·d·N).
    `solve_memory` gives XLA's exact figure after compiling."""
    item = 8 if problem.dtype == "float64" else 4
    reduced = _reduce.choose(problem, reduce, None, "estimate_bytes")
    if reduced is not None:
        return estimate_bytes(reduced) + (problem.K * problem.d + 5 * problem.d * problem.N + problem.K) * item
    return int(Layout.of(problem).size * item * (2 * 20 + 16) + 3 * problem.K * problem.N * item)


@float64()
def solve_memory(problem: Problem, method="auto", max_steps: int | None = None) -> dict:
    """XLA's buffer assignment of the compiled `solve(problem, method, max_steps=...)` (compiled if not cached):
    {"temp", "argument", "output", "alias", "total"} in bytes, total = temp + argument + output − alias."""
    solver = as_solver(method, "solve_memory")
    layout, hyper = program_form(problem)
    tol, cfg = _settings(layout, solver, problem.dtype, None, max_steps, None)
    x0 = _device_free(layout, initial_point(problem))
    exe, _ = _compiled(cfg, None, None, hyper, x0, jnp.asarray(tol, problem.dtype))
    ma = exe.memory_analysis()
    out = {"temp": ma.temp_size_in_bytes, "argument": ma.argument_size_in_bytes, "output": ma.output_size_in_bytes,
           "alias": ma.alias_size_in_bytes}
    out["total"] = out["temp"] + out["argument"] + out["output"] - out["alias"]
    return out


@float64()
def initial_point(problem: Problem, seed: int = 0, init=None, init_scale: float = 0.1) -> np.ndarray:
    """The free vector x0 a solve starts from.

    init=None: W, H with i.i.d. N(0, init_scale²) entries from numpy's default_rng(seed) (W first), b = 0.
    init=(W, H, b): that point (the frozen W and, without bias, b are ignored).
    """
    layout = Layout.of(problem)
    K, d, N = layout.K, layout.d, layout.N
    if init is None:
        if not (isinstance(init_scale, (int, float)) and init_scale >= 0 and math.isfinite(init_scale)):
            raise ParameterError("init_scale", init_scale, "a finite number ≥ 0", "initial_point")
        check_int("seed", seed, 0, "initial_point")
        rng = np.random.default_rng(seed)
        W = init_scale * rng.standard_normal((K, d))
        H = init_scale * rng.standard_normal((d, N))
        b = np.zeros(K)
    else:
        try:
            W, H, b = (np.asarray(a, dtype=np.float64) for a in init)
        except (TypeError, ValueError) as e:
            raise ParameterError("init", type(init).__name__, "a (W, H, b) triple of arrays", "initial_point") from e
        for name, a, shape in (("W", W, (K, d)), ("H", H, (d, N)), ("b", b, (K,))):
            if a.shape != shape:
                raise ParameterError(f"init {name}", a.shape, f"of shape {shape}", "initial_point")
            if not np.all(np.isfinite(a)):
                raise ParameterError(f"init {name}", "non-finite entries", "finite", "initial_point")
    return np.asarray(layout.pack(Params(W, H, b)))


def program_form(problem: Problem) -> tuple[Layout, Hyper]:
    """The layout a solve program is compiled for and the numbers it runs with (device arrays). CE, LS(δ) and
    FL(γ) are one program: the loss family `losses.softmax_family` at (δ, γ) = (0, 0), (δ, 0) and (0, γ) — a
    shape compiles once whichever of the three it is solved with (`trajectory` and the second-order test too)."""
    layout, h = Layout.of(problem), problem.hyper
    if layout.loss in _losses.SOFTMAX_FAMILY:
        h = h._replace(delta=h.delta if layout.loss == "ls" else 0.0, gamma=h.gamma if layout.loss == "fl" else 0.0)
        layout = dataclasses.replace(layout, loss="softmax")
    return layout, Hyper(*(jnp.asarray(v, problem.dtype) for v in h))


def _settings(layout, solver, dtype, tol, max_steps, history_every):
    tol0, steps0 = defaults(solver, dtype)
    tol = check_tol(tol0 if tol is None else tol, "solve")
    max_steps = steps0 if max_steps is None else max_steps
    check_int("max_steps", max_steps, 1, "solve", hi=2**31 - 2)
    stride = max(1, math.ceil(max_steps / 500)) if history_every is None else history_every
    check_int("history_every", stride, 1, "solve")
    return tol, _Settings(layout, solver, int(max_steps), int(stride), int(max_steps) // int(stride) + 2)


def _device_free(layout: Layout, x0: np.ndarray) -> tuple:
    """The free vector x0 (numpy, from `initial_point`) as the solvers' tuple of device arrays: sliced on the
    host, so that no program is compiled for it."""
    return tuple(jnp.asarray(a) for a in layout.free(layout.unpack(np.asarray(x0, layout.dtype))))


def _host_full(layout: Layout, free, batched: bool) -> tuple:
    """(W, H, b) as numpy arrays from the solvers' tuple of free arrays (leading batch axis if `batched`)."""
    free = [np.asarray(a) for a in free]
    lead = free[0].shape[:1] if batched else ()
    it = iter(free)
    W = next(it) if not layout.fixed_w else np.broadcast_to(layout.W_fixed(np), lead + (layout.K, layout.d)).copy()
    H = next(it)
    b = next(it) if layout.bias else np.zeros(lead + (layout.K,), layout.dtype)
    return W, H, b


def _stack_host(trees: list):
    """Same-structure pytrees of arrays → one pytree of numpy arrays with a leading batch axis."""
    return jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(v) for v in a]), *trees)


def _to_solution(problem, solver, layout, out, seconds, compile_seconds, batched, hyper, probe=True):
    W, H, b = _host_full(layout, out.x, batched)
    f, gnorm, rel = np.asarray(out.f), np.asarray(out.gnorm), np.asarray(out.rel)
    if probe:
        codes, lam, probe_s = second_order(layout, hyper, out.x, np.asarray(out.status))
    else:
        codes = np.array(out.status, dtype=np.int32, copy=True)
        lam, probe_s = np.full(codes.shape, np.nan), 0.0
    compile_seconds += probe_s
    hist = np.asarray(out.history)
    if not batched:
        f, gnorm, rel, lam = float(f), float(gnorm), float(rel), float(lam)
        status, hist = Status.from_code(codes), hist[~np.isnan(hist[:, 0])]
    else:
        status = np.array([Status.from_code(c) for c in codes.ravel()], dtype=object).reshape(codes.shape)
    return Solution(
        problem=problem, method=solver, W=W, H=H, b=b, objective=f, grad_norm=gnorm, rel_grad_norm=rel,
        steps=int(out.steps) if not batched else np.asarray(out.steps), status=status, history=hist,
        seconds=seconds, compile_seconds=compile_seconds, min_curvature=lam,
    )


def _lifted(problem, sol: Solution, out) -> Solution:
    """The full-problem solution of a reduced solve (`_reduce`): the point lifted, the gradient norm of f at it
    (`_Out.lifted`) and its relative form."""
    single = isinstance(problem, Problem)
    p0 = problem if single else problem[0]
    W, H, b = _reduce.lift(p0, sol.W, sol.H, sol.b)
    gnorm = np.asarray(out.lifted)
    f, f0 = np.asarray(sol.objective), np.asarray(out.f0)
    rel = gnorm / np.maximum(np.minimum(np.abs(f), np.abs(f0)), np.finfo(np.float64).tiny)
    if single:
        gnorm, rel = float(gnorm), float(rel)
    return dataclasses.replace(sol, problem=problem, W=W, H=H, b=b, grad_norm=gnorm, rel_grad_norm=rel,
                               reduced=sol.problem)


@float64()
def solve(
    problem: Problem,
    method="auto",
    tol: float | None = None,
    max_steps: int | None = None,
    seed: int = 0,
    init=None,
    init_scale: float = 0.1,
    history_every: int | None = None,
    reduce: str = "auto",
    second_order: bool = True,
) -> Solution:
    """Minimise f of `problem` from a random (or given) point in one compiled `lax.while_loop`.

    method: "auto" (L-BFGS then Newton-CG polish), "gd", "sgd", "adam", "lbfgs", "newton", a solver object
      from `ufm.solvers` with its own settings (learning rate, schedule, memory, ...), or any object following
      the `ufm.Solver` protocol.
    tol: stop when ‖∇f‖₂ ≤ tol·min(|f|, |f(x0)|) (default 1e-12 for auto/newton, 1e-10 for lbfgs, 1e-8 for
      first-order methods and solvers without `defaults` in float64; 1e-5, 1e-5, 1e-4 in float32).
    max_steps: iteration cap (default 210 for auto = Auto.lbfgs_steps + Auto.polish_steps, 200 newton, 5000
      lbfgs, 20000 first-order).
    seed, init, init_scale: see `initial_point`.
    history_every: stride of the (step, objective, grad_norm) history (default: about 500 rows).
    reduce: "auto" solves the exact class-mean problem (`Problem.means`: one feature per class weighted by its
      count, d → min(d, K); see `ufm.reduction`) in place of `problem` where its critical points are those of `problem` (losses convex in the logits, no
      start point given) and lifts the result; "always" reduces any loss (exact for the global-minimum value;
      for focal loss with γ > 0 a reduced local minimum may be a saddle of f); "never" solves in full.
      `Solution.path` says which ran. A reduced solve costs O(K³) per step whatever n and d are, and shapes
      that differ only in n (and in d ≥ K) share one compiled program.
    second_order: run the second-order test on a converged end point (default; it compiles a small program of
      its own per problem shape, ~0.5 s). False skips it: "converged" then means the gradient test only and
      min_curvature is NaN — for callers that judge each end point otherwise (against a closed-form minimum).

    A non-finite objective or gradient stops the solve with status "diverged" and returns the last finite
    iterate. Compilation is cached per (problem shape, method, max_steps). Float64 problems run in float64
    whether or not JAX's 64-bit mode is on in the process (`ufm.float64()` scopes it).
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"solve(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    if not isinstance(second_order, bool):
        raise ParameterError("second_order", second_order, "True or False", "solve")
    solver = as_solver(method)
    reduced = _reduce.choose(problem, reduce, init, "solve")
    target = problem if reduced is None else reduced
    layout, hyper = program_form(target)
    tol, cfg = _settings(layout, solver, target.dtype, tol, max_steps, history_every)
    x0 = _device_free(layout, initial_point(target, seed, init, init_scale))
    tol_a = jnp.asarray(tol, target.dtype)
    exe, compile_s = _compiled(cfg, None, None, hyper, x0, tol_a)
    t0 = time.perf_counter()
    out = jax.block_until_ready(exe(hyper, x0, tol_a))
    sol = _to_solution(target, solver, layout, out, time.perf_counter() - t0, compile_s, batched=False,
                       hyper=hyper, probe=second_order)
    return sol if reduced is None else _lifted(problem, sol, out)


@float64()
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
    reduce: str = "auto",
    second_order: bool = True,
) -> Solution:
    """`solve` vmapped over problems that share (K, n, d, loss, bias, fixed_w, dtype) and differ in the
    λ's, the loss parameters and the seed. Returns one `Solution` whose fields are stacked along axis 0;
    `solution[i]` equals `solve(problems[i], seed=seeds[i], ...)` up to floating-point reassociation.

    seeds: one seed for all, or one per problem. init: None, or one (W, H, b) per problem.
    devices: several local devices to split the batch across (jax.sharding, batch axis); the batch size
    must be a multiple of their number. None: the default device.
    execution: "vmap" (all members in lockstep lanes), "map" (members one after another through the compiled
    program `solve` uses for this shape, whatever the batch size) or "auto" (`default_execution`: vmap on
    accelerators, map on CPU). Same results either way.
    reduce: as in `solve` (the batch's problems share their shape, so all or none are reduced).
    second_order: as in `solve`.
    """
    problems = tuple(problems)
    if not problems:
        raise ParameterError("problems", problems, "a non-empty sequence of ufm.Problem", "solve_batch")
    for i, p in enumerate(problems):
        if not isinstance(p, Problem):
            raise TypeError(f"solve_batch(problems): problems[{i}] must be a ufm.Problem; got {type(p).__name__}")
    if execution not in EXECUTIONS:
        raise ParameterError("execution", execution, "one of " + ", ".join(EXECUTIONS), "solve_batch")
    if not isinstance(second_order, bool):
        raise ParameterError("second_order", second_order, "True or False", "solve_batch")
    execution = default_execution() if execution == "auto" else execution
    B = len(problems)
    seeds = [seeds] * B if isinstance(seeds, (int, np.integer)) else list(seeds)
    if len(seeds) != B:
        raise ParameterError("seeds", f"{len(seeds)} seeds", f"one int or {B} ints", "solve_batch")
    inits = [None] * B if init is None else list(init)
    if len(inits) != B:
        raise ParameterError("init", f"{len(inits)} points", f"None or {B} (W, H, b) triples", "solve_batch")
    for i, p in enumerate(problems):  # one stacked Solution: the members share their (lifted) shapes
        if p.static != problems[0].static:
            raise ValueError(
                f"solve_batch(problems): problems[{i}] differs from problems[0] in a static field "
                "(K, n, d, loss, bias, fixed_w, etf_norm, dtype, means); group problems by shape first"
            )
    full = problems
    solver = as_solver(method, "solve_batch")
    choices = [_reduce.choose(p, reduce, i, "solve_batch") for p, i in zip(problems, inits)]
    reduced = None if any(c is None for c in choices) else tuple(choices)
    problems = full if reduced is None else reduced
    p0 = problems[0]
    layout = program_form(p0)[0]
    tol, cfg = _settings(layout, solver, p0.dtype, tol, max_steps, history_every)
    x0s = [initial_point(p, s, i, init_scale) for p, s, i in zip(problems, seeds, inits)]
    tol_a = jnp.asarray(tol, p0.dtype)
    if execution == "map" and (devices is None or len(devices) <= 1):
        # One member after another through the single-solve program: the program `solve` compiles for this
        # shape, shared by every batch size (lax.map inside one program ran the same sequence of solves).
        hypers = [program_form(p)[1] for p in problems]
        exe, compile_s = _compiled(cfg, None, None, hypers[0], _device_free(layout, x0s[0]), tol_a)
        t0 = time.perf_counter()
        outs = [exe(h, _device_free(layout, x), tol_a) for h, x in zip(hypers, x0s)]
        out = _stack_host(outs)
        seconds = time.perf_counter() - t0
        hyper = _stack_host(hypers)
    else:
        x0 = layout.free(jax.vmap(layout.unpack)(jnp.asarray(np.stack(x0s), p0.dtype)))
        hyper = Hyper(*(jnp.stack(col) for col in zip(*(program_form(p)[1] for p in problems))))
        if devices is not None and len(devices) > 1:
            if B % len(devices):
                raise ValueError(f"solve_batch: {B} problems do not split evenly across {len(devices)} devices")
            sharding = NamedSharding(Mesh(np.asarray(devices), ("batch",)), PartitionSpec("batch"))
            hyper, x0 = jax.device_put((hyper, x0), sharding)
            key_batch = (B, tuple(str(d) for d in devices))
        else:
            key_batch = B
        exe, compile_s = _compiled(cfg, key_batch, execution, hyper, x0, tol_a)
        t0 = time.perf_counter()
        out = jax.block_until_ready(exe(hyper, x0, tol_a))
        seconds = time.perf_counter() - t0
    sol = _to_solution(problems, solver, layout, out, seconds, compile_s, batched=True, hyper=hyper,
                       probe=second_order)
    return sol if reduced is None else _lifted(full, sol, out)
