"""A bounded cache of compiled solves. Each XLA:CPU executable holds hundreds of memory mappings (measured: ~650
for an auto solve), and Linux caps a process at vm.max_map_count (65530 by default): an unbounded cache made a
long process (the test suite, a scan over many shapes) segfault inside the next compile. The least recently used
executables are dropped beyond `maxsize`; dropping one frees its mappings."""

from __future__ import annotations

import os
import re
import threading
import time
from collections import OrderedDict

MAXSIZE = 32
_ALL: list = []  # every cache made here, for `clear_caches`


class Executables:
    def __init__(self, maxsize: int = MAXSIZE):
        self.maxsize = maxsize
        self._items: OrderedDict = OrderedDict()
        self._lock = threading.Lock()  # threads solve and compile concurrently (the battery's families)
        _ALL.append(self)

    def get(self, key):
        with self._lock:
            exe = self._items.get(key)
            if exe is not None:
                self._items.move_to_end(key)
            return exe

    def put(self, key, exe) -> None:
        with self._lock:
            self._items[key] = exe
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def values(self):
        with self._lock:
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


# XLA:CPU's options for small programs, local to each compile (no process-wide flag is set). Backend optimisation
# level 0: measured on the solve programs of the battery's shapes (ufm bench --only compile), it cuts compile time
# by about a third and doubles run time, which for these shapes is milliseconds; results agree to ~1e-16 relative.
# The older (non-MLIR) fusion emitters (jaxlib 0.10.2, 2 cores): a K = 4 CE Newton solve program compiles in
# 0.52 s instead of 1.08 s and runs in 5.1 ms instead of 6.3 ms, bit-identical to level 0 with the MLIR emitters;
# the quick battery in-process 41.3 → 24.7 s (compile 35.2 → 15.4 s). Above FAST_MAX_ENTRIES numbers of input
# the run time counts and XLA's defaults stay.
FAST_OPTIONS = {"xla_backend_optimization_level": 0, "xla_cpu_use_fusion_emitters": False}
FAST_MAX_ENTRIES = 20_000


def compiler_options(args) -> dict | None:
    """The XLA options of a program whose inputs are `args`: FAST_OPTIONS when they hold at most
    FAST_MAX_ENTRIES numbers, else None (XLA's defaults)."""
    import jax

    size = sum(int(getattr(a, "size", 1)) for a in jax.tree_util.tree_leaves(args))
    return dict(FAST_OPTIONS) if size <= FAST_MAX_ENTRIES else None


def compiled(cache: Executables, key, fn, args: tuple, name: str, file_key=None):
    """The compiled program of `fn` for `args`, from `cache` under `key`, else loaded from the executables kept
    beside the persistent cache (`program_file`), else compiled now (ahead of time: lowered for these argument
    shapes, then compiled) and kept in both. Returns (executable, compile seconds: 0 when cached or loaded). A
    key that cannot be hashed (a user's solver that is not) compiles for this call only. `name` is the name
    compile profiles (`ufm.compilations`) show; `file_key` names the kept file instead of `key` (which then
    need only be unique in `cache`). The one compile-and-cache path of `solve`, `solve_batch`, `trajectory`,
    the second-order test and `persistent_jit`."""

    cacheable = hashable(key)
    exe = cache.get(key) if cacheable else None
    if exe is not None:
        return exe, 0.0
    mine = _claim(cache, key) if cacheable else None
    if mine is None and cacheable:  # another thread is compiling this program: wait for it
        exe = cache.get(key)
        if exe is not None:
            return exe, 0.0
    try:
        t0 = time.perf_counter()
        exe, job = _loaded_or_lowered(key if file_key is None else file_key, fn, args, name)
        seconds = 0.0
        if exe is None:
            low, options, path = job
            with _hits_seen():
                exe, hit = _compile(low, options)
            seconds = time.perf_counter() - t0
            if not hit:
                _keep(path, exe, low)
        if cacheable:
            cache.put(key, exe)
    finally:
        if mine is not None:
            with _IN_FLIGHT:
                del _COMPILING[mine]
                _IN_FLIGHT.notify_all()
    return exe, seconds


# Programs being compiled now, (cache, key) → the compiling thread: threads that solve concurrently (the
# battery's families) compile a shared program once; the others wait for it instead of compiling it again.
_COMPILING: dict = {}
_IN_FLIGHT = threading.Condition()


def _claim(cache: Executables, key):
    """This thread's claim to compile (cache, key), or None after waiting for the thread that holds it (or when
    this thread holds it already)."""
    tag = (id(cache), key)
    with _IN_FLIGHT:
        while tag in _COMPILING:
            if _COMPILING[tag] == threading.get_ident():
                return None
            _IN_FLIGHT.wait()
            if key in cache:
                return None
        _COMPILING[tag] = threading.get_ident()
        return tag


