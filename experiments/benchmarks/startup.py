"""Section 5 of `ufm bench`: whole-process wall time of `ufm solve` on the default problem, the import time,
and the compile time per shape of each method."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import ufm


def _process(args) -> tuple[float, dict | None]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    try:
        return seconds, json.loads(out.stdout)
    except json.JSONDecodeError:
        return seconds, None


def run(quick: bool = False) -> dict:
    reps = 1 if quick else 3
    imports = sorted(_process(["-c", "import ufm, theory"])[0] for _ in range(reps))
    solves = [_process(["-m", "ufm", "solve", "--json"]) for _ in range(reps)]
    wall = sorted(s for s, _ in solves)
    rec = solves[0][1] or {}
    compile_per_method = {}
    # A shape no earlier section compiled, so each method compiles from scratch in this process.
    shapes = [(7, 13, 9)] if quick else [(7, 13, 9), (10, 50, 32), (100, 50, 128)]
    for K, n, d in shapes:
        p = ufm.Problem(K=K, n=n, d=d)
        compile_per_method[f"K={K} n={n} d={d}"] = {
            m: ufm.solve(p, method=m, max_steps=7 if m != "auto" else None).compile_seconds
            for m in ("auto", "newton", "lbfgs", "gd")}
    return {"ufm_solve_wall_seconds": wall[len(wall) // 2], "import_seconds": imports[len(imports) // 2],
            "ufm_solve_compile_seconds": rec.get("compile_seconds"), "ufm_solve_solve_seconds": rec.get("seconds"),
            "compile_seconds_per_shape": compile_per_method, "repeats": reps}


def table(r: dict) -> list[str]:
    out = [f"5. Start-up: `ufm solve` (default problem) takes {r['ufm_solve_wall_seconds']:.2f} s as a whole process "
           f"(import ufm+theory {r['import_seconds']:.2f} s, compile {r['ufm_solve_compile_seconds']:.2f} s, "
           f"solve {r['ufm_solve_solve_seconds']:.3f} s; median of {r['repeats']})",
           "   compile seconds per shape: " + "; ".join(
               f"{shape}: " + ", ".join(f"{m} {s:.2f}" for m, s in c.items())
               for shape, c in r["compile_seconds_per_shape"].items())]
    return out
