"""Exact reduction of a UFM solve to K class means in min(d, K) dimensions, and the lift back.

f(W, H, b) = (1/N) Σ_{k,i} L(W h_{k,i} + b, y_k) + λ_W/2 ‖W‖² + λ_H/2 ‖H‖² + λ_b/2 ‖b‖², N = Σ_k n_k.

Class means. For fixed (W, b), f separates over the samples, and the n_k samples of class k have the same
subproblem φ_k(h) = L(W h + b, y_k)/N + λ_H/2 ‖h‖². So min_H f is attained with every feature of a class equal
to one h_k, where f equals the class-mean form (`Problem(means=True)`)
    f_r(W, [h_1 … h_K], b) = Σ_k (n_k/N) L(W h_k + b, y_k) + λ_W/2 ‖W‖² + Σ_k n_k λ_H/2 ‖h_k‖² + λ_b/2 ‖b‖²,
whatever the counts. Hence min f = min f_r for every loss. When L is convex in the logits, φ_k is strictly
convex (λ_H > 0), so at every critical point of f the features of a class are equal: the critical points of f
are exactly the lifted critical points of f_r, with the same values.

Dimension. At a critical point λ_H H = −Wᵀ Ĝ and λ_W W = −Ĝ Hᵀ (Ĝ = ∂/∂Z of the data term, K × N), so the
columns of H and the rows of W lie in one subspace of dimension ≤ min(d, K). f is invariant under
(W, H) → (W Qᵀ, Q H) for orthogonal Q, so every critical value of the d-dimensional problem is one of the
min(d, K)-dimensional problem, and its points embed by zero-padding (rows of H, columns of W). With W frozen
(fixed_w) the subspace is the frozen W's row space: d is kept, only the class means are reduced.

The lift of a reduced point is an exact critical point of f: ∇_W f and ∇_b f equal those of f_r, ∇_{h_{k,i}} f
= (1/n_k) ∇_{h_k} f_r, and the padded coordinates have zero gradient. So ‖∇f‖² = ‖∇_W f_r‖² + ‖∇_b f_r‖² +
Σ_k ‖∇_{h_k} f_r‖²/n_k ≤ ‖∇f_r‖², and a reduced solve that passes the gradient test passes it for f.

The class-mean form takes the counts as numbers, not as a shape: problems that differ in n (balanced or not)
and in d ≥ K share one compiled program.

Where it does not apply: a given start point (its features need not be class means); losses not convex in the
logits (focal loss with γ > 0): there a local minimum of f_r need not be one of f, so "auto" solves the full
problem and "always" gives the global-minimum value only.

Deep UFM (`Problem.depth` > 1). For fixed weights the samples' subproblems are still separate and equal within a
class, φ_k(h) = L(W_L σ(… σ(W_1 h)) + b, y_k)/N + λ_H/2 ‖h‖², so min f = min f_r again. With σ the identity
(deep linear) W_L ⋯ W_1 h is linear in h and φ_k is strictly convex for a loss convex in the logits: the
reduction is exact as above. With ReLU it is not convex, and only the value carries over (as for focal loss).
The dimension d is kept for deep problems (only the class means are reduced).
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import numpy as np

from ._errors import ParameterError
from ._problem import Problem
from .losses import Custom, record

REDUCES = ("auto", "always", "never")

def reduced_problem(problem: Problem) -> Problem:
    """The class-mean problem: the same problem in its class-mean form (`Problem.means`), d → min(d, K) (d kept
    when W is frozen, and for depth > 1: only the class means are reduced there)."""
    d = problem.d if problem.fixed_w or problem.depth > 1 else min(problem.d, problem.K)
    return dataclasses.replace(problem, means=True, d=d)


def why_not(problem: Problem, init=None) -> str | None:
    """Why `reduce="auto"` solves `problem` in full (None: the reduction is exact for it)."""
    if problem.means:
        return "the problem is already in its class-mean form"
    if init is not None:
        return "a start point was given"
    loss = record(problem.loss)
    if problem.depth > 1 and problem.activation != "linear":
        return (f"{problem.activation} layers: a sample's subproblem in its feature is not convex, so only the "
                "minimum value carries over to the class-mean form")
    if not loss.convex_at(problem):
        if isinstance(loss, Custom):
            return (f"the user loss {loss.name} is not declared convex in the logits "
                    "(ufm.losses.Custom(fn, convex=True))")
        symbol = {"delta": "δ", "gamma": "γ", "alpha": "α"}
        numbers = ", ".join(f"{symbol.get(p, p)} = {getattr(problem, p):g}" for p in loss.params)
        return f"the {loss.name} loss with {numbers} is not convex in the logits"
    if problem.n == 1 and reduced_problem(problem).d == problem.d:
        return "nothing to reduce (n = 1, d ≤ K)"
    return None


class Reduction(NamedTuple):
    """What `solve(problem, reduce="auto")` does: `reduced` is the class-mean problem it solves (None: it
    solves `problem` in full), `reason` says why."""

    reduced: Problem | None
    reason: str


def reduction(problem: Problem, init=None) -> Reduction:
    """The exact class-mean / low-dimension reduction `reduce="auto"` applies to `problem` (see the module)."""
    if not isinstance(problem, Problem):
        raise TypeError(f"reduction(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    why = why_not(problem, init)
    if why is not None:
        return Reduction(None, why)
    r = reduced_problem(problem)
    dims = f"d = {problem.d} → {r.d}" if r.d != problem.d else f"d = {problem.d} kept"
    counts = f"n = {problem.n}" if problem.balanced else f"counts {min(problem.counts)}…{max(problem.counts)}"
    return Reduction(r, f"exact: {problem.K} class means weighted by their counts ({counts} → 1 column per "
                        f"class), {dims}")


def choose(problem: Problem, reduce: str, init, owner: str) -> Problem | None:
    """The problem to solve instead of `problem` (None: solve it in full)."""
    if reduce not in REDUCES:
        raise ParameterError("reduce", reduce, "one of " + ", ".join(REDUCES), owner)
    if reduce == "never":
        return None
    if reduce == "always":
        if init is not None:
            raise ParameterError("reduce", reduce, "'auto' or 'never' when a start point (init) is given", owner)
        return None if problem.means else reduced_problem(problem)
    return None if why_not(problem, init) else reduced_problem(problem)


def lift(problem: Problem, W, H, b):
    """A reduced point (W (..., K, d'), H (..., d', K), b) → the full point (W (..., K, d), H (..., d, N), b):
    zero-padded to d dimensions, class k's mean repeated n_k times (class-major)."""
    return lift_weights(problem, W), lift_features(problem, H), np.asarray(b)


