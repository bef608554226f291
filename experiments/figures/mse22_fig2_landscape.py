"""Zhou et al. 2022 (arXiv 2203.01238), Fig. 2: the loss of one feature h on span{w^k, w^k'} (W a simplex ETF, b = 0) in polar coordinates
(s = ‖h‖, θ = ∠(h, w^k)) for vanilla MSE, rescaled MSE and CE."""

from __future__ import annotations


import jax.numpy as jnp
import numpy as np
from matplotlib.colors import LogNorm

from ufm import theory
import ufm
from ufm import losses as _losses

from . import _record
from ._figure import Figure
from ._style import subplots

NAME = "mse22-fig2-landscape"
TITLE = "Loss landscape of one feature: MSE vs rescaled MSE vs CE"
REPRODUCES = "Zhou et al. 2022, \"On the Optimization Landscape of Neural Collapse under MSE Loss\", arXiv 2203.01238, Fig. 2; App. C eqs. 28–32"
CAPTION = ("Loss of a class-k feature h = s·(direction at angle θ from w^k in the plane of w^k, w^k'), with W a unit "
           "simplex ETF and b = 0, evaluated by the toolkit's loss on the logits Wh and cross-checked against Zhou et al. 2022 (arXiv 2203.01238) "
           "eqs. 31–32 (table: max difference). Darker is lower; the dot marks the grid minimum. Rescaling (α, M) "
           "steepens the loss along θ, the coordinate that decides the prediction; CE decreases without bound as s "
           "grows at small θ.")

PANELS = (("MSE", "mse", 1.0, 1.0), ("rescaled MSE", "mse", 3.0, 5.0), ("CE", "ce", 1.0, 1.0))


def params(quick: bool) -> dict:
    return {"K": 10, "d": 10, "s_max": 6.0, "grid": [60, 90] if quick else [160, 240],
            "panels": [{"title": t, "loss": loss, "alpha": a, "M": m} for t, loss, a, m in PANELS]}


def losses_on_grid(K, d, loss, alpha, M, s, theta):
    """The toolkit's per-sample loss at h = polar_feature(W_ETF, 0, 1, s, θ) with logits Wh (b = 0)."""
    W = ufm.simplex_etf(K, d)
    S, T = np.meshgrid(s, theta, indexing="ij")
    h = theory.polar_feature(W, 0, 1, S.ravel(), T.ravel())  # (P, d)
    Z = W @ h.T
    Y = np.zeros_like(Z)
    Y[0] = 1.0
    hyper = ufm.Problem(K=K, n=1, d=d, loss=loss, alpha=alpha, M=M, lam_w=1e-3, lam_h=1e-3).hyper
    return np.asarray(_losses.per_sample(loss, jnp.asarray(Z), jnp.asarray(Y), hyper)).reshape(S.shape), S, T


def draw(p: dict, quick: bool):
    K, d = p["K"], p["d"]
    s = np.linspace(0.0, p["s_max"], p["grid"][0])
    theta = np.linspace(0.0, np.pi, p["grid"][1])
    fig, axes = subplots(1, 3, height=2.25, subplot_kw={"projection": "polar"})
    data, checks = {}, {}
    for ax, (title, loss, alpha, M) in zip(axes[0], PANELS):
        L, S, T = losses_on_grid(K, d, loss, alpha, M, s, theta)
        printed = theory.polar_ce(K, S, T) if loss == "ce" else theory.polar_mse(K, S, T, alpha, M)
        err = float(np.max(np.abs(L - printed) / np.maximum(1.0, np.abs(printed))))
        checks[f"{title}: toolkit loss vs Zhou et al. 2022, arXiv 2203.01238, eq. {'32' if loss == 'ce' else '31'}"] = _record.check(
            err, 1e-12, "same function, float64 rounding only")
        i, j = np.unravel_index(np.argmin(L), L.shape)
        levels = np.geomspace(max(L.min(), 1e-3), L.max(), 25)  # the loss spans decades: log colour scale
        cs = ax.contourf(T, S, np.maximum(L, levels[0]), levels=levels, norm=LogNorm(), cmap="viridis")
        ax.contour(T, S, L, levels=levels[::3], colors="w", linewidths=0.3, alpha=0.6)
        ax.plot(T[i, j], S[i, j], "o", color="#D55E00", ms=4)
        ax.set_thetamin(0)
        ax.set_thetamax(180)
        ax.set_title(title + (rf" ($\alpha$={alpha:g}, $M$={M:g})" if title.startswith("rescaled") else ""), pad=2)
        ax.set_xlabel(r"radius $s = \|h\|$, angle $\theta$", labelpad=-8)
        ax.grid(alpha=0.2)
        cb = fig.colorbar(cs, ax=ax, shrink=0.55, pad=0.03, location="bottom")
        ticks = np.geomspace(levels[0], levels[-1], 4)
        cb.ax.minorticks_off()
        cb.set_ticks(ticks, labels=[f"{v:.2g}" for v in ticks])
        cb.set_label("loss (log scale)")
        data[title] = {"argmin_s": S[i, j], "argmin_theta": T[i, j], "min": L[i, j], "max": L.max()}
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=1)
