"""The result of a solve: `Solution` (and `Minimum` of `minimize`), and its one builder from a solve program's
output (`assemble`, `lift` for a class-mean solve)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from . import _reduce
from ._objective import Layout, Params
from ._problem import Problem
from ._curvature import curvature_test
from ._kinks import kink_test
from ._program import Out
from ._start import host_full
from .solvers import Status, gradient_scale


@dataclasses.dataclass(frozen=True)
class Solution:
    """Result of `solve` (scalars) or `solve_batch` (every array field gains a leading batch axis).

    W (K,d), H (d,N), b (K,): the final iterate (for a diverged solve, the last finite one); with depth L > 1,
    W is the tuple of layers (W_1, …, W_L).
    objective: f at it. grad_norm: ‖∇f‖₂ over the free variables.
    rel_grad_norm: grad_norm / min(|f|, |f(x0)|), the quantity `tol` bounds.
    steps: iterations taken. status: a `ufm.Status` (a str: "converged", "max_steps", "diverged", "stalled",
    "saddle": the gradient test holds at a point where the Hessian has a negative eigenvalue, "nonstationary":
    it holds with JAX's relu′(0) = 0 at a deep ReLU point that a descent direction leaves through a kink).
    min_curvature: the smallest Ritz value of the Hessian found by the second-order test at a point that
    passed the gradient test (NaN where the test did not run).
    reduced: the class-mean problem that was solved in place of `problem` (`ufm.solve(reduce=...)`), or None
    for a solve in full. A reduced solution is lifted exactly: W, H, b, objective, grad_norm and
    rel_grad_norm are those of the full problem at the lifted point; steps, history and min_curvature are the
    reduced solve's (the other blocks of the full Hessian are positive definite for the losses "auto" reduces,
    except the padded dimensions when d > K, which are ⪰ 0 exactly where `ufm.theory.certificate` holds).
    path: "reduced" or "full".
    kinks: deep ReLU problems: how many pre-activations sit at 0 at the end point (−1 for other problems). Where
    it is > 0, "converged" means: the gradient test of the piece JAX differentiates (relu′(0) = 0), the
    second-order test, and no descent direction found by `ufm.kinks` in the pieces it tests (not a certificate);
    "saddle" there needs f itself to go down quadratically along the direction of negative curvature (the Hessian
    is that of JAX's piece, which f follows only inside that piece's cone; min_curvature is that piece's).
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
    kinks: int | np.ndarray = -1

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
            problem=self.problem[i], method=self.method,
            W=tuple(w[i] for w in self.W) if isinstance(self.W, tuple) else self.W[i], H=self.H[i], b=self.b[i],
            objective=float(self.objective[i]), grad_norm=float(self.grad_norm[i]),
            rel_grad_norm=float(self.rel_grad_norm[i]), steps=int(self.steps[i]), status=Status(self.status[i]),
            history=hist[~np.isnan(hist[:, 0])], seconds=self.seconds / n, compile_seconds=self.compile_seconds / n,
            min_curvature=float(self.min_curvature[i]),
            reduced=None if self.reduced is None else self.reduced[i],
            kinks=int(np.asarray(self.kinks).ravel()[i]) if np.ndim(self.kinks) else int(self.kinks),
        )

    def unstack(self) -> list["Solution"]:
        return [self[i] for i in range(len(self))]


class Minimum(NamedTuple):
    """Result of `minimize`: the final x (same pytree structure as x0), f(x), ‖∇f(x)‖₂, steps, `Status` and
    the smallest Ritz value of ∇²f found by the second-order test at a converged x (NaN where it did not run)."""

    x: object
    f: float
    grad_norm: float
    steps: int
    status: Status
    min_curvature: float = float("nan")


def assemble(problem, solver, layout: Layout, out: Out, seconds: float, compile_seconds: float, batched: bool,
             hyper, probe: bool = True) -> Solution:
    """The `Solution` of a solve program's output `out` (numpy on the host); with `probe`, the converged end
    points pass through the second-order test (`curvature_test`) first."""
    W, H, b = host_full(layout, out.x, batched)
    f, gnorm, rel = np.asarray(out.f), np.asarray(out.grad_norm), np.asarray(out.rel_grad_norm)
    if probe:
        codes, lam, probe_s, vectors = curvature_test(layout, hyper, out.x, np.asarray(out.status))
    else:
        codes = np.array(out.status, dtype=np.int32, copy=True)
        lam, probe_s, vectors = np.full(codes.shape, np.nan), 0.0, {}
    compile_seconds += probe_s
    codes, kinks = kink_test(layout, hyper, out.x, codes, vectors)
    hist = np.asarray(out.history)
    if not batched:
        f, gnorm, rel, lam = float(f), float(gnorm), float(rel), float(lam)
        status, hist = Status.from_code(codes), hist[~np.isnan(hist[:, 0])]
        kinks = int(kinks)
    else:
        status = np.array([Status.from_code(c) for c in codes.ravel()], dtype=object).reshape(codes.shape)
    return Solution(
        problem=problem, method=solver, W=W, H=H, b=b, objective=f, grad_norm=gnorm, rel_grad_norm=rel,
        steps=int(out.steps) if not batched else np.asarray(out.steps), status=status, history=hist,
        seconds=seconds, compile_seconds=compile_seconds, min_curvature=lam, kinks=kinks,
    )


def lift(problem, sol: Solution, out: Out) -> Solution:
    """The full-problem solution of a class-mean solve (`ufm.reduction`): the point lifted, the gradient norm of
    f at it (`Out.lifted_grad_norm`) and its relative form."""
    single = isinstance(problem, Problem)
    p0 = problem if single else problem[0]
    W, H, b = _reduce.lift(p0, sol.W, sol.H, sol.b)
    gnorm = np.asarray(out.lifted_grad_norm)
    rel = gnorm / gradient_scale(np.asarray(sol.objective), np.asarray(out.f0))
    if single:
        gnorm, rel = float(gnorm), float(rel)
    return dataclasses.replace(sol, problem=problem, W=W, H=H, b=b, grad_norm=gnorm, rel_grad_norm=rel,
                               reduced=sol.problem)


__all__ = ["Solution", "Minimum", "assemble", "lift"]
