"""Second-order polish: trust-region Newton-CG (Steihaug) on Hessian-vector products."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from .._errors import ParameterError, check_int
from . import _tree as T
from ._protocol import Status


class NewtonState(NamedTuple):
    radius: jax.Array  # the trust radius


def _to_boundary(z, p, radius):
    """τ ≥ 0 with ‖z + τ p‖ = radius (z inside the ball)."""
    a = T.vdot(p, p)
    b = 2 * T.vdot(z, p)
    c = T.vdot(z, z) - radius**2
    a_safe = jnp.where(a > 0, a, 1.0)
    tau = (-b + jnp.sqrt(jnp.maximum(b * b - 4 * a * c, 0.0))) / (2 * a_safe)
    return jnp.where(a > 0, tau, 0.0)


def steihaug_cg(hvp, g, radius, tol, max_steps):
    """Approximately minimise m(p) = g·p + ½ p·Bp over ‖p‖ ≤ radius (Nocedal & Wright 2006, Alg. 7.2).

    CG on B p = −g, stopping at residual ≤ tol, at negative curvature or at the boundary (then following
    the current direction to the boundary). Singular B (the rotation symmetry of the UFM) is fine: CG stays
    in the Krylov space of g, which lies in the range of B.
    """
    z0 = T.zeros_like(g)

    def cond(c):
        return ~c[5]

    def body(c):
        z, r, p, rr, j, _ = c
        Bp = hvp(p)
        pBp = T.vdot(p, Bp)
        curved = pBp > 0
        alpha = rr / jnp.where(curved, pBp, 1.0)
        z_next = T.axpy(alpha, p, z)
        leaves = ~curved | (T.norm(z_next) >= radius)
        z_edge = T.axpy(_to_boundary(z, p, radius), p, z)
        r_next = T.axpy(alpha, Bp, r)
        rr_next = T.vdot(r_next, r_next)
        p_next = T.axpy(rr_next / jnp.where(rr > 0, rr, 1.0), p, T.neg(r_next))
        done = leaves | (jnp.sqrt(rr_next) <= tol) | (j + 1 >= max_steps)
        return T.where(leaves, z_edge, z_next), r_next, p_next, rr_next, j + 1, done

    rr0 = T.vdot(g, g)
    init = (z0, g, T.neg(g), rr0, jnp.zeros((), jnp.int32), rr0 == 0)
    z, _, _, _, j, _ = lax.while_loop(cond, body, init)
    return z, j


@dataclasses.dataclass(frozen=True)
class Newton:
    """Trust-region Newton-CG: each step minimises the local quadratic model by Steihaug CG on
    Hessian-vector products (forward-over-reverse), accepts it by the ratio of actual to predicted decrease,
    and adapts the radius (Nocedal & Wright 2006, Alg. 4.1 + 7.2). Superlinear near a minimiser, so it takes
    an L-BFGS solution to a relative gradient norm of 1e-12 or below in float64 in a few steps.

    When the predicted decrease falls below the rounding of f, a step is accepted iff it halves ‖∇f‖
    (f can no longer tell the steps apart). Terminates with STALLED once the radius shrinks below the rounding
    of x. Default tolerance ‖∇f‖/|f| ≤ 1e-12 in float64 (1e-5 in float32), at most 200 steps.

    Attributes:
      cg_steps: CG iterations per Newton step at most.
      radius: initial trust radius relative to max(1, ‖x0‖).
      max_radius: the largest trust radius.
      accept: minimal ratio of actual to predicted decrease for a step to be taken.
    """

    cg_steps: int = 250
    radius: float = 0.1
    max_radius: float = 1e4
    accept: float = 1e-4

    def __post_init__(self):
        check_int("cg_steps", self.cg_steps, 1, "Newton")
        for key in ("radius", "max_radius"):
            if not (isinstance(getattr(self, key), (int, float)) and 0 < getattr(self, key) < float("inf")):
                raise ParameterError(key, getattr(self, key), "a finite number > 0", "Newton")
        if not (isinstance(self.accept, (int, float)) and 0 <= self.accept < 0.25):
            raise ParameterError("accept", self.accept, "in [0, 0.25)", "Newton")

    def defaults(self, dtype: str) -> tuple[float, int]:
        return (1e-12 if dtype == "float64" else 1e-5), 200

    def init(self, fun, x, f, g, max_steps):
        radius = self.radius * jnp.maximum(1.0, T.norm(x))
        return NewtonState(radius.astype(T.dtype(x)))

    def step(self, fun, x, f, g, state, max_steps):
        eps = jnp.finfo(T.dtype(x)).eps
        hvp = lambda v: jax.jvp(jax.grad(fun), (x,), (v,))[1]  # noqa: E731
        gnorm = T.norm(g)
        fscale = jnp.maximum(jnp.abs(f), jnp.finfo(T.dtype(x)).tiny)
        forcing = jnp.minimum(0.5, jnp.sqrt(gnorm / fscale))
        p, _ = steihaug_cg(hvp, g, state.radius, forcing * gnorm, self.cg_steps)
        pred = -(T.vdot(g, p) + 0.5 * T.vdot(p, hvp(p)))
        x_try = T.axpy(1.0, p, x)
        f_new, g_new = jax.value_and_grad(fun)(x_try)
        ok = jnp.isfinite(f_new) & T.all_finite(g_new)
        rho = (f - f_new) / jnp.where(pred > 0, pred, 1.0)
        # Below 64 eps |f| f cannot tell a step's decrease from rounding; up to eps^(2/3)|f| (3.7e-11 relative in
        # float64, 2.4e-5 in float32) it may not either: f rounds as its largest terms do, not as f — a loss near
        # 0 made of logits of size 5–10 rounds at ~1e-15 absolute, 3e-12 relative to f = 1.3e-4 (CE, K = 2,
        # λ_W = λ_H = 1e-5: the exact Newton step cut ‖∇f‖ from 9e-12 to 8e-17, raised f by 4e-16 and was
        # refused). There a step is also taken if it halves ‖∇f‖ and f rises by no more than that noise: a
        # superlinear Newton step does; steps that only creep along the rounding floor (1 % per step for 200
        # steps, seen) end in STALLED instead. The ratio test still decides where f can resolve it.
        tiny = pred <= 64 * eps * fscale
        noise = jnp.maximum(64 * eps, eps ** (2 / 3)) * fscale
        in_noise = pred <= noise
        by_gradient = in_noise & (f_new <= f + noise) & (T.norm(g_new) <= 0.5 * gnorm)
        take = ok & ((~tiny & (rho > self.accept)) | by_gradient)
        pnorm = T.norm(p)
        good = take & ~in_noise & (rho > 0.75) & (pnorm >= 0.99 * state.radius)
        radius = jnp.where(
            take, jnp.where(good, jnp.minimum(2 * state.radius, self.max_radius), state.radius), 0.25 * pnorm
        )
        x = T.where(take, x_try, x)
        f = jnp.where(take, f_new, f)
        g = T.where(take, g_new, g)
        return x, f, g, NewtonState(radius)

    def terminate(self, fun, x, f, g, state, max_steps):
        stalled = state.radius <= jnp.finfo(T.dtype(x)).eps * jnp.maximum(1.0, T.norm(x))
        return stalled, jnp.where(stalled, Status.STALLED.code, Status.RUNNING.code).astype(jnp.int32)
