"""Section 4 of `ufm bench`: peak resident memory of a solve against the bytes of its arrays, measured in a
fresh process (Linux: the peak is reset with /proc/self/clear_refs after compiling, so it is the solve's own)."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = r"""
import json, sys
import ufm
K, n, d, method, dtype = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return None

p = ufm.Problem(K=K, n=n, d=d, loss="ce", dtype=dtype)
base = status("VmRSS")
steps = {"gd": 100, "newton": 10}.get(method)  # memory is per-iteration state: a few steps show the peak
first = ufm.solve(p, method=method, max_steps=steps)  # compiles and runs
after_compile = status("VmHWM")
with open("/proc/self/clear_refs", "w") as fh:  # reset the peak: what follows is the solve alone
    fh.write("5")
before = status("VmRSS")
s = ufm.solve(p, method=method, max_steps=steps)
peak = status("VmHWM")
itemsize = 8 if dtype == "float64" else 4
free = K * d + d * K * n + K
print(json.dumps({"K": K, "n": n, "d": d, "method": method, "dtype": dtype, "steps": s.steps,
                  "array_bytes": free * itemsize, "rss_before": before, "peak": peak,
                  "solve_peak_bytes": peak - before, "peak_with_compile_bytes": after_compile - base}))
"""


def measure(K: int, n: int, d: int, method: str, dtype: str = "float64") -> dict:
    if not sys.platform.startswith("linux"):
        return {"method": method, "error": "needs Linux /proc to reset and read the peak resident set"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(K), str(n), str(d), method, dtype],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        return {"method": method, "error": out.stderr.strip().splitlines()[-1] if out.stderr else "failed"}
    r = json.loads(out.stdout.strip().splitlines()[-1])
    r["ratio"] = r["solve_peak_bytes"] / r["array_bytes"]
    return r


# Vectors of the free variables x each method holds at once (beyond the objective's own temporaries):
# L-BFGS keeps `memory` pairs (s, y); Newton-CG a handful of CG vectors; GD the iterate and gradient.
HELD = {"auto": "L-BFGS history 2×20 vectors, then Newton-CG", "newton": "~8 CG/trust-region vectors",
        "lbfgs": "2×20 history vectors + line search", "gd": "iterate, gradient, optax state"}


def run(quick: bool = False) -> dict:
    K, n, d = (100, 50, 128) if quick else (100, 100, 512)
    rows = [measure(K, n, d, m) for m in ("auto", "newton", "gd")]
    return {"K": K, "n": n, "d": d, "dtype": "float64", "rows": rows}


def table(r: dict) -> list[str]:
    out = [f"4. Memory: peak resident memory of one solve vs the bytes of x = (W, H, b) "
           f"(CE, K={r['K']}, n={r['n']}, d={r['d']}, {r['dtype']})"]
    for row in r["rows"]:
        if "error" in row:
            out.append(f"   {row['method']:7s} not measured: {row['error']}")
            continue
        out.append(f"   {row['method']:7s} x = {row['array_bytes'] / 2**20:7.1f} MiB, solve peak +"
                   f"{row['solve_peak_bytes'] / 2**20:8.1f} MiB = {row['ratio']:5.1f}× x  "
                   f"(with compile +{row['peak_with_compile_bytes'] / 2**20:.0f} MiB; {HELD[row['method']]})")
    return out
