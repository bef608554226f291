"""`census`: the critical points a UFM problem's solves end at, classified by the full regularised Hessian.

"All local minima are global" (Zhu et al. 2021, "A Geometric Analysis of Neural Collapse with Unconstrained
Features", arXiv 2105.02375, Thm 3.2; Zhou et al. 2022, "On the Optimization Landscape of Neural Collapse under
MSE Loss", arXiv 2203.01238, Thm 3.2; Zhou et al. 2022, "Are All Losses Created Equal", arXiv 2210.02192, Thm 3)
is a statement about every critical point; a census samples them: float64 Newton-CG solves of the full problem
(no class-mean reduction: the landscape of f itself) from many starts — random at several scales, near the origin,
exactly at and near zero-padded lower-dimensional minimisers (critical points by construction) — polished to a
relative gradient of 1e-12, de-duplicated up to the problem's symmetries (rotations of feature space, and
relabelings: the spectra of W Wᵀ and of the class-mean Gram are compared), and classified by their objective
against the global minimum f* and by `ufm.curvature`, the one second-order test (Lanczos on Hessian-vector
products from a seeded start, at most `budget` products per point, early exit; the same at every size and in
every run):

    "global minimum"   objective = f* (`predict`, or the certificate's ratio ≤ 1 + 1e-6 for a convex loss with
                       d ≥ K, or else the lowest value found without negative curvature)
    "strict saddle"    negative curvature proved (a Ritz value below the noise threshold)
    "origin"           W = 0, H = 0, above f* and no negative curvature: a non-global local minimum at the origin
    "local minimum"    above f* elsewhere, no negative curvature: a spurious local minimum
    "undecided"        above f*, and the test spent its budget without deciding (raise `budget`)
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
from ._deep import deep_census
from . import _saddles
from ._predict import predict
from ._userloss import is_convex

KINDS = ("global minimum", "origin", "local minimum", "undecided", "strict saddle", "degenerate")


@dataclasses.dataclass(frozen=True)
class CensusPoint:
    """One distinct end point: kind (`KINDS`), objective, gap = objective − global minimum, count (starts that
    ended here), lambda_min (the second-order test's smallest Ritz value relative to the spectrum's scale, NaN
    where the solve did not converge), grad_norm, rank of WH, starts (the kinds of start that reached it), the
    point (W, H, b) itself, and curvature (the `ufm.Curvature` verdict, None where the test did not run)."""

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
    curvature: ufm.Curvature | None = None

    def to_dict(self) -> dict:
        c = self.curvature
        return {"kind": self.kind, "objective": self.objective, "gap": self.gap, "count": self.count,
                "lambda_min": self.lambda_min, "grad_norm": self.grad_norm, "rank": self.rank,
                "starts": list(self.starts), "verdict": None if c is None else c.verdict,
                "hvps": 0 if c is None else c.hvps}


@dataclasses.dataclass(frozen=True)
class Census:
    """The census of one problem: its distinct end points, lowest objective first. f_star: the global minimum
    used for the gaps; f_star_source: "predict" (closed form), "certificate" (a certified end point) or
    "lowest found" (nothing certifies it); budget: the second-order test's products per point; hvps: the
    products all points used (the same in every run with the same problem, starts, seed and budget)."""

    problem: Problem
    starts: int
    seed: int
    points: tuple
    f_star: float
    f_star_source: str
    budget: int = ufm.CURVATURE_BUDGET
    hvps: int = 0

    @property
    def spurious(self) -> tuple:
        """Non-global local minima found (the counter-examples to a benign landscape): kinds "local minimum"
        and "origin" (a local minimum at W = 0, H = 0 above f*)."""
        return tuple(p for p in self.points if p.kind in ("local minimum", "origin"))

    @property
    def undecided(self) -> tuple:
        """Points above f* whose second-order test spent its budget without a verdict."""
        return tuple(p for p in self.points if p.kind == "undecided")

    def count(self, kind: str) -> int:
        return sum(p.count for p in self.points if p.kind == kind)

    def table(self) -> str:
        rows = [("kind", "objective", "gap to f*", "starts", "λ_min (rel)", "HVPs", "rank WH", "reached from")]
        for p in self.points:
            rows.append((p.kind, f"{p.objective:.12g}", f"{p.gap:.2e}", str(p.count), f"{p.lambda_min:.2e}",
                         "-" if p.curvature is None else str(p.curvature.hvps), str(p.rank), ", ".join(p.starts)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        n = len(self.spurious)
        verdict = f"{n} non-global local minim{'um' if n == 1 else 'a'} found" if n else \
            "no non-global local minimum found"
        if self.undecided:
            verdict += f"; {len(self.undecided)} undecided (second-order test out of budget: raise budget)"
        return "\n".join(lines + ["", f"f* = {self.f_star:.15g} ({self.f_star_source}); {self.starts} starts, seed "
                                          f"{self.seed}, {self.hvps} Hessian-vector products (budget {self.budget} "
                                          f"per point): {verdict}"])

    def to_dict(self) -> dict:
        return {"problem": self.problem.to_dict(), "starts": self.starts, "seed": self.seed, "f_star": self.f_star,
                "f_star_source": self.f_star_source, "points": [p.to_dict() for p in self.points],
                "spurious": len(self.spurious), "undecided": len(self.undecided), "budget": self.budget,
                "hvps": self.hvps}


def _ranks(problem: Problem, starts: int) -> list:
    """The padded ranks r < min(d, K) the starts cover: all of them where origin, two per rank and one random
    start fit in `starts`, else ⌊(starts − 2)/2⌋ ≥ 1 of them spread evenly from 1 to min(d, K) − 1."""
    if problem.fixed_w:
        return []
    top = min(problem.d, problem.K) - 1
    if top < 1:
        return []
    room = max((starts - 2) // 2, 1)
    if top <= room:
        return list(range(1, top + 1))
    return sorted({int(round(v)) for v in np.linspace(1, top, room)})


def _starts(problem: Problem, starts: int, rng, scales) -> list:
    """(label, (W, H, b)) start points: near the origin, zero-padded minimisers of the same problem in r <
    min(d, K) dimensions (exactly, and perturbed by 1e-6; `_ranks`), the rest random at each scale."""
    K, d, N = problem.K, problem.d, problem.N
    out = []

    def rand(s):
        return (s * rng.standard_normal((K, d)), s * rng.standard_normal((d, N)), np.zeros(K))

    out.append(("origin+1e-6", rand(1e-6)))
    for r in _ranks(problem, starts):
        # The class-mean solve where it is exact (one program per (K, r) whatever the counts, shared with
        # `ufm verify`'s solves of that layout), lifted: a global minimiser of the rank-r problem.
        low = ufm.solve(problem.replace(d=r), method="newton", max_steps=2000)
        W = np.concatenate([low.W, np.zeros((K, d - r))], axis=1)
        H = np.concatenate([low.H, np.zeros((d - r, N))], axis=0)
        out.append((f"padded rank {r}", (W, H, low.b)))
        out.append((f"padded rank {r}+1e-6", (W + 1e-6 * rng.standard_normal(W.shape),
                                               H + 1e-6 * rng.standard_normal(H.shape), low.b)))
    if problem.loss == "mse" and problem.alpha == 1.0 and problem.M == 1.0 and problem.bias and \
            problem.balanced and problem.d < problem.K and len(out) + 2 < starts:
        # the full-rank critical point on the all-ones direction (d < K, with a bias), where it exists
        if problem.K * math.sqrt(problem.lam_w * problem.lam_h * problem.n) * (1 + 1 / problem.lam_b) < 1:
            W, H, b = _saddles.mse_mean_direction(problem).point
            out.append(("mean-direction", (W, H, b)))
            out.append(("mean-direction+1e-6", (W + 1e-6 * rng.standard_normal(W.shape),
                                                 H + 1e-6 * rng.standard_normal(H.shape), b)))
    for i in range(max(starts - len(out), 1)):  # at least one random start
        s = scales[i % len(scales)]
        out.append((f"random ×{s:g}", rand(s)))
    return out


def _signature(W, H, labels, K):
    """Invariants under rotations of feature space and relabelings: spectra of W Wᵀ and of the class-mean Gram."""
    means = np.stack([H[:, labels == k].mean(axis=1) for k in range(K)], axis=1)
    return np.concatenate([np.linalg.eigvalsh(W @ W.T), np.linalg.eigvalsh(means.T @ means)])


@float64()
def census(problem: Problem, starts: int = 24, seed: int = 0, scales=(0.01, 0.1, 1.0, 3.0),
           budget: int = ufm.CURVATURE_BUDGET, progress=None) -> Census:
    """The census of `problem`'s critical points (see the module). `starts`: the origin-near start, padded
    lower-rank starts (all ranks where they fit, else an even spread) and the rest random at `scales` (N(0, s²)
    entries, b = 0); one batched Newton-CG solve runs them all. `budget`: Hessian-vector products the
    second-order test (`ufm.curvature`, seeded with `seed`) may spend per end point — the census's cost is
    bounded by starts × (solve + budget products) and repeats exactly. `progress(message)`, if given, receives
    a line as each phase starts and as each end point is classified.

    A deep problem (depth > 1; bias-free balanced MSE) goes to `deep_census` (its `DeepCensus`: the lowest point
    reached against the best deep-neural-collapse value, `budget` unused)."""
    say = progress or (lambda msg: None)
    if not isinstance(problem, Problem):
        raise TypeError(f"census(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    if problem.means:
        raise ParameterError("problem", "the class-mean form", "a full problem (means=False)", "census")
    if problem.depth > 1:  # deep: solves from DNC and random starts against the DNC value (`deep_census`)
        return deep_census(problem, starts=starts, seed=seed, progress=progress)
    if not (isinstance(starts, int) and not isinstance(starts, bool) and 2 <= starts <= 10_000):
        raise ParameterError("starts", starts, "an integer in [2, 10000]", "census")
    if not (isinstance(budget, int) and not isinstance(budget, bool) and 1 <= budget <= 100_000):
        raise ParameterError("budget", budget, "an integer in [1, 100000]", "census")
    if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise ParameterError("seed", seed, "an integer ≥ 0", "census")
    rng = np.random.default_rng(seed)
    ranks = _ranks(problem, starts)
    if ranks:
        say(f"solving the padded rank {', '.join(map(str, ranks))} problem{'s' if len(ranks) > 1 else ''}")
    points = _starts(problem, starts, rng, tuple(scales))
    say(f"solving from {len(points)} starts (Newton-CG, {ufm.Layout.of(problem).size} variables; the first solve "
        "of a shape compiles it)")
    t0 = time.perf_counter()
    batch = ufm.solve_batch([problem] * len(points), method=ufm.Newton(), max_steps=2000, reduce="never",
                            init=[p for _, p in points], seeds=list(range(len(points))))
    say(f"solved in {time.perf_counter() - t0:.1f} s; merging end points")
    found = []  # [label, sol, signature, labels]
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
    tests = []
    for i, (_, sol, _, _) in enumerate(found, 1):
        if sol.status in ("converged", "saddle"):
            say(f"second-order test of end point {i}/{len(found)} (at most {budget} Hessian-vector products)")
            tests.append(ufm.curvature(problem, sol.W, sol.H, sol.b, budget=budget, seed=seed))
            say(f"  {tests[-1].describe()}")
        else:
            tests.append(None)
    f_star, source = _global_minimum(problem, found, tests)
    out = []
    for (label, sol, _, labels), c in zip(found, tests):
        gap = sol.objective - f_star
        at_f_star = gap <= 1e-9 * max(abs(f_star), 1e-12)
        at_origin = float(np.abs(sol.W).max(initial=0.0)) < 1e-9 and float(np.abs(sol.H).max(initial=0.0)) < 1e-9
        if c is None:
            kind = "degenerate"
        elif c.negative or sol.status == "saddle":
            kind = "strict saddle"
        elif at_f_star:
            kind = "global minimum"  # a point at the global minimum value is a global minimiser, whatever θ₁
        elif c.verdict == "undecided":
            kind = "undecided"
        else:
            kind = "origin" if at_origin else "local minimum"
        sv = np.linalg.svd(sol.W @ sol.H, compute_uv=False)
        rank = int(np.sum(sv > 1e-9 * max(sv[0], 1.0))) if sv.size else 0
        seen = tuple(dict.fromkeys(s.split("+")[0].split()[0] for s in labels))  # origin / padded / random
        out.append(CensusPoint(kind, float(sol.objective), float(gap), len(labels),
                               math.nan if c is None else c.relative, float(sol.grad_norm), rank, seen, sol.W, sol.H,
                               sol.b, c))
    out.sort(key=lambda p: (p.objective, KINDS.index(p.kind)))
    hvps = sum(c.hvps for c in tests if c is not None)
    return Census(problem, len(points), seed, tuple(out), float(f_star), source, budget, hvps)


def _global_minimum(problem: Problem, found, tests) -> tuple:
    """(f*, source): the closed form, else the lowest certified end point, else the lowest end point without
    proved negative curvature."""
    pred = predict(problem)
    if pred.objective is not None:
        return pred.objective, "predict"
    candidates = [f[1] for f, c in zip(found, tests) if c is not None and not c.negative and f[1].status == "converged"]
    if is_convex(problem) and problem.d >= problem.K and not problem.fixed_w:
        certified = [s.objective for s in candidates
                     if (certificate(problem, s.W, s.H, s.b).ratio or math.inf) <= 1 + 1e-6]
        if certified:
            return min(certified), "certificate"
    return min((s.objective for s in candidates), default=math.nan), "lowest found"
