"""Section 5 of `ufm bench`: whole-process wall time of `ufm solve` on the default problem (cold: empty
compilation cache; warm: the persistent cache that the command line turns on, filled by the cold run), the import
time of ufm with ufm.theory (which loads JAX), and
the cold compile time per shape of each method (in a child process with the cache off)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

_COMPILE = r"""
import json, sys
import ufm
shapes = json.loads(sys.argv[1])
out = {}
for K, n, d in shapes:
    p = ufm.Problem(K=K, n=n, d=d)
    out[f"K={K} n={n} d={d}"] = {m: ufm.solve(p, method=m, max_steps=None if m == "auto" else 7).compile_seconds
                                 for m in ("auto", "newton", "lbfgs", "gd")}
print(json.dumps(out))
"""


def _process(args, env=None) -> tuple[float, dict | None]:
    t0 = time.perf_counter()
    out = subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False,
                         env=None if env is None else {**os.environ, **env})
    seconds = time.perf_counter() - t0
    try:
        return seconds, json.loads(out.stdout)
    except json.JSONDecodeError:
        return seconds, None


def run(quick: bool = False) -> dict:
    reps = 1 if quick else 3
    imports = sorted(_process(["-c", "import ufm.theory"])[0] for _ in range(reps))
    with tempfile.TemporaryDirectory() as cache:
        env = {"UFM_CACHE_DIR": cache}
        cold_s, cold = _process(["-m", "ufm", "solve", "--json"], env)
        warm = [_process(["-m", "ufm", "solve", "--json"], env) for _ in range(reps)]
    warm_s = sorted(s for s, _ in warm)
    shapes = [(7, 13, 9)] if quick else [(7, 13, 9), (10, 50, 32), (100, 50, 128)]
    _, per_shape = _process(["-c", _COMPILE, json.dumps(shapes)], {"UFM_CACHE_DIR": "off"})
    return {"ufm_solve_cold_seconds": cold_s, "ufm_solve_warm_seconds": warm_s[len(warm_s) // 2],
            "import_seconds": imports[len(imports) // 2],
            "ufm_solve_compile_seconds_cold": (cold or {}).get("compile_seconds"),
            "ufm_solve_compile_seconds_warm": (warm[0][1] or {}).get("compile_seconds"),
            "ufm_solve_solve_seconds": (cold or {}).get("seconds"),
            "compile_seconds_per_shape": per_shape or {}, "repeats": reps}


def table(r: dict) -> list[str]:
    out = [f"5. Start-up: `ufm solve` (default problem) as a whole process: {r['ufm_solve_cold_seconds']:.2f} s with an "
           f"empty compilation cache (compile {r['ufm_solve_compile_seconds_cold']:.2f} s), "
           f"{r['ufm_solve_warm_seconds']:.2f} s with the persistent cache (compile {r['ufm_solve_compile_seconds_warm']:.2f} s); "
           f"import ufm+theory {r['import_seconds']:.2f} s, solve {r['ufm_solve_solve_seconds']:.3f} s",
           "   cold compile seconds per shape (cache off): " + "; ".join(
               f"{shape}: " + ", ".join(f"{m} {s:.2f}" for m, s in c.items())
               for shape, c in r["compile_seconds_per_shape"].items())]
    return out
