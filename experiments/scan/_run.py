"""Running a scan: claim a chunk of one shape, solve it with one vmapped solve (compiled once per shape and
chunk size), attach metrics, predictions and certificates, write the chunk in one transaction."""

from __future__ import annotations

import math
import os
import sys
import time
from typing import NamedTuple

import jax
import numpy as np

from ufm import theory
import ufm

from . import _store
from ._spec import Spec, bytes_per_solve


def shard_from_env(shard: str | None, env=None) -> tuple[int, int] | None:
    """`--shard i/m`, else this SLURM array task's share, else None (all jobs).

    A SLURM array runs the task ids MIN, MIN+STEP, ..., MAX (`--array=0-6:2` gives 0, 2, 4, 6): task id t takes
    share i = (t − MIN)/STEP of m = COUNT. Anything that does not map onto 0 ≤ i < m (an id off the step, a
    COUNT that disagrees with MIN/MAX/STEP, COUNT = 0) is refused: a silently skipped share is lost work.
    """
    if shard is not None:
        try:
            i, m = (int(v) for v in shard.split("/"))
        except ValueError:
            raise ValueError(f"--shard must be i/m with integers 0 ≤ i < m; got {shard!r}") from None
        if not 0 <= i < m:
            raise ValueError(f"--shard must be i/m with integers 0 ≤ i < m; got {shard!r}")
        return i, m
    env = os.environ if env is None else env
    if "SLURM_ARRAY_TASK_ID" not in env:
        return None

    def num(key, default=None):
        if key not in env:
            if default is None:
                raise ValueError(f"{key} is not set while SLURM_ARRAY_TASK_ID is; cannot tell this task's share")
            return default
        try:
            return int(env[key])
        except ValueError:
            raise ValueError(f"{key} must be an integer; got {env[key]!r}") from None

    task, lo, step, count = num("SLURM_ARRAY_TASK_ID"), num("SLURM_ARRAY_TASK_MIN", 0), \
        num("SLURM_ARRAY_TASK_STEP", 1), num("SLURM_ARRAY_TASK_COUNT")
    if step < 1 or count < 1:
        raise ValueError(f"SLURM array with STEP={step}, COUNT={count}: both must be ≥ 1")
    if "SLURM_ARRAY_TASK_MAX" in env:
        hi = num("SLURM_ARRAY_TASK_MAX")
        if (hi - lo) % step or (hi - lo) // step + 1 != count:
            raise ValueError(f"SLURM array MIN={lo} MAX={hi} STEP={step} has {(hi - lo) // step + 1} tasks but "
                             f"COUNT={count} (a task list like 0,3,7 cannot be mapped: use --shard i/m)")
    if (task - lo) % step:
        raise ValueError(f"SLURM task id {task} is not on the array's step (MIN={lo}, STEP={step})")
    i = (task - lo) // step
    if not 0 <= i < count:
        raise ValueError(f"SLURM task id {task} is outside the array (MIN={lo}, STEP={step}, COUNT={count})")
    return i, count


def record(p: ufm.Problem, seed: int, sol, m: dict, cert=None) -> dict:
    """One result row: config, solver outcome, metrics, theory prediction, certificate and errors — the flat form
    of `ufm.theory.solution_record`, the record `ufm solve --json` prints. cert: the point's certificate where
    the caller has it."""
    return theory.flat_record(theory.solution_record(sol, metrics=m, certificate=cert), seed)


