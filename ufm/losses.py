"""Per-sample losses on logits, one record (`Loss`) per family.

Columns of Z (K, N) are samples; Y (K, N) is one-hot. All are stable for logits of magnitude 1e3: they work with
log-softmax and log(1 − p_k) computed as a log-sum-exp over the other classes, never with p itself.

Each family is one `Loss` record in `LOSSES`: its function, the `Problem` fields it reads, whether it is convex
in the logits (what the exact class-mean reduction and the certificate need) and the compiled program family it
joins. Everything else about a loss is derived from its record: the names `Problem(loss=...)` accepts, the
per-sample dispatch, the reduction's convexity rule and the program a solve compiles. A loss the user writes,
`Custom`, is the same record. Adding a family is adding one entry to `LOSSES`.

Sources: Zhou, You, Li, Liu, Liu, Qu, Zhu 2022, "Are All Losses Created Equal: A Neural Collapse Perspective"
(NeurIPS 2022, arXiv 2210.02192), eqs. 3–5; Zhou, Li, Ding, You, Qu, Zhu 2022, "On the Optimization Landscape
of Neural Collapse under MSE Loss" (ICML 2022, arXiv 2203.01238), eqs. 3–4; Guo, Andriopoulos, Zhao, Dong,
Ling, Ross 2025, "Cross Entropy versus Label Smoothing: A Neural Collapse Perspective" (TMLR 2025,
arXiv 2402.03979), eq. 3.

This module imports JAX only when a loss is computed (`ufm.Problem` validates loss names without it).
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import Callable


def _log_softmax(Z):
    from jax.scipy.special import logsumexp

    return Z - logsumexp(Z, axis=0, keepdims=True)


def ce(Z, Y):
    """CE: −log p_k (Zhou et al. 2022, arXiv 2210.02192, eq. 3)."""
    import jax.numpy as jnp

    return -jnp.sum(Y * _log_softmax(Z), axis=0)


def ls(Z, Y, delta):
    """LS(δ): −Σ_l y^δ_l log p_l with y^δ = (1−δ)e_k + (δ/K)1 (Zhou et al. 2022, arXiv 2210.02192, eq. 5, Guo et al. 2025, arXiv 2402.03979, eq. 3)."""
    import jax.numpy as jnp

    K = Z.shape[0]
    logp = _log_softmax(Z)
    return -(1 - delta) * jnp.sum(Y * logp, axis=0) - (delta / K) * jnp.sum(logp, axis=0)


def fl(Z, Y, gamma):
    """FL(γ): −(1 − p_k)^γ log p_k (Zhou et al. 2022, arXiv 2210.02192, eq. 4).

    log(1 − p_k) = logsumexp_{l≠k} z_l − logsumexp_l z_l, so (1 − p_k)^γ = exp(γ log(1 − p_k)) is exact
    even when p_k rounds to 1, and FL(0) = CE exactly.
    """
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    lse = logsumexp(Z, axis=0)
    log_pk = jnp.sum(Y * Z, axis=0) - lse
    others = jnp.where(Y > 0, -jnp.inf, Z)
    log_1mpk = logsumexp(others, axis=0) - lse
    return -jnp.exp(gamma * log_1mpk) * log_pk


def softmax_family(Z, Y, delta, gamma):
    """−(1 − δ)(1 − p_k)^γ log p_k − (δ/K) Σ_l log p_l: CE at δ = γ = 0, LS(δ) at γ = 0, FL(γ) at δ = 0 (each
    equal to `ce`, `ls`, `fl` up to rounding). Solves compile this form with (δ, γ) as numbers, so one program
    per shape serves the three losses (their sum of terms is what a CE solve computes, plus a few O(K·N) ops)."""
    import jax.numpy as jnp
    from jax.scipy.special import logsumexp

    K = Z.shape[0]
    lse = logsumexp(Z, axis=0)
    log_pk = jnp.sum(Y * Z, axis=0) - lse
    log_1mpk = logsumexp(jnp.where(Y > 0, -jnp.inf, Z), axis=0) - lse
    return -(1 - delta) * jnp.exp(gamma * log_1mpk) * log_pk - (delta / K) * (jnp.sum(Z, axis=0) - K * lse)


def mse(Z, Y, alpha, M):
    """MSE(α, M): ½[α(z_k − M)² + Σ_{l≠k} z_l²] (Zhou et al. 2022, arXiv 2203.01238, eqs. 3–4 at α = M = 1)."""
    import jax.numpy as jnp

    weight = 1 + (alpha - 1) * Y
    return 0.5 * jnp.sum(weight * (Z - M * Y) ** 2, axis=0)


@dataclasses.dataclass(frozen=True)
class Loss:
    """One loss family: everything ufm needs to know about it, in one place.

    fn: the per-sample loss fn(Z (K, N), Y (K, N), *params) → (N,).
    name: how `Problem(loss=...)`, rows and tables name it.
    params: the `Problem` fields fn reads, in order (e.g. ("delta",) for LS).
    convex: whether L(·, k) is convex in the logits (and ≥ 0) — True, False, or a predicate of the params'
      values whose docstring says where it holds (focal loss: γ = 0). The exact class-mean reduction
      (`ufm.reduction`) and the certificate's gap bound (`ufm.theory.certificate`) hold where it is true.
    program: the compiled family a solve runs it as ("" = its own). CE, LS(δ) and FL(γ) join "softmax"
      (`softmax_family`), so one program per shape serves all three, with (δ, γ) as numbers.
    off: for a program family, the value of each of its params that switches that term off (a member's
      params that the family has and the member does not are run at these values).
    cite: the paper and equation that define it.
    """

    fn: Callable
    name: str = ""
    params: tuple = ()
    convex: bool | Callable | None = None
    program: str = ""
    off: tuple = ()
    cite: str = ""

    def per_sample(self, Z, Y, hyper):
        """Loss of each column of Z (K, N) with one-hot labels Y (K, N): shape (N,). `hyper`: anything with the
        params as attributes (`Problem`, `ufm.Problem.hyper`)."""
        return self.fn(Z, Y, *(getattr(hyper, p) for p in self.params))

    def convex_at(self, numbers) -> bool:
        """Whether the loss is convex in the logits at these parameter values (`numbers`: a `Problem` or its
        `hyper`). Unknown (None) counts as not convex."""
        if callable(self.convex):
            return bool(self.convex(*(getattr(numbers, p) for p in self.params)))
        return self.convex is True

    def program_numbers(self, hyper):
        """`hyper` with the numbers the compiled program of this loss runs with: the program family's params
        this loss does not have are set to the family's `off` values (a CE problem with δ or γ set still runs
        at (δ, γ) = (0, 0))."""
        if not self.program:
            return hyper
        family = PROGRAMS[self.program]
        return hyper._replace(**{p: v for p, v in family.off if p not in self.params})


class Custom(Loss):
    """A loss the user writes: `fn(z, k)` of one logit vector z (K,) and its label index k (an int scalar) →
    a scalar, in JAX (ufm vmaps it over the samples and differentiates it twice). The same record as the
    built-in losses (`Loss`), with no parameters, compiled as its own program.

    name: how rows and tables show it (default "module:qualname" of fn, which `resolve` imports back).
    convex: what the user declares: True if L(·, k) is convex in z and ≥ 0 for every k (then `ufm.solve`'s
      exact class-mean reduction and `ufm.theory.certificate`'s gap bound apply), False if not, None (default:
      fn.convex if the function carries that attribute, else unknown — treated as not convex).
      `ufm.theory.probe_loss` tests the declaration on random logits.

    `Problem(loss=fn)` wraps a plain function in `Custom(fn)`.
    """

    def __init__(self, fn: Callable, name: str = "", convex: bool | None = None):
        from ._errors import ParameterError

        if not callable(fn):
            raise ParameterError("fn", type(fn).__name__, "a callable fn(z (K,), k) → scalar", "losses.Custom")
        if not name:
            name = f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', type(fn).__name__)}"
        if convex is None:
            declared = getattr(fn, "convex", None)
            convex = None if declared is None else bool(declared)
        super().__init__(fn=fn, name=name, convex=convex)

    def per_sample(self, Z, Y, hyper=None):
        import jax
        import jax.numpy as jnp

        return jax.vmap(self.fn)(Z.T, jnp.argmax(Y, axis=0))

    def __call__(self, Z, Y):
        """Loss of each column of Z (K, N) with one-hot labels Y (K, N): shape (N,)."""
        return self.per_sample(Z, Y)

    def __repr__(self) -> str:
        return f"Custom({self.name!r}, convex={self.convex!r})"

    def __str__(self) -> str:
        return f"custom:{self.name}"


_ZHOU22 = "Zhou et al. 2022, 'Are All Losses Created Equal', arXiv 2210.02192"


def _fl_convex(gamma) -> bool:
    """γ = 0 (FL(0) is CE; for γ > 0, (1 − p_k)^γ log p_k is not convex in the logits everywhere)"""
    return gamma == 0

# The built-in families, by the name `Problem(loss=...)` takes.
LOSSES: dict[str, Loss] = {
    "ce": Loss(ce, "ce", (), True, "softmax", cite=f"{_ZHOU22}, eq. 3"),
    "ls": Loss(ls, "ls", ("delta",), True, "softmax",
               cite=f"{_ZHOU22}, eq. 5; Guo et al. 2025, arXiv 2402.03979, eq. 3"),
    "fl": Loss(fl, "fl", ("gamma",), _fl_convex, "softmax", cite=f"{_ZHOU22}, eq. 4"),
    "mse": Loss(mse, "mse", ("alpha", "M"), True,
                cite="Zhou et al. 2022, 'On the Optimization Landscape of Neural Collapse under MSE Loss', "
                     "arXiv 2203.01238, eqs. 3–4"),
}

# The compiled program families that several losses join (`Loss.program`).
PROGRAMS: dict[str, Loss] = {
    "softmax": Loss(softmax_family, "softmax", ("delta", "gamma"), None, off=(("delta", 0.0), ("gamma", 0.0)),
                    cite="CE at δ = γ = 0, LS(δ) at γ = 0, FL(γ) at δ = 0"),
}

SOFTMAX_FAMILY = tuple(name for name, r in LOSSES.items() if r.program == "softmax")  # ("ce", "ls", "fl")


def record(loss) -> Loss:
    """The record of a loss: a built-in name (`LOSSES`), a program family name (`PROGRAMS`) or a `Loss` itself
    (a `Custom` loss); ParameterError for anything else."""
    if isinstance(loss, Loss):
        return loss
    found = LOSSES.get(loss) or PROGRAMS.get(loss)
    if found is None:
        from ._errors import ParameterError

        raise ParameterError("loss", loss, "one of " + ", ".join(LOSSES) + " or a ufm.losses.Custom", "losses")
    return found


def resolve(spec: str) -> Custom:
    """"package.module:function" → Custom(that function) (how scan specs and the command line name a user loss);
    ValueError, in one line, if it cannot be imported — whatever the module does when it is imported (raises,
    has a syntax error, calls sys.exit)."""
    module, sep, attr = spec.partition(":")
    if not sep or not module or not attr:
        raise ValueError(f"a user loss is named 'package.module:function'; got {spec!r}")
    try:
        fn = importlib.import_module(module)
    except SystemExit as e:
        raise ValueError(f"cannot import {module}: importing it called sys.exit({e.code!r})") from None
    except Exception as e:  # noqa: BLE001 - the user's module may raise anything at import
        first = (str(e).strip().splitlines() or [""])[0]
        raise ValueError(f"cannot import {module}: {type(e).__name__}: {first}") from None
    try:
        for part in attr.split("."):
            fn = getattr(fn, part)
    except AttributeError:
        raise ValueError(f"cannot import {spec}: {module} has no attribute {attr!r}") from None
    return Custom(fn, name=spec)


def per_sample(loss, Z, Y, hyper):
    """Loss of each column of Z, shape (N,). `loss`: a name (`LOSSES`, `PROGRAMS`) or a `Loss` record."""
    return record(loss).per_sample(Z, Y, hyper)
