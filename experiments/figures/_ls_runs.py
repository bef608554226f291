"""The LS(δ) UFM runs behind Guo et al. 2025, arXiv 2402.03979, Figs. 6, 8 and 10: paper-style full-batch SGD with momentum from
N(0, 0.1²), one trajectory per δ, computed once per process and shared by the three figures."""

from __future__ import annotations

import functools

import matplotlib
import numpy as np

from ufm import theory
import ufm

SETUP = {"K": 10, "n": 50, "d": 32, "lam_w": 5e-4, "lam_h": 5e-4, "lam_b": 5e-4, "bias": True}
DELTAS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)
OPTIMIZER = {"method": "sgd", "lr": 0.1, "momentum": 0.9}


def params(quick: bool) -> dict:
    return {**SETUP, "loss": "ls", "deltas": list(DELTAS), "optimizer": OPTIMIZER,
            "steps": 2000 if quick else 6000, "every": 20, "init": "N(0, 0.1²), seed 0",
            "threshold_delta": 1 - np.sqrt(SETUP["K"] ** 2 * SETUP["n"]) * np.sqrt(SETUP["lam_w"] * SETUP["lam_h"])}


def problem(delta: float) -> ufm.Problem:
    return ufm.Problem(loss="ls", delta=delta, **SETUP)


def colour(delta: float):
    """δ is ordered: a sequential, colorblind-safe map."""
    return matplotlib.colormaps["viridis"](0.9 * delta / max(DELTAS))


@functools.lru_cache(maxsize=2)
def runs(quick: bool) -> dict:
    """δ → {"step", "objective", metrics (each (T,)), "prediction"}."""
    p = params(quick)
    opt = ufm.SGD(lr=OPTIMIZER["lr"], momentum=OPTIMIZER["momentum"])
    out = {}
    for delta in DELTAS:
        prob = problem(delta)
        tr = ufm.trajectory(prob, opt, steps=p["steps"], every=p["every"], seed=0)
        if tr.status == "diverged":
            raise RuntimeError(f"Guo et al. 2025 (arXiv 2402.03979) LS runs: δ={delta} diverged at step {tr.diverged_at}")
        out[delta] = {"step": tr.step, "objective": tr.objective, **tr.metrics(), "prediction": theory.predict(prob)}
    return out
