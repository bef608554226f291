"""Running a scan: claim a chunk of one shape, solve it with one vmapped solve (compiled once per shape and
chunk size), attach metrics, predictions and certificates, write the chunk in one transaction."""

from __future__ import annotations

import math
import os
import sys
import time

import jax
import numpy as np

from ufm import theory
import ufm

from . import _store
from ._spec import Spec, bytes_per_solve


def shard_from_env(shard: str | None) -> tuple[int, int] | None:
    """`--shard i/m`, else SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT (minus SLURM_ARRAY_TASK_MIN), else None."""
    if shard is not None:
        try:
            i, m = (int(v) for v in shard.split("/"))
        except ValueError:
            raise ValueError(f"--shard must be i/m with integers 0 ≤ i < m; got {shard!r}") from None
        if not 0 <= i < m:
            raise ValueError(f"--shard must be i/m with integers 0 ≤ i < m; got {shard!r}")
        return i, m
    if "SLURM_ARRAY_TASK_ID" in os.environ and "SLURM_ARRAY_TASK_COUNT" in os.environ:
        i = int(os.environ["SLURM_ARRAY_TASK_ID"]) - int(os.environ.get("SLURM_ARRAY_TASK_MIN", "0"))
        return i, int(os.environ["SLURM_ARRAY_TASK_COUNT"])
    return None


def record(p: ufm.Problem, seed: int, sol, m: dict) -> dict:
    """One result row: config, solver outcome, metrics, theory prediction, certificate and errors."""
    pred = theory.predict(p)
    cert = theory.certificate(p, sol.W, sol.H, sol.b)
    row = {**p.to_dict(), "seed": seed, "objective": sol.objective, "grad_norm": sol.grad_norm,
           "rel_grad_norm": sol.rel_grad_norm, "steps": sol.steps, "solver_status": sol.status,
           "b_mean": float(np.mean(sol.b)), **m,
           "pred_objective": pred.objective, "pred_case": pred.case, "pred_a": pred.a, "pred_kappa": pred.kappa,
           "pred_b": None if pred.b is None else float(np.mean(pred.b)),
           "cert_ratio": cert.ratio, "cert_gap": cert.gap_bound,
           "err_objective": None if pred.objective is None else abs(sol.objective - pred.objective) / abs(pred.objective),
           "err_b": None if pred.b is None else float(np.max(np.abs(sol.b - pred.b)))}
    return ufm.jsonable(row)


def batch_size(spec: Spec, p: ufm.Problem, n_shape: int, n_dev: int) -> int:
    """Batch size for one shape: the spec's chunk, at most what the shape has, at most what fits in
    memory_gb, rounded up to a multiple of the local device count (the batch splits evenly across them).
    Fixed per shape, so each shape compiles once."""
    fit = max(1, int(spec.solver["memory_gb"] * 2**30 // bytes_per_solve(p)))
    return max(n_dev, math.ceil(min(spec.solver["chunk"], n_shape, fit) / n_dev) * n_dev)


def solve_chunk(items, size: int, devices=None) -> list:
    """Solve claimed items (same shape and solver options) padded to `size`; returns store results."""
    problems = [it[2] for it in items]
    seeds = [it[1] for it in items]
    pad = size - len(items)
    method, tol, max_steps = items[0][3], items[0][4], items[0][5]
    # Several devices: vmap lanes split across them; one device: the backend's default (map on CPU).
    batch = ufm.solve_batch(problems + [problems[-1]] * pad, method=method, tol=tol, max_steps=max_steps,
                            seeds=seeds + [seeds[-1]] * pad, devices=devices,
                            execution="vmap" if devices else "auto")
    metrics = ufm.metrics.all(batch.W, batch.H, batch.b)
    out = []
    for i, (h, s, p, *_rest) in enumerate(items):
        sol = batch[i]
        m = {k: float(v[i]) for k, v in metrics.items()}
        row = record(p, s, sol, m)
        row["seconds"] = batch.seconds / size
        out.append((h, s, "failed" if sol.status == "diverged" else "done", row))
    return out


class Progress:
    """done/total, rate and ETA: a bar on a terminal, one quiet line per chunk otherwise."""

    def __init__(self, total: int, done: int, enabled: bool = True, stream=None):
        self.total, self.done0, self.done = total, done, done
        self.t0 = time.perf_counter()
        self.stream = stream or sys.stderr
        self.enabled = enabled
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()

    def update(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        dt = time.perf_counter() - self.t0
        rate = (self.done - self.done0) / dt if dt > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else math.inf
        eta_s = f"{eta:.0f} s" if math.isfinite(eta) else "?"
        if self.tty:
            width = 30
            fill = int(width * self.done / max(self.total, 1))
            self.stream.write(f"\r[{'#' * fill}{'.' * (width - fill)}] {self.done}/{self.total} "
                              f"{rate:.1f}/s ETA {eta_s}   ")
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            self.stream.write(f"scan: {self.done}/{self.total} done ({rate:.2f} configs/s, ETA {eta_s})\n")
        self.stream.flush()


def run(spec: Spec, store: str, shard: tuple[int, int] | None = None, progress: bool = True,
        max_chunks: int | None = None) -> dict:
    """Run (or resume) `spec` into `store`. Returns {'done', 'failed', 'pending', 'solved_now'} for this shard.

    Jobs are numbered in the spec's deterministic order; shard (i, m) takes the jobs with index ≡ i (mod m).
    `max_chunks` stops after that many chunks (for tests of interruption).
    """
    jobs = spec.jobs()
    for i, j in enumerate(jobs):
        j["index"] = i
    scope = jobs if shard is None else [j for j in jobs if j["index"] % shard[1] == shard[0]]
    con = _store.connect(store)
    _store.initialise(con, spec, scope)
    _store.release_dead_claims(con)
    per_shape: dict = {}
    for j in scope:
        per_shape[_store.shape_key(j["problem"])] = per_shape.get(_store.shape_key(j["problem"]), 0) + 1
    devices = jax.local_devices() if jax.local_device_count() > 1 else None
    n_dev = len(devices) if devices else 1
    cond, args = _store.shard_clause(shard)
    done_before = con.execute(f"SELECT COUNT(*) FROM jobs WHERE status IN ('done','failed'){cond}", args).fetchone()[0]
    bar = Progress(len(scope), done_before, progress)
    solved, chunks = 0, 0
    while max_chunks is None or chunks < max_chunks:
        items = _store.claim(con, spec.solver["chunk"], shard)
        if not items:
            break
        size = batch_size(spec, items[0][2], per_shape[_store.shape_key(items[0][2])], n_dev)
        results = []
        for k in range(0, len(items), size):
            part = items[k : k + size]
            try:
                results += solve_chunk(part, size, devices)
            except Exception as e:  # a chunk that cannot be solved is recorded, not retried forever
                results += [(h, s, "failed", {**p.to_dict(), "seed": s, "error": f"{type(e).__name__}: {e}"})
                            for h, s, p, *_ in part]
        _store.finish(con, results)
        solved += len(items)
        chunks += 1
        bar.update(len(items))
    summary = {"solved_now": solved}
    for status in ("done", "failed", "pending", "running"):
        summary[status] = con.execute(f"SELECT COUNT(*) FROM jobs WHERE status=?{cond}", (status, *args)).fetchone()[0]
    con.close()
    return summary


