"""Per-sample losses on logits (Zhou et al. 2022, "Are All Losses Created Equal", arXiv 2210.02192, eqs. 3–5; Zhou et al. 2022, arXiv 2203.01238, eqs. 3–4). Columns of Z (K, N) are samples; Y (K, N) is one-hot.

All are stable for logits of magnitude 1e3: they work with log-softmax and log(1 − p_k) computed as a
log-sum-exp over the other classes, never with p itself.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable

import jax
import jax.numpy as jnp
from jax.scipy.special import logsumexp


def _log_softmax(Z):
    return Z - logsumexp(Z, axis=0, keepdims=True)


def ce(Z, Y):
    """CE: −log p_k (Zhou et al. 2022, arXiv 2210.02192, eq. 3)."""
    return -jnp.sum(Y * _log_softmax(Z), axis=0)


def ls(Z, Y, delta):
    """LS(δ): −Σ_l y^δ_l log p_l with y^δ = (1−δ)e_k + (δ/K)1 (Zhou et al. 2022, arXiv 2210.02192, eq. 5, Guo et al. 2025, arXiv 2402.03979, eq. 3)."""
    K = Z.shape[0]
    logp = _log_softmax(Z)
    return -(1 - delta) * jnp.sum(Y * logp, axis=0) - (delta / K) * jnp.sum(logp, axis=0)


def fl(Z, Y, gamma):
    """FL(γ): −(1 − p_k)^γ log p_k (Zhou et al. 2022, arXiv 2210.02192, eq. 4).

    log(1 − p_k) = logsumexp_{l≠k} z_l − logsumexp_l z_l, so (1 − p_k)^γ = exp(γ log(1 − p_k)) is exact
    even when p_k rounds to 1, and FL(0) = CE exactly.
    """
    lse = logsumexp(Z, axis=0)
    log_pk = jnp.sum(Y * Z, axis=0) - lse
    others = jnp.where(Y > 0, -jnp.inf, Z)
    log_1mpk = logsumexp(others, axis=0) - lse
    return -jnp.exp(gamma * log_1mpk) * log_pk


def softmax_family(Z, Y, delta, gamma):
    """−(1 − δ)(1 − p_k)^γ log p_k − (δ/K) Σ_l log p_l: CE at δ = γ = 0, LS(δ) at γ = 0, FL(γ) at δ = 0 (each
    equal to `ce`, `ls`, `fl` up to rounding). Solves compile this form with (δ, γ) as numbers, so one program
    per shape serves the three losses (their sum of terms is what a CE solve computes, plus a few O(K·N) ops)."""
    K = Z.shape[0]
    lse = logsumexp(Z, axis=0)
    log_pk = jnp.sum(Y * Z, axis=0) - lse
    log_1mpk = logsumexp(jnp.where(Y > 0, -jnp.inf, Z), axis=0) - lse
    return -(1 - delta) * jnp.exp(gamma * log_1mpk) * log_pk - (delta / K) * (jnp.sum(Z, axis=0) - K * lse)


SOFTMAX_FAMILY = ("ce", "ls", "fl")  # the losses `softmax_family` computes


def mse(Z, Y, alpha, M):
    """MSE(α, M): ½[α(z_k − M)² + Σ_{l≠k} z_l²] (Zhou et al. 2022, arXiv 2203.01238, eqs. 3–4 at α = M = 1)."""
    weight = 1 + (alpha - 1) * Y
    return 0.5 * jnp.sum(weight * (Z - M * Y) ** 2, axis=0)


@dataclasses.dataclass(frozen=True)
class Custom:
    """A loss the user writes: `fn(z, k)` of one logit vector z (K,) and its label index k (an int scalar) →
    a scalar, in JAX (ufm vmaps it over the samples and differentiates it twice).

    name: how rows and tables show it (default "module:qualname" of fn, which `resolve` imports back).
    convex: what the user declares: True if L(·, k) is convex in z and ≥ 0 for every k (then `ufm.solve`'s
      exact class-mean reduction and `ufm.theory.certificate`'s gap bound apply), False if not, None (default:
      fn.convex if the function carries that attribute, else unknown — treated as not convex).
      `ufm.theory.probe_loss` tests the declaration on random logits.

    `Problem(loss=fn)` wraps a plain function in `Custom(fn)`.
    """

    fn: Callable
    name: str = ""
    convex: bool | None = None

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"losses.Custom: fn must be callable; got {type(self.fn).__name__}")
        if not self.name:
            object.__setattr__(self, "name", f"{getattr(self.fn, '__module__', '?')}:"
                                             f"{getattr(self.fn, '__qualname__', type(self.fn).__name__)}")
        if self.convex is None:
            declared = getattr(self.fn, "convex", None)
            object.__setattr__(self, "convex", None if declared is None else bool(declared))

    def __call__(self, Z, Y):
        """Loss of each column of Z (K, N) with one-hot labels Y (K, N): shape (N,)."""
        return jax.vmap(self.fn)(Z.T, jnp.argmax(Y, axis=0))

    def __str__(self) -> str:
        return f"custom:{self.name}"


def resolve(spec: str) -> Custom:
    """"package.module:function" → Custom(that function) (how scan specs name a user loss); ValueError if it
    cannot be imported."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"a user loss is named 'package.module:function'; got {spec!r}")
    try:
        fn = importlib.import_module(module)
        for part in attr.split("."):
            fn = getattr(fn, part)
    except (ImportError, AttributeError) as e:
        raise ValueError(f"cannot import the loss {spec!r} ({type(e).__name__}: {e})") from None
    return Custom(fn, name=spec)


def per_sample(loss, Z, Y, hyper):
    """Loss of each column of Z, shape (N,). `loss`: a name or a `Custom` loss."""
    if isinstance(loss, Custom):
        return loss(Z, Y)
    if loss == "ce":
        return ce(Z, Y)
    if loss == "ls":
        return ls(Z, Y, hyper.delta)
    if loss == "fl":
        return fl(Z, Y, hyper.gamma)
    if loss == "mse":
        return mse(Z, Y, hyper.alpha, hyper.M)
    if loss == "softmax":  # the solvers' form of ce/ls/fl (`softmax_family`; hyper carries the loss's own δ, γ)
        return softmax_family(Z, Y, hyper.delta, hyper.gamma)
    raise ValueError(f"loss must be one of ce, ls, fl, mse; got {loss!r}")