def _loaded_or_lowered(key, fn, args: tuple, name: str):
    """(the kept executable of (key, args), None), or (None, (lowered program, compiler options, file to keep it
    in)) — the first step of `compiled` and `compile_many`."""
    import jax

    options = compiler_options(args)
    path = program_file(key, args, name, options)
    exe = _load(path)
    if exe is not None:
        return exe, None
    fn.__name__ = _module_name(name, path)
    return None, (jax.jit(fn).lower(*args), options, path)


_THREAD = threading.local()  # per compiling thread: whether JAX's persistent cache answered its compile
_HIT = "/jax/compilation_cache/cache_hits"
_LOADED = "/ufm/kept_program_loaded"  # a program `_load` read back (a duration event, for `compilations`)


def _on_event(event: str, **_) -> None:
    if event == _HIT:
        _THREAD.hit = True


class _hits_seen:
    """Listen, inside the block, for JAX's persistent-cache hits (each is recorded in the thread that compiles)."""

    def __enter__(self):
        import jax.monitoring

        jax.monitoring.register_event_listener(_on_event)

    def __exit__(self, *exc):
        import jax.monitoring

        jax.monitoring.unregister_event_listener(_on_event)


def _module_name(name: str, path: str | None) -> str:
    """The name a program is lowered under: `name`, with the digest of its kept file where it has one — so that
    JAX's persistent cache never answers for a program ufm keeps (what that cache returns cannot be kept, see
    `_compile`): a changed package compiles it afresh and keeps it. `compilations` reports `name`."""
    if path is None:
        return name
    return f"{name}{_TAG}{os.path.basename(path).rsplit('-', 1)[1][:16]}"


_TAG = "_ufm"
_TAGGED = re.compile(r"_ufm[0-9a-f]{16}(?=\)|$)")


def _compile(low, options):
    """(executable of the lowered program `low`, whether JAX's persistent cache answered instead of XLA). An
    executable read back from that cache is never kept: serialised again, it failed to run in a later process
    (measured: "NOT_FOUND: Function subtract_negate_fusion not found", jaxlib 0.10.2, CPU)."""
    _THREAD.hit = False
    exe = low.compile(compiler_options=options)
    return exe, _THREAD.hit


def compile_many(jobs, workers: int | None = None) -> tuple[int, float]:
    """Compile ahead the programs of `jobs` — (cache, key, fn, args, name) as `compiled` takes them — that their
    caches lack and that are not kept (`program_file`; those are loaded): each is lowered in turn (tracing holds
    Python's lock), then they compile concurrently on `workers` threads (default: the CPUs this process may use;
    XLA compiles outside the lock), and each is kept in its cache (at most a cache's `maxsize` per cache: more
    would evict the first) and beside the persistent cache. Returns (programs compiled, wall seconds)."""
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
        exe, job = _loaded_or_lowered(key, fn, args, name)
        if exe is not None:
            cache.put(key, exe)
            continue
        todo.append((cache, key, *job))
    if workers is None:
        from ._features import available_cpus

        workers = available_cpus()
    workers = max(1, min(int(workers), len(todo)))
    compile_one = lambda job: _compile(job[2], job[3])  # noqa: E731
    with _hits_seen():
        if workers == 1:
            exes = [compile_one(job) for job in todo]
        else:
            with ThreadPoolExecutor(workers, thread_name_prefix="ufm-compile") as pool:
                exes = list(pool.map(compile_one, todo))
    for (cache, key, low, _, path), (exe, hit) in zip(todo, exes):
        cache.put(key, exe)
        if not hit:
            _keep(path, exe, low)
    return len(todo), time.perf_counter() - t0


# ------------------------------------------------------------- compiled programs kept beside the XLA cache
# A fresh process traces and lowers each program before JAX's persistent cache can look its executable up
# (measured on a warm `ufm solve`: ~0.2 s per program, 12 programs). Where that cache is on (`ufm.configure`, the
# command line), each compiled program is also kept, serialised (`jax.experimental.serialize_executable`), under
# <cache>/ufm-programs, named by a digest of the program's key, its argument shapes, its compiler options, the
# machine (backend, device kind, and the CPU's instruction-set flags: an executable compiled for one CPU may not
# run on another) and the package (ufm's version and the bytes of its sources, JAX's and jaxlib's versions): any
# edit of ufm's code makes a new name. A later process loads it (~0.03 s for a small program, ~0.1 s for a solve)
# instead of tracing, lowering and reading the XLA cache. Only keys made of ufm's own settings types and plain
# values are kept (a user's solver or loss could print the same for different code). A kept file is trusted as
# JAX's persistent cache is: it is executable code, and the folder must be the user's own.


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


