"""`census`: the critical points a UFM problem's solves end at, classified by the full regularised Hessian.

"All local minima are global" (Zhu et al. 2021, "A Geometric Analysis of Neural Collapse with Unconstrained
Features", arXiv 2105.02375, Thm 3.2; Zhou et al. 2022, "On the Optimization Landscape of Neural Collapse under
MSE Loss", arXiv 2203.01238, Thm 3.2; Zhou et al. 2022, "Are All Losses Created Equal", arXiv 2210.02192, Thm 3)
is a statement about every critical point; a census samples them: float64 Newton-CG solves of the full problem
(no class-mean reduction: the landscape of f itself) from many starts — random at several scales, near the origin,
exactly at and near zero-padded lower-dimensional minimisers (critical points by construction) — polished to a
relative gradient of 1e-12, de-duplicated up to the problem's symmetries (rotations of feature space, and
relabelings: the spectra of W Wᵀ and of the class-mean Gram are compared), and classified by the smallest
eigenvalue of ∇²f (dense up to 2000 variables, Lanczos beyond):

    "global minimum"   no negative curvature, objective = the global minimum (`predict`, or the certificate's
                       ratio ≤ 1 + 1e-6 for a convex loss with d ≥ K, or else the lowest value found)
    "origin"           W = 0, H = 0
    "local minimum"    no negative curvature and above the global minimum: a spurious local minimum
    "strict saddle"    λ_min(∇²f) < 0
    "degenerate"       the solve did not reach the gradient test (status max_steps/stalled/diverged)

A census can show that a non-global local minimum exists (a counter-example); it cannot prove that none does.
"""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np

import ufm
from ufm import ParameterError, Problem, float64

from ._certificate import certificate
from ._hessian import extreme_eigenvalues, hessian_full
from ._predict import predict
from ._userloss import is_convex

KINDS = ("global minimum", "origin", "local minimum", "strict saddle", "degenerate")


@dataclasses.dataclass(frozen=True)
class CensusPoint:
    """One distinct end point: kind (`KINDS`), objective, gap = objective − global minimum, count (starts that
    ended here), lambda_min (smallest Hessian eigenvalue, relative to the largest |eigenvalue|), grad_norm,
    rank of WH, starts (the kinds of start that reached it) and the point (W, H, b) itself."""

    kind: str
    objective: float
    gap: float
    count: int
    lambda_min: float
    grad_norm: float
    rank: int
    starts: tuple
    W: np.ndarray
    H: np.ndarray
    b: np.ndarray

    def to_dict(self) -> dict:
        return {"kind": self.kind, "objective": self.objective, "gap": self.gap, "count": self.count,
                "lambda_min": self.lambda_min, "grad_norm": self.grad_norm, "rank": self.rank,
                "starts": list(self.starts)}