def lift_weights(problem: Problem, W):
    """The reduced W (..., K, d') with zero columns up to d (depth > 1: the tuple of layers, d kept)."""
    if problem.depth > 1:
        return tuple(np.asarray(w) for w in W)
    W = np.asarray(W)
    pad = problem.d - W.shape[-1]
    return np.concatenate([W, np.zeros(W.shape[:-1] + (pad,), W.dtype)], axis=-1) if pad else W


def lift_features(problem: Problem, H) -> np.ndarray:
    """Class means H (..., d', K), d' ≤ d, as the (..., d, N) features of `problem`: class k's mean in its n_k
    columns (class-major), rows d' … d − 1 zero.

    Written in place into zeros: the zero rows stay the allocator's untouched zero pages and only the d' rows of
    means are filled (broadcast per class): O(d' N) writes, not O(d N) (np.repeat and concatenate of a scan
    chunk at n = 500, d = 256 wrote 512 MB)."""
    H = np.asarray(H)
    lead, dr, d = H.shape[:-2], H.shape[-2], problem.d
    out = np.zeros(lead + (d, problem.N), H.dtype)
    if problem.balanced:
        out.reshape(lead + (d, problem.K, problem.n))[..., :dr, :, :] = H[..., :, :, None]
    else:
        ends = np.cumsum(problem.counts)
        for k, (a, e) in enumerate(zip(ends - np.asarray(problem.counts), ends)):
            out[..., :dr, a:e] = H[..., :, k:k + 1]
    return out


__all__ = ["REDUCES", "Reduction", "reduction", "reduced_problem", "why_not", "choose", "lift", "lift_weights", "lift_features"]