_SOURCES: list = []  # the digest of the package and the machine, computed once per process


def _machine() -> str:
    """The backend, its device kind and, on a CPU, the instruction-set flags of the host (Linux; else the
    platform's processor string)."""
    import platform

    import jax

    flags = ""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = next((line for line in fh if line.startswith(("flags", "Features"))), "")
    except OSError:
        pass
    dev = jax.devices()[0]
    return f"{jax.default_backend()} {dev.device_kind} {platform.machine()} {platform.processor()} {flags.strip()}"


def _package_digest() -> str:
    import hashlib
    import importlib.util

    import jax
    import jaxlib

    if not _SOURCES:
        from . import __version__

        h = hashlib.sha256(f"{__version__} {jax.__version__} {jaxlib.__version__} {_machine()}".encode())
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


def programs_dir() -> str | None:
    """<JAX's persistent compilation cache>/ufm-programs, or None where that cache is off: no folder, or switched
    off (`jax_enable_compilation_cache`, as `ufm bench` does to report compile times cold — kept programs were
    still read there, and a second `ufm bench --only scan` measured 224/s with 6 compilations instead of 11)."""

    import jax

    where = jax.config.jax_compilation_cache_dir
    return os.path.join(where, "ufm-programs") if where and jax.config.jax_enable_compilation_cache else None


def program_file(key, args, name: str, options: dict | None = None) -> str | None:
    """Where the compiled program of (key, argument shapes, compiler options) is kept, or None (no persistent
    cache, or a key that does not name its program portably)."""
    import hashlib

    import jax

    from ._config import x64_enabled

    where = programs_dir()
    if where is None or not _portable(key):
        return None
    shapes = [(tuple(getattr(a, "shape", ())), str(getattr(a, "dtype", type(a).__name__)),
               bool(getattr(a, "weak_type", isinstance(a, (bool, int, float, complex)))))
              for a in jax.tree_util.tree_leaves(args)]
    digest = hashlib.sha256(repr((name, key, jax.tree_util.tree_structure(args), shapes,
                                  sorted((options or {}).items()), x64_enabled(),
                                  _package_digest())).encode()).hexdigest()[:32]
    return os.path.join(where, f"{name}-{digest}.exe")


def _load(path: str | None):
    """The executable kept at `path`, or None (no path, absent, damaged, or not loadable here)."""
    import pickle

    import jax.monitoring
    from jax.experimental import serialize_executable

    if path is None:
        return None
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:  # absent (or unreadable): compile it
        return None
    try:
        t0 = time.perf_counter()
        blob, in_tree, out_tree, lapack = pickle.loads(data)
        if lapack and not _lapack_ready():
            return None
        exe = serialize_executable.deserialize_and_load(blob, in_tree, out_tree)
        jax.monitoring.record_event_duration_secs(_LOADED, time.perf_counter() - t0)
        return exe
    except Exception:  # noqa: BLE001 — damaged or from another format: compile it again, and drop the file
        try:
            os.unlink(path)
        except OSError:
            pass
        return None


_LAPACK: list = []


def _lapack_ready() -> bool:
    """Whether jaxlib's LAPACK kernels are initialised (they are bound to scipy's LAPACK when JAX first lowers a
    linear-algebra operation: an executable loaded without lowering, calling an uninitialised kernel, crashes the
    process — measured here with `ufm.metrics.all`'s SVD)."""
    if not _LAPACK:
        try:
            import numpy as np
            from jaxlib import lapack

            lapack.prepare_lapack_call("gesdd", np.dtype(np.float64))
            _LAPACK.append(True)
        except Exception:  # noqa: BLE001 — another jaxlib: such programs are compiled again, never loaded
            _LAPACK.append(False)
    return _LAPACK[0]


def _keep(path: str | None, exe, low) -> None:
    """Keep `exe` (compiled from `low`) at `path`, atomically: a reader never sees a partial file. A program that
    calls an external kernel other than LAPACK's (which `_load` knows how to prepare) is not kept; a failure to
    keep one is not an error (the program is still right)."""
    import pickle
    import tempfile

    from jax.experimental import serialize_executable

    if path is None:
        return
    try:
        targets = set(re.findall(r"custom_call @([\w.]+)", low.as_text()))
        if any(not t.startswith("lapack_") for t in targets):
            return
        data = pickle.dumps((*serialize_executable.serialize(exe), bool(targets)))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            os.unlink(tmp)
            raise
    except Exception:  # noqa: BLE001 — keeping the program is an optimisation
        pass