@dataclasses.dataclass(frozen=True)
class Census:
    """The census of one problem: its distinct end points, lowest objective first. f_star: the global minimum
    used for the gaps; f_star_source: "predict" (closed form), "certificate" (a certified end point) or
    "lowest found" (nothing certifies it)."""

    problem: Problem
    starts: int
    seed: int
    points: tuple
    f_star: float
    f_star_source: str

    @property
    def spurious(self) -> tuple:
        """Non-global local minima found (the counter-examples to a benign landscape)."""
        return tuple(p for p in self.points if p.kind == "local minimum")

    def count(self, kind: str) -> int:
        return sum(p.count for p in self.points if p.kind == kind)

    def table(self) -> str:
        rows = [("kind", "objective", "gap to f*", "starts", "λ_min (rel)", "rank WH", "reached from")]
        for p in self.points:
            rows.append((p.kind, f"{p.objective:.12g}", f"{p.gap:.2e}", str(p.count), f"{p.lambda_min:.2e}",
                         str(p.rank), ", ".join(p.starts)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        verdict = (f"{len(self.spurious)} non-global local minim{'um' if len(self.spurious) == 1 else 'a'} found"
                   if self.spurious else "no non-global local minimum found")
        return "\n".join(lines + ["", f"f* = {self.f_star:.15g} ({self.f_star_source}); {self.starts} starts, seed "
                                          f"{self.seed}: {verdict}"])

    def to_dict(self) -> dict:
        return {"problem": self.problem.to_dict(), "starts": self.starts, "seed": self.seed, "f_star": self.f_star,
                "f_star_source": self.f_star_source, "points": [p.to_dict() for p in self.points],
                "spurious": len(self.spurious)}


def _starts(problem: Problem, starts: int, rng, scales) -> list:
    """(label, (W, H, b)) start points: random at each scale, near the origin, zero-padded minimisers of the
    same problem in r < min(d, K) dimensions (exactly, and perturbed by 1e-6)."""
    K, d, N = problem.K, problem.d, problem.N
    out = []

    def rand(s):
        return (s * rng.standard_normal((K, d)), s * rng.standard_normal((d, N)), np.zeros(K))

    out.append(("origin+1e-6", rand(1e-6)))
    ranks = [r for r in range(1, min(d, K)) if not problem.fixed_w]
    for r in ranks:
        # The class-mean solve where it is exact (one program per (K, r) whatever the counts, shared with
        # `ufm verify`'s solves of that layout), lifted: a global minimiser of the rank-r problem.
        low = ufm.solve(problem.replace(d=r), method="newton", max_steps=2000)
        W = np.concatenate([low.W, np.zeros((K, d - r))], axis=1)
        H = np.concatenate([low.H, np.zeros((d - r, N))], axis=0)
        out.append((f"padded rank {r}", (W, H, low.b)))
        out.append((f"padded rank {r}+1e-6", (W + 1e-6 * rng.standard_normal(W.shape),
                                               H + 1e-6 * rng.standard_normal(H.shape), low.b)))
    for i in range(max(starts - len(out), 1)):  # at least one random start
        s = scales[i % len(scales)]
        out.append((f"random ×{s:g}", rand(s)))
    return out


def _lambda_min(problem: Problem, W, H, b) -> float:
    """Smallest eigenvalue of ∇²f over the largest |eigenvalue| (dense up to 2000 variables, else Lanczos)."""
    try:
        ev = np.linalg.eigvalsh(hessian_full(problem, W, H, b, max_dense=2000))
        lo, top = float(ev[0]), float(np.abs(ev).max())
    except ValueError:
        lo = float(extreme_eigenvalues(problem, W, H, b, 1, "SA")[0])
        top = abs(float(extreme_eigenvalues(problem, W, H, b, 1, "LA")[0]))
    return lo / max(top, np.finfo(float).tiny)


def _signature(W, H, labels, K):
    """Invariants under rotations of feature space and relabelings: spectra of W Wᵀ and of the class-mean Gram."""
    means = np.stack([H[:, labels == k].mean(axis=1) for k in range(K)], axis=1)
    return np.concatenate([np.linalg.eigvalsh(W @ W.T), np.linalg.eigvalsh(means.T @ means)])


@float64()
def census(problem: Problem, starts: int = 24, seed: int = 0, scales=(0.01, 0.1, 1.0, 3.0),
           curvature_tol: float = 1e-8, progress=None) -> Census:
    """The census of `problem`'s critical points (see the module). `starts`: at least the origin-near and padded
    starts, the rest random at `scales` (N(0, s²) entries, b = 0); one batched Newton-CG solve runs them all.
    `curvature_tol`: λ_min below −curvature_tol × the largest |eigenvalue| is negative curvature.
    `progress(message)`, if given, receives a line as each phase starts and as each end point is classified."""
    say = progress or (lambda msg: None)
    if not isinstance(problem, Problem):
        raise TypeError(f"census(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    if problem.means:
        raise ParameterError("problem", "the class-mean form", "a full problem (means=False)", "census")
    if not (isinstance(starts, int) and not isinstance(starts, bool) and 2 <= starts <= 10_000):
        raise ParameterError("starts", starts, "an integer in [2, 10000]", "census")
    rng = np.random.default_rng(seed)
    points = _starts(problem, starts, rng, tuple(scales))
    say(f"solving from {len(points)} starts (Newton-CG, {ufm.Layout.of(problem).size} variables; the first solve "
        "of a shape compiles it)")
    t0 = time.perf_counter()
    batch = ufm.solve_batch([problem] * len(points), method=ufm.Newton(), max_steps=2000, reduce="never",
                            init=[p for _, p in points], seeds=list(range(len(points))))
    say(f"solved in {time.perf_counter() - t0:.1f} s; merging end points")
    pred = predict(problem)
    found = []  # [label, sol, signature]
    for (label, _), sol in zip(points, batch.unstack()):
        sig = _signature(sol.W, sol.H, problem.labels, problem.K)
        for item in found:
            o = item[1]
            same_f = abs(o.objective - sol.objective) <= 1e-9 * max(abs(sol.objective), 1e-12)
            if same_f and np.allclose(item[2], sig, rtol=1e-6, atol=1e-9 * max(1.0, float(np.abs(sig).max()))) \
                    and (o.status == "converged") == (sol.status == "converged"):
                item[3].append(label)
                break
        else:
            found.append([label, sol, sig, [label]])
    # The global minimum: predicted, else certified, else the lowest converged value.
    converged = [f for f in found if f[1].status == "converged"]
    lowest = min((f[1].objective for f in converged), default=math.nan)
    if pred.objective is not None:
        f_star, source = pred.objective, "predict"
    else:
        certified = [f[1].objective for f in converged
                     if is_convex(problem) and problem.d >= problem.K and not problem.fixed_w
                     and (certificate(problem, f[1].W, f[1].H, f[1].b).ratio or math.inf) <= 1 + 1e-6]
        f_star, source = (min(certified), "certificate") if certified else (lowest, "lowest found")
    out = []
    for i, (label, sol, _, labels) in enumerate(found, 1):
        say(f"classifying end point {i}/{len(found)} by the full Hessian's smallest eigenvalue")
        lam = _lambda_min(problem, sol.W, sol.H, sol.b) if sol.status in ("converged", "saddle") else math.nan
        gap = sol.objective - f_star
        at_origin = float(np.abs(sol.W).max(initial=0.0)) < 1e-9 and float(np.abs(sol.H).max(initial=0.0)) < 1e-9
        if sol.status != "converged" and not (sol.status == "saddle"):
            kind = "degenerate"
        elif lam < -curvature_tol or sol.status == "saddle":
            kind = "strict saddle"
        elif at_origin and gap > 1e-9 * max(abs(f_star), 1e-12):
            kind = "origin"
        elif gap <= 1e-9 * max(abs(f_star), 1e-12):
            kind = "global minimum"
        else:
            kind = "local minimum"
        sv = np.linalg.svd(sol.W @ sol.H, compute_uv=False)
        rank = int(np.sum(sv > 1e-9 * max(sv[0], 1.0))) if sv.size else 0
        seen = tuple(dict.fromkeys(s.split("+")[0].split()[0] for s in labels))  # origin / padded / random
        out.append(CensusPoint(kind, float(sol.objective), float(gap), len(labels), float(lam), float(sol.grad_norm),
                               rank, seen, sol.W, sol.H, sol.b))
    out.sort(key=lambda p: (p.objective, KINDS.index(p.kind)))
    return Census(problem, len(points), seed, tuple(out), float(f_star), source)
