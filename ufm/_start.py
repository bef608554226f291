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

    init=None: W, H with i.i.d. N(0, init_scale²) entries from numpy's default_rng(seed) (W first), b = 0.
    init=(W, H, b): that point (the frozen W and, without bias, b are ignored).
    """
    layout = Layout.of(problem)
    K, d, N = layout.K, layout.d, layout.N
    if init is None:
        if not (isinstance(init_scale, (int, float)) and init_scale >= 0 and math.isfinite(init_scale)):
            raise ParameterError("init_scale", init_scale, "a finite number ≥ 0", "initial_point")
        check_int("seed", seed, 0, "initial_point")
        rng = np.random.default_rng(seed)
        W = init_scale * rng.standard_normal((K, d))
        H = init_scale * rng.standard_normal((d, N))
        b = np.zeros(K)
    else:
        try:
            W, H, b = (np.asarray(a, dtype=np.float64) for a in init)
        except (TypeError, ValueError) as e:
            raise ParameterError("init", type(init).__name__, "a (W, H, b) triple of arrays", "initial_point") from e
        for name, a, shape in (("W", W, (K, d)), ("H", H, (d, N)), ("b", b, (K,))):
            if a.shape != shape:
                raise ParameterError(f"init {name}", a.shape, f"of shape {shape}", "initial_point")
            if not np.all(np.isfinite(a)):
                raise ParameterError(f"init {name}", "non-finite entries", "finite", "initial_point")
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
    W = next(it) if not layout.fixed_w else np.broadcast_to(layout.W_fixed(np), lead + (layout.K, layout.d)).copy()
    H = next(it)
    b = next(it) if layout.bias else np.zeros(lead + (layout.K,), layout.dtype)
    return W, H, b


def stack_host(trees: list):
    """Same-structure pytrees of arrays → one pytree of numpy arrays with a leading batch axis."""
    return jax.tree_util.tree_map(lambda *a: np.stack([np.asarray(v) for v in a]), *trees)


__all__ = ["initial_point", "device_free", "host_full", "stack_host"]
