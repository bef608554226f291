"""A bounded cache of compiled solves. Each XLA:CPU executable holds hundreds of memory mappings (measured: ~650
for an auto solve), and Linux caps a process at vm.max_map_count (65530 by default): an unbounded cache made a
long process (the test suite, a scan over many shapes) segfault inside the next compile. The least recently used
executables are dropped beyond `maxsize`; dropping one frees its mappings."""

from __future__ import annotations

from collections import OrderedDict

MAXSIZE = 32
_ALL: list = []  # every cache made here, for `clear_caches`


class Executables:
    def __init__(self, maxsize: int = MAXSIZE):
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()
        _ALL.append(self)

    def get(self, key):
        exe = self._items.get(key)
        if exe is not None:
            self._items.move_to_end(key)
        return exe

    def put(self, key, exe) -> None:
        self._items[key] = exe
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def clear(self) -> None:
        self._items.clear()

    def values(self):
        return list(self._items.values())

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)


def hashable(obj) -> bool:
    """Whether `obj` can be part of a cache key (a solver that cannot is compiled for its call only)."""
    try:
        hash(obj)
    except TypeError:
        return False
    return True


# XLA:CPU's backend optimisation level 0 for small programs: measured on the solve programs of the battery's shapes
# (ufm bench --only compile), it cuts compile time by about a third and doubles run time, which for these shapes is
# milliseconds; results agree to ~1e-16 relative. Above FAST_MAX_ENTRIES numbers of input the run time counts and
# XLA's defaults stay. The options are local to each compile (no process-wide flag is set).
FAST_OPTIONS = {"xla_backend_optimization_level": 0}
FAST_MAX_ENTRIES = 20_000


def compiler_options(args) -> dict | None:
    """The XLA options of a program whose inputs are `args`: FAST_OPTIONS when they hold at most
    FAST_MAX_ENTRIES numbers, else None (XLA's defaults)."""
    import jax

    size = sum(int(getattr(a, "size", 1)) for a in jax.tree_util.tree_leaves(args))
    return dict(FAST_OPTIONS) if size <= FAST_MAX_ENTRIES else None


def compiled(cache: Executables, key, fn, args: tuple, name: str):
    """The compiled program of `fn` for `args`, from `cache` under `key` or compiled now (ahead of time: lowered
    for these argument shapes, then compiled) and kept there. Returns (executable, compile seconds: 0 when
    cached). A key that cannot be hashed (a user's solver that is not) compiles for this call only. `name` is
    the name compile profiles (`ufm.compilations`) show. The one compile-and-cache path of `solve`,
    `solve_batch`, `trajectory` and the second-order test."""
    import time

    import jax

    cacheable = hashable(key)
    exe = cache.get(key) if cacheable else None
    if exe is not None:
        return exe, 0.0
    t0 = time.perf_counter()
    fn.__name__ = name
    exe = jax.jit(fn).lower(*args).compile(compiler_options=compiler_options(args))
    seconds = time.perf_counter() - t0
    if cacheable:
        cache.put(key, exe)
    return exe, seconds


def compile_many(jobs, workers: int | None = None) -> tuple[int, float]:
    """Compile ahead the programs of `jobs` — (cache, key, fn, args, name) as `compiled` takes them — that their
    caches lack: each is lowered in turn (tracing holds Python's lock), then they compile concurrently on
    `workers` threads (default: the CPUs this process may use; XLA compiles outside the lock), and each is kept
    in its cache (at most a cache's `maxsize` per cache: more would evict the first). Returns (programs compiled,
    wall seconds)."""
    import os
    import time
    from concurrent.futures import ThreadPoolExecutor

    import jax

    t0 = time.perf_counter()
    todo, seen, per_cache = [], set(), {}
    for cache, key, fn, args, name in jobs:
        if not hashable(key) or key in cache or (id(cache), key) in seen:
            continue
        if per_cache.get(id(cache), 0) >= cache.maxsize:
            continue
        seen.add((id(cache), key))
        per_cache[id(cache)] = per_cache.get(id(cache), 0) + 1
        fn.__name__ = name
        todo.append((cache, key, jax.jit(fn).lower(*args), compiler_options(args)))
    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    workers = max(1, min(int(workers), len(todo)))
    compile_one = lambda job: job[2].compile(compiler_options=job[3])  # noqa: E731
    if workers == 1:
        exes = [compile_one(job) for job in todo]
    else:
        with ThreadPoolExecutor(workers, thread_name_prefix="ufm-compile") as pool:
            exes = list(pool.map(compile_one, todo))
    for (cache, key, _, _), exe in zip(todo, exes):
        cache.put(key, exe)
    return len(todo), time.perf_counter() - t0


def clear_caches() -> None:
    """Drop every compiled solve and trajectory held by this process (each XLA:CPU executable holds memory
    mappings; a long process that compiles many shapes may want to free them)."""
    for cache in _ALL:
        cache.clear()


class compilations:
    """`with ufm.compilations() as c:` counts the XLA compilations JAX performs inside the block (c.count) and
    their backend seconds (c.seconds), per compiled function in c.by_name, from JAX's own monitoring events: every program, ufm's or not. A program
    loaded from the persistent compilation cache is not a compilation. The listener exists only inside the
    block (importing ufm registers nothing)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.by_name: dict = {}  # JAX's name of the compiled function → [count, seconds]

    def _listen(self, name, secs, fun_name: str = "?", **_):
        if name == self.EVENT:
            self.count += 1
            self.seconds += secs
            entry = self.by_name.setdefault(fun_name, [0, 0.0])
            entry[0] += 1
            entry[1] += secs

    def __enter__(self) -> "compilations":
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc) -> None:
        import jax.monitoring

        jax.monitoring.unregister_event_duration_listener(self._listen)
