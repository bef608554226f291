"""An MLP trained on scikit-learn's digits (1 797 images of 8×8 pixels, 10 classes, shipped inside
scikit-learn: no download) with optax, weight decay on every parameter, past 100% training accuracy into the
terminal phase; its penultimate features, classifier and bias are measured with `ufm.metrics.Timeline` every
few steps, and the terminal geometry is compared with the CE UFM of the same K, n, d and weight decay
(`compare_with_ufm`)."""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import ufm
from ufm import theory


def available() -> bool:
    """Whether scikit-learn (the `real` extra) is installed."""
    return importlib.util.find_spec("sklearn") is not None


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """(X (1797, 64) float32 standardised per pixel, y (1797,) int) from scikit-learn's bundled copy."""
    if not available():
        raise ImportError("the digits run needs scikit-learn: pip install 'ufm[real]'")
    from sklearn.datasets import load_digits as sk_load

    d = sk_load()
    X = d.data.astype(np.float64)
    X = (X - X.mean(axis=0)) / np.maximum(X.std(axis=0), 1e-8)
    return X.astype(np.float32), d.target.astype(np.int64)


@dataclasses.dataclass(frozen=True)
class DigitsConfig:
    """hidden: widths of the hidden layers (the last is the feature dimension d). Full-batch SGD with momentum
    for `steps` steps, weight decay λ/2‖θ‖² on every weight and bias (the UFM's λ_W on the classifier, λ_b on
    its bias); features, W and b are measured every `every` steps."""

    hidden: tuple = (128, 64)
    steps: int = 6000
    every: int = 200
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    seed: int = 0

    def __post_init__(self):
        if self.steps % self.every:
            raise ufm.ParameterError("steps", self.steps, f"a multiple of every = {self.every}", "DigitsConfig")
        for key in ("lr", "weight_decay"):
            if not getattr(self, key) > 0:
                raise ufm.ParameterError(key, getattr(self, key), "> 0", "DigitsConfig")


class DigitsRun(NamedTuple):
    """step (T,), table: `Timeline.table()` of the checkpoints (plus "loss" and "train_accuracy"), features
    (N, d), W (K, d), b (K,) and labels of the last checkpoint, the config and the training seconds."""

    step: np.ndarray
    table: dict
    features: np.ndarray
    W: np.ndarray
    b: np.ndarray
    labels: np.ndarray
    config: DigitsConfig
    seconds: float


def _init(key, sizes):
    params = []
    for i, (m, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        k = jax.random.fold_in(key, i)
        params.append({"w": jax.random.normal(k, (m, n), jnp.float32) * jnp.sqrt(2.0 / m),
                       "b": jnp.zeros(n, jnp.float32)})
    return params


def _features(params, X):
    h = X
    for layer in params[:-1]:
        h = jax.nn.relu(h @ layer["w"] + layer["b"])
    return h


def _loss(params, X, y, lam):
    logits = _features(params, X) @ params[-1]["w"] + params[-1]["b"]
    ce = jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))
    reg = sum(jnp.sum(p["w"] ** 2) + jnp.sum(p["b"] ** 2) for p in params)
    return ce + 0.5 * lam * reg