class persistent_jit:
    """`jax.jit(fn, static_argnums=static_argnums)` whose compiled programs a later process loads instead of
    tracing them: each (static arguments, argument shapes and dtypes, 64-bit mode) compiles once per process
    by the compile path of ufm's solves (small inputs at XLA's cheaper optimisation level), and where the
    persistent compilation cache is on (`ufm.configure`, the command line) the executable is kept in its
    `ufm-programs` folder. Only a module-level function whose static arguments are ufm's own settings types
    and plain values is kept across processes (a closure or lambda could compute something else under the
    same name). Called on tracers (inside another jit, grad or vmap) it is plain `jax.jit`. `name`: the name
    compile profiles (`ufm.compilations`) show (default: fn's). For the small programs every record runs
    (metrics, certificate): a warm process spends ~0.03 s loading each instead of ~0.2 s tracing, lowering and
    reading the XLA cache; a call costs ~45 µs more than `jax.jit`'s."""

    def __init__(self, fn, static_argnums=(), name: str | None = None):
        import functools

        import jax

        self.fn = fn
        self.static = (static_argnums,) if isinstance(static_argnums, int) else tuple(static_argnums)
        self.name = name or fn.__name__
        qual = f"{fn.__module__}.{fn.__qualname__}"
        self._id = fn if "<" in qual else qual  # a closure's key is not portable: kept in this process only
        self._jit = jax.jit(fn, static_argnums=self.static)
        self._cache = Executables()
        functools.update_wrapper(self, fn)

    def __call__(self, *args, **kwargs):
        import jax

        from ._config import x64_enabled

        if kwargs:  # keyword arguments: jax.jit's own path (programs keyed by position only here)
            return self._jit(*args, **kwargs)
        if self.static:
            static = tuple(args[i] for i in self.static)
            dyn = tuple(a for i, a in enumerate(args) if i not in self.static)
        else:
            static, dyn = (), args
        leaves, tree = jax.tree_util.tree_flatten(dyn)
        sig = []
        for v in leaves:
            if isinstance(v, jax.core.Tracer):
                return self._jit(*args)
            dtype = getattr(v, "dtype", None)
            sig.append((type(v).__name__, (), True) if dtype is None else  # a Python number: weakly typed
                       (tuple(v.shape), dtype, bool(getattr(v, "weak_type", False))))
        key = (static, tree, tuple(sig), x64_enabled())
        exe = self._cache.get(key)
        if exe is None:
            fn, positions = self.fn, self.static

            def program(*dyn_args):
                it = iter(dyn_args)
                return fn(*(static[positions.index(i)] if i in positions else next(it)
                            for i in range(len(positions) + len(dyn_args))))

            named = (self._id, static, str(tree), tuple((a, str(b), c) for a, b, c in sig), key[3])
            exe, _ = compiled(self._cache, key, program, dyn, self.name, file_key=named)
        return exe(*dyn)


def clear_caches() -> None:
    """Drop every program ufm holds compiled in this process — solves, trajectories, second-order tests and
    `persistent_jit` programs (each XLA:CPU executable holds memory mappings; a long process that compiles many
    shapes may want to free them)."""
    for cache in _ALL:
        cache.clear()


class compilations:
    """`with ufm.compilations() as c:` counts the XLA compilations JAX performs inside the block (c.count) and
    their backend seconds (c.seconds), per compiled function in c.by_name, from JAX's own monitoring events:
    every program, ufm's or not. A program read back instead — from JAX's persistent compilation cache, or one
    that ufm keeps beside it (solves, `persistent_jit`; see the command line's process settings) — is not a
    compilation: it is counted in c.loaded (its read time in c.loaded_seconds). The listeners exist only inside
    the block (importing ufm registers nothing)."""

    EVENT = "/jax/core/compile/backend_compile_duration"

    def __init__(self):
        self.count = 0
        self.seconds = 0.0
        self.loaded = 0
        self.loaded_seconds = 0.0
        self.by_name: dict = {}  # JAX's name of the compiled function → [count, seconds]
        self._thread = threading.local()  # JAX records a cache hit in the compiling thread, before its duration

    def _hit(self, event: str, **_) -> None:
        if event == _HIT:
            self._thread.hit = True

    def _listen(self, name, secs, fun_name: str = "?", **_):
        if name == _LOADED:
            self.loaded += 1
            self.loaded_seconds += secs
        if name == self.EVENT:
            if getattr(self._thread, "hit", False):
                self._thread.hit = False
                self.loaded += 1
                self.loaded_seconds += secs
                return
            self.count += 1
            self.seconds += secs
            entry = self.by_name.setdefault(_TAGGED.sub("", fun_name), [0, 0.0])
            entry[0] += 1
            entry[1] += secs

    def __enter__(self) -> "compilations":
        import jax.monitoring

        jax.monitoring.register_event_listener(self._hit)
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        return self

    def __exit__(self, *exc) -> None:
        import jax.monitoring

        jax.monitoring.unregister_event_duration_listener(self._listen)
        jax.monitoring.unregister_event_listener(self._hit)
