"""The LS(δ) UFM runs behind Guo et al. 2025, arXiv 2402.03979, Figs. 6, 8 and 10, computed once per process and shared.

Two settings, each the paper's own: "weight decay" (its default, 5·10⁻⁴, of the Fig. 6 networks: λ_W = λ_H = λ_b =
5·10⁻⁴ here) and "simulated UFM" (its App. B.6, the setting of Figs. 8 and 10: λ_W = 10⁻³, λ_H = 10⁻⁶,
λ_b = 10⁻²). K = 10 as in CIFAR10; n = 50 and d = 32 keep the runs short. Every run starts from the same
N(0, 0.1²) draw (seed 0).
"""

from __future__ import annotations

import functools

import matplotlib
import numpy as np

from ufm import theory
import ufm

SHAPE = {"K": 10, "n": 50, "d": 32, "bias": True}
SETTINGS = {
    "weight decay": {"lam_w": 5e-4, "lam_h": 5e-4, "lam_b": 5e-4},
    "simulated UFM": {"lam_w": 1e-3, "lam_h": 1e-6, "lam_b": 1e-2},
}
DELTAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
QUICK_DELTAS = (0.0, 0.1, 0.3, 0.5, 0.9)
# The paper's optimiser (SGD with momentum 0.9, Guo et al. App. B.1), and Adam: at the simulated-UFM λ's the full
# Hessian's smallest nonzero eigenvalue is λ_H = 10⁻⁶ (claim lsrate), a direction SGD does not resolve in any
# affordable number of steps and Adam's per-coordinate scaling does.
OPTIMIZERS = {"sgd": {"method": "sgd", "lr": 0.1, "momentum": 0.9}, "adam": {"method": "adam", "lr": 1e-2}}


def deltas(quick: bool) -> tuple:
    return QUICK_DELTAS if quick else DELTAS


def threshold_delta(setting: str) -> float:
    """δ past which the minimiser is Z = 0: 1 − √(KN)·λ_Z (Guo et al. 2025, arXiv 2402.03979, Thm 4.1)."""
    lam = SETTINGS[setting]
    return 1 - np.sqrt(SHAPE["K"] ** 2 * SHAPE["n"]) * np.sqrt(lam["lam_w"] * lam["lam_h"])


def params(quick: bool, setting: str, optimizer: str = "sgd") -> dict:
    return {**SHAPE, **SETTINGS[setting], "setting": setting, "loss": "ls", "deltas": list(deltas(quick)),
            "optimizer": OPTIMIZERS[optimizer], "steps": 2000 if quick else 6000, "every": 20,
            "init": "N(0, 0.1²), seed 0", "threshold_delta": threshold_delta(setting)}


def problem(delta: float, setting: str) -> ufm.Problem:
    return ufm.Problem(loss="ls", delta=delta, **SHAPE, **SETTINGS[setting])


def colour(delta: float):
    """δ is ordered: a sequential, colorblind-safe map."""
    return matplotlib.colormaps["viridis"](0.9 * delta / max(DELTAS))


def _optimizer(name: str):
    o = OPTIMIZERS[name]
    return ufm.SGD(lr=o["lr"], momentum=o["momentum"]) if name == "sgd" else ufm.Adam(lr=o["lr"])


@functools.lru_cache(maxsize=8)
def runs(quick: bool, setting: str, optimizer: str = "sgd") -> dict:
    """δ → {"step", "objective", metrics (each (T,)), "prediction"}."""
    p = params(quick, setting, optimizer)
    opt = _optimizer(optimizer)
    out = {}
    for delta in deltas(quick):
        prob = problem(delta, setting)
        tr = ufm.trajectory(prob, opt, steps=p["steps"], every=p["every"], seed=0)
        if tr.status == "diverged":
            raise RuntimeError(f"Guo et al. 2025 (arXiv 2402.03979) LS runs ({setting}, {optimizer}): δ={delta} "
                               f"diverged at step {tr.diverged_at}")
        out[delta] = {"step": tr.step, "objective": tr.objective, **tr.metrics(), "prediction": theory.predict(prob)}
    return out
