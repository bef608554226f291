"""Start points and the host/device conversions of a solve: the free vector x0 a run starts from, the solvers'
tuple of device arrays made from it, and (W, H, b) back on the host from a program's output. All host work:
numpy slicing compiles no program."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from ._config import float64
from ._errors import ParameterError, check_int
from ._objective import Layout, Params
from ._problem import Problem


@float64()
def initial_point(problem: Problem, seed: int = 0, init=None, init_scale: float = 0.1) -> np.ndarray:
    """The free vector x0 a solve starts from.

    init=None: W, H with i.i.d. N(0, init_scale²) entries from numpy's default_rng(seed) (W first; with depth
    L > 1 the layers W_1 … W_L in order), b = 0.
    init=(W, H, b): that point (the frozen W and, without bias, b are ignored; deep: W the tuple of layers).
    """
    layout = Layout.of(problem)
    K, d, N = layout.K, layout.d, layout.N
    if init is None:
        if not (isinstance(init_scale, (int, float)) and init_scale >= 0 and math.isfinite(init_scale)):
            raise ParameterError("init_scale", init_scale, "a finite number ≥ 0", "initial_point")
        check_int("seed", seed, 0, "initial_point")
        rng = np.random.default_rng(seed)
        Ws = [init_scale * rng.standard_normal(shape) for shape in layout.w_shapes]
        W = tuple(Ws) if layout.deep else Ws[0]
        H = init_scale * rng.standard_normal((d, N))
        b = np.zeros(K)
    else:
        try:
            W, H, b = init
            Ws = [np.asarray(w, dtype=np.float64) for w in W] if layout.deep else [np.asarray(W, dtype=np.float64)]
            H, b = np.asarray(H, dtype=np.float64), np.asarray(b, dtype=np.float64)
        except (TypeError, ValueError) as e:
            what = "a (W, H, b) triple of arrays" + (f", W a sequence of {layout.depth}" if layout.deep else "")
            raise ParameterError("init", type(init).__name__, what, "initial_point") from e
        if len(Ws) != len(layout.w_shapes):
            raise ParameterError("init W", f"{len(Ws)} layers", f"{layout.depth}", "initial_point")
        names = [f"W_{i + 1}" for i in range(len(Ws))] if layout.deep else ["W"]
        for name, a, shape in list(zip(names, Ws, layout.w_shapes)) + [("H", H, (d, N)), ("b", b, (K,))]:
            if a.shape != shape:
                raise ParameterError(f"init {name}", a.shape, f"of shape {shape}", "initial_point")
            if not np.all(np.isfinite(a)):
                raise ParameterError(f"init {name}", "non-finite entries", "finite", "initial_point")
        W = tuple(Ws) if layout.deep else Ws[0]
    return np.asarray(layout.pack(Params(W, H, b)))


def device_free(layout: Layout, x0: np.ndarray) -> tuple:
    """The free vector x0 (numpy, from `initial_point`) as the solvers' tuple of device arrays: sliced on the
    host, so that no program is compiled for it."""
    return tuple(jnp.asarray(a) for a in layout.free(layout.unpack(np.asarray(x0, layout.dtype))))


def host_full(layout: Layout, free, batched: bool) -> tuple:
    """(W, H, b) as numpy arrays from the solvers' tuple of free arrays (leading batch axis if `batched`)."""
    free = [np.asarray(a) for a in free]
    lead = free[0].shape[:1] if batched else ()
    it = iter(free)
    if layout.deep:
        W = tuple(next(it) for _ in range(layout.depth))
    else:
        W = next(it) if not layout.fixed_w else np.broadcast_to(layout.W_fixed(np), lead + (layout.K, layout.d)).copy()
    H = next(it)
    b = next(it) if layout.bias else np.zeros(lead + (layout.K,), layout.dtype)
    return W, H, b


def stack_host(trees: list):
    """Same-structure pytrees of arrays → one pytree of numpy arrays with a leading batch axis."""
    return jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(v) for v in a]), *trees)


__all__ = ["initial_point", "device_free", "host_full", "stack_host"]
