"""Section 8 of `ufm bench`: `ufm verify` as a whole process from a cold compilation cache (UFM_CACHE_DIR=off):
wall time, XLA compilations and their seconds, claims passed. Quick mode runs `ufm verify --quick` only; the
full bench runs the quick and the full battery (about 6–8 minutes more on 2 cores)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

# The same batteries measured on this project's machine (2 cores, UFM_CACHE_DIR=off) before the changes of
# 2026-12-02 (fourth session): 35 claims and 14 errata in the full battery, 33 claims in the quick one.
PREVIOUS = {"quick": {"seconds": 88.0, "compilations": 633}, "full": {"seconds": 555.0, "compilations": None}}


def measure(quick: bool) -> dict:
    """One `ufm verify [--quick] --json` process with the persistent cache off: its report's numbers."""
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "verify.json")
        args = [sys.executable, "-m", "ufm", "verify", "--json", path] + (["--quick"] if quick else [])
        t0 = time.perf_counter()
        out = subprocess.run(args, capture_output=True, text=True, check=False,
                             env={**os.environ, "UFM_CACHE_DIR": "off"})
        seconds = time.perf_counter() - t0
        if not os.path.exists(path):
            tail = (out.stderr or out.stdout).strip().splitlines()
            return {"quick": quick, "error": tail[-1] if tail else f"exit {out.returncode}"}
        with open(path) as fh:
            r = json.load(fh)
    return {"quick": quick, "process_seconds": seconds, "battery_seconds": r["seconds"],
            "compilations": r["compilations"], "compile_seconds": r["compile_seconds"],
            "claims": len(r["claims"]), "claims_passed": sum(c["passed"] for c in r["claims"]),
            "errata": len(r["errata"]), "passed": r["passed"], "exit": out.returncode}


def run(quick: bool = False) -> dict:
    rows = [measure(True)] + ([] if quick else [measure(False)])
    return {"rows": rows, "previous": PREVIOUS}


def table(r: dict) -> list[str]:
    out = ["8. `ufm verify` as a process, cold compilation cache (UFM_CACHE_DIR=off)"]
    for row in r["rows"]:
        name = "quick" if row["quick"] else "full"
        if "error" in row:
            out.append(f"   {name:5s} not measured: {row['error']}")
            continue
        prev = r["previous"][name]
        was = f"{prev['seconds']:.0f} s" + (f", {prev['compilations']} compilations" if prev["compilations"] else "")
        out.append(f"   {name:5s} {row['process_seconds']:6.1f} s ({row['compilations']} compilations, "
                   f"{row['compile_seconds']:.1f} s of compile), {row['claims_passed']}/{row['claims']} claims, "
                   f"{row['errata']} errata; before: {was}")
    return out
