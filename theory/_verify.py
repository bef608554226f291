"""`ufm verify`: every checkable claim of the four papers, computed by `theory` and compared with float64 solves.

Problems are drawn (seeded) in every regime, grouped by shape and solved with one batched, compiled solve per
shape. Each claim reports its source, the cases run, the worst error, the tolerance and PASS/FAIL.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections import defaultdict
from typing import Callable, NamedTuple

import numpy as np

import ufm
from ufm import Problem, float64

from . import _census, _contrastive, _deep, _errata, _escape, _hessian, _imbalance, _landscape, _mse, _saddles
from ._certificate import certificate
from ._claimset import CLAIMS, ClaimSpec
from ._papers import PAPERS, references
from ._predict import minimizer, predict


# Trust-region Newton-CG from the random start: it compiles in about a third of the time of "auto" and
# reaches ‖∇f‖/|f| ≤ 1e-12 in tens of steps on these sizes (the battery's solves are compile-bound).
METHOD = ufm.Newton()
STEPS = 2000


@dataclasses.dataclass
class Claim:
    """One row of the verification table: a claim of `CLAIMS` (its spec) with the cases run."""

    name: str
    source: str
    tol: float
    cases: list = dataclasses.field(default_factory=list)
    key: str = ""

    @classmethod
    def of(cls, spec: ClaimSpec) -> "Claim":
        return cls(spec.name, spec.source, spec.tol, key=spec.key)

    def add(self, label: str, error: float, **numbers) -> None:
        """One case: its label, its error and the numbers behind it; a label made by `_label` also records the
        problem it solved (`Problem.to_dict()`: K, n or counts, d, depth, loss and parameters, λ's, bias), so
        that `ufm verify --json` lets a reader re-run any row."""
        problem = getattr(label, "problem", None)
        case = {"case": str(label), "error": float(error)}
        if problem is not None:
            case["problem"] = problem.to_dict()
        self.cases.append({**case, **{k: _plain(v) for k, v in numbers.items()}})

    @property
    def worst(self) -> float:
        errs = [c["error"] for c in self.cases]
        return max(errs) if errs else math.nan

    @property
    def passed(self) -> bool:
        return bool(self.cases) and all(c["error"] <= self.tol for c in self.cases)


def _plain(v):
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (np.floating, np.integer)):
        return v.item()
    return v


@dataclasses.dataclass
class Report:
    claims: list
    errata: list
    seconds: float
    quick: bool
    seed: int
    compilations: int = 0  # XLA compilations the battery performed (`ufm.compilations`)
    compile_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.claims) and all(e.holds for e in self.errata)

    def table(self) -> str:
        rows = [("claim", "source", "cases", "worst error", "tol", "")]
        for c in self.claims:
            rows.append((c.name, c.source, str(len(c.cases)), f"{c.worst:.2e}", f"{c.tol:.2g}",
                         "PASS" if c.passed else "FAIL"))
        widths = [max(len(r[i]) for r in rows) for i in range(6)]
        lines = ["  ".join(r[i].ljust(widths[i]) for i in range(6)).rstrip() for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        out = ["\n".join(lines), "", f"Errata ({len(self.errata)}; re-checked against float64 solves):"]
        for i, e in enumerate(self.errata, 1):
            out.append(f"{i}. [{'holds' if e.holds else 'NOT CONFIRMED'}] {e.citation}")
            out.append(f"   printed:   {e.printed}")
            out.append(f"   corrected: {e.corrected}")
            out.append(f"   evidence:  {e.evidence}")
        cited = " ".join([c.source for c in self.claims] + [e.paper for e in self.errata])
        out += ["", "References (arXiv:ID in the source column):"] + [f"  {r}" for r in references(cited)]
        n_fail = sum(not c.passed for c in self.claims)
        out.append("")
        out.append(f"{len(self.claims) - n_fail}/{len(self.claims)} claims pass, "
                   f"{sum(len(c.cases) for c in self.claims)} cases, {self.seconds:.1f} s "
                   f"({'quick' if self.quick else 'full'} battery, seed {self.seed}; {self.compilations} "
                   f"compilations, {self.compile_seconds:.1f} s)")
        return "\n".join(out)

    def to_dict(self) -> dict:
        return {
            "passed": self.passed, "seconds": self.seconds, "quick": self.quick, "seed": self.seed,
            "compilations": self.compilations, "compile_seconds": self.compile_seconds,
            "claims": [{"key": c.key, "claim": c.name, "source": c.source, "tol": c.tol, "worst": c.worst, "passed": c.passed,
                        "cases": c.cases} for c in self.claims],
            "errata": [{**e._asdict(), "citation": e.citation, "evidence": e.evidence} for e in self.errata],
            "references": {k: p.citation for k, p in PAPERS.items()},
        }


# --------------------------------------------------------------------------------------------- draws


def _lams(rng, K, n, target):
    """(λ_W, λ_H) with √(KN)·λ_Z = target and a random ratio λ_W/λ_H ∈ [1/3, 3]."""
    lam_z = target / math.sqrt(K * n * K)
    r = math.exp(rng.uniform(-math.log(3), math.log(3)))
    return lam_z * math.sqrt(r), lam_z / math.sqrt(r)


def draw(rng, quick: bool) -> list[Problem]:
    """Problems in every regime: MSE (vanilla and rescaled, bias on/off, d < K−1, = K−1, = K, > K, both λ_b
    regimes, both sides of the zero-solution boundary), CE and LS (δ ∈ [0, 1), both sides of s = 1), FL
    (γ ∈ {0, 1, 2, 3, 5})."""
    out = []
    sizes = [(4, 3)] if quick else [(4, 3), (6, 4), (10, 3)]
    for K, n in sizes:
        for d in (2, K - 1, K + 2) if quick else (2, K - 1, K, K + 2):
            for target in ((0.3, 1.5) if quick else (0.2, 0.6, 1.5)):
                lw, lh = _lams(rng, K, n, target)
                x = target
                for M in ((1.0, 1.6) if d == K + 2 else (1.0,)):
                    xm = x / M
                    lb_small = 0.3 * xm / (1 - xm) if xm < 1 else 0.05
                    for lb in (lb_small, 4.0 * max(xm / (1 - xm), 0.05) if xm < 1 else 2.0):
                        out.append(Problem(K=K, n=n, d=d, loss="mse", lam_w=lw, lam_h=lh, lam_b=lb, M=M))
        for d in (K + 2,) if quick else (K - 1, K + 2):
            lw, lh = _lams(rng, K, n, 0.3)
            out.append(Problem(K=K, n=n, d=d, loss="mse", lam_w=lw, lam_h=lh, bias=False))
        for d in (K + 1,) if quick else (K - 1, K, K + 2):
            for target in (0.1, 0.5, 1.4):
                lw, lh = _lams(rng, K, n, target)
                out.append(Problem(K=K, n=n, d=d, loss="ce", lam_w=lw, lam_h=lh, lam_b=rng.uniform(1e-3, 1e-1)))
        for d in (K - 1,) if quick else (K - 1, K, K + 2):
            for delta in ((0.0, 0.3, 0.8) if quick else (0.0, 0.1, 0.3, 0.6, 0.9)):
                lw, lh = _lams(rng, K, n, rng.uniform(0.05, 0.3))
                out.append(Problem(K=K, n=n, d=d, loss="ls", delta=delta, lam_w=lw, lam_h=lh, lam_b=1e-2))
        for d in (K + 1,) if quick else (K - 1, K, K + 2):
            for gamma in (0.0, 1.0, 2.0, 3.0, 5.0):
                lw, lh = _lams(rng, K, n, rng.uniform(0.05, 0.4))
                out.append(Problem(K=K, n=n, d=d, loss="fl", gamma=gamma, lam_w=lw, lam_h=lh, lam_b=1e-2))
    return out + _edges(rng, quick)


def _edges(rng, quick: bool) -> list[Problem]:
    """Where the theorems are tight: K = 2 and 3, n = 1, d from 1 past K + 1, λ from 10⁻⁶·(threshold) to past the
    collapse to zero, λ_b = 0 and no bias. (Quick: each loss once at K = 2, CE at K = 3 and n = 1; full: MSE at
    d ∈ {1, K + 1} (and 2 at K = 3), CE at d = K − 1 and K + 1, LS, FL, CE without bias and with λ_b = 0 at
    d = K + 1, for (K, n) = (2, 1) and (3, 2); CE at (3, 1).)"""
    out = []
    for K, n in ((2, 2), (3, 1)) if quick else ((2, 1), (3, 2), (3, 1)):
        # quick: one shape per loss at K = 2 and CE alone at K = 3; full: every d at (2, 1) and (3, 2), CE at
        # n = 1 for K = 3 (each new shape costs its own programs)
        if quick:
            dims = (K + 1,) if K == 2 else ()
        else:
            dims = {(2, 1): (1, 3), (3, 2): (1, 2, 4)}.get((K, n), ())
        for d in dims:
            for target in ((1e-6, 0.4) if quick else (1e-6, 0.4, 1.3)):
                lw, lh = _lams(rng, K, n, target)
                out.append(Problem(K=K, n=n, d=d, loss="mse", lam_w=lw, lam_h=lh, lam_b=1e-2))
            lw, lh = _lams(rng, K, n, 0.3)
            out.append(Problem(K=K, n=n, d=d, loss="mse", lam_w=lw, lam_h=lh, bias=False))
            if not quick:
                out.append(Problem(K=K, n=n, d=d, loss="mse", lam_w=lw, lam_h=lh, lam_b=0.0))
        for d in (K + 1,) if quick or (K, n) == (3, 1) else (K - 1, K + 1):
            for target in ((1e-6, 1.5) if quick else (1e-6, 0.3, 1.5)):
                lw, lh = _lams(rng, K, n, target)
                out.append(Problem(K=K, n=n, d=d, loss="ce", lam_w=lw, lam_h=lh, lam_b=rng.uniform(1e-3, 1e-1)))
            lw, lh = _lams(rng, K, n, 0.2)
            if d == K + 1 and (K == 2 or not (quick or n == 1)):
                out.append(Problem(K=K, n=n, d=d, loss="ls", delta=0.3, lam_w=lw, lam_h=lh, lam_b=1e-2))
                out.append(Problem(K=K, n=n, d=d, loss="fl", gamma=2.0, lam_w=lw, lam_h=lh, lam_b=1e-2))
            if not quick and (K, n) != (3, 1) and d == K + 1:
                out.append(Problem(K=K, n=n, d=d, loss="ce", lam_w=lw, lam_h=lh, lam_b=0.0))
                out.append(Problem(K=K, n=n, d=d, loss="ce", lam_w=lw, lam_h=lh, bias=False))
    return out


def solve_all(problems, seed: int, progress) -> dict:
    """One batched solve per shape; returns {problem: Solution}."""
    groups = defaultdict(list)
    for p in problems:
        groups[p.static].append(p)
    # Plan first: every shape's program compiles now, concurrently, instead of at its group's turn.
    count, seconds = ufm.prepare(problems, method=METHOD, max_steps=STEPS, second_order=False)
    progress(f"{count} programs compiled in {seconds:.1f} s for {len(groups)} shapes")
    out = {}
    for i, group in enumerate(groups.values(), 1):
        progress(f"solving shape {i}/{len(groups)}: {group[0].loss} K={group[0].K} n={group[0].n} d={group[0].d} "
                 f"bias={group[0].bias} ({len(group)} problems)")
        # Each end point is judged against its closed-form minimum (claim obj), which a saddle fails: the
        # second-order test (a program per shape) would add nothing here.
        batch = ufm.solve_batch(group, method=METHOD, seeds=[seed + j for j in range(len(group))], max_steps=STEPS,
                                second_order=False)
        for p, sol in zip(group, batch.unstack()):
            out[p] = sol
    return out


def _procrustes(W, H, W0, H0) -> float:
    """min over orthogonal R of ‖[W; Hᵀ]R − [W0; H0ᵀ]‖_F / max(‖[W0; H0ᵀ]‖_F, 1) (feature-space rotation)."""
    A = np.vstack([W, H.T])
    B = np.vstack([W0, H0.T])
    U, _, Vt = np.linalg.svd(A.T @ B)
    return float(np.linalg.norm(A @ (U @ Vt) - B) / max(np.linalg.norm(B), 1.0))


def _d_below(p: Problem, sol):
    """MSE with a bias at d < K − 1 (Zhou et al. 2022, arXiv 2203.01238, Thm 3.1 case 1: W*W*ᵀ ∝ P_d(I − 11ᵀ/K)):
    the solved WWᵀ has d equal nonzero eigenvalues and rows ⟂ 1 — a scaled rank-d projection inside range(Π), not
    a unique one (Π's K − 1 eigenvalues are equal, so 'the best rank-d approximation' is any of them). At d = 2
    the regular K-gon (equal norms, equal neighbouring angles) is such a projection: its objective is checked to
    equal the solve's, so a global minimiser with equal class-mean norms exists (the paper's discussion says the
    class means at d < K − 1 'neither have equal length nor are maximally distant': true of a generic minimiser,
    not of every one)."""
    W = np.asarray(sol.W)
    ev = np.linalg.eigvalsh(W @ W.T)[::-1]
    spread = float((ev[0] - ev[p.d - 1]) / ev[0] + ev[p.d] / ev[0]) if p.d < p.K else 0.0
    perp = float(np.linalg.norm(W.T @ np.ones(p.K)) / (math.sqrt(p.K) * np.linalg.norm(W)))
    err, numbers = max(spread, perp), {"eigenvalues": ev[: p.d + 1], "norms": np.linalg.norm(W, axis=1)}
    if p.d == 2:
        t = 2 * math.pi * np.arange(p.K) / p.K
        V = np.stack([np.cos(t), np.sin(t)], axis=1) * math.sqrt(2 * ev[0] / p.K)  # VVᵀ = ev₀ · projection
        Hp = math.sqrt(p.lam_w / (p.lam_h * p.n)) * V[np.asarray(p.labels)].T
        with ufm.float64():
            f_poly = float(ufm.objective(p).f((V, Hp, np.asarray(sol.b))))
        numbers.update(f_polygon=f_poly, f_solve=sol.objective)
        err = max(err, abs(f_poly - sol.objective) / abs(sol.objective))
    return err, numbers


class _Case(str):
    """A case label that remembers its problem (`Claim.add` records it)."""

    problem: Problem


def _label(p: Problem, before: str = "", after: str = "") -> _Case:
    """The label of a case about `p` (before + a one-line description + after), carrying `p`."""
    case = _Case(before + _describe(p) + after)
    case.problem = p
    return case


def _describe(p: Problem) -> str:
    extra = {"ls": f" δ={p.delta:.3g}", "fl": f" γ={p.gamma:g}", "mse": f" M={p.M:g}" if p.M != 1 else ""}[p.loss] \
        if p.loss != "ce" else ""
    lam_w = ",".join(f"{v:.3g}" for v in p.lam_w) if isinstance(p.lam_w, tuple) else f"{p.lam_w:.3g}"
    deep = "" if p.depth == 1 else f" L={p.depth} {p.activation} widths={','.join(map(str, p.widths))}"
    return (f"{p.loss}{extra} K={p.K} n={p.n} d={p.d}{deep} λW={lam_w} λH={p.lam_h:.3g}"
            f"{f' λb={p.lam_b:.3g}' if p.bias else ' nobias'}")


# --------------------------------------------------------------------------------------------- the battery


@float64()
def verify(quick: bool = True, seed: int = 0, progress=None, workers: int | None = None) -> Report:
    """Run the battery, quick or full (`ufm bench --only verify` times both). `progress(msg)` receives status lines.
    workers: how many families of checks run at once on threads (default: the CPUs this process may use; 1 runs
    them one after another). The report is the same for any `workers`: each family draws from its own seeded
    generator and adds cases only to its own claims. The report counts the XLA compilations the battery performed
    (`ufm.compilations`)."""
    if workers is None:
        workers = ufm.available_cpus()
    elif isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024:
        raise ufm.ParameterError("workers", workers, "an integer in [1, 1024]", "verify")
    with ufm.compilations() as comp:
        report = _battery(quick, seed, progress, workers)
    return dataclasses.replace(report, compilations=comp.count, compile_seconds=comp.seconds)


@dataclasses.dataclass
class _Battery:
    """What a family of checks reads: the settings, its own seeded generator, the drawn problems, their solves
    (`sols`: waits for them where they are still running) and the claims (key → `Claim`) it adds cases to."""

    quick: bool
    seed: int
    rng: np.random.Generator
    problems: list
    solves: "_Task"
    C: dict

    @property
    def sols(self) -> dict:
        return self.solves.result()


class Family(NamedTuple):
    """A family of claims and the check that decides them: `check(battery)` adds cases to the family's claims
    (`claims`: the entries of `CLAIMS` with this family). `title` is the progress line."""

    name: str
    title: str
    check: Callable

    @property
    def claims(self) -> tuple:
        return tuple(c for c in CLAIMS if c.family == self.name)


class _Task:
    """A piece of the battery run on a worker thread, in JAX's 64-bit mode (a thread-local switch): its result,
    or its exception re-raised, from `result()` (which waits for it)."""

    def __init__(self, fn: Callable):
        self.fn, self.done, self.value, self.error = fn, threading.Event(), None, None

    def run(self) -> None:
        try:
            with float64():
                self.value = self.fn()
        except BaseException as e:  # noqa: BLE001  (handed to the waiting thread)
            self.error = e
        finally:
            self.done.set()

    def result(self):
        while not self.done.wait(0.2):  # short waits: Ctrl-C reaches a waiting main thread
            pass
        if self.error is not None:
            raise self.error
        return self.value


def _run_tasks(tasks: list, workers: int) -> None:
    """Run `tasks` in their order on `workers` threads (one: in this thread) and wait for them; the first task's
    exception in list order is raised, and the tasks not started by then are dropped. The threads are daemons:
    an interrupted battery does not wait for the families still running. Families overlap usefully because XLA compiles and runs outside Python's lock
    (measured, the quick battery on 2 cores: see docs/performance.md)."""
    if workers == 1:
        for t in tasks:
            t.run()
    else:
        queue = list(reversed(tasks))
        lock = threading.Lock()

        def worker():
            while True:
                with lock:
                    if not queue:
                        return
                    task = queue.pop()
                task.run()

        for i in range(min(workers, len(tasks))):
            threading.Thread(target=worker, name=f"ufm-verify-{i}", daemon=True).start()
    try:
        for t in tasks:
            t.result()
    except BaseException:  # a failed task or Ctrl-C: the tasks not started yet never start
        if workers > 1:
            with lock:
                queue.clear()
        raise


def _battery(quick: bool, seed: int, progress, workers: int = 1) -> Report:
    progress = progress or (lambda msg: None)
    t0 = time.perf_counter()
    problems = draw(np.random.default_rng(seed), quick)
    progress(f"{len(problems)} problems drawn (seed {seed})")
    C = {c.key: Claim.of(c) for c in CLAIMS}
    solves = _Task(lambda: solve_all(problems, seed, progress))
    errata: list = []

    def check(i: int, family: Family) -> Callable:
        def run():
            progress(family.title)
            family.check(_Battery(quick, seed, np.random.default_rng([seed, i]), problems, solves, C))
        return run

    def recheck():
        progress("re-checking the errata")
        errata.extend(_errata.errata())

    # The drawn solves first (the "solutions" family waits for them), then the families and the errata in the
    # order of _START.
    named = {f.name: _Task(check(i, f)) for i, f in enumerate(FAMILIES)} | {"errata": _Task(recheck)}
    _run_tasks([solves] + [named[name] for name in _START], workers)
    return Report([c for c in C.values() if c.cases], errata, time.perf_counter() - t0, quick, seed)


def _check_solutions(ctx: _Battery) -> None:
    """Every drawn solve against `predict`: the value, the minimiser modulo rotation, the bias, the NC metrics
    and norms, the certificate and its gap bound, the critical-point balance and self-duality."""
    obj_c, route_c, ext_c, proc_c, b_c, nc_c, norm_c, cert_c, gap_c, crit_c, sdual_c, dlow_c, small_c = (
        ctx.C[k] for k in ("obj", "route", "ext", "proc", "b", "nc", "norm", "cert", "gap", "crit", "sdual", "dlow", "small"))
    for p, sol in ctx.sols.items():
        lab = _label(p)
        pred = predict(p)
        if pred.objective is None:
            continue
        obj_c.add(lab, abs(sol.objective - pred.objective) / abs(pred.objective), solver=sol.objective,
                  predicted=pred.objective, case=pred.case, status=sol.status)
        if pred.extension:
            ext_c.add(lab, abs(sol.objective - pred.objective) / abs(pred.objective), case=pred.case)
        # λ ≈ 10⁻⁷: the minimum is flat along its scale (curvature ~λ), so a value exact to ε ≈ 1e-16 fixes the
        # point only to about √(ε/λ) ≈ 2e-5 relative: its geometry goes to claim small with that tolerance.
        tiny = p.lam_z * math.sqrt(p.K * p.N) < 1e-4

        def to(c):
            return small_c if tiny else c
        W, H = np.asarray(sol.W), np.asarray(sol.H)
        scale = p.lam_w * float(np.sum(W**2)) + p.lam_h * float(np.sum(H**2))
        nonzero = float(np.linalg.norm(W)) > 1e-8  # the zero solution (W ~ 1e-19) has no direction to compare
        if nonzero:
            to(crit_c).add(
                lab, float(np.linalg.norm(p.lam_w * W.T @ W - p.lam_h * H @ H.T)) / scale, what="crit",
                status=sol.status)
            dual = math.sqrt(p.lam_w / (p.lam_h * p.n)) * W[np.asarray(p.labels)].T
            to(sdual_c).add(lab, float(np.linalg.norm(H - dual) / np.linalg.norm(H)),
                                               what="sdual")
        if p.loss == "mse" and p.bias and p.d < p.K - 1 and nonzero:
            err, numbers = _d_below(p, sol)
            dlow_c.add(lab, err, **numbers)
        if p.loss == "mse":
            fv, bv = _mse.value_route(p)
            route_c.add(lab, abs(fv - pred.objective) / fv, route=fv, cases=pred.objective)
        if isinstance(pred.gram_h, np.ndarray):
            W0, H0, _ = minimizer(p)
            to(proc_c).add(lab, _procrustes(sol.W, sol.H, W0, H0), what="proc")
            m = ufm.metrics.all(sol.W, sol.H, sol.b)
            if pred.w_norm and pred.w_norm > 0:
                err = max(abs(m["w_norm_mean"] - pred.w_norm) / pred.w_norm,
                          abs(m["h_mean_norm_mean"] - pred.h_mean_norm) / pred.h_mean_norm)
                norm_c.add(lab, err, w=m["w_norm_mean"], w_pred=pred.w_norm, h=m["h_mean_norm_mean"],
                           h_pred=pred.h_mean_norm)
                errs = {"nc1": m["nc1"], "self_duality": m["self_duality"]}
                if p.d >= p.K - 1:  # below, samples sit on decision boundaries (ties): NC4 is not defined there
                    errs["nc4"] = m["nc4"]
                gram = pred.gram_h / np.trace(pred.gram_h)
                if np.allclose(gram, (np.eye(p.K) - 1 / p.K) / (p.K - 1), atol=1e-12):
                    errs.update(nc2_w=m["nc2_w"], nc3=m["nc3"], nc3_duality=m["nc3_duality"])
                to(nc_c).add(lab, max(errs.values()), what="nc", **errs)
        if p.bias and not (p.loss != "mse" and p.lam_b == 0):
            b_c.add(lab, float(np.max(np.abs(sol.b - pred.b))), b=sol.b[0], b_pred=pred.b[0])
        # The relaxation is tight where Z* fits: d ≥ K, and d = K−1 for CE/LS/FL (rank(Z*) = K−1); there the
        # certificate confirms the extension beyond the printed theorems (d = K−1).
        if not (p.d >= p.K or (p.d == p.K - 1 and p.loss != "mse")):
            continue
        cert = certificate(p, sol.W, sol.H, sol.b)
        if cert.ratio is not None:
            zero = pred.a == 0.0 or pred.case == "mse:zero"
            err = max(cert.ratio - 1, 0.0) if zero else abs(cert.ratio - 1)
            to(cert_c).add(lab, err, what="cert", ratio=cert.ratio)
        # At tiny λ the first-order gap bound (‖s‖ times the ~1/√λ radius) is above 1e-9·|f|: not a claim there.
        if cert.gap_bound is not None and not tiny:
            gap_c.add(lab, cert.gap_bound / abs(sol.objective), bound=cert.gap_bound,
                      actual=sol.objective - pred.objective)



def _check_scale(ctx: _Battery) -> None:
    """The 1-D scale of CE/LS, ξ(ρ) of the geometric analysis, and the lower bound φ of contrastive losses."""
    scale_c, xi_c, phi_c = (ctx.C[k] for k in ("scale", "xi", "phi"))
    for p in ctx.problems:
        if p.loss in ("ce", "ls"):
            a = _contrastive.ce_ls_scale(p)
            m = _contrastive.scale_minima(p)
            scale_c.add(_label(p), abs(m.a - a) / max(a, 1.0), a=a, a_numeric=m.a, local_minima=len(m.local))
        if p.loss == "ce":
            pred = predict(p)
            rho = np.linspace(0, 4 * max(pred.a, 1.0) * (p.K - 1) / math.sqrt(p.lam_w / (p.lam_h * p.n)), 4001)
            xi = _contrastive.xi_ce(rho, p.K, p.n, p.lam_w, p.lam_h)
            a_of = rho * math.sqrt(p.lam_w / (p.lam_h * p.n)) / (p.K - 1)
            g = _contrastive.scale_objective(p, a_of)
            err_curve = float(np.max(np.abs(xi - g)))
            xi_c.add(_label(p), max(err_curve, max(pred.objective - xi.min(), 0.0) / pred.objective),
                     xi_min=float(xi.min()), f_star=pred.objective)
        if p.loss in ("ce", "ls", "fl"):
            Z = ctx.rng.standard_normal((p.K, p.N)) * 4
            gaps = _contrastive.lower_bound_gap(p, Z)
            # Off-target logits equal within each column: a random level plus a margin on the true class.
            Ze = ctx.rng.standard_normal((1, p.N)) + ctx.rng.uniform(-5, 5) * p.Y
            eq = _contrastive.lower_bound_gap(p, Ze)
            phi_c.add(_label(p), max(-float(gaps.min()), float(np.max(np.abs(eq)))), min_gap=float(gaps.min()))



def _check_hessians(ctx: _Battery) -> None:
    """Block spectra and condition numbers at the closed-form minimisers, and the full Hessian's zero modes."""
    kappa_c, spec_c, zero_c = (ctx.C[k] for k in ("kappa", "spec", "zero"))
    for p in ctx.problems:
        pred = predict(p)
        if pred.kappa is None or (ctx.quick and p.K > 4):
            continue
        W, H, b = minimizer(p)
        ps = _hessian.predicted_spectra(p)
        sw, sh = _hessian.spectrum_w(p, W, H, b), _hessian.spectrum_h(p, W, H, b)
        kappa_c.add(_label(p), max(abs(sw.condition - ps.kappa), abs(sh.condition - ps.kappa)) / ps.kappa,
                    kappa=ps.kappa, cond_w=sw.condition, cond_h=sh.condition)
        spec_c.add(_label(p), max(_spectrum_error(sw.clusters, ps.w), _spectrum_error(sh.clusters, ps.h)),
                   w=sw.clusters, w_pred=ps.w, h=sh.clusters, h_pred=ps.h)
        full = _hessian.spectrum_full(p, W, H, b)
        zeros = sum(m for v, m in full.clusters if v == 0.0)
        expect = _hessian.zero_modes(p, p.K - 1)
        zero_c.add(_label(p), abs(zeros - expect), zeros=zeros, expected=expect, lambda_min=full.eigenvalues[0])



def _check_fl(ctx: _Battery) -> None:
    """The sharp FL convexity threshold τ(γ) against the printed sufficient 0.21."""
    fl_c = ctx.C["fl"]
    for gamma in (1.0, 2.0, 3.0, 5.0):
        th = _landscape.fl_convexity_threshold(gamma)
        worst = 0.0
        for K in (2, 3, 5, 10):
            for _ in range(5 if ctx.quick else 20):
                q = ctx.rng.dirichlet(np.full(K - 1, ctx.rng.uniform(0.2, 3.0)))
                above = _landscape.fl_min_curvature(np.concatenate([[th.tau * 1.01], (1 - th.tau * 1.01) * q]), gamma)
                worst = max(worst, -above)
        # Just below τ some configuration is non-convex (take mass on one other class, K = 2 form).
        below = _landscape.fl_min_curvature(np.array([th.tau * 0.99, 1 - th.tau * 0.99]), gamma)
        fl_c.add(f"γ={gamma:g}", worst if below < 0 and th.tau <= 0.21 else math.inf, tau=th.tau,
                 printed_value=0.21, curvature_below=below)



def _spectrum_error(measured, predicted) -> float:
    """Relative value error of matched clusters; inf if the multiplicities or the cluster count differ."""
    if len(measured) != len(predicted):
        return math.inf
    scale = max(abs(v) for v, _ in predicted)
    err = 0.0
    for (v, m), (v0, m0) in zip(measured, predicted):
        if m != m0:
            return math.inf
        err = max(err, abs(v - v0) / scale)
    return err


def _check_saddles(ctx: _Battery) -> None:
    """The saddle claims (sgrad, sray, ["smin"], ["sexact"], ["sratio"], ["sesc"]) on every
    constructed strict saddle, for every d ≥ 2 (d ≤ K included: the MSE landscape paper's second case of its
    strict-saddle theorem, Zhou et al. 2022, arXiv 2203.01238, Thm 3.2; padded points need r < d)."""
    sgrad_c, sray_c, smin_c, sexact_c, sratio_c, sesc_c, fesc_c = (
        ctx.C[k] for k in ("sgrad", "sray", "smin", "sexact", "sratio", "sesc", "fesc"))
    problems, quick, seed = ctx.problems, ctx.quick, ctx.seed
    rng = np.random.default_rng(seed + 1)
    seen, fesc_groups = set(), {}
    escapes = defaultdict(list)
    # MSE with a bias at d < K where the full-rank all-ones saddle exists (`mse_mean_direction`: Kc(1 + 1/λ_b) <
    # 1; the drawn λ's of that group are too large for it)
    forced = [] if quick else [Problem(K=4, n=2, d=2, loss="mse", lam_w=1e-2, lam_h=1e-2, lam_b=1.0)]
    for p in list(problems) + forced:
        # one problem with d ≤ K per (loss, bias, K): the d > K saddles are checked at every d drawn
        key = (p.loss, p.bias, p.d if p.d > p.K else "d ≤ K", p.K)
        key = key + ("forced",) if any(p is q for q in forced) else key
        pred = predict(p)
        # Each new shape costs its own programs: quick takes d > K at K ≥ 4; full adds d ≤ K at K ≥ 4 and d > K
        # at K = 2, 3 (whose padded points are the origin and rank 1 only).
        low = p.d <= p.K
        if (low and (quick or p.K < 4)) or (quick and p.K < 4) or p.d < 2 or key in seen or \
                pred.objective is None or pred.case.endswith(("zero", "collapsed-to-zero")):
            continue
        seen.add(key)
        # plain gradient descent from a 1e-6 random start: every saddle of the first problem per (loss, bias,
        # d ≤ K) group (quick: of the first problem only), one program each
        # The edges (d ≤ K, or K < 4) take the origin and the padded rank-1 point, each checked by first-order
        # escape (cheap); the Newton escape to f* (claim sesc) stays with d > K at K ≥ 4.
        edge = low or p.K < 4
        group = (p.loss, p.bias, low)
        if group not in fesc_groups and (not quick or not fesc_groups):
            fesc_groups[group] = p
        first_order = edge or fesc_groups.get(group) is p
        obj = ufm.objective(p)
        # Padded CE/LS/FL points need extra lower-dimensional solves: the full battery builds them.
        ranks = () if quick and p.loss != "mse" else ((1,) if edge else None)
        for s in _saddles.saddles(p, padded_ranks=ranks):
            lab = _label(p, before=f"{s.name} @ ")
            x = np.asarray(obj.pack(s.point))
            dx = np.asarray(obj.pack(s.direction))
            sgrad_c.add(lab, float(np.linalg.norm(obj.grad_x(x))))
            ray = float(dx @ np.asarray(obj.hvp_x(x, dx)))
            sray_c.add(lab, abs(ray - s.curvature) / abs(s.curvature), curvature=ray, predicted=s.curvature)
            full = _hessian.spectrum_full(p, *s.point)
            lam_min = float(full.eigenvalues[0])
            # the one second-order test (what the census and the solves classify with) must prove it too
            test = ufm.curvature(p, *s.point, seed=seed)
            smin_c.add(lab, max(lam_min - s.rayleigh, 0.0) + (0.0 if s.rayleigh < 0 and test.negative else math.inf),
                       lambda_min=lam_min, rayleigh=s.rayleigh, verdict=test.verdict, theta_1=test.lambda_min,
                       hvps=test.hvps)
            if s.lambda_min is not None:
                sexact_c.add(lab, abs(lam_min - s.lambda_min) / abs(s.lambda_min), lambda_min=lam_min,
                             predicted=s.lambda_min)
            ratio = certificate(p, *s.point).ratio
            sratio_c.add(lab, 0.0 if ratio > 1 else math.inf, ratio=ratio)
            r = rng.standard_normal(x.shape)
            x0 = x + 1e-6 * (dx / np.linalg.norm(dx) + r / np.linalg.norm(r))
            if not edge:
                escapes[p].append((lab, obj.unpack(x0)))
            if first_order:
                e = _escape.escape(p, s.point, seed=seed + len(fesc_c.cases))
                err = math.inf if e.steps is None or e.predicted is None else \
                    max(abs(e.steps - e.predicted) - 1, 0) / e.predicted
                fesc_c.add(lab, err, steps=e.steps, predicted=e.predicted, lambda_min=e.lambda_min,
                           step=e.step, negative=e.negative)
    for p, items in escapes.items():
        pred = predict(p)
        # The shape's solve program is the main solves' one (solve_batch shares it across batch sizes).
        batch = ufm.solve_batch([p] * len(items), method=METHOD, init=[init for _, init in items], max_steps=STEPS)
        for (lab, _), sol in zip(items, batch.unstack()):
            sesc_c.add(lab, abs(sol.objective - pred.objective) / abs(pred.objective), objective=sol.objective,
                       status=sol.status)


def _imbalanced_draw(quick: bool) -> list[Problem]:
    """Imbalanced problems: step and long-tail counts, MSE (bias on/off, d < K, = K, > K, M ≠ 1, λ_b = 0) and
    the losses convex in the logits for the reduction check."""
    out = []
    if quick:  # two programs (class-mean form, bias on/off), shared with the threshold bisection below
        n = ufm.class_counts(4, 40, 8)
        return [Problem(K=4, n=n, d=4, loss="mse", lam_w=2e-3, lam_h=3e-3, lam_b=1e-2),
                Problem(K=4, n=n, d=6, loss="mse", lam_w=2e-3, lam_h=3e-3, bias=False)]
    profiles = [
        (4, ufm.class_counts(4, 40, 8)), (3, (30, 7, 2)), (6, ufm.class_counts(6, 60, 20, "longtail")),
        (2, (50, 3))]
    for K, n in profiles:
        for d in ((K, K + 2) if quick else (K, K + 2)):
            out.append(Problem(K=K, n=n, d=d, loss="mse", lam_w=2e-3, lam_h=3e-3, lam_b=1e-2))
            out.append(Problem(K=K, n=n, d=d, loss="mse", lam_w=2e-3, lam_h=3e-3, bias=False))
        out.append(Problem(K=K, n=n, d=max(K - 1, 1), loss="mse", lam_w=1e-3, lam_h=2e-3, bias=False))
        if not quick:
            out.append(Problem(K=K, n=n, d=K + 1, loss="mse", M=2.5, lam_w=4e-3, lam_h=1e-3, lam_b=0.0))
            out.append(Problem(K=K, n=n, d=K, loss="mse", lam_w=0.02, lam_h=0.02, bias=False))  # classes collapsed
    return out


def _check_imbalance(ctx: _Battery) -> None:
    """The imbalanced-UFM claims: the MSE closed form (`_imbalance.imbalanced_mse`) against solves, the exact
    class-mean reduction against full solves, and the minority-collapse thresholds located by bisection."""
    quick, seed = ctx.quick, ctx.seed
    imb_c, red_c, thr_c, mc_c = (ctx.C[k] for k in ("imb_mse", "imb_red", "imb_thr", "imb_mc"))
    for p in _imbalanced_draw(quick):
        th = _imbalance.imbalanced_mse(p)
        sol = ufm.solve(p, method=METHOD, max_steps=STEPS, seed=seed)
        means = np.stack([sol.H[:, p.labels == k].mean(axis=1) for k in range(p.K)], axis=1)
        scale = max(float(np.abs(th.gram_w).max()), float(np.abs(th.gram_h).max()), 1e-300)
        # d < K with equal counts at the cut: which of the tied classes keeps its dimension is not unique.
        s_sorted = np.sort(np.sqrt(np.asarray(p.counts, float)))[::-1]
        unique = p.d >= p.K or s_sorted[p.d - 1] != s_sorted[p.d]
        err = max(abs(sol.objective - th.objective) / abs(th.objective),
                  float(np.abs(sol.W @ sol.W.T - th.gram_w).max()) / scale if unique else 0.0,
                  float(np.abs(means.T @ means - th.gram_h).max()) / scale if unique else 0.0,
                  float(np.abs(sol.b - th.b).max()) if p.bias else 0.0)
        lab = _label(p, after=f" counts={list(p.counts)}")
        imb_c.add(lab, err, objective=sol.objective, predicted=th.objective, collapsed=list(th.collapsed),
                  status=sol.status)
    for loss in (("ce",) if quick else ("ce", "ls", "mse")):
        p = Problem(K=4, n=(30, 30, 5, 5), d=4 if quick else 6, loss=loss, delta=0.2, lam_w=3e-3, lam_h=1e-3,
                    lam_b=1e-2)
        r, full = ufm.solve(p, method=METHOD, max_steps=STEPS, seed=seed), ufm.solve(p, method=METHOD, max_steps=STEPS, seed=seed, reduce="never")
        cert = certificate(p, r.W, r.H, r.b)
        err = max(abs(r.objective - full.objective) / abs(full.objective), abs(cert.ratio - 1) * 1e-4)
        red_c.add(_label(p, after=f" counts={list(p.counts)}"), err, reduced=r.objective, full=full.objective,
                  ratio=cert.ratio, path=r.path)
    counts = (100, 100, 10, 10)
    # Vanishing regularisation: bias-free CE approaches SELI, not the ETF (slowly: ~1/log(1/λ)). Full battery.
    seli_c = ctx.C["imb_seli"]
    G_seli, G_etf = _imbalance.seli_gram(counts), (np.eye(4) - 0.25) / 3
    dist = []
    for lam in () if quick else (1e-2, 1e-4, 1e-6, 1e-8):
        p = Problem(K=4, n=counts, d=4, loss="ce", bias=False, lam_w=lam, lam_h=lam)
        sol = ufm.solve(p, method="lbfgs", seed=seed)  # Newton-CG stalls near 1e-9 on this path (λ = 1e-4)
        WW = sol.W @ sol.W.T / np.trace(sol.W @ sol.W.T)
        dist.append((lam, float(np.linalg.norm(WW - G_seli)), float(np.linalg.norm(WW - G_etf)), str(sol.status)))
    monotone = all(a[1] > b[1] for a, b in zip(dist, dist[1:]))
    if dist:
        seli_c.add(f"ce nobias K=4 counts={list(counts)} λ=1e-2…1e-8", dist[-1][1] / dist[-1][2] if monotone else math.inf,
                   to_seli=[d[1] for d in dist], to_etf=[d[2] for d in dist], lam=[d[0] for d in dist],
                   status=[d[3] for d in dist])
    p = Problem(K=4, n=counts, d=4, loss="mse", bias=False)
    t = _imbalance.minority_threshold(p, 0.005, 0.03, minority=[2, 3], method=METHOD, max_steps=STEPS)
    exact = math.sqrt(min(counts)) / sum(counts)
    thr_c.add(f"mse nobias K=4 counts={list(counts)} λW=λH", abs(t.lam - exact) / exact, located=t.lam,
              closed_form=exact, steps=t.steps, ranks=[t.rank_lo, t.rank_hi])
    # CE/LS: the two minority classifiers first merge (rank 3 → 2) at λ_Z = c√n_min/N (`merge_threshold`), then
    # vanish (2 → 1; no closed form: located and certified on both sides).
    brackets = {"ce": ((0.01, 0.015), (0.0185, 0.03)), "ls": ((0.008, 0.0135), (0.015, 0.03))}
    cases = []
    for loss in (() if quick else ("ce", "ls")):  # full battery: two bisections per loss
        p = Problem(K=4, n=counts, d=4, loss=loss, delta=0.1, lam_b=1e-2)
        cases += [(p, lo, hi, what, [2, 3], 1.0) for (lo, hi), what in zip(brackets[loss], ("merge", "vanish"))]
    if not quick:  # the two-cluster setting of Hong & Ling 2023 (arXiv 2309.09725) at their experiments' λ's:
        # K = 10, k_A = 3 classes of 500, 7 of 100; their l‖W‖²·5 + l/20·‖H‖² + 0.01‖b‖² is λ_W = 10l,
        # λ_H = l/10, λ_b = 0.02 here (λ/2 convention), so λ_Z = l and λ_W/λ_H = 100.
        p = Problem(K=10, n=(500,) * 3 + (100,) * 7, d=10, loss="ce", lam_b=0.02)
        star = _imbalance.merge_threshold(p, range(3, 10))
        cases.append((p, 0.9 * star, 1.1 * star, "merge", list(range(3, 10)), 100.0))
    for p, lo, hi, what, S, rho in cases:
        t = _imbalance.minority_threshold(p, lo, hi, minority=S, method=METHOD, max_steps=STEPS, lam_ratio=rho)
        ok, numbers = True, {}
        for side, f in (("below", 0.98), ("above", 1.02)):
            q = p.replace(lam_w=t.lam * f * math.sqrt(rho), lam_h=t.lam * f / math.sqrt(rho))
            sol = ufm.solve(q, method=METHOD, max_steps=STEPS, seed=seed)
            rank = _imbalance._rank(sol.W, sol.H)
            ratio = certificate(q, sol.W, sol.H, sol.b).ratio
            numbers[f"rank_{side}"], numbers[f"ratio_{side}"] = rank, ratio
            numbers[f"spread_{side}"] = _imbalance.minority_spread(sol.W, S)
            ok = ok and abs(ratio - 1) < 1e-6 and rank == (t.rank_lo if side == "below" else t.rank_hi)
        err = 0.0 if ok else math.inf
        if what == "merge":
            exact = _imbalance.merge_threshold(p, S)
            numbers["closed_form"] = exact
            err = max(err, abs(t.lam - exact) / exact)
        extra = f" δ={p.delta:g}" if p.loss == "ls" else ""
        mc_c.add(f"{what}: {p.loss}{extra} K={p.K} d={p.d} counts={list(p.counts)} λb={p.lam_b:g} λW/λH={rho:g}", err, lam_star=t.lam,
                 bracket=list(t.bracket), **numbers)


def _check_local_rates(ctx: _Battery) -> None:
    """The conclusion of Guo et al. 2025 (arXiv 2402.03979) Thm 4.2 — a smaller K·p_t, so label smoothing
    converges faster — checked on the whole regularised problem: the condition number of the full ∇²f on its
    nonzero eigenspace at the closed-form minimiser, and gradient descent's measured rate there (η = 1/λ_max)
    against the Hessian's linear model of the same run. What holds: the rate is the model's, and κ_full of LS
    (δ > 0) exceeds CE's in every case, while K·p_t ranks them the other way."""
    quick, seed = ctx.quick, ctx.seed
    c = ctx.C["lsrate"]
    cases = [(4, 1e-3, (0.0, 0.3))] if quick else [(K, lam, (0.0, 0.1, 0.5, 0.9)) for K in (3, 4, 10)
                                                    for lam in (1e-3, 1e-2)]
    for K, lam, deltas in cases:
        ce = None
        for delta in deltas:
            p = Problem(K=K, n=2, d=K + 1, loss="ls" if delta else "ce", delta=delta, lam_w=lam, lam_h=lam,
                        lam_b=1e-2)
            if predict(p).kappa is None:  # collapsed to zero: no minimiser to converge to
                continue
            r = _escape.local_rate(p, seed=seed)
            err = abs(r.rate_measured - r.rate_model) / (1 - r.rate_model)
            if delta == 0:
                ce = r.kappa_full
            elif ce is not None and r.kappa_full <= ce:
                err = math.inf
            c.add(_label(p), err, kappa_blocks=r.kappa_blocks, kappa_full=r.kappa_full, kappa_full_ce=ce,
                  rate=r.rate_measured, rate_model=r.rate_model, rate_asymptotic=r.rate_predicted,
                  lambda_min=r.lambda_min, lambda_max=r.lambda_max, steps=r.steps)


def _check_rescaled(ctx: _Battery) -> None:
    """Rescaled MSE (α ≠ 1, M ≠ 1), which Zhou et al. 2022 (arXiv 2203.01238, §3.1 'Extension to the rescaled
    MSE') expect to collapse like the vanilla loss: certified solves (d ≥ K) and their geometry — NC1,
    self-duality at its scale √(λ_W/(λ_H n)), NC3, NC4 (the nearest-class-centre rule agrees with the classifier
    and both are exact), and W Wᵀ in span{I, 11ᵀ}: the ETF Π when λ_b is small, a(I − c11ᵀ) otherwise, as for
    α = 1 (App. Thm B.1)."""
    quick, seed = ctx.quick, ctx.seed
    c = ctx.C["alpha"]
    # d ≥ K only: at d = K − 1 the collapsed point can lose to a lower one (errata: the rescaled MSE at d = K − 1)
    shapes = [(4, 3, 6)] if quick else [(4, 3, 4), (4, 3, 6), (6, 2, 8)]
    problems = [Problem(K=K, n=n, d=d, loss="mse", alpha=a, M=M, lam_w=5e-3, lam_h=5e-3, lam_b=lb)
                for K, n, d in shapes for a in (0.5, 3.0) for M in (1.0, 4.0) for lb in (1e-2, 1.0)]
    for p, sol in solve_all(problems, seed, lambda msg: None).items():
        W, H = np.asarray(sol.W), np.asarray(sol.H)
        m = ufm.metrics.all(sol.W, sol.H, sol.b)
        G = W @ W.T
        J = np.ones((p.K, p.K))
        basis = np.stack([np.eye(p.K).ravel(), J.ravel()], axis=1)
        coef = np.linalg.lstsq(basis, G.ravel(), rcond=None)[0]
        gram = float(np.linalg.norm(G.ravel() - basis @ coef) / np.linalg.norm(G))
        dual = math.sqrt(p.lam_w / (p.lam_h * p.n)) * W[np.asarray(p.labels)].T
        errs = {"nc1": m["nc1"], "self_duality": float(np.linalg.norm(H - dual) / np.linalg.norm(H)),
                "nc3": m["nc3"], "nc4": m["nc4"], "misclassified": 1 - m["accuracy"], "gram": gram}
        errs["certificate"] = abs(certificate(p, sol.W, sol.H, sol.b).ratio - 1)
        c.add(_label(p, after=f" α={p.alpha:g}"), max(errs.values()), nc2_w=m["nc2_w"], status=sol.status, **errs)


def _check_census(ctx: _Battery) -> None:
    """Benign landscapes by census (`_census.census`): every end point of 12 starts (origin, padded lower-rank
    minimisers, random at four scales) is the global minimum or a strict saddle. Edges: K = 2, n = 1, FL at large
    γ (γ = 8 at K = 2, γ = 6 at K = 6), and λ at 0.95× and 1.05× each collapse-to-zero threshold (MSE:
    λ_Wλ_H = 1/(NK), Zhou et al. 2022, arXiv 2203.01238, Thm 3.1; LS: √(KN)λ_Z + δ = 1, Guo et al. 2025, arXiv
    2402.03979, Thm 4.1), where the global minimum moves to or away from the origin. Quick: K = 2 CE only."""
    quick, seed = ctx.quick, ctx.seed
    cen_c = ctx.C["census"]
    edges = [dict(loss="ce", K=2, n=1, d=3)]
    if not quick:
        mse_thr = 1.0 / 3.0  # K = 3, n = 1: λ_W = λ_H = λ with λ² = 1/(NK) = 1/9
        ls_thr = 0.5 / 3.0  # K = 3, n = 1, δ = 0.5: λ_Z = (1 − δ)/√(KN)
        edges += [dict(loss="fl", gamma=8.0, K=2, n=1, d=3), dict(loss="fl", gamma=6.0, K=6, n=1, d=7)]
        edges += [dict(loss="mse", bias=False, K=3, n=1, d=4, lam_w=r * mse_thr, lam_h=r * mse_thr) for r in (0.95, 1.05)]
        edges += [dict(loss="ls", delta=0.5, K=3, n=1, d=4, lam_w=r * ls_thr, lam_h=r * ls_thr) for r in (0.95, 1.05)]
        edges += [dict(loss="mse", K=4, n=2, d=2, lam_b=1.0)]  # with the full-rank all-ones saddle (d < K)
        edges += [dict(loss="mse", K=3, n=2, d=4), dict(loss="ce", K=4, n=2, d=5), dict(loss="ls", delta=0.2, K=3, n=2,
                  d=4), dict(loss="fl", gamma=3.0, K=4, n=1, d=5), dict(loss="ce", K=4, n=(6, 6, 2, 2), d=4)]
    for kw in edges:
        p = Problem(**{"lam_w": 1e-2, "lam_h": 1e-2, **kw})
        c = _census.census(p, starts=12, seed=seed)
        bad = [pt for pt in c.points if pt.kind not in ("global minimum", "strict saddle")]
        cen_c.add(_label(p, after='' if p.balanced else f' counts={list(p.counts)}'), math.inf if bad else 0.0,
                  kinds=[pt.kind for pt in c.points], gaps=[pt.gap for pt in c.points], f_star_source=c.f_star_source)


def _check_deep(ctx: _Battery) -> None:
    """The deep linear UFM with bias-free MSE (claims deep_lin, deep_thr, deep_l1, deep_imb): the closed form
    `deep_linear_mse` against Newton solves from N(0, 1) starts (quick: K = 3, L = 2, per-layer λ's; full: K ∈ {2,
    3, 4, 6}, L ∈ {2, 3, 4}, n ∈ {1, 3}, equal and per-layer λ's); at 0.95× and 1.05× the collapse threshold λ* the global minimum is the nonzero
    point and the origin (f* = M²/2), a small start reaching the origin above λ*; with class counts (Dang et al.
    2023) at 0.5×, 0.95× and 1.05× the smallest class's λ*: the minimiser's value and gradient, no solve below it
    (and the best of 4 equal to it at 0.5×), the smallest class collapsed exactly above λ*; at L = 1 the closed
    form is the one-layer one (`predict`, no solve)."""
    lin_c, thr_c, l1_c = (ctx.C[k] for k in ("deep_lin", "deep_thr", "deep_l1"))  # deep_imb: below
    grid = [(3, 2, 2, (1e-3, 3e-3))] if ctx.quick else \
        [(K, L, n, lam) for K in (2, 3, 4, 6) for L in (2, 3, 4) for n in (1, 3)
         for lam in (2e-3, (1e-3, 3e-3, 2e-3, 5e-4)[:L])]
    for K, L, n, lam in grid:
        p = Problem(K=K, n=n, d=K + 1, loss="mse", bias=False, depth=L, lam_w=lam, lam_h=2e-3)
        cf = _deep.deep_linear_mse(p)
        sol = ufm.solve(p, method="newton", init_scale=1.0, max_steps=STEPS)
        lin_c.add(_label(p), abs(sol.objective - cf.objective) / cf.objective, objective=sol.objective,
                  closed_form=cf.objective, status=sol.status, rank=cf.rank)
    for L in ((2,) if ctx.quick else (2, 3)):
        base = Problem(K=3, n=2, d=4, loss="mse", bias=False, depth=L)
        lam = _deep.deep_linear_mse_threshold(base)
        for r in (0.95, 1.05):
            p = base.replace(lam_w=r * lam, lam_h=r * lam)
            cf = _deep.deep_linear_mse(p)
            start = 1.0 if r < 1 else 1e-2  # above λ*, N(0, 1) starts stop at a non-global aligned point
            sol = ufm.solve(p, method="newton", init_scale=start, max_steps=STEPS)
            wrong_side = cf.collapsed != (r > 1)
            thr_c.add(_label(p, after=f" ({r}·λ*)"), abs(sol.objective - cf.objective) / cf.objective +
                      (math.inf if wrong_side else 0.0), objective=sol.objective, closed_form=cf.objective,
                      collapsed=cf.collapsed, beta=cf.beta, beta_star=cf.beta_star)
    imb_c = ctx.C["deep_imb"]
    cases = [((6, 3, 1), 2, (0.5, 1.05))] if ctx.quick else \
        [(counts, L, (0.5, 0.95, 1.05)) for counts in ((6, 3, 1), (5, 5, 2, 1)) for L in (1, 2, 3)]
    for counts, L, ratios in cases:
        base = Problem(K=len(counts), n=counts, d=len(counts) + 1, loss="mse", bias=False, depth=L)
        lam = _deep.deep_linear_mse_threshold(base)
        for r in ratios:
            p = base.replace(lam_w=r * lam, lam_h=r * lam)
            cf = _deep.deep_linear_mse(p)
            obj = ufm.objective(p)
            point = _deep.deep_linear_mse_minimizer(p)
            f_pt = float(obj.f(point))
            grad = max(float(np.abs(np.asarray(g)).max()) for g in ufm.Layout.of(p).free(obj.grad(point)))
            best = min(ufm.solve(p, method="newton", seed=s, init_scale=1.0, max_steps=STEPS).objective
                       for s in range(4))
            order = sorted(range(p.K), key=lambda k: -p.counts[k])
            wrong = (cf.s_k[order[-1]] == 0) != (r > 1) or cf.s_k[order[0]] <= 0
            err = abs(f_pt - cf.objective) / cf.objective + grad / cf.objective + \
                max(0.0, (cf.objective - best) / cf.objective) + \
                (abs(best - cf.objective) / cf.objective if r == 0.5 else 0.0) + (math.inf if wrong else 0.0)
            imb_c.add(_label(p, after=f" ({r}·λ*_min)"), err, closed_form=cf.objective,
                      at_minimiser=f_pt, lowest_solve=best, s_k=list(cf.s_k), beta_k=list(cf.beta_k),
                      beta_star=cf.beta_star)
    for kw in ({"d": 6}, {"d": 2}, {"d": 3, "M": 2.0}, {"d": 5, "lam_w": 0.3, "lam_h": 0.4}):
        p = Problem(**{"K": 4, "n": 3, "loss": "mse", "bias": False, "lam_w": 2e-3, "lam_h": 3e-3, **kw})
        f1, f0 = _deep.deep_linear_mse(p).objective, predict(p).objective
        l1_c.add(_label(p), abs(f1 - f0) / f0, quasi_norm_route=f1, one_layer=f0)
    _check_dnc(ctx)


def _check_dnc(ctx: _Battery) -> None:
    """Deep neural collapse in the ReLU MSE DUFM (claims dnc_val, dnc_opt, dnc_low, dnc_graph) and in deep linear
    CE (deep_ce: the ETF point's value, stationarity and curvature, and censuses on both sides of L = 2); the DNC
    point's value and frames; the complete-graph low-rank point (`low_rank`) against its closed form and DNC; censuses (`deep_census`, 8 starts, seed 0) that find nothing below DNC at K = 2 and at L = 2 (full
    battery) and a point below it at K = 4, L = 4, λ = 2e-3 (quick and full)."""
    val_c, opt_c, low_c, graph_c, ce_c = (ctx.C[k] for k in ("dnc_val", "dnc_opt", "dnc_low", "dnc_graph",
                                                                "deep_ce"))
    for K, L in (((4, 3),) if ctx.quick else ((4, 2), (4, 3), (6, 4))):
        p = Problem(K=K, n=1, d=K, loss="ce", bias=False, depth=L, lam_w=1e-3, lam_h=1e-3)
        d = _deep.dnc(p)
        obj = ufm.objective(p)
        x = np.asarray(obj.pack((d.W, d.H, d.b)))
        f = float(obj.f_x(x))
        grad = float(np.linalg.norm(obj.grad_x(x))) / abs(f)
        curv = ufm.curvature(p, d.W, d.H, d.b, seed=ctx.seed)
        c = _deep.deep_census(p, starts=8, seed=ctx.seed)
        side = max(-c.margin, 0.0) if L == 2 else (0.0 if c.below_dnc else math.inf)
        ce_c.add(_label(p), abs(f - d.objective) / d.objective + grad + side +
                 (math.inf if curv.negative else 0.0), dnc=d.objective, lowest=c.lowest, margin=c.margin,
                 first_below=c.first_below, verdict=curv.verdict, theta_1=curv.lambda_min,
                 ranks_of_lowest=min(c.runs, key=lambda r: r.objective).ranks)
    relu = {"n": 1, "loss": "mse", "bias": False, "activation": "relu"}
    for K, L in (((3, 3),) if ctx.quick else ((2, 3), (3, 3), (4, 2), (4, 4))):
        p = Problem(K=K, d=K, depth=L, lam_w=3e-3, lam_h=3e-3, **relu)
        d = _deep.dnc(p)
        f = float(ufm.objective(p).f((d.W, d.H, d.b)))
        frames = max(r["orthogonal_gap"] for r in ufm.metrics.layers(d.W, d.H, d.b, activation="relu"))
        val_c.add(_label(p), abs(f - d.objective) / d.objective + frames, objective=f, dnc=d.objective,
                  orthogonal_gap=frames)
    if not ctx.quick:
        for K, L in ((2, 3), (2, 4), (3, 2), (4, 2)):
            p = Problem(K=K, d=K, depth=L, lam_w=3e-3, lam_h=3e-3, **relu)
            c = _deep.deep_census(p, starts=8, seed=ctx.seed)
            opt_c.add(_label(p), max(-c.margin, 0.0), lowest=c.lowest, dnc=c.f_dnc, margin=c.margin,
                      starts=len(c.runs))
    for K, L in (((10, 4),) if ctx.quick else ((6, 2), (6, 3), (6, 4), (10, 2), (10, 3), (10, 4), (10, 5))):
        p = Problem(K=K, d=K, depth=L, lam_w=1e-3, lam_h=1e-3, **relu)
        lr = _deep.low_rank(p)
        f = float(ufm.objective(p).f((lr.W, lr.H, lr.b)))
        ranks = [r["rank"] for r in ufm.metrics.layers(lr.W, lr.H, lr.b, activation="relu")]
        wrong = (lr.objective < lr.f_dnc) != (lr.ratio < 1) or ranks[:-1] != [lr.m] * (L - 1)
        graph_c.add(_label(p), abs(f - lr.objective) / lr.objective + (math.inf if wrong else 0.0), objective=f,
                    closed_form=lr.objective, dnc=lr.f_dnc, ratio=lr.ratio, ranks=ranks)
    p = Problem(K=4, d=4, depth=4, lam_w=2e-3, lam_h=2e-3, **relu)
    c = _deep.deep_census(p, starts=8, seed=0)
    low_c.add(_label(p), 0.0 if c.below_dnc else math.inf, lowest=c.lowest, dnc=c.f_dnc, margin=c.margin,
              first_below=c.first_below, starts=len(c.runs))


FAMILIES: tuple[Family, ...] = (
    Family("solutions", "checking minima, minimizers, biases, NC metrics and certificates", _check_solutions),
    Family("scale", "checking the 1-D scale, ξ(ρ) and the lower bounds φ", _check_scale),
    Family("hessian", "checking Hessian spectra and condition numbers", _check_hessians),
    Family("rescaled", "rescaled MSE: certified solves and their collapse geometry", _check_rescaled),
    Family("rates", "gradient descent near CE/LS minimisers: the full Hessian against K·p_t", _check_local_rates),
    Family("saddles", "constructing strict saddles and escaping from them", _check_saddles),
    Family("fl", "computing the sharp FL convexity thresholds", _check_fl),
    Family("imbalance", "checking the imbalanced UFM: MSE closed form, exact reduction, minority-collapse thresholds",
           _check_imbalance),
    Family("census", "census of critical points (benign landscapes: edges, thresholds, imbalance)", _check_census),
    Family("deep", "the deep UFM: the deep linear closed form and threshold, deep neural collapse under ReLU",
           _check_deep),
)
assert {f.name for f in FAMILIES} == {c.family for c in CLAIMS}, "every claim family has one check"
# The order in which the families and the errata start on the battery's threads: the longest first (measured on
# the quick battery, 2 cores), so that the last to finish is a short one. Any order gives the same report.
_START = ("deep", "solutions", "errata", "saddles", "imbalance", "census", "hessian", "fl", "rates", "scale",
          "rescaled")
assert sorted(_START) == sorted([f.name for f in FAMILIES] + ["errata"]), "every family has a start position"
