"""Section 6 of `ufm bench`: neural-collapse metrics of network-sized features (`ufm.metrics.collapse` in memory
and the streamed `Accumulator` in batches of 4 096), float32 features accumulated in float64, each shape in a
fresh process: seconds (first call with its compile, then calls with new labellings) and the growth of the
process's peak resident memory over the loaded data."""

from __future__ import annotations

import json
import subprocess
import sys

_SCRIPT = r"""
import json, sys, time
import numpy as np
K, d, N, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

rng = np.random.default_rng(0)
y = rng.integers(0, K, N)
centres = rng.standard_normal((K, d)).astype(np.float32)
X = centres[y] + np.float32(0.5) * rng.standard_normal((N, d), dtype=np.float32)
W, b = centres + 0.1 * rng.standard_normal((K, d)), np.zeros(K)
import jax, ufm
compiles = []
jax.monitoring.register_event_duration_secs_listener(
    lambda event, *a, **k: compiles.append(event) if "backend_compile" in event else None)
with open("/proc/self/clear_refs", "w") as fh:  # the peak from here on: the measurement, not the data
    fh.write("5")
base = status("VmRSS")

def measure(labels):
    if mode == "memory":
        return ufm.metrics.collapse(X, labels, W, b)
    acc = ufm.metrics.Accumulator(K, d)
    for lo in range(0, N, 4096):
        acc = acc.update(X[lo:lo + 4096], labels[lo:lo + 4096])
    dec = acc.decisions()
    for lo in range(0, N, 4096):
        dec = dec.update(X[lo:lo + 4096], labels[lo:lo + 4096], W, b)
    return acc.result(W, b, decisions=dec)

seconds = []
for rep in range(3):
    labels = y if rep == 0 else rng.permutation(y)
    n0 = len(compiles)
    t0 = time.perf_counter()
    rec = measure(labels)
    seconds.append(time.perf_counter() - t0)
    if rep == 0:
        first_compiles = len(compiles) - n0
later_compiles = len(compiles) - first_compiles
print(json.dumps({"K": K, "d": d, "N": N, "mode": mode, "first_seconds": seconds[0],
                  "relabelled_seconds": min(seconds[1:]), "first_compiles": first_compiles,
                  "relabelled_compiles": later_compiles, "peak_growth_bytes": status("VmHWM") - base,
                  "data_bytes": X.nbytes, "nc1": rec.nc1}))
"""


def measure(K: int, d: int, N: int, mode: str) -> dict:
    if not sys.platform.startswith("linux"):
        return {"K": K, "d": d, "N": N, "mode": mode, "error": "needs Linux /proc to read the peak resident set"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT, str(K), str(d), str(N), mode], capture_output=True,
                         text=True, check=False)
    if out.returncode != 0:
        last = out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed"
        return {"K": K, "d": d, "N": N, "mode": mode, "error": last}
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(quick: bool = False) -> dict:
    if quick:
        shapes = [(10, 64, 8192, "memory"), (10, 64, 8192, "stream")]
    else:
        shapes = [(10, 512, 50_000, "memory"), (10, 512, 50_000, "stream"), (100, 512, 50_000, "memory"),
                  (100, 512, 50_000, "stream"), (10, 512, 500_000, "stream")]
    return {"rows": [measure(*s) for s in shapes]}


def table(r: dict) -> list[str]:
    out = ["6. NC metrics of network-sized float32 features (ufm.metrics.collapse in memory; Accumulator streamed "
           "in batches of 4096; two passes)"]
    for row in r["rows"]:
        head = f"   K={row['K']:<3d} d={row['d']} N={row['N']:<7d} {row['mode']:6s}"
        if "error" in row:
            out.append(f"{head} not measured: {row['error']}")
            continue
        out.append(f"{head} first {row['first_seconds']:.2f} s ({row['first_compiles']} compiles), new labels "
                   f"{row['relabelled_seconds']:.2f} s ({row['relabelled_compiles']} compiles); peak memory "
                   f"+{row['peak_growth_bytes'] / 2**20:.0f} MiB (data {row['data_bytes'] / 2**20:.0f} MiB)")
    return out
