"""Section 10 of `ufm bench`: deep UFM solves (`ufm.Problem(depth=L)`), with a plain PyTorch training loop on the
same problem from the same start point beside them.

Two deep linear CE problems (bias, λ = 5e-4, λ_b = 1e-2, method auto, from N(0, 1/d) entries: each layer then keeps
the scale of its input, neither the origin's basin nor exploding logits): K = 10, L = 4,
d and widths 10, n = 50 (N = 500); and K = 100, L = 3, d and widths 128, n = 50 (N = 5 000). ufm: the first call
(compile included; the persistent cache is off inside `ufm bench`), a second call, the compilations, the path
(the class-mean reduction is exact for deep linear CE). PyTorch (the optional `bench` extra): full batch, float32,
Adam (lr 1e-2), the full problem from ufm's start point, until its objective is within 1e-6 (relative) of ufm's
or the time budget ends. Quick: the K = 10 problem only, a 20 s budget.
"""

from __future__ import annotations

import time

import ufm

from . import _torch_loop

PROBLEMS = {
    "K=10 L=4 widths 10 N=500": dict(K=10, n=50, d=10, depth=4, loss="ce", lam_w=5e-4, lam_h=5e-4),
    "K=100 L=3 widths 128 N=5000": dict(K=100, n=50, d=128, depth=3, loss="ce", lam_w=5e-4, lam_h=5e-4),
}


def run(quick: bool = False) -> dict:
    rows = []
    for name, kw in list(PROBLEMS.items())[:1 if quick else None]:
        p = ufm.Problem(**kw)
        scale = p.d ** -0.5
        with ufm.compilations() as c:
            t0 = time.perf_counter()
            sol = ufm.solve(p, init_scale=scale)
            first = time.perf_counter() - t0
        t0 = time.perf_counter()
        ufm.solve(p, init_scale=scale)
        second = time.perf_counter() - t0
        row = {"problem": name, "variables": ufm.Layout.of(p).size, "first_seconds": first, "second_seconds": second,
               "compilations": c.count, "compile_seconds": c.seconds, "status": str(sol.status), "path": sol.path,
               "objective": sol.objective, "rel_grad_norm": sol.rel_grad_norm}
        if _torch_loop.available():
            init = ufm.Layout.of(p).unpack(ufm.initial_point(p, seed=0, init_scale=scale))
            r = _torch_loop.run_deep(p, init, sol.objective, seconds=20.0 if quick else 120.0)
            row["torch"] = {"reached": r.reached, "steps": r.steps, "seconds": r.seconds, "gap": r.gap,
                            "device": r.device}
            row["ratio"] = None if r.gap < -1e-9 else r.seconds / second
            row["ratio_is_lower_bound"] = not r.reached
            row["below_ufm"] = r.gap < -1e-9  # the loop found a lower objective: ufm's point is not global
        rows.append(row)
    return {"rows": rows}


def table(r: dict) -> list[str]:
    lines = ["10. Deep UFM solves (deep linear CE, ufm.solve auto from N(0, 1/d)) and a PyTorch Adam loop from the same start"]
    for row in r["rows"]:
        lines.append(f"   {row['problem']} ({row['variables']} variables): {row['first_seconds']:.2f} s first call "
                     f"({row['compilations']} compilations, {row['compile_seconds']:.1f} s), {row['second_seconds']:.3f} s "
                     f"again; {row['status']}, path {row['path']}, f = {row['objective']:.10g}")
        t = row.get("torch")
        if t and t["gap"] < -1e-9:
            lines.append(f"      PyTorch Adam went BELOW ufm's f by {-t['gap']:.1e} (relative) in {t['seconds']:.1f} s, "
                         f"{t['steps']} steps: ufm's end point is a critical point that is not the global minimum "
                         "(no speed ratio: different end points)")
        elif t:
            what = "reached" if t["reached"] else f"did not reach (gap {t['gap']:.1e} at the end)"
            lines.append(f"      PyTorch Adam {what} 1e-6 of ufm's f in {t['seconds']:.1f} s, {t['steps']} steps "
                         f"({t['device']}): {'≥ ' if row['ratio_is_lower_bound'] else ''}{row['ratio']:.0f}× ufm's "
                         "second call")
        else:
            lines.append("      PyTorch: not installed (pip install -e '.[bench]')")
    return lines
