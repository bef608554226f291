"""Section 4 of `ufm bench`: memory of a solve against the bytes of its arrays x = (W, H, b), in a fresh process:
the exact buffers of the compiled solve (XLA's buffer assignment: temporaries + arguments + outputs, device-
agnostic) and the process's peak resident memory (Linux /proc: growth from import to the end of the solve,
compilation included; the allocator keeps freed memory, so the RSS of a second solve says little)."""

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
ma = ufm.solve_memory(p, method=method, max_steps=steps)  # the executable of the solves above, from the cache
xla = ma["total"]
itemsize = 8 if dtype == "float64" else 4
free = K * d + d * K * n + K
print(json.dumps({"K": K, "n": n, "d": d, "method": method, "dtype": dtype, "steps": s.steps,
                  "array_bytes": free * itemsize, "rss_before": before, "peak": peak, "xla_bytes": xla,
                  "xla_temp_bytes": ma["temp"],
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
    r["ratio"] = r["xla_bytes"] / r["array_bytes"]
    return r


# Vectors of the free variables x each method holds at once (beyond the objective's own temporaries):
# L-BFGS keeps `memory` pairs (s, y); Newton-CG a handful of CG vectors; GD the iterate and gradient.
HELD = {"auto": "float64: Newton-CG from the start", "newton": "CG and trust-region vectors",
        "lbfgs": "2×20 history vectors + line search", "gd": "iterate, gradient, optax state"}


def run(quick: bool = False) -> dict:
    K, n, d = (100, 50, 128) if quick else (100, 100, 512)
    rows = [measure(K, n, d, m) for m in ("auto", "newton", "gd")]
    return {"K": K, "n": n, "d": d, "dtype": "float64", "rows": rows}


def table(r: dict) -> list[str]:
    out = [f"4. Memory: buffers of one compiled solve vs the bytes of x = (W, H, b) "
           f"(CE, K={r['K']}, n={r['n']}, d={r['d']}, {r['dtype']})"]
    for row in r["rows"]:
        if "error" in row:
            out.append(f"   {row['method']:7s} not measured: {row['error']}")
            continue
        out.append(f"   {row['method']:7s} x = {row['array_bytes'] / 2**20:6.1f} MiB; XLA buffers "
                   f"{row['xla_bytes'] / 2**20:7.1f} MiB = {row['ratio']:5.1f}× x ({HELD[row['method']]}); process peak "
                   f"+{row['peak_with_compile_bytes'] / 2**20:.0f} MiB over import, compile included")
    return out
