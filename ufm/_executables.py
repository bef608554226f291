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

    cacheable = hashable(key)
    exe = cache.get(key) if cacheable else None
    if exe is not None:
        return exe, 0.0
    t0 = time.perf_counter()
    exe = lowered(key, fn, args, name).compile(compiler_options=compiler_options(args))
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

    t0 = time.perf_counter()
    todo, seen, per_cache = [], set(), {}
    for cache, key, fn, args, name in jobs:
        if not hashable(key) or key in cache or (id(cache), key) in seen:
            continue
        if per_cache.get(id(cache), 0) >= cache.maxsize:
            continue
        seen.add((id(cache), key))
        per_cache[id(cache)] = per_cache.get(id(cache), 0) + 1
        todo.append((cache, key, lowered(key, fn, args, name), compiler_options(args)))
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


# ------------------------------------------------------------------ traced programs kept beside the XLA cache
# A fresh process traces and lowers each program before JAX's persistent cache can look its executable up (the
# solve program: ~0.5 s of a warm `ufm solve`). Where that cache is on (`ufm.configure`, the command line), the
# lowered program is also kept as a `jax.export` artefact under <cache>/ufm-programs, named by a digest of the
# program's key, its argument shapes, and the package: ufm's version and the bytes of its sources, JAX's and
# jaxlib's versions and the backend — any edit of ufm's code makes a new name. A later process deserialises it
# instead of tracing. Only keys made of ufm's own settings types and plain values are kept (a user's solver or
# loss could print the same for different code).


def _portable(obj) -> bool:
    """Whether `obj`'s repr names the program it keys: plain values, and ufm's own dataclasses/NamedTuples/enums
    of them."""
    import dataclasses
    import enum

    import numpy as np

    if obj is None or isinstance(obj, (bool, int, float, str, enum.Enum, np.dtype, np.generic)):
        return True
    own = type(obj).__module__.split(".")[0] == "ufm"
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return own and all(_portable(v) for v in obj)
    if isinstance(obj, (tuple, list, frozenset)):
        return all(_portable(v) for v in obj)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return own and all(_portable(getattr(obj, f.name)) for f in dataclasses.fields(obj))
    return False


_SOURCES: list = []  # the digest of the package, computed once per process


def _package_digest() -> str:
    import hashlib
    import importlib.util
    import os

    import jax
    import jaxlib

    if not _SOURCES:
        from . import __version__

        h = hashlib.sha256(f"{__version__} {jax.__version__} {jaxlib.__version__} {jax.default_backend()}".encode())
        roots = [os.path.dirname(__file__)]
        for sub in ("ufm.theory", "ufm.experiments"):
            spec = importlib.util.find_spec(sub)
            roots += list(spec.submodule_search_locations or []) if spec else []
        for root in roots:
            for folder, dirs, files in sorted(os.walk(root)):
                dirs.sort()
                for name in sorted(f for f in files if f.endswith(".py")):
                    path = os.path.join(folder, name)
                    h.update(os.path.relpath(path, root).encode())
                    with open(path, "rb") as fh:
                        h.update(fh.read())
        _SOURCES.append(h.hexdigest())
    return _SOURCES[0]


def _register(tree) -> list:
    """Register the NamedTuple types of a pytree structure for `jax.export` serialisation; their paths."""
    import importlib

    from jax import export

    paths, stack = [], [tree]
    while stack:
        node = stack.pop()
        kind = node.node_data()[0] if node.node_data() else None
        if isinstance(kind, type) and issubclass(kind, tuple) and hasattr(kind, "_fields"):
            path = f"{kind.__module__}:{kind.__qualname__}"
            paths.append(path)
            if path not in _REGISTERED:
                if getattr(importlib.import_module(kind.__module__), kind.__qualname__, None) is not kind:
                    raise ValueError(f"{path} cannot be imported back by a later process")
                export.register_namedtuple_serialization(kind, serialized_name=f"ufm-program:{path}")
                _REGISTERED.add(path)
        stack.extend(node.children())
    return sorted(set(paths))


_REGISTERED: set = set()


def _load_types(paths) -> None:
    import importlib

    from jax import export

    for path in paths:
        if path not in _REGISTERED:
            module, name = path.split(":")
            export.register_namedtuple_serialization(getattr(importlib.import_module(module), name),
                                                     serialized_name=f"ufm-program:{path}")
            _REGISTERED.add(path)


def programs_dir() -> str | None:
    """<JAX's persistent compilation cache>/ufm-programs, or None where that cache is off."""
    import os

    import jax

    where = jax.config.jax_compilation_cache_dir
    return os.path.join(where, "ufm-programs") if where else None


def program_file(key, args, name: str) -> str | None:
    """Where the lowered program of (key, argument shapes) is kept, or None (no persistent cache, or a key that
    does not name its program portably)."""
    import hashlib
    import os

    import jax

    where = programs_dir()
    if where is None or not _portable(key):
        return None
    shapes = [(tuple(getattr(a, "shape", ())), str(getattr(a, "dtype", type(a).__name__)))
              for a in jax.tree_util.tree_leaves(args)]
    digest = hashlib.sha256(repr((name, key, jax.tree_util.tree_structure(args), shapes,
                                  _package_digest())).encode()).hexdigest()[:32]
    return os.path.join(where, f"{name}-{digest}.bin")


def lowered(key, fn, args: tuple, name: str):
    """`jax.jit(fn).lower(*args)` named `name` — from the kept `jax.export` artefact where `program_file` has one
    (no tracing), else traced, and kept there for the next process (written atomically; a failure to keep it is
    not an error)."""
    import json
    import os
    import tempfile

    import jax
    from jax import export

    path = program_file(key, args, name)
    fn.__name__ = name
    if path is None:
        return jax.jit(fn).lower(*args)
    try:
        with open(path, "rb") as fh:
            head, blob = fh.read().split(b"\n", 1)
        _load_types(json.loads(head))
        exp = export.deserialize(bytearray(blob))
    except Exception:  # noqa: BLE001 — absent, damaged or from another format: trace it again
        exp = export.export(jax.jit(fn))(*args)
        try:
            types = _register(exp.in_tree) + _register(exp.out_tree)
            data = json.dumps(sorted(set(types))).encode() + b"\n" + bytes(exp.serialize())
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except Exception:  # noqa: BLE001 — keeping the artefact is an optimisation; the program is still right
            pass
    call = exp.call
    wrapper = lambda *a: call(*a)  # noqa: E731
    wrapper.__name__ = name
    return jax.jit(wrapper).lower(*args)


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
