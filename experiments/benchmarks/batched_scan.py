"""Batched scan vs one-by-one solves: a λ grid at K=10, n=50, d=32 (target: batched ≥ 20× the loop).

    python -m ufm.experiments.benchmarks.batched_scan [--configs 256] [--method auto] [--vmap-configs 32] [--json PATH]

Every path solves the same problems with the same seeds and method to the same tolerance; compilation is done
(and reported) before timing, so the ratios compare solve throughput (configurations per second).
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


def run(configs: int = 256, method: str = "auto", vmap_configs: int = 32, loss: str = "ce", K: int = 10, n: int = 50,
        d: int = 32) -> dict:
    problems = grid(configs, K=K, n=n, d=d, loss=loss)
    seeds = list(range(len(problems)))
    # Compile every path first (cached by shape and batch size), then time.
    one = ufm.solve(problems[0], method=method, seed=0)
    first_map = ufm.solve_batch(problems, method=method, seeds=seeds, execution="map")
    sub = problems[:vmap_configs]
    first_vmap = ufm.solve_batch(sub, method=method, seeds=seeds[:vmap_configs], execution="vmap")

    t0 = time.perf_counter()
    mapped = ufm.solve_batch(problems, method=method, seeds=seeds, execution="map")
    t_map = time.perf_counter() - t0
    t0 = time.perf_counter()
    vmapped = ufm.solve_batch(sub, method=method, seeds=seeds[:vmap_configs], execution="vmap")
    t_vmap = time.perf_counter() - t0
    t0 = time.perf_counter()
    singles = [ufm.solve(p, method=method, seed=s) for p, s in zip(problems, seeds)]
    t_loop = time.perf_counter() - t0

    def worst(batch, n):
        return max(abs(batch[i].objective - singles[i].objective) / abs(singles[i].objective) for i in range(n))

    rate_loop = len(problems) / t_loop
    rate_map = len(problems) / t_map
    rate_vmap = len(sub) / t_vmap
    return {
        "configs": len(problems), "vmap_configs": len(sub), "method": method, "loss": loss, "shape": f"K={K} n={n} d={d}",
        "seconds_loop": t_loop, "seconds_map": t_map, "seconds_vmap_subset": t_vmap,
        "configs_per_second_loop": rate_loop, "configs_per_second_map": rate_map,
        "configs_per_second_vmap": rate_vmap, "ratio_map": rate_map / rate_loop, "ratio_vmap": rate_vmap / rate_loop,
        "steps_max_vmap": int(np.max(vmapped.steps)), "steps_mean_single": float(np.mean([s.steps for s in singles])),
        "compile_seconds": {"single": one.compile_seconds, "map": first_map.compile_seconds,
                            "vmap": first_vmap.compile_seconds},
        "worst_relative_objective_difference": max(worst(mapped, len(problems)), worst(vmapped, len(sub))),
        "device": str(jax.devices()[0]), "backend": jax.default_backend(),
        "cpu": platform.processor() or platform.machine(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m ufm.experiments.benchmarks.batched_scan", description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=256)
    ap.add_argument("--method", default="auto")
    ap.add_argument("--vmap-configs", type=int, default=32, help="configurations timed with vmap")
    ap.add_argument("--loss", default="ce")
    ap.add_argument("--json", default=None)
    a = ap.parse_args(argv)
    r = run(a.configs, a.method, a.vmap_configs, a.loss)
    print(f"{r['configs']} configurations ({r['loss']}, {r['shape']}, method {r['method']}) on {r['device']}")
    print(f"  one by one (ufm.solve loop):    {r['seconds_loop']:8.2f} s  {r['configs_per_second_loop']:7.2f} configs/s")
    print(f"  solve_batch execution='map':    {r['seconds_map']:8.2f} s  {r['configs_per_second_map']:7.2f} configs/s"
          f"  ratio {r['ratio_map']:.2f}x")
    print(f"  solve_batch execution='vmap':   {r['seconds_vmap_subset']:8.2f} s  {r['configs_per_second_vmap']:7.2f} configs/s"
          f"  ratio {r['ratio_vmap']:.2f}x  (first {r['vmap_configs']} configs; lockstep: max {r['steps_max_vmap']} "
          f"steps vs mean {r['steps_mean_single']:.0f})")
    print(f"  compile seconds {r['compile_seconds']}; worst objective difference to the loop "
          f"{r['worst_relative_objective_difference']:.1e}")
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(r, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


SHAPES = {"small (K=4, n=10, d=8)": (4, 10, 8), "medium (K=10, n=50, d=32)": (10, 50, 32)}


def bench(quick: bool = False) -> dict:
    """Section 2 of `ufm bench`: the 256-configuration λ grid at each shape (quick: the small shape)."""
    shapes = dict(list(SHAPES.items())[:1]) if quick else SHAPES
    return {"rows": [{"shape_name": name, **run(256, "auto", 32, "ce", K, n, d)} for name, (K, n, d) in shapes.items()]}


def table(r: dict) -> list[str]:
    out = ["2. Batched scans: 256-configuration (λ_W, λ_H) grid, CE, auto, configs/second"]
    for row in r["rows"]:
        out.append(f"   {row['shape_name']:26s} one by one {row['configs_per_second_loop']:8.1f}   "
                   f"batched map {row['configs_per_second_map']:8.1f} ({row['ratio_map']:.1f}x)   "
                   f"vmap {row['configs_per_second_vmap']:8.1f} ({row['ratio_vmap']:.2f}x, lockstep max "
                   f"{row['steps_max_vmap']} vs mean {row['steps_mean_single']:.0f} steps)")
    return out
