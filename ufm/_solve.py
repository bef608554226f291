"""The entry points of a solve: `solve`, `solve_batch` and `minimize`. What they compile and run lives in
`_program` (one program per shape), the loop in `_engine`, start points in `_start`, the result in
`_solution`."""

from __future__ import annotations

import time
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from . import _curvature, _engine, _reduce
from ._compat import keyword_only_since_0_3
from ._config import float64
from ._errors import ParameterError, check_int
from ._executables import compiler_options
from ._problem import Hyper, Problem
from ._program import EXECUTIONS, check_tol, default_execution, executable, program_form, settings
from ._program import job as _program_job
from ._solution import Minimum, Solution, assemble, lift
from ._start import device_free, initial_point, stack_host
from .solvers import Status, as_solver, defaults
from .solvers import _tree as T


@keyword_only_since_0_3
@float64()
def solve(
    problem: Problem,
    method="auto",
    *,
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

    method: "auto" (Newton-CG in float64; L-BFGS then Newton-CG in float32), "gd", "sgd", "adam", "lbfgs",
      "newton", a solver object from `ufm.solvers` with its own settings (learning rate, schedule, memory, ...), or any object following
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
    tol, cfg = settings(layout, solver, target.dtype, tol, max_steps, history_every)
    x0 = device_free(layout, initial_point(target, seed, init, init_scale))
    tol_a = jnp.asarray(tol, target.dtype)
    exe, compile_s = executable(cfg, None, None, hyper, x0, tol_a)
    t0 = time.perf_counter()
    out = jax.block_until_ready(exe(hyper, x0, tol_a))
    sol = assemble(target, solver, layout, out, time.perf_counter() - t0, compile_s, batched=False,
                       hyper=hyper, probe=second_order)
    return sol if reduced is None else lift(problem, sol, out)


@keyword_only_since_0_3
@float64()
def solve_batch(
    problems: Sequence[Problem],
    method="auto",
    *,
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
    reduced, layout, tol, cfg = _plan(problems, solver, inits, reduce, tol, max_steps, history_every, "solve_batch")
    problems = full if reduced is None else reduced
    p0 = problems[0]
    x0s = [initial_point(p, s, i, init_scale) for p, s, i in zip(problems, seeds, inits)]
    tol_a = jnp.asarray(tol, p0.dtype)
    if execution == "map" and (devices is None or len(devices) <= 1):
        # One member after another through the single-solve program: the program `solve` compiles for this
        # shape, shared by every batch size (lax.map inside one program ran the same sequence of solves).
        hypers = [program_form(p)[1] for p in problems]
        exe, compile_s = executable(cfg, None, None, hypers[0], device_free(layout, x0s[0]), tol_a)
        t0 = time.perf_counter()
        outs = [exe(h, device_free(layout, x), tol_a) for h, x in zip(hypers, x0s)]
        out = stack_host(outs)
        seconds = time.perf_counter() - t0
        hyper = stack_host(hypers)
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
        exe, compile_s = executable(cfg, key_batch, execution, hyper, x0, tol_a)
        t0 = time.perf_counter()
        out = jax.block_until_ready(exe(hyper, x0, tol_a))
        seconds = time.perf_counter() - t0
    sol = assemble(problems, solver, layout, out, seconds, compile_s, batched=True, hyper=hyper,
                       probe=second_order)
    return sol if reduced is None else lift(full, sol, out)


def _plan(problems, solver, inits, reduce, tol, max_steps, history_every, owner):
    """What a batch of same-shape problems is solved as: (the reduced problems or None, the program's layout,
    tol, `Settings`). The one plan of `solve_batch` and `prepare`."""
    choices = [_reduce.choose(p, reduce, i, owner) for p, i in zip(problems, inits)]
    reduced = None if any(c is None for c in choices) else tuple(choices)
    p0 = (problems if reduced is None else reduced)[0]
    layout = program_form(p0)[0]
    tol, cfg = settings(layout, solver, p0.dtype, tol, max_steps, history_every, owner)
    return reduced, layout, tol, cfg


@float64()
def prepare(
    problems: Sequence[Problem],
    method="auto",
    *,
    tol: float | None = None,
    max_steps: int | None = None,
    history_every: int | None = None,
    execution: str = "auto",
    reduce: str = "auto",
    second_order: bool = True,
    batched: bool = True,
    workers: int | None = None,
) -> tuple[int, float]:
    """Compile ahead, in parallel, the programs that solving `problems` will run: the caller that knows its
    problems before it solves any (a battery, a census, a scan) plans first, and the programs compile
    concurrently on `workers` threads (default: this process's CPUs) instead of one after another at each first
    solve. Problems are grouped by shape as `solve_batch` needs them (`batched=True`: each group is one
    `solve_batch` call with these settings; False: one `solve` each — the same program where the execution is
    "map", as on CPU). second_order: also the second-order test's program of each shape (a probe of the end
    points, as `solve` runs it). Returns (programs compiled, wall seconds); later solves find them compiled
    (`compile_seconds` 0). Arguments as in `solve_batch`; the start points do not matter (only their shapes)."""
    from ._executables import compile_many

    problems = tuple(problems)
    for i, p in enumerate(problems):
        if not isinstance(p, Problem):
            raise TypeError(f"prepare(problems): problems[{i}] must be a ufm.Problem; got {type(p).__name__}")
    if execution not in EXECUTIONS:
        raise ParameterError("execution", execution, "one of " + ", ".join(EXECUTIONS), "prepare")
    if workers is not None:
        check_int("workers", workers, 1, "prepare", hi=1024)
    execution = default_execution() if execution == "auto" else execution
    solver = as_solver(method, "prepare")
    groups: dict = {}
    for p in problems:
        groups.setdefault(p.static, []).append(p)
    jobs = []
    for group in groups.values():
        reduced, layout, tol_g, cfg = _plan(group, solver, [None] * len(group), reduce, tol, max_steps,
                                            history_every, "prepare")
        members = group if reduced is None else reduced
        hyper = program_form(members[0])[1]
        x_flat = initial_point(members[0])
        x0 = device_free(layout, x_flat)
        tol_a = jnp.asarray(tol_g, members[0].dtype)
        if execution == "map" or not batched:
            jobs.append(_program_job(cfg, None, None, hyper, x0, tol_a)[0])
        else:
            B = len(members)
            xb = tuple(np.stack([np.asarray(a)] * B) for a in x0)  # host stacks: shapes only, no device program
            hb = Hyper(*(np.stack([np.asarray(v)] * B) for v in hyper))
            jobs.append(_program_job(cfg, B, execution, hb, xb, tol_a)[0])
        if second_order:
            jobs.append(_curvature.layout_job(layout, Hyper(*(np.asarray(v) for v in hyper)), x_flat,
                                              _curvature.PROBE_BUDGET)[0])
    return compile_many(jobs, workers)


@keyword_only_since_0_3
def minimize(fun, x0, method="auto", *, tol: float | None = None, max_steps: int | None = None) -> Minimum:
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
    run = jax.jit(lambda x, t: _engine.run(solver, fun, x, t, max_steps, _engine.History(max_steps + 1, 2)))
    t = jnp.asarray(tol, dtype)
    r = run.lower(x0, t).compile(compiler_options=compiler_options((x0,)))(x0, t)  # small x0: a cheaper compile
    status, lam = Status.from_code(r.status), float("nan")
    if status is Status.CONVERGED:  # the one second-order test, on the end point
        c = _curvature.function_test(fun, r.x)
        status, lam = (Status.SADDLE if c.negative else status), c.lambda_min
    return Minimum(r.x, float(r.f), float(T.norm(r.g)), int(r.steps), status, lam)


__all__ = ["solve", "solve_batch", "prepare", "minimize", "initial_point", "Solution", "Minimum", "EXECUTIONS",
           "default_execution"]