def batch_size(spec: Spec, p: ufm.Problem, n_shape: int, n_dev: int) -> int:
    """Batch size for one shape: the spec's chunk, at most what the shape has, at most what fits in
    memory_gb, rounded up to a multiple of the local device count (the batch splits evenly across them).
    Fixed per shape, so each shape compiles once."""
    fit = max(1, int(spec.solver["memory_gb"] * 2**30 // bytes_per_solve(p)))
    return max(n_dev, math.ceil(min(spec.solver["chunk"], n_shape, fit) / n_dev) * n_dev)


METRICS_BATCH_BYTES = 2**30


def _metrics(batch, size: int | None = None) -> dict:
    """`ufm.metrics.all` of every member: one batched program while the batch's per-class working copies
    (numerical_rank's SVDs see each class's columns gathered into K × d × m, m ≥ the largest count: ~d × N per
    member for balanced classes) fit in METRICS_BATCH_BYTES, else member by member (one program). The batch is
    padded to `size` members (copies of the last, dropped after) so that a scan's short last chunk of a shape
    runs in the program of its full chunks (the batched program compiles per batch size: ~0.7 s each, K = 10)."""
    p0 = batch.problem[0]
    if p0.depth > 1:  # deep: the last layer's W_L and features H_L (metrics.all of the tuple of layers)
        return ufm.metrics.all(batch.W, batch.H, batch.b, labels=p0.labels, activation=p0.activation)
    B, K, d = batch.W.shape  # not batch.H: a reduced batch's features are built only when read
    size = max(B, size or B)

    def padded(*arrays):
        return [a if size == B else np.concatenate([a, np.repeat(a[-1:], size - B, axis=0)]) for a in arrays]

    def first_b(out: dict) -> dict:
        return {k: np.asarray(v)[:B] for k, v in out.items()}

    if batch.reduced is not None and p0.balanced:
        return _mean_metrics(batch.W, batch.class_means, batch.b, size)
    labels = p0.labels  # the members share their counts (one shape per batch)
    m = ufm.metrics.class_groups(labels, K).shape[1]
    if size * K * d * m * 8 * 2 <= METRICS_BATCH_BYTES:
        return first_b(ufm.metrics.all(*padded(batch.W, batch.H, batch.b), labels=labels))
    rows = [ufm.metrics.all(batch.W[i], batch.H[i], batch.b[i], labels=labels) for i in range(B)]
    return {k: np.asarray([r[k] for r in rows]) for k in rows[0]}


def _mean_metrics(W, Hbar, b, size: int) -> dict:
    """`_metrics` of a reduced balanced batch from its class means Hbar (B, d, K). A reduced solve's lift repeats
    each class mean n times (class-major): every metric of the lift is that of one column per class (balanced:
    each class weighs the same), at O(K) columns instead of N, and in 2K feature coordinates whatever d
    (`feature_span`): one program per (K, size) for every d."""
    B, K = W.shape[0], W.shape[1]
    W, Hbar = feature_span(W, Hbar)
    pad = lambda a: a if size == B else np.concatenate([a, np.repeat(a[-1:], size - B, axis=0)])  # noqa: E731
    out = ufm.metrics.all(pad(W), pad(Hbar), pad(np.asarray(b)), labels=np.arange(K))
    return {k: np.asarray(v)[:B] for k, v in out.items()}


def prepare_shape(p: ufm.Problem, method, tol, max_steps, size: int) -> None:
    """Compile a shape's programs before its first chunk, concurrently: its solve and second-order programs
    (`ufm.prepare`, which compiles them in parallel) while a second thread compiles its chunks' metrics program
    (`_mean_metrics` of random numbers in the chunk's shapes, for a reduced balanced shape: the largest program of
    a scan at K = 10, ~0.7 s). Only compilation overlaps the metrics call's one short run: no two programs run at
    once (two large XLA:CPU programs running on two threads can hang, see docs/performance.md)."""
    import threading

    reduced = ufm.reduction(p).reduced
    warm = None
    if reduced is not None and p.balanced and p.depth == 1:
        rng = np.random.default_rng(0)
        dt = np.dtype(p.dtype)
        W, Hbar, b = (rng.standard_normal(shape).astype(dt) for shape in
                      ((1, p.K, reduced.d), (1, reduced.d, p.K), (1, p.K)))

        def metrics():
            try:
                _mean_metrics(W, Hbar, b, size)
            except Exception:  # noqa: BLE001 - only a warm-up: the chunk's own call reports any error
                pass

        warm = threading.Thread(target=metrics, name="ufm-scan-warm", daemon=True)
        warm.start()
    try:
        ufm.prepare([p], method, tol=tol, max_steps=max_steps)
    finally:
        if warm is not None:
            warm.join()


def feature_span(W, Hbar):
    """W (B, K, d) and class means Hbar (B, d, K) in 2K feature coordinates: zero coordinates added where
    d < 2K, else each member's features written in an orthonormal basis Q (d, 2K) whose span holds the rows of
    W and the columns of Hbar (a QR factor of [Wᵀ Hbar]): W Q and Qᵀ Hbar. Every quantity of `ufm.metrics.all`
    is unchanged (to rounding) by an orthogonal change of feature coordinates applied to both and by zero
    coordinates — the angles, norms, spreads, logits W h + b and singular values it is made of — so a scan's
    metrics compile one program per K instead of one per d (each ~0.5–0.7 s on 2 cores)."""
    W, Hbar = np.asarray(W), np.asarray(Hbar)
    K, d = W.shape[-2], W.shape[-1]
    if d <= 2 * K:
        pad = 2 * K - d
        return (np.concatenate([W, np.zeros(W.shape[:-1] + (pad,), W.dtype)], axis=-1),
                np.concatenate([Hbar, np.zeros(Hbar.shape[:-2] + (pad, K), Hbar.dtype)], axis=-2))
    Q = np.linalg.qr(np.concatenate([np.swapaxes(W, -1, -2), Hbar], axis=-1))[0]  # (B, d, 2K), orthonormal
    return W @ Q, np.swapaxes(Q, -1, -2) @ Hbar


def solve_chunk(items, size: int, devices=None, shared: Shared | None = None) -> list:
    """Solve claimed items (same shape and solver options), padded to `size` where the execution compiles per
    batch size (vmap); returns store results.

    shared: the run's solves by class-mean problem (a `Shared`: the solution, metrics and certificate of the item
    solved first), or None. Where every item of the chunk is solved reduced, an item whose class-mean problem,
    seed and settings were solved before in this run takes that solve, embedded in its own d
    (`ufm.Solution.embed`, exact: the same program from the same start) — a scan over d ≥ K at fixed K solves each
    class-mean problem once — with its metrics and certificate: zero coordinates change neither (Z = WH, f, ∇f
    and every metric's Gram matrices and singular values are the same); its prediction is its own. The row says
    so: `solved_d` is the d whose configuration ran the solve (the row's own d where it ran for this row),
    `seconds` 0 (summed seconds count each solve once)."""
    keys = [shared_key(it) for it in items] if shared is not None else [None] * len(items)
    reuse = {} if None in keys else {i: e for i, e in enumerate(map(shared.get, keys)) if e is not None}
    todo = [i for i in range(len(items)) if i not in reuse]
    members, found, seconds = [None] * len(items), [(None, None)] * len(items), 0.0
    if todo:
        batch = _solve(items, todo, size, devices)
        seconds = batch.seconds / len(batch)
        metrics = _metrics(batch, size)
        for j, i in enumerate(todo):
            members[i] = sol = batch[j]
            m = {k: float(v[j]) for k, v in metrics.items()}
            found[i] = m, None if sol.status == ufm.Status.DIVERGED else theory.certificate_of(sol)
    for i, (sol, m, cert, _size) in reuse.items():
        members[i], found[i] = sol.embed(items[i][2]), (m, cert)
    out = []
    for i, (h, s, p, *_rest) in enumerate(items):
        sol, (m, cert) = members[i], found[i]
        row = record(p, s, sol, m, cert)
        row["seconds"] = 0.0 if i in reuse else seconds
        row["solved_d"] = reuse[i][0].problem.d if i in reuse else p.d
        if keys[i] is not None and i not in reuse:
            shared.put(keys[i], sol, m, cert)
        out.append((h, s, "failed" if sol.status == "diverged" else "done", row))
    return out


class Shared:
    """A run's class-mean solves to share (`solve_chunk`): `shared_key` → (solution, metrics, certificate), at
    most `max_bytes` of their arrays (W, the class means, the history: what an embedded solve holds); past it the
    oldest go first — a run's keys come grouped by grid order, so the oldest are the least likely to come again."""

    def __init__(self, max_bytes: int = 256 * 2**20):
        self.max_bytes, self.bytes, self.entries = max_bytes, 0, {}

    def get(self, key):
        return self.entries.get(key)

    def put(self, key, sol, metrics: dict, cert) -> None:
        p, W = sol.problem, sol.W if isinstance(sol.W, tuple) else (sol.W,)
        means = p.d * p.K * np.dtype(p.dtype).itemsize  # what `class_means` gives (d, K), without building it
        size = sum(np.asarray(a).nbytes for a in W) + means + np.asarray(sol.history).nbytes
        self.entries[key] = (sol, metrics, cert, size)
        self.bytes += size
        while self.bytes > self.max_bytes and len(self.entries) > 1:
            self.bytes -= self.entries.pop(next(iter(self.entries)))[3]


def shared_key(item) -> tuple | None:
    """What makes two items' solves one: the class-mean problem `ufm.reduction` solves, the seed and the
    solver settings (None: the item is solved in full)."""
    _h, seed, p, method, tol, max_steps = item[:6]
    reduced = ufm.reduction(p).reduced
    key = None if reduced is None else (reduced, seed, method, tol, max_steps)
    try:
        hash(key)
    except TypeError:  # a loss object that cannot be hashed: solved for itself
        return None
    return key


def _solve(items, todo: list, size: int, devices):
    """`ufm.solve_batch` of items[todo] (vmap: padded to `size` with copies of the last)."""
    problems = [items[i][2] for i in todo]
    seeds = [items[i][1] for i in todo]
    method, tol, max_steps = items[0][3], items[0][4], items[0][5]
    # Several devices: vmap lanes split across them; one device: the backend's default (map on CPU).
    execution = "vmap" if devices else ufm.default_execution()
    # vmap compiles one program per batch size: pad a short chunk to `size` with copies of its last item.
    # map runs the members one by one through the shape's single-solve program: nothing to pad.
    pad = size - len(problems) if execution == "vmap" else 0
    return ufm.solve_batch(problems + [problems[-1]] * pad, method=method, tol=tol, max_steps=max_steps,
                           seeds=seeds + [seeds[-1]] * pad, devices=devices, execution=execution)


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
        max_chunks: int | None = None, retry_failed: bool = False, should_stop=None) -> dict:
    """Run (or resume) `spec` into `store`. Returns {'solved_now', 'compilations', 'compile_seconds', 'done',
    'failed', 'pending', 'running'} for this shard (and 'stopped': True when `should_stop` ended the run early).
    The run's XLA compilations are also recorded in the store (`compilations(store)` sums every run's).

    Jobs are numbered in the spec's deterministic order; shard (i, m) takes the jobs with index ≡ i (mod m).
    A chunk whose batched solve raises is solved again one configuration at a time, so that only the
    configurations that fail are recorded as failed (with their error). retry_failed: put this shard's failed
    rows back to pending first. should_stop: called after each chunk; True stops the run there (a signal
    handler sets it), with every finished chunk written. `max_chunks` stops after that many chunks (tests).
    """
    jobs = spec.jobs()
    for i, j in enumerate(jobs):
        j["index"] = i
    scope = jobs if shard is None else [j for j in jobs if j["index"] % shard[1] == shard[0]]
    con = _store.connect(store)
    _store.initialise(con, spec, scope, shard)
    _store.release_dead_claims(con)
    cond, args = _store.shard_clause(shard)
    if retry_failed:
        with _store.transaction(con):
            con.execute(f"UPDATE jobs SET status='pending', result=NULL WHERE status='failed'{cond}", args)
    per_shape: dict = {}
    for j in scope:
        per_shape[_store.shape_key(j["problem"])] = per_shape.get(_store.shape_key(j["problem"]), 0) + 1
    devices = jax.local_devices() if jax.local_device_count() > 1 else None
    n_dev = len(devices) if devices else 1
    done_before = con.execute(f"SELECT COUNT(*) FROM jobs WHERE status IN ('done','failed'){cond}", args).fetchone()[0]
    bar = Progress(len(scope), done_before, progress)
    plan = _Plan(spec, shard, per_shape, devices, n_dev)
    with _store.Heartbeat(store), ufm.compilations() as comp:
        solved, stopped = _work(con, plan, bar, max_chunks, should_stop)
    _store.record_compilations(con, comp.count, comp.seconds)
    summary = {"solved_now": solved, "compilations": comp.count, "compile_seconds": round(comp.seconds, 3)}
    for status in ("done", "failed", "pending", "running"):
        summary[status] = con.execute(f"SELECT COUNT(*) FROM jobs WHERE status=?{cond}", (status, *args)).fetchone()[0]
    if stopped:
        summary["stopped"] = True
    con.close()
    return summary


class _Plan(NamedTuple):
    """What every chunk of one run shares: the spec, this run's shard, jobs per shape, the local devices."""

    spec: Spec
    shard: tuple | None
    per_shape: dict
    devices: list | None
    n_dev: int


def _work(con, plan: _Plan, bar: Progress, max_chunks, should_stop) -> tuple[int, bool]:
    """Claim and solve chunks until none is left, `max_chunks` ran, or `should_stop()`: (solved, stopped)."""
    spec, shard, per_shape, devices, n_dev = plan
    solved, chunks, stopped = 0, 0, False
    shared = Shared()  # class-mean solves this run shares between configurations (`solve_chunk`)
    prepared: set = set()  # (shape, method, tol, max_steps, chunk size) whose programs were compiled ahead
    while max_chunks is None or chunks < max_chunks:
        if should_stop is not None and should_stop():
            stopped = True
            break
        items = _store.claim(con, spec.solver["chunk"], shard)
        if not items:
            break
        size = batch_size(spec, items[0][2], per_shape[_store.shape_key(items[0][2])], n_dev)
        first = (_store.shape_key(items[0][2]), *items[0][3:6], size)
        if devices is None and first not in prepared:  # a new shape: plan its programs, compile them at once
            prepared.add(first)
            try:
                prepare_shape(items[0][2], *items[0][3:6], size)
            except Exception:  # noqa: BLE001 - ahead of time only: the chunk's solve records any error per row
                pass
        results = []
        for k in range(0, len(items), size):
            results += _solve_isolated(items[k : k + size], size, devices, shared)
        _store.finish(con, results)
        solved += len(items)
        chunks += 1
        bar.update(len(items))
    return solved, stopped


def _failed(item, e: Exception) -> tuple:
    h, s, p, *_ = item
    return h, s, "failed", {**p.to_dict(), "seed": s, "error": f"{type(e).__name__}: {str(e)[:500]}"}


def _solve_isolated(part, size: int, devices, shared: Shared | None = None) -> list:
    """`solve_chunk`, and if the batch raises, each configuration alone: one bad configuration fails alone."""
    try:
        return solve_chunk(part, size, devices, shared)
    except Exception as e:  # noqa: BLE001 - any error of a batch is retried per configuration
        if len(part) == 1:
            return [_failed(part[0], e)]
    out = []
    for item in part:
        try:
            out += solve_chunk([item], 1, None, shared)
        except Exception as e:  # noqa: BLE001 - recorded with its error, never retried forever
            out.append(_failed(item, e))
    return out
