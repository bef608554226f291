"""What theory can say about a loss the user writes (`ufm.losses.Custom`), probed on random logits.

The losses paper (Zhou, You, Li, Liu, Liu, Qu, Zhu 2022, "Are All Losses Created Equal: A Neural Collapse
Perspective", NeurIPS 2022, arXiv 2210.02192) proves that for a loss with the *contrastive property* (Def. 1:
L(z, k) ≥ φ(Σ_{j≠k}(z_j − z_k)) for some φ, with equality iff the off-target logits are equal) every global
minimiser of the UFM is a simplex ETF whose logit scale a minimises the 1-D function
g(a) = L(a(e_k − 1/K), k) + (K−1)√n λ_Z a (Thm 1, d ≥ K). For a user's loss φ is the loss at equal off-target
logits, φ(t) = L(z_t, k) with (z_t)_k = 0 and (z_t)_j = t/(K−1); the probe checks the inequality on random logits
at several scales. Convexity in z (which makes the class-mean reduction exact and the certificate a bound) is
probed by the smallest eigenvalue of ∇²_z L on the same points. A probe can refute a property, never prove it:
the report says "holds on N points".
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ufm import ParameterError, float64
from ufm.losses import Custom


class LossProbe(NamedTuple):
    """name: the loss.  points: random logit vectors probed (per class k).  declared_convex: what the user said.
    convex: no negative curvature found (min_curvature ≥ −1e-9·max curvature).  min_curvature: the smallest
    eigenvalue of ∇²_z L seen (relative to the largest |eigenvalue|).  nonnegative: L ≥ 0 everywhere probed
    (min_value).  contrastive: L(z, k) − φ(t) ≥ −1e-10·(1 + |L|) everywhere (min_gap, relative), φ(t) = L at
    equal off-target logits.  strict: the gap is > 0 at every probed point with unequal off-target logits (so
    equality holds only at equal ones).  symmetric: L(Pz, σ(k)) = L(z, k) under random label permutations."""

    name: str
    points: int
    declared_convex: bool | None
    convex: bool
    min_curvature: float
    nonnegative: bool
    min_value: float
    contrastive: bool
    min_gap: float
    strict: bool
    symmetric: bool

    @property
    def etf_theorem_applies(self) -> bool:
        """The hypotheses of the losses paper's Thm 1 as probed: contrastive (strictly), symmetric, ≥ 0."""
        return self.contrastive and self.strict and self.symmetric and self.nonnegative


@functools.lru_cache(maxsize=64)
def _probe(loss: Custom, K: int, points: int, seed: int) -> LossProbe:
    rng = np.random.default_rng(seed)
    scales = np.repeat([0.1, 1.0, 5.0, 20.0], -(-points // 4))[:points]
    Z = rng.standard_normal((points, K)) * scales[:, None]
    ks = rng.integers(0, K, points)
    fn = jax.jit(jax.vmap(loss.fn))
    hess = jax.jit(jax.vmap(jax.hessian(loss.fn)))
    L = np.asarray(fn(jnp.asarray(Z), jnp.asarray(ks)), np.float64)
    Hs = np.asarray(hess(jnp.asarray(Z), jnp.asarray(ks)), np.float64)
    eig = np.linalg.eigvalsh(Hs)
    top = max(float(np.abs(eig).max()), np.finfo(float).tiny)
    min_curv = float(eig.min()) / top
    # φ(t): the loss at equal off-target logits with the same t = Σ_{j≠k}(z_j − z_k).
    zk = Z[np.arange(points), ks]
    t = Z.sum(axis=1) - K * zk
    Zeq = np.repeat((t / (K - 1))[:, None], K, axis=1)
    Zeq[np.arange(points), ks] = 0.0
    phi = np.asarray(fn(jnp.asarray(Zeq), jnp.asarray(ks)), np.float64)
    gap = (L - phi) / (1.0 + np.abs(L))
    # Symmetry: permute the classes of each point (and its label) at random.
    perm = np.array([rng.permutation(K) for _ in range(points)])
    Zp = np.take_along_axis(Z, perm, axis=1)
    kp = np.argmax(perm == ks[:, None], axis=1)  # new position of class k
    Lp = np.asarray(fn(jnp.asarray(Zp), jnp.asarray(kp)), np.float64)
    symmetric = bool(np.all(np.abs(Lp - L) <= 1e-9 * (1.0 + np.abs(L))))
    # Random Gaussian logits have unequal off-target entries (almost surely): the gap must be > 0 at each where it
    # is resolvable in float64, i.e. where L is not below 1e-8 (large logits drive L and φ both to 0). K = 2 has one
    # off-target logit, where the property is an identity.
    # Asymptotically linear losses (softplus sums) have a Jensen gap below float64 resolution at large logits, so
    # strictness is judged on the points of scale ≤ 5.
    resolvable = (np.abs(L) > 1e-8) & (scales <= 5.0)
    return LossProbe(
        name=loss.name, points=points, declared_convex=loss.convex, convex=min_curv >= -1e-9, min_curvature=min_curv,
        nonnegative=bool(L.min() >= -1e-12), min_value=float(L.min()), contrastive=bool(gap.min() >= -1e-10),
        min_gap=float(gap.min()), strict=bool(K == 2 or np.all(gap[resolvable] > 0)), symmetric=symmetric)


@functools.lru_cache(maxsize=32)
def _builtin(name: str, K: int) -> Custom:
    """A built-in loss (default parameters) as a Custom, one object per (name, K) so that `_probe` caches it."""
    from ufm import Problem
    from ufm.losses import per_sample

    p = Problem(K=K, loss=name)
    h = p.hyper
    return Custom(lambda z, k: per_sample(p.loss, z[:, None], jax.nn.one_hot(k, K)[:, None], h)[0], name=name,
                  convex=name in ("ce", "ls", "mse"))


@float64()
def probe_loss(loss, K: int, points: int = 400, seed: int = 0) -> LossProbe:
    """Probe a loss (a `ufm.losses.Custom`, a function fn(z, k) or a built-in name) on `points` random logit
    vectors of length K at scales 0.1–20 (see the module): convexity in z, L ≥ 0, the contrastive property of
    Zhou et al. 2022 (arXiv 2210.02192, Def. 1) and class-permutation symmetry."""
    if not (isinstance(K, int) and K >= 2):
        raise ParameterError("K", K, "an integer ≥ 2", "probe_loss")
    if not (isinstance(points, int) and points >= 8):
        raise ParameterError("points", points, "an integer ≥ 8", "probe_loss")
    if isinstance(loss, str) and ":" not in loss:
        loss = _builtin(loss, K)
    elif not isinstance(loss, Custom):
        from ufm import Problem

        loss = Problem(K=K, loss=loss).loss
    return _probe(loss, K, points, seed)


def is_convex(problem) -> bool:
    """Whether the certificate may treat the problem's loss as convex in the logits: a built-in convex loss, or a
    user loss declared convex (probed: `probe_loss`)."""
    loss = problem.loss
    if isinstance(loss, Custom):
        return loss.convex is True
    return loss in ("ce", "ls", "mse")
