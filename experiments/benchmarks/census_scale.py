"""Section 9 of `ufm bench`: `theory.census` at scale, bounded and repeatable.

The K = 100 problem of the census issue — focal loss γ = 5, n = 1, d = 101, no bias, λ_W = λ_H = 1.2/99 (20 200
variables), 8 starts — run twice in one process (the first run compiles: the persistent cache is off inside
`ufm bench`): seconds, Hessian-vector products of the second-order test (`ufm.curvature`), whether the two runs
agree in every point's kind, objective, θ₁ and product count, and whether the origin is still found as the
non-global local minimum it is. Beside it the K = 4 focal-loss census with 24 starts (`ufm census --loss fl
--gamma 5 --K 4 --d 5`). Quick: the same two problems (the K = 100 census takes about 12 s on 2 cores).
"""

from __future__ import annotations

import time

import ufm
from ufm import theory

PROBLEMS = {
    "K=100 FL γ=5 n=1 d=101 no bias λ=1.2/99, 8 starts": (
        dict(K=100, n=1, d=101, loss="fl", gamma=5.0, bias=False, lam_w=1.2 / 99, lam_h=1.2 / 99), 8),
    "K=4 FL γ=5 n=3 d=5, 24 starts": (dict(K=4, n=3, d=5, loss="fl", gamma=5.0), 24),
}


def _fingerprint(c) -> list:
    return [(p.kind, p.objective, p.lambda_min, None if p.curvature is None else p.curvature.hvps) for p in c.points]


def run(quick: bool = False) -> dict:
    rows = []
    for name, (kw, starts) in PROBLEMS.items():
        p = ufm.Problem(**kw)
        runs = []
        for _ in range(2):
            with ufm.compilations() as comp:
                t0 = time.perf_counter()
                c = theory.census(p, starts=starts, seed=0)
                runs.append((time.perf_counter() - t0, c, comp.count))
        (s1, c1, n1), (s2, c2, _) = runs
        rows.append({"problem": name, "starts": c1.starts, "budget": c1.budget, "seconds_first": s1,
                     "seconds_second": s2, "compilations": n1, "hvps": c1.hvps, "hvps_second": c2.hvps,
                     "identical": _fingerprint(c1) == _fingerprint(c2), "points": len(c1.points),
                     "kinds": [q.kind for q in c1.points], "origin_local_minimum": any(q.kind == "origin"
                                                                                     for q in c1.points),
                     "undecided": len(c1.undecided)})
    return {"rows": rows}


def table(r: dict) -> list[str]:
    lines = ["9. theory.census at scale (second-order test: ufm.curvature, budget per point; two runs, same seed)"]
    for row in r["rows"]:
        kinds = ", ".join(f"{k} ×{row['kinds'].count(k)}" for k in dict.fromkeys(row["kinds"]))
        lines.append(f"   {row['problem']}: {row['seconds_first']:.1f} s (compile included, {row['compilations']} "
                     f"compilations), again {row['seconds_second']:.1f} s; {row['hvps']} Hessian-vector products "
                     f"(budget {row['budget']}/point), runs identical: {'yes' if row['identical'] else 'NO'}; "
                     f"{kinds}")
    return lines
