"""Memory of a solve: an estimate before anything is allocated (`estimate_bytes`, what scans plan chunks with)
and XLA's exact figure for the compiled program (`solve_memory`)."""

from __future__ import annotations

import jax.numpy as jnp

from . import _reduce
from ._config import float64
from ._objective import Layout
from ._problem import Problem
from ._program import executable, program_form, settings
from ._start import device_free, initial_point
from .solvers import as_solver


def estimate_bytes(problem: Problem, reduce: str = "never") -> int:
    """An upper estimate of the memory one `solve(problem, reduce=reduce)` needs, before anything is allocated:
    the free vector and the solvers' working copies (L-BFGS history included: about 2·20 + 16 vectors of the
    free size) plus the logits, their gradient and the one-hot labels (3·K·N). A reduced solve needs that for
    the class-mean problem plus the lifted (W, H, b) and a few copies of H for the metrics (5·d·N).
    `solve_memory` gives XLA's exact figure after compiling."""
    item = 8 if problem.dtype == "float64" else 4
    reduced = _reduce.choose(problem, reduce, None, "estimate_bytes")
    if reduced is not None:
        return estimate_bytes(reduced) + (Layout.of(problem).w_size + 5 * problem.d * problem.N + problem.K) * item
    return int(Layout.of(problem).size * item * (2 * 20 + 16) + 3 * problem.K * problem.N * item)


@float64()
def solve_memory(problem: Problem, method="auto", max_steps: int | None = None) -> dict:
    """XLA's buffer assignment of the compiled `solve(problem, method, max_steps=...)` (compiled if not cached):
    {"temp", "argument", "output", "alias", "total"} in bytes, total = temp + argument + output − alias."""
    solver = as_solver(method, "solve_memory")
    layout, hyper = program_form(problem)
    tol, cfg = settings(layout, solver, problem.dtype, None, max_steps, None, "solve_memory")
    x0 = device_free(layout, initial_point(problem))
    exe, _ = executable(cfg, None, None, hyper, x0, jnp.asarray(tol, problem.dtype))
    ma = exe.memory_analysis()
    out = {"temp": ma.temp_size_in_bytes, "argument": ma.argument_size_in_bytes, "output": ma.output_size_in_bytes,
           "alias": ma.alias_size_in_bytes}
    out["total"] = out["temp"] + out["argument"] + out["output"] - out["alias"]
    return out


__all__ = ["estimate_bytes", "solve_memory"]
