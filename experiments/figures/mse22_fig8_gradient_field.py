"""Zhou et al. 2022 (arXiv 2203.01238), Fig. 8: gradient-descent fields of the K → ∞ one-feature losses in (θ, s) (App. C.2, eqs. 33–35)."""

from __future__ import annotations


import jax
import jax.numpy as jnp
import numpy as np

from ufm import theory

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "mse22-fig8-gradient-field"
TITLE = "Gradient fields of the one-feature loss: MSE, rescaled MSE, CE (K → ∞)"
REPRODUCES = "Zhou et al. 2022, \"On the Optimization Landscape of Neural Collapse under MSE Loss\", arXiv 2203.01238, Fig. 8; App. C.2 eqs. 33–35"
CAPTION = ("Arrows: −(∂_θ L, ∂_s L) of the K → ∞ limits, MSE: α/2 (s cosθ − M)² + ½ s² sin²θ (eq. 33), and the "
           "two-logit CE −log(e^{s cosθ}/(e^{s cosθ}+e^{s sinθ})), length ∝ gradient norm within a panel; "
           "orange line: θ = 0, h along its class weight w^k. The derivative formulas (eq. 34, and eq. 35 with the exponents' missing s "
           "restored, see errata) are checked against JAX autodiff of the losses. Increasing α or M strengthens "
           "the θ-component, the one that changes the prediction.")

PANELS = (("MSE", "mse", 1.0, 1.0), (r"MSE, $\alpha$=4", "mse", 4.0, 1.0), ("MSE, $M$=4", "mse", 1.0, 4.0),
          ("CE", "ce", 1.0, 1.0))


def params(quick: bool) -> dict:
    return {"s_max": 4.0, "arrows": [12, 14] if quick else [16, 20],
            "panels": [{"title": t, "loss": loss, "alpha": a, "M": m} for t, loss, a, m in PANELS]}


def _limit_loss(loss, alpha, M):
    def f(s, th):
        if loss == "mse":
            return 0.5 * alpha * (s * jnp.cos(th) - M) ** 2 + 0.5 * s**2 * jnp.sin(th) ** 2
        return jnp.logaddexp(s * jnp.cos(th), s * jnp.sin(th)) - s * jnp.cos(th)
    return f


def autodiff_field(loss, alpha, M, S, T):
    f = _limit_loss(loss, alpha, M)
    ds, dt = jax.vmap(jax.grad(f, argnums=(0, 1)))(jnp.ravel(S), jnp.ravel(T))
    return np.asarray(ds).reshape(S.shape), np.asarray(dt).reshape(S.shape)


def draw(p: dict, quick: bool):
    s = np.linspace(0.25, p["s_max"], p["arrows"][0])
    theta = np.linspace(0.0, np.pi, p["arrows"][1])
    S, T = np.meshgrid(s, theta, indexing="ij")
    fig, axes = subplots(1, 4, height=2.0, sharey=True)
    data, checks = {}, {}
    for ax, (title, loss, alpha, M) in zip(axes[0], PANELS):
        if loss == "mse":
            gs, gt = theory.polar_mse_limit_grad(S, T, alpha, M)
        else:
            gs, gt = theory.polar_ce_two_logit_grad(S, T)
        ads, adt = autodiff_field(loss, alpha, M, S, T)
        err = float(max(np.max(np.abs(gs - ads)), np.max(np.abs(gt - adt))) / max(1.0, np.max(np.abs(ads))))
        checks[f"{title}: printed derivative vs autodiff"] = _record.check(err, 1e-12, "same function, rounding only")
        norm = np.hypot(gs, gt)
        ax.quiver(T, S, -gt, -gs, color=PALETTE[0], angles="xy", pivot="mid", width=0.006)
        ax.axvline(0, color=PALETTE[1], lw=0.8)
        ax.set_title(title, pad=2)
        ax.set_xlabel(r"$\theta$ (angle to $w^k$)")
        ax.set_xticks([0, np.pi / 4, np.pi / 2, 3 * np.pi / 4, np.pi], ["0", "π/4", "π/2", "3π/4", "π"])
        ax.set_xlim(-0.1, np.pi + 0.1)
        i = np.argmin(np.abs(theta - np.pi / 2))
        data[title] = {"theta=pi/2": {"s": s, "d_s": gs[:, i], "d_theta": gt[:, i]}, "max_norm": norm.max()}
    axes[0, 0].set_ylabel(r"$s = \|h\|$")
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=2)