def train(config: DigitsConfig = DigitsConfig()) -> DigitsRun:
    """Train, keeping the parameters every `config.every` steps in one compiled scan, then measure each
    checkpoint with `ufm.metrics.Timeline` (float32 features, float64 metrics)."""
    X, y = load_digits()
    K = int(y.max()) + 1
    sizes = (X.shape[1], *config.hidden, K)
    tx = optax.sgd(config.lr, momentum=config.momentum)
    Xj, yj = jnp.asarray(X), jnp.asarray(y, jnp.int32)
    grad = jax.value_and_grad(_loss)

    def step(carry, _):
        params, opt = carry
        value, g = grad(params, Xj, yj, config.weight_decay)
        updates, opt = tx.update(g, opt, params)
        return (optax.apply_updates(params, updates), opt), value

    def chunk(carry, _):
        carry, values = jax.lax.scan(step, carry, None, length=config.every)
        return carry, (carry[0], values[-1])

    params0 = _init(jax.random.PRNGKey(config.seed), sizes)
    t0 = time.perf_counter()
    run = jax.jit(lambda p: jax.lax.scan(chunk, (p, tx.init(p)), None, length=config.steps // config.every)[1])
    snaps, losses = jax.block_until_ready(run(params0))
    seconds = time.perf_counter() - t0
    steps = np.arange(config.every, config.steps + 1, config.every)
    timeline = ufm.metrics.Timeline()
    acc = []
    for i, s in enumerate(steps):
        p = jax.tree_util.tree_map(lambda a: a[i], snaps)
        H = np.asarray(_features(p, Xj))
        W, b = np.asarray(p[-1]["w"]).T, np.asarray(p[-1]["b"])
        rec = timeline.add(int(s), H, y, W, b)
        acc.append(rec.accuracy)
    table = timeline.table()
    table["loss"] = np.asarray(losses, np.float64)
    table["train_accuracy"] = np.asarray(acc)
    return DigitsRun(steps, table, H, W, b, y, config, seconds)


def compare_with_ufm(run: DigitsRun) -> dict:
    """The network's terminal geometry against the CE UFM with the same K, n = N/K (the UFM is balanced; the
    digits classes hold 174–183 images), d and λ_W = λ_b = the weight decay.

    The network has no λ_H: its features are outputs of weight-decayed layers, not free variables. The UFM's
    minimizer fixes ‖w_k‖/‖h̄_k − h_G‖ = √(nλ_H/λ_W) (Guo et al. 2025, arXiv 2402.03979, Thm 4.1), so an
    effective λ_H is read off the measured ratio, and what the UFM then predicts is compared: the norms and the
    logit scale a* (logits a(e_k − 1/K) at the minimizer). The directions (NC1–NC3 → 0, b* = 0) are predicted
    without any fitted number.
    """
    H, W, b, y = run.features.astype(np.float64), run.W.astype(np.float64), run.b.astype(np.float64), run.labels
    K, d = W.shape
    N = y.size
    n = round(N / K)
    means = np.stack([H[y == k].mean(axis=0) for k in range(K)])
    M = means - H.mean(axis=0)
    w_norm = float(np.mean(np.linalg.norm(W, axis=1)))
    h_norm = float(np.mean(np.linalg.norm(M, axis=1)))
    lam = run.config.weight_decay
    lam_h = lam * (w_norm / h_norm) ** 2 / n
    problem = ufm.Problem(K=K, n=n, d=d, loss="ce", lam_w=lam, lam_h=lam_h, lam_b=lam)
    pred = theory.predict(problem)
    Z = H @ W.T  # logits without the bias: the UFM's b* is 0 for CE
    own = Z[np.arange(N), y]
    others = (Z.sum(axis=1) - own) / (K - 1)
    a_measured = float(np.mean(own - others))
    last = {k: float(v[-1]) for k, v in run.table.items() if k != "step"}
    return {
        "problem": problem.to_dict(), "effective_lam_h": lam_h, "prediction_case": pred.case,
        "w_norm": {"measured": w_norm, "ufm": pred.w_norm},
        "h_mean_norm": {"measured": h_norm, "ufm": pred.h_mean_norm},
        "logit_scale": {"measured": a_measured, "ufm": pred.a},
        "bias": {"measured_max_abs": float(np.max(np.abs(b))), "ufm": 0.0},
        "directions": {k: last[k] for k in ("nc1", "cdnv", "nc2_w", "nc2_means", "nc3", "nc3_duality", "nc4")},
        "imbalance": {"counts_min": int(np.bincount(y).min()), "counts_max": int(np.bincount(y).max())},
    }
