"""The result of a solve: `Solution` (and `Minimum` of `minimize`), and its one builder from a solve program's
output (`assemble`, `lift` for a class-mean solve)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from . import _reduce
from ._config import float64
from ._objective import Layout, Params
from ._problem import Problem
from ._curvature import curvature_test
from ._kinks import kink_test
from ._program import Out
from ._start import host_full
from .metrics import class_means
from .solvers import Status, gradient_scale


class _Lift(NamedTuple):
    """The features of a lifted class-mean solve before they are built: `problem` (a batch's first: its members
    share counts and d) and the reduced solve's class means (..., d', K). Indexing takes a batch's member."""

    problem: Problem
    means: np.ndarray

    def __getitem__(self, i):
        return _Lift(self.problem, self.means[i])

    def build(self) -> np.ndarray:
        return _reduce.lift_features(self.problem, self.means)

    def class_means(self) -> np.ndarray:
        """(..., d, K): the means with the zero rows of the lift."""
        pad = self.problem.d - self.means.shape[-2]
        return np.pad(self.means, [(0, 0)] * (self.means.ndim - 2) + [(0, pad), (0, 0)]) if pad else self.means


class _Features:
    """`Solution.H`: stored as given, except a `_Lift`, which is built into the (…, d, N) array when H is first
    read and kept from then on. A lift's N columns repeat K means (50 solutions at n = 500, d = 256 are 512 MB),
    and what a caller often reads of them — the class means, the certificate — needs only the means."""

    def __set_name__(self, owner, name):
        self.slot = "_" + name

    def __get__(self, obj, owner=None):
        if obj is None:
            raise AttributeError("H has no default")  # a dataclass field without default
        value = obj.__dict__[self.slot]
        if isinstance(value, _Lift):
            value = value.build()
            obj.__dict__[self.slot] = value
        return value

    def __set__(self, obj, value):
        obj.__dict__[self.slot] = value


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
    for a solve in full. A reduced solution's H repeats its K class means over N columns: it is built when first
    read (then kept); `class_means` reads the means without building it. A reduced solution is lifted exactly:
    W, H, b, objective, grad_norm and rel_grad_norm are those of the full problem at the lifted point; steps, history and min_curvature are the
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
    H: np.ndarray = _Features()
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
            W=tuple(w[i] for w in self.W) if isinstance(self.W, tuple) else self.W[i], H=self.__dict__["_H"][i],
            b=self.b[i],
            objective=float(self.objective[i]), grad_norm=float(self.grad_norm[i]),
            rel_grad_norm=float(self.rel_grad_norm[i]), steps=int(self.steps[i]), status=Status(self.status[i]),
            history=hist[~np.isnan(hist[:, 0])], seconds=self.seconds / n, compile_seconds=self.compile_seconds / n,
            min_curvature=float(self.min_curvature[i]),
            reduced=None if self.reduced is None else self.reduced[i],
            kinks=int(np.asarray(self.kinks).ravel()[i]) if np.ndim(self.kinks) else int(self.kinks),
        )

    @property
    def class_means(self) -> np.ndarray:
        """The class means of H: (d, K), or (B, d, K) for a batch. For a reduced solve they are the class-mean
        solve's own features (zero rows added up to d), exactly, and H is not built (or, built, each class's first
        column: the lift copies the means); else `ufm.metrics.class_means` of H."""
        raw = self.__dict__["_H"]
        if isinstance(raw, _Lift):
            return raw.class_means()
        if self.reduced is not None:  # a built lift: each class's columns are copies of its mean, take the first
            p0 = self.problem if isinstance(self.problem, Problem) else self.problem[0]
            return raw[..., np.cumsum((0,) + p0.counts[:-1])]
        with float64():  # the metrics' precision, whatever the process's JAX setting
            if isinstance(self.problem, Problem):
                return np.asarray(class_means(raw, self.problem.labels)[0])
            return np.stack([np.asarray(class_means(h, p.labels)[0]) for h, p in zip(raw, self.problem)])

    def embed(self, problem: Problem) -> "Solution":
        """This solution of a reduced solve as the solution of `problem`, a problem with the same class-mean
        form (`ufm.reduction(problem).reduced == self.reduced`): the same problem at another d ≥ K, say. Exact:
        `solve(problem, seed=s)` runs the same class-mean program from the same start as `solve(self.problem,
        seed=s)` (same settings) and lifts its end point — the lift embedded here, zero-padded to problem.d.
        seconds and compile_seconds are 0 (nothing ran). A scan over d solves each class-mean problem once."""
        if not isinstance(self.problem, Problem):
            raise TypeError("Solution.embed: a batch has no single problem; embed its members (solution[i])")
        if not isinstance(problem, Problem):
            raise TypeError(f"Solution.embed(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
        target = _reduce.reduction(problem).reduced
        if self.reduced is None or target != self.reduced:
            why = "this solution was solved in full" if self.reduced is None else (
                "its class-mean form is not this solution's" if target is not None
                else _reduce.reduction(problem).reason)
            raise ValueError(f"Solution.embed(problem): cannot embed: {why}")
        raw = self.__dict__["_H"]
        means = raw.means if isinstance(raw, _Lift) else self.class_means[: self.reduced.d]
        W = self.W if self.reduced.depth > 1 else self.W[:, : self.reduced.d]
        return dataclasses.replace(self, problem=problem, W=_reduce.lift_weights(problem, W),
                                   H=_Lift(problem, means), seconds=0.0, compile_seconds=0.0)

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
    W, H, b = _reduce.lift_weights(p0, sol.W), _Lift(p0, np.asarray(sol.H)), np.asarray(sol.b)
    gnorm = np.asarray(out.lifted_grad_norm)
    rel = gnorm / gradient_scale(np.asarray(sol.objective), np.asarray(out.f0))
    if single:
        gnorm, rel = float(gnorm), float(rel)
    return dataclasses.replace(sol, problem=problem, W=W, H=H, b=b, grad_norm=gnorm, rel_grad_norm=rel,
                               reduced=sol.problem)


__all__ = ["Solution", "Minimum", "assemble", "lift"]
