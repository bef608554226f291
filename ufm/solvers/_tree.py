"""Vector operations on pytrees of arrays: the solvers' iterate is the tuple of free variables (W, H, b) as
separate arrays, so that no step copies H in and out of one flat vector (an array is a pytree too)."""

from __future__ import annotations

import jax.numpy as jnp
from jax import tree_util as tu


def vdot(a, b):
    return sum(jnp.vdot(x, y) for x, y in zip(tu.tree_leaves(a), tu.tree_leaves(b), strict=True))


def norm(a):
    return jnp.sqrt(sum(jnp.vdot(x, x) for x in tu.tree_leaves(a)))


def axpy(alpha, x, y):
    """alpha·x + y."""
    return tu.tree_map(lambda u, v: alpha * u + v, x, y)


def where(cond, a, b):
    return tu.tree_map(lambda u, v: jnp.where(cond, u, v), a, b)


def all_finite(a):
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in tu.tree_leaves(a)]))


def dtype(a):
    return tu.tree_leaves(a)[0].dtype


def zeros_like(a):
    return tu.tree_map(jnp.zeros_like, a)


def neg(a):
    return tu.tree_map(jnp.negative, a)


__all__ = ["vdot", "norm", "axpy", "where", "all_finite", "dtype", "zeros_like", "neg"]
