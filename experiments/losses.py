"""Two worked examples of losses a user writes (`Problem(loss=fn)`, `ufm.losses.Custom`), each checked in
tests/core/test_userloss.py and in the README: the solve reaches the global minimum that the losses paper's Thm 1
(Zhou et al. 2022, "Are All Losses Created Equal: A Neural Collapse Perspective", arXiv 2210.02192) predicts
through its 1-D scale, and the nuclear-norm certificate bounds the gap.

A scan spec or the command line names them as "ufm.experiments.losses:temperature_ce" (any importable
"package.module:function" works the same way).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

import ufm


def temperature_ce(z, k):
    """Temperature-scaled cross entropy, τ = 1/2: −log softmax(z/τ)_k. Convex in z, ≥ 0, contrastive (a CE of
    rescaled logits)."""
    return -jax.nn.log_softmax(z / 0.5)[k]


temperature_ce.convex = True  # declared: `ufm.losses.Custom` reads the attribute


def pairwise_logistic(z, k):
    """A supervised-contrastive-style loss on logits: Σ_{j≠k} log(1 + e^{z_j − z_k}), each wrong class pushed
    below the true one separately (one-vs-one logistic). Convex (a sum of softplus of linear maps), ≥ 0 and
    contrastive by Jensen's inequality on the strictly convex softplus."""
    K = z.shape[0]
    return jnp.sum(jnp.where(jnp.arange(K) == k, 0.0, jax.nn.softplus(z - z[k])))


pairwise_logistic.convex = True


def temperature(tau: float) -> "ufm.losses.Custom":
    """Temperature-scaled CE at any τ > 0 as a `Custom` loss (for the Python API; scans name module functions)."""
    if not (isinstance(tau, (int, float)) and tau > 0):
        raise ufm.ParameterError("tau", tau, "a number > 0", "temperature")

    def loss(z, k):
        return -jax.nn.log_softmax(z / tau)[k]

    return ufm.losses.Custom(loss, name=f"temperature_ce(tau={tau:g})", convex=True)


__all__ = ["temperature_ce", "pairwise_logistic", "temperature"]
