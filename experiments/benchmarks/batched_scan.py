"""Batched scan vs one-by-one solves: a λ grid at K=10, n=50, d=32 (issue target: batched ≥ 20× faster).

    python -m experiments.benchmarks.batched_scan [--configs 256] [--method auto] [--chunk 256] [--json PATH]

Both sides solve the same problems with the same seeds and method to the same tolerance; compilation is done
(and reported) before timing, so the ratio compares solve throughput.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import jax
import numpy as np

import ufm


def grid(m: int, K=10, n=50, d=32, loss="ce"):
    side = int(math.isqrt(m))
    lw = np.geomspace(1e-4, 1e-2, side)
    lh = np.geomspace(1e-4, 1e-2, m // side)
    return [ufm.Problem(K=K, n=n, d=d, loss=loss, lam_w=float(a), lam_h=float(b), lam_b=1e-2) for a in lw for b in lh]


def run(configs: int = 256, method: str = "auto", chunk: int = 256, loss: str = "ce") -> dict:
    problems = grid(configs, loss=loss)
    seeds = list(range(len(problems)))
    # Compile both paths first (cached by shape), then time.
    one = ufm.solve(problems[0], method=method, seed=0)
    chunks = [problems[i : i + chunk] for i in range(0, len(problems), chunk)]
    first = ufm.solve_batch(chunks[0], method=method, seeds=seeds[:chunk])
    t0 = time.perf_counter()
    batched = []
    for i, c in enumerate(chunks):
        size = len(chunks[0])
        pad = size - len(c)
        sol = ufm.solve_batch(c + [c[-1]] * pad, method=method, seeds=seeds[i * chunk : i * chunk + len(c)] + [0] * pad)
        batched += [sol[j] for j in range(len(c))]
    t_batch = time.perf_counter() - t0
    t0 = time.perf_counter()
    singles = [ufm.solve(p, method=method, seed=s) for p, s in zip(problems, seeds)]
    t_loop = time.perf_counter() - t0
    worst = max(abs(a.objective - b.objective) / abs(b.objective) for a, b in zip(batched, singles))
    return {
        "configs": len(problems), "method": method, "loss": loss, "shape": "K=10 n=50 d=32", "chunk": chunk,
        "seconds_batched": t_batch, "seconds_loop": t_loop, "ratio": t_loop / t_batch,
        "configs_per_second_batched": len(problems) / t_batch, "configs_per_second_loop": len(problems) / t_loop,
        "compile_seconds_single": one.compile_seconds, "compile_seconds_batched": first.compile_seconds,
        "worst_relative_objective_difference": worst,
        "converged_batched": int(sum(s.converged for s in batched)), "converged_loop": int(sum(s.converged for s in singles)),
        "device": str(jax.devices()[0]), "cpu": platform.processor() or platform.machine(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m experiments.benchmarks.batched_scan", description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=256)
    ap.add_argument("--method", default="auto")
    ap.add_argument("--chunk", type=int, default=256)
    ap.add_argument("--loss", default="ce")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    r = run(a.configs, a.method, a.chunk, a.loss)
    print(f"{r['configs']} configurations ({r['loss']}, {r['shape']}, method {r['method']}) on {r['device']}")
    print(f"  batched (vmap, chunk {r['chunk']}): {r['seconds_batched']:8.2f} s  {r['configs_per_second_batched']:8.1f} configs/s")
    print(f"  one by one (ufm.solve loop):  {r['seconds_loop']:8.2f} s  {r['configs_per_second_loop']:8.1f} configs/s")
    print(f"  ratio: {r['ratio']:.2f}x   (compile: single {r['compile_seconds_single']:.1f} s, batched "
          f"{r['compile_seconds_batched']:.1f} s; worst objective difference {r['worst_relative_objective_difference']:.1e})")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
