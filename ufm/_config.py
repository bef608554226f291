"""Process configuration, only on request: importing ufm changes nothing in JAX or matplotlib.

`configure()` is the one call that turns on JAX's 64-bit mode and the persistent compilation cache (the command
line calls it; so may a script that wants both). Without it, ufm's own entry points (`solve`, `solve_batch`,
`trajectory`, `metrics.all`, the theory routines) still compute float64 problems in float64: they run inside
`float64()`, a scoped switch that leaves the process's setting as it was.
"""

from __future__ import annotations

import contextlib
import os

import jax

from ._errors import Float64Unavailable

_CACHE_OFF = ("", "off", "0", "none", "false")


def default_cache_dir() -> str | None:
    """$UFM_CACHE_DIR, else ~/.cache/ufm/xla; None when UFM_CACHE_DIR is off/0/none/empty."""
    where = os.environ.get("UFM_CACHE_DIR", os.path.join(os.path.expanduser("~"), ".cache", "ufm", "xla"))
    return None if where.strip().lower() in _CACHE_OFF else where


def configure(x64: bool = True, compilation_cache: bool | str = True) -> dict:
    """Turn on JAX's 64-bit mode and its persistent compilation cache for this process.

    x64: set `jax_enable_x64` (arrays created without a dtype then default to float64/int64 in the whole
      process, the user's own JAX code included).
    compilation_cache: True → `default_cache_dir()` (a shape compiled once loads from disk in later processes:
      `ufm bench --only startup` measures both); a path → that folder; False → leave it off.
      A cache folder already configured for JAX is kept; a folder that cannot be created leaves the cache off.
    Returns what was set: {"x64": bool, "compilation_cache": folder or None}.
    """
    if x64:
        jax.config.update("jax_enable_x64", True)
    where = None
    if compilation_cache:
        where = default_cache_dir() if compilation_cache is True else str(compilation_cache)
        if jax.config.jax_compilation_cache_dir:
            where = jax.config.jax_compilation_cache_dir
        elif where is not None:
            try:
                os.makedirs(where, exist_ok=True)
            except OSError:  # a read-only home: compile every time, as without the cache
                where = None
            else:
                jax.config.update("jax_compilation_cache_dir", where)
                # Metrics, certificates and predictions compile small programs (0.1–1 s each): cache them too.
                jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
    return {"x64": bool(jax.config.jax_enable_x64), "compilation_cache": where}


def x64_enabled() -> bool:
    """Whether JAX creates 64-bit arrays here and now (the process setting or an enclosing `float64()`)."""
    return jax.dtypes.canonicalize_dtype("float64") == "float64"


def _x64_context():
    if hasattr(jax, "enable_x64"):  # JAX ≥ 0.7
        return jax.enable_x64(True)
    from jax.experimental import enable_x64  # noqa: PLC0415  (older JAX)

    return enable_x64()


class float64(contextlib.ContextDecorator):
    """Context manager and decorator: JAX's 64-bit mode inside, the caller's setting restored after.

        with ufm.float64():
            ...                        # jnp.zeros(3).dtype == float64 here
        @ufm.float64()
        def my_check(...): ...

    The switch is thread-local and part of JAX's compilation key, so it works with jit (a function traced
    inside compiles a float64 program; called outside, it keeps its compiled dtypes).
    """

    def _recreate_cm(self):  # a fresh switch per call: the decorated function may nest or run in threads
        return type(self)()

    def __enter__(self):
        self._cm = _x64_context()
        self._cm.__enter__()
        return self

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def require_float64(where: str, dtype: str) -> None:
    """Raise `Float64Unavailable` if `dtype` is float64 and the 64-bit mode is off here."""
    if dtype == "float64" and not x64_enabled():
        raise Float64Unavailable(where)


__all__ = ["configure", "default_cache_dir", "x64_enabled", "float64", "require_float64"]
