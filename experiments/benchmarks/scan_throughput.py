"""Section 7 of `ufm bench`: a whole `ufm scan` over (λ_W, λ_H, n, d) at K = 10, configurations per second.

The scan engine end to end — solve (reduced where exact), lift, second-order test, metrics, theory prediction and
the full-dimension certificate of every row, written to a fresh SQLite store — with compilation included (the
persistent cache is off inside `ufm bench`). Full: λ_W, λ_H on a 10 × 10 log grid in [1e-4, 1e-2], n ∈ {5, 50,
500}, d ∈ {16, 64, 256}: 900 configurations (CE). Quick: 3 × 3 λ's, n ∈ {5, 50}, d ∈ {16, 64}: 36.
"""

from __future__ import annotations

import os
import tempfile
import time

import jax

import ufm

from .. import scan

# The same 900-configuration scan measured on this project's machine (2 cores), as a whole `ufm scan run`
# process with a warm cache: before and after the 2026-12-02 changes (README, Performance).
PREVIOUS = {"2026-12-02, before": 900 / 114.0, "2026-12-02, metrics per class": 900 / 35.0}


def _spec(quick: bool) -> str:
    side, ns, ds = (3, "[5, 50]", "[16, 64]") if quick else (10, "[5, 50, 500]", "[16, 64, 256]")
    return (f'[solver]\nmethod = "auto"\n\n[[group]]\nname = "ce"\nloss = "ce"\nK = 10\nn = {ns}\nd = {ds}\n'
            f"lam_w = {{logspace = [1e-4, 1e-2, {side}]}}\nlam_h = {{logspace = [1e-4, 1e-2, {side}]}}\n")


def run(quick: bool = False) -> dict:
    spec = scan.parse(_spec(quick))
    total = len(spec.jobs())
    # Compilation included whatever ran before in this process (another section compiles the same K = 10
    # class-mean solve program: run after it, the scan measured 217/s instead of 166/s).
    ufm.clear_caches()
    jax.clear_caches()
    with tempfile.TemporaryDirectory() as tmp, ufm.compilations() as c:
        t0 = time.perf_counter()
        summary = scan.run(spec, os.path.join(tmp, "bench.db"), progress=False)
        seconds = time.perf_counter() - t0
    return {"configurations": total, "done": summary["done"], "failed": summary["failed"], "seconds": seconds,
            "configs_per_second": total / seconds, "compilations": c.count, "compile_seconds": c.seconds,
            "previous": PREVIOUS}


def table(r: dict) -> list[str]:
    prev = "; ".join(f"{k}: {v:.1f}/s" for k, v in r["previous"].items())
    return [f"7. Scan at K = 10 over (λ_W, λ_H, n, d): {r['configurations']} configurations in {r['seconds']:.1f} s = "
            f"{r['configs_per_second']:.1f}/s, compile included ({r['compilations']} compilations, "
            f"{r['compile_seconds']:.1f} s); {r['done']} done, {r['failed']} failed",
            f"   the full scan before (whole process, warm cache): {prev}"]
