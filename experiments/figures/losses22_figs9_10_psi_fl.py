"""Zhou et al. 2022 (arXiv 2210.02192), Figs. 9–10: shapes of the focal-loss scale function ψ_FL(t) = φ_FL(t) + c|t| (App. B.2), whose
minimiser fixes the logit scale of the FL global minimizer (Zhou et al. 2022, arXiv 2210.02192, Thm 1)."""

from __future__ import annotations


import numpy as np

from ufm import theory
import ufm

from . import _record
from ._figure import Figure
from ._style import PALETTE, subplots

NAME = "losses22-figs9-10-psi-fl"
TITLE = "Focal loss: the scale function ψ_FL(t) and its local minima"
REPRODUCES = "Zhou et al. 2022, \"Are All Losses Created Equal\", arXiv 2210.02192, Figs. 9–10; App. B.2"
CAPTION = ("ψ_FL(t) = φ_FL(t) + c|t| over t = Σ_{j≠k}(z_j − z_k) = −(K−1)a ≤ 0, c = √n·λ_Z = √(nλ_Wλ_H), the slope "
           "that makes ψ the UFM objective along the NC family (checked to 1e-12 against `theory.scale_objective`). "
           "Zhou et al. 2022's Fig. 10 caption prints c = K√(nλ_Wλ_H); that K is an erratum (K − 1 on the per-entry "
           "gap t/(K − 1), 1 on t; `theory.errata()`, decided by a solve), so the c values here are on the corrected "
           "scale. Filled circles: the "
           "global minimum; open circles: other local minima, both from `theory.scale_minima` (a robust 1-D search "
           "that reports every local minimum). Left (Fig. 9 type, K = 10, γ = 1): the minimum is interior for small "
           "c and moves to t = 0 (the collapsed solution Z = 0) as c grows. Right (Fig. 10 type, K = 100, γ = 5): "
           "between the two, a band of c where ψ has two local minima, t = 0 and an interior one, and the global "
           "one jumps from one to the other.")

PANELS = ((10, 1.0, (0.03, 0.08, 0.2)), (100, 5.0, (0.009, 0.0122, 0.0128, 0.02)))


def params(quick: bool) -> dict:
    return {"n": 100, "points": 400 if quick else 2000,
            "panels": [{"K": K, "gamma": g, "c": list(cs)} for K, g, cs in PANELS]}


def _problem(K, gamma, c, n):
    lam = c / np.sqrt(n)  # λ_W = λ_H = λ_Z, so c = √n λ_Z
    return ufm.Problem(K=K, n=n, d=K + 1, loss="fl", gamma=gamma, lam_w=lam, lam_h=lam)


def draw(p: dict, quick: bool):
    n = p["n"]
    fig, axes = subplots(1, 2, height=2.3)
    data, checks = {}, {}
    for j, (ax, (K, gamma, cs)) in enumerate(zip(axes[0], PANELS)):
        # The Fig. 10 case is shallow: an inset zooms on the two curves with two local minima.
        inset = ax.inset_axes([0.42, 0.5, 0.36, 0.42]) if j == 1 else None
        minima = [theory.scale_minima(_problem(K, gamma, c, n)) for c in cs]
        a_max = 1.4 * max(max(a for a, _ in m.local) for m in minima)
        a = np.linspace(0.0, a_max, p["points"])
        t = -(K - 1) * a
        for i, (c, m) in enumerate(zip(cs, minima)):
            prob = _problem(K, gamma, c, n)
            psi = theory.psi("fl", t, K, c, gamma=gamma)
            g = theory.scale_objective(prob, a)
            key = f"K={K}, gamma={gamma:g}, c={c:g}"
            checks[f"{key}: ψ(−(K−1)a) vs g(a)"] = _record.check(
                float(np.max(np.abs(psi - g) / np.abs(g))), 1e-12, "the same function in two parametrisations")
            checks[f"{key}: no grid point below the global minimum"] = _record.check(
                float(m.g - psi.min()), 1e-12, "scale_minima's global minimum must lower-bound the curve")
            targets = [ax] + ([inset] if inset is not None and len(m.local) > 1 else [])
            for target in targets:
                target.plot(t, psi, color=PALETTE[i], label=f"$c$ = {c:g}" if target is ax else None)
                for al, gl in m.local:  # concentric markers where minima of several curves coincide (t = 0)
                    glob = abs(al - m.a) < 1e-12
                    target.plot(-(K - 1) * al, gl, "o", ms=7 - 1.3 * i, color=PALETTE[i],
                                mfc=PALETTE[i] if glob else "white", mew=1.1, zorder=3 + i)
            data[key] = {"global_a": m.a, "global_t": -(K - 1) * m.a, "global_value": m.g,
                         "local": [{"a": al, "t": -(K - 1) * al, "value": gl} for al, gl in m.local]}
        ax.set_title(rf"$K$ = {K}, $\gamma$ = {gamma:g}, $n$ = {n}", pad=2)
        ax.set_xlabel(r"$t = \sum_{j\neq k}(z_j - z_k) = -(K-1)a$")
        ax.set_ylabel(r"$\psi_{FL}(t) = \phi_{FL}(t) + c|t|$")
        ax.legend(loc="upper left")
        if inset is not None:
            lo = min(v["value"] for k, v in data.items() if k.startswith("K=100") for v in v["local"] if v["a"] > 0
                     and v["value"] > 4)
            inset.set_ylim(lo - 0.08, theory.psi("fl", 0.0, K, 0.0, gamma=gamma) + 0.12)
            inset.set_xlim(-330, 15)
            inset.tick_params(labelsize=5.5)
            ax.indicate_inset_zoom(inset, edgecolor="0.4")
    two = data[f"K=100, gamma=5, c={PANELS[1][2][1]:g}"]["local"]
    checks["K=100, γ=5, c=0.0122: two local minima (one at t = 0)"] = _record.check(
        float(len(two) == 2 and two[0]["a"] == 0.0), 1.0, "the Fig. 10 case exists", upper=False)
    return fig, data, checks


FIGURE = Figure(NAME, TITLE, REPRODUCES, CAPTION, params, draw, order=4)
