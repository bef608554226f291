"""Neural-collapse metrics, under one vocabulary (`VOCABULARY`: one key per quantity, with its formula and the
paper that defines it; the documentation's metrics page shows it as a table).

`all(W, H, b)` measures a UFM solution (W (K,d), H (d,N) class-major by default, b (K,)): every quantity of the
vocabulary, as pure JAX (jit/vmap compatible) computed in float64, invariant to an orthogonal rotation of the
feature space (H → RH, W → WRᵀ) and to the order of the samples. `collapse` and `Accumulator` measure a
network's features (any labels, float32 in, float64 inside, streamed): the quantities that a pass over the
samples can give, under the same keys, through the same formulas (`from_stats`, `decision_counts`). Both take
`layout`: "d,N" (columns are samples: the UFM's H, the default of `all`) or "N,d" (rows are samples, as
frameworks store them: the default of `collapse`).

0.2's other names (`ALIASES`: nc2 → nc2_w, nc2_guo → nc3, nc3_guo → nc3_duality, ncc_agreement → 1 − nc4) still
read from the dict `all` returns and as functions, with a DeprecationWarning, for one release. For d < K−1 the
ETF targets of nc2_w and nc3 are unattainable (Zhou et al. 2022, arXiv 2203.01238, footnote 5): compare W's Gram
with the predicted one instead.
"""

from __future__ import annotations

import functools

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._config import float64
from ._executables import persistent_jit
from ._objective import padded_d
from ._problem import class_labels
from ._vocabulary import ALIASES, KEYS, VOCABULARY, Metrics, Quantity, quantity

from ._collapse import Accumulator, Collapse, DecisionPass, LabelError, Stats, Timeline, collapse
from ._features import LAYOUTS, _as_labels, _present
from ._stats import (
    Decisions, decision_counts, decisions_result, duality_gap, etf_gap, from_stats, nc1_from, notes, pow2_scale,
    power_of_two_scale, stats_of,
)

__all__ = [
    "collapse", "Collapse", "Accumulator", "DecisionPass", "Stats", "LabelError", "Timeline",
    "VOCABULARY", "KEYS", "ALIASES", "Quantity", "quantity", "Metrics",
    "class_means", "sigma_w", "sigma_b", "nc1", "nc2_w", "nc2_means", "nc3", "nc3_duality", "nc4",
    "numerical_rank", "class_groups", "cosine_margins", "accuracy", "ncc_accuracy", "w_norm_mean",
    "h_mean_norm_mean", "self_duality", "duality_scale", "all", "layers", "RANK_TOL", "from_stats", "power_of_two_scale",
    "nc2", "nc2_guo", "nc3_guo", "ncc_agreement",
]


def _f64(a):
    return jnp.asarray(a, jnp.float64)


def _classes(labels, K):
    """K, or the number of classes the labels name (max + 1) when K is None."""
    if K is not None:
        return K
    if labels is None:
        raise ValueError("metrics: pass labels or K (the number of classes)")
    return int(np.max(np.asarray(labels))) + 1


def _label_array(labels, K, N):
    """The labels as an array; None means the class-major layout of `ufm.Problem`."""
    if labels is not None:
        return jnp.asarray(labels)
    if N % K:
        raise ValueError(f"labels=None needs N divisible by K; got N={N}, K={K}")
    return jnp.asarray(class_labels(K, N // K))


def _onehot(labels, K, N):
    K = _classes(labels, K)
    return jax.nn.one_hot(_label_array(labels, K, N), K, dtype=jnp.float64)


def class_means(H, labels=None, K=None):
    """(H̄ (d,K), h_G (d,)): class means and the global mean of all features."""
    H = _f64(H)
    Yt = _onehot(labels, K, H.shape[1])
    return (H @ Yt) / jnp.sum(Yt, axis=0), jnp.mean(H, axis=1)


def sigma_w(H, labels=None, K=None):
    """Σ_W = (1/N) Σ (h_{k,i} − h̄_k)(h_{k,i} − h̄_k)ᵀ (d,d)."""
    H = _f64(H)
    Yt = _onehot(labels, K, H.shape[1])
    Hbar, _ = class_means(H, labels, K)
    C = H - Hbar @ Yt.T
    return C @ C.T / H.shape[1]


def sigma_b(H, labels=None, K=None):
    """Σ_B = (1/K) Σ_k (h̄_k − h_G)(h̄_k − h_G)ᵀ (d,d)."""
    Hbar, hG = class_means(H, labels, K)
    Mbar = Hbar - hG[:, None]
    return Mbar @ Mbar.T / Mbar.shape[1]


def nc1(H, labels=None, K=None):
    """(1/K) tr(Σ_W Σ_B^†) (Zhou et al. 2022, arXiv 2203.01238, eq. 6; Papyan et al. 2020): `nc1_from` of the
    one-pass statistics of `metrics.collapse`, with h_G the mean of all features."""
    H = _f64(H)
    K = _classes(labels, K)
    s = stats_of(H, _label_array(labels, K, H.shape[1]), K)
    return nc1_from(s.scatter / H.shape[1], s.mean - s.count @ s.mean / H.shape[1])


def nc2_w(W):
    """‖WWᵀ/‖WWᵀ‖_F − Π/√(K−1)‖_F: the classifier rows against a simplex ETF (Zhu et al. 2021, arXiv 2105.02375,
    eq. 8; Zhou et al. 2022, arXiv 2203.01238, eq. 7)."""
    return etf_gap(_f64(W) @ _f64(W).T)


def nc2_means(H, labels=None, K=None):
    """‖MMᵀ/‖MMᵀ‖_F − Π/√(K−1)‖_F: the centred class means M (K,d) against a simplex ETF."""
    Hbar, hG = class_means(H, labels, K)
    M = (Hbar - hG[:, None]).T
    return etf_gap(M @ M.T)


def nc3(W, H, labels=None):
    """‖WM̄/‖WM̄‖_F − Π/√(K−1)‖_F with M̄ the centred class means (Zhou et al. 2022, arXiv 2203.01238, eq. 8, Zhu/Zhou)."""
    W = _f64(W)
    Hbar, hG = class_means(H, labels, W.shape[0])
    return etf_gap(W @ (Hbar - hG[:, None]))


def nc3_duality(W, H, labels=None):
    """‖W/‖W‖_F − M/‖M‖_F‖_F, the classifier rows against the centred class means class by class (Papyan et al.
    2020, Fig. 4; the NC3 of Guo et al. 2025, arXiv 2402.03979, eq. 6, not squared)."""
    Hbar, hG = class_means(H, labels, W.shape[0])
    return duality_gap(_f64(W), (Hbar - hG[:, None]).T)


def _renamed(alias: str, fn):
    def old(*args, **kwargs):
        key = ALIASES[alias][0]
        warnings.warn(f"metrics.{alias} is the 0.2 name of {'1 − ' if alias == 'ncc_agreement' else ''}metrics.{key}; "
                      f"use metrics.{key} (the old name goes in 0.4)", DeprecationWarning, stacklevel=2)
        return fn(*args, **kwargs)

    old.__name__ = alias
    old.__doc__ = f"Deprecated 0.2 name (see `ALIASES`): use `{ALIASES[alias][0]}`."
    return old


def numerical_rank(H, labels=None, K=None):
    """(1/K) Σ_k ‖H_k‖_*²/‖H_k‖_F² (Zhou et al. 2022, arXiv 2203.01238, §4), from the singular values of H_k (not the eigenvalues of
    H_k H_kᵀ, whose square roots turn rounding of the zero eigenvalues into 1e-8 errors); 1 at full collapse."""
    H = _f64(H)
    Yt = _onehot(labels, K, H.shape[1])
    return jnp.mean(jax.vmap(lambda mask: _rank_ratio(H * mask))(Yt.T))


def _rank_ratio(M):
    """‖M‖_*²/‖M‖_F² from the singular values of M (0 for M = 0)."""
    s = jnp.linalg.svd(M, compute_uv=False)
    return jnp.sum(s) ** 2 / jnp.maximum(jnp.sum(s**2), jnp.finfo(jnp.float64).tiny)


def class_groups(labels, K: int) -> np.ndarray:
    """(K, m) column indices of each class, padded with N (an index past the last column), m = the largest
    count rounded up to a power of two (at most N): the host-side layout `_numerical_rank_grouped` gathers.
    A relabelling with the same counts gives the same shape (no recompile)."""
    lab = np.asarray(labels)
    N = lab.size
    counts = np.bincount(lab, minlength=K)
    m = int(min(N, 1 << max(int(counts.max()) - 1, 0).bit_length()))
    order = np.argsort(lab, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    groups = np.full((K, m), N, dtype=np.int32)
    for k in range(K):
        groups[k, :counts[k]] = order[starts[k]:starts[k] + counts[k]]
    return groups


def _numerical_rank_grouped(H, groups):
    """`numerical_rank` from each class's own columns (gathered by `class_groups`, zero-padded): K SVDs of
    d × m instead of K SVDs of the masked d × N copies — the same singular values (zero columns add none), at
    ~K times less work and memory for balanced classes."""
    H = _f64(H)
    Hz = jnp.concatenate([H, jnp.zeros((H.shape[0], 1), H.dtype)], axis=1)
    return jnp.mean(jax.vmap(lambda idx: _rank_ratio(Hz[:, idx]))(groups))


def cosine_margins(W, H, labels=None):
    """CM_{k,i} = cos θ_{k,i;k} − max_{j≠k} cos θ_{k,i;j}, with cos θ_{k,i;j} between w^j − w_G and
    h_{k,i} − h_G (Zhou et al. 2022, arXiv 2203.01238, §4). Shape (N,)."""
    W, H = _f64(W), _f64(H)
    Yt = _onehot(labels, W.shape[0], H.shape[1])
    Wc = W - jnp.mean(W, axis=0)
    Hc = H - jnp.mean(H, axis=1, keepdims=True)
    cos = (Wc @ Hc) / (jnp.linalg.norm(Wc, axis=1)[:, None] * jnp.linalg.norm(Hc, axis=0)[None, :])
    own = jnp.sum(cos * Yt.T, axis=0)
    other = jnp.max(jnp.where(Yt.T > 0, -jnp.inf, cos), axis=0)
    return own - other


def _predict_linear(W, H, b):
    return jnp.argmax(_f64(W) @ _f64(H) + _f64(b)[:, None], axis=0)


def _predict_ncc(H, labels, K):
    H = _f64(H)
    Hbar, _ = class_means(H, labels, K)
    dist = jnp.sum(H**2, axis=0)[None, :] - 2 * Hbar.T @ H + jnp.sum(Hbar**2, axis=0)[:, None]
    return jnp.argmin(dist, axis=0)


def _labels(labels, K, N):
    return jnp.argmax(_onehot(labels, K, N), axis=1)


def _fraction(mask):
    """The fraction of True entries in float64 (a mean of booleans is float32 in JAX: 1 read 0.99999994). Inside
    a compiled program XLA turns the division by the size into a product with its reciprocal (49·(1/49) =
    0.9999999999999999), so `all` computes these fractions from the counts on the host."""
    return jnp.count_nonzero(mask).astype(jnp.float64) / mask.shape[-1]


def _correct(W, H, b, labels):
    return _predict_linear(W, H, b) == _labels(labels, W.shape[0], H.shape[1])


def _ncc_correct(H, labels, K):
    return _predict_ncc(H, labels, K) == _labels(labels, K, H.shape[1])


def _agree(W, H, b, labels):
    return _predict_ncc(H, labels, W.shape[0]) == _predict_linear(W, H, b)


def accuracy(W, H, b, labels=None):
    """Training accuracy of the linear classifier argmax_k (W h + b)_k."""
    return _fraction(_correct(W, H, b, labels))


def ncc_accuracy(H, labels=None, K=None):
    """Accuracy of the nearest-class-centre classifier argmin_k ‖h − h̄_k‖."""
    return _fraction(_ncc_correct(H, labels, K))


def nc4(W, H, b, labels=None):
    """Fraction of samples on which the nearest class mean and the classifier argmax_k (W h + b)_k disagree
    (Papyan et al. 2020, Fig. 7)."""
    return 1.0 - _fraction(_agree(W, H, b, labels))


def w_norm_mean(W):
    """(1/K) Σ_k ‖w^k‖ (Guo et al. 2025, arXiv 2402.03979, footnote 2)."""
    return jnp.mean(jnp.linalg.norm(_f64(W), axis=1))


def h_mean_norm_mean(H, labels=None, K=None):
    """(1/K) Σ_k ‖h̄_k − h_G‖ (Guo et al. 2025, arXiv 2402.03979, footnote 2)."""
    Hbar, hG = class_means(H, labels, K)
    return jnp.mean(jnp.linalg.norm(Hbar - hG[:, None], axis=0))


def duality_scale(W, H, labels=None):
    """c = ⟨H̄, Wᵀ⟩/‖W‖_F², the least-squares scale in H̄ ≈ c Wᵀ (√(λ_W/(nλ_H)) at the MSE/CE minimisers)."""
    W = _f64(W)
    Hbar, _ = class_means(H, labels, W.shape[0])
    return jnp.vdot(Hbar, W.T) / jnp.maximum(jnp.vdot(W, W), jnp.finfo(jnp.float64).tiny)


def self_duality(W, H, labels=None):
    """‖H̄ − c Wᵀ‖_F/‖H̄‖_F at c = `duality_scale`: 0 iff every class mean is the same multiple of its w^k."""
    W = _f64(W)
    Hbar, _ = class_means(H, labels, W.shape[0])
    c = duality_scale(W, H, labels)
    return jnp.linalg.norm(Hbar - c * W.T) / jnp.maximum(jnp.linalg.norm(Hbar), jnp.finfo(jnp.float64).tiny)


def _all(W, H, b, labels, groups):
    K, N = W.shape[0], H.shape[1]
    W, H, b = _f64(W), _f64(H), _f64(b)
    y = _label_array(labels, K, N)
    # The vocabulary's scale-invariant quantities from features and W times powers of two (exact): their squares
    # neither overflow (entries of 1e200) nor underflow (1e-200).
    s = stats_of(H, y, K, pow2_scale(H))
    out = dict(from_stats(s, W * pow2_scale(W), False))
    zero = jnp.zeros((), jnp.float64)
    dec = decision_counts(Decisions(*(zero,) * 6), H.T, y, jnp.ones(N, jnp.float64), s.mean, jnp.ones(K, bool), W, b)
    out.update(dec._asdict())  # counts: `all` divides on the host
    cm = cosine_margins(W, H, labels)
    out.update(
        numerical_rank=_numerical_rank_grouped(H, groups), cm_min=jnp.min(cm), cm_mean=jnp.mean(cm),
        w_norm_mean=w_norm_mean(W), h_mean_norm_mean=h_mean_norm_mean(H, labels, K),
        self_duality=self_duality(W, H, labels), duality_scale=duality_scale(W, H, labels),
    )
    return out


# Labels are traced (an int array, or None for the class-major layout): a new labelling does not recompile.
_all_jit = persistent_jit(_all)  # a warm process loads it (every record runs it)
_all_batched = jax.jit(jax.vmap(_all, in_axes=(0, 0, 0, None, None)))


def _finish(out: dict, host) -> Metrics:
    """The program's output as `Metrics` in `KEYS` order: the decision counts turned into fractions on the host."""
    rec = {k: np.asarray(v) for k, v in out.items()}
    rec.update(decisions_result({k: rec.pop(k) for k in Decisions._fields}))
    m = Metrics((k, host(rec[k])) for k in KEYS)
    if rec["degenerate"].ndim == 0:
        m.note = notes(rec)
    return m


@float64()
def all(W, H, b, labels=None, *, layout: str = "d,N", activation: str = "linear") -> Metrics:  # noqa: A001
    """Every quantity of `VOCABULARY` for a UFM solution, as a dict (`Metrics`) of Python floats in `KEYS`
    order, computed in float64 whatever the process's JAX 64-bit setting.

    W (K,d), H (d,N) with layout "d,N" (the UFM's H; default) or (N,d) with "N,d", b (K,); labels: one integer
    class per sample (every class present), or None for the class-major balanced layout of `ufm.Problem`.
    With a leading batch axis on W, H, b (a `solve_batch` solution), values are numpy arrays instead.
    A deep solution (W the tuple of layers W_1 … W_L, `activation` the σ between them): the quantities of the
    last layer W_L and the features H_L = σ(W_{L−1} … σ(W_1 H)) it classifies (`layers` measures every layer).
    """
    if isinstance(W, (tuple, list)):
        return _all_deep(W, H, b, labels, layout, activation)
    W, H, b = (np.asarray(a) for a in (W, H, b))
    if layout not in LAYOUTS:
        raise ValueError(f"metrics.all: layout must be 'd,N' (columns are samples) or 'N,d'; got {layout!r}")
    if W.ndim not in (2, 3) or H.ndim != W.ndim or b.ndim != W.ndim - 1:
        raise ValueError(f"metrics.all expects W (K,d), H (d,N), b (K,) (or each with a leading batch axis); got "
                         f"{W.shape}, {H.shape}, {b.shape}")
    if layout == "N,d":
        H = np.swapaxes(H, -1, -2)
    if labels is not None:
        # Integers in [0, K), one per column of H, every class present: anything else is refused by name.
        lab, K = _as_labels(labels, H.shape[-1], W.shape[-2], "metrics.all")
        _present(np.bincount(lab, minlength=K), False, "metrics.all")
        groups = class_groups(lab, K)
        lab = jnp.asarray(lab)
    else:
        lab = None
        K, N = W.shape[-2], H.shape[-1]
        groups = class_groups(np.asarray(_label_array(None, K, N)), K)
    W, H = _pad_d(W, H)
    if W.ndim == 3:
        return _finish(_all_batched(W, H, b, lab, groups), np.asarray)
    return _finish(_all_jit(W, H, b, lab, groups), float)


PAD_MAX = 2**16  # numbers of H up to which `all` pads d (compile-bound sizes; larger features keep their d)


def _pad_d(W, H):
    """W (…, K, d), H (…, d, N) with d padded by zeros to `ufm.functional.padded_d` where H stays within
    PAD_MAX numbers: every d up to that bucket shares one program per (K, N). Exact: a zero feature coordinate
    adds nothing to a mean, a scatter, a norm, a distance or a logit, and only zero singular values to an SVD
    (which every rank and pseudo-inverse here drops: their thresholds are relative to the largest value)."""
    K, d, N = W.shape[-2], W.shape[-1], H.shape[-1]
    dp = padded_d(d, K)
    if dp == d or dp * N > PAD_MAX:
        return W, H
    lead = [(0, 0)] * (W.ndim - 2)
    return np.pad(W, lead + [(0, 0), (0, dp - d)]), np.pad(H, lead + [(0, dp - d), (0, 0)])


RANK_TOL = 1e-9  # a singular value below RANK_TOL × the largest counts as zero in `layers`


def _rank(sv) -> int:
    sv = np.asarray(sv)
    return int(np.sum(sv > RANK_TOL * sv[0])) if sv.size and sv[0] > 0 else 0


def _all_deep(W, H, b, labels, layout: str, activation: str) -> Metrics:
    """`all` of a deep solution: W_L and H_L (member by member with a leading batch axis)."""
    from ._objective import features as _features

    Ws, H, b = [np.asarray(w, np.float64) for w in W], np.asarray(H, np.float64), np.asarray(b, np.float64)
    if layout == "N,d":
        H = np.swapaxes(H, -1, -2)
    if Ws[0].ndim == 2:
        return all(Ws[-1], _features((tuple(Ws), H, b), activation)[-1], b, labels)
    rows = [all(Ws[-1][i], _features((tuple(w[i] for w in Ws), H[i], b[i]), activation)[-1], b[i], labels)
            for i in range(H.shape[0])]
    return {k: np.asarray([r[k] for r in rows]) for k in rows[0]}


@functools.partial(persistent_jit, static_argnums=2)
def _layer_stats(A, y, K: int):
    """(the vocabulary's statistics-only quantities, the class means) of features A (d, N): one program per shape."""
    s = stats_of(A, y, K)
    return from_stats(s, None, False), s.mean


@float64()
def layers(W, H, b=None, labels=None, *, activation: str = "linear") -> list:
    """Collapse layer by layer in a deep UFM (`ufm.Problem(depth=L)`): W the tuple (W_1, …, W_L) (or one W (K, d)
    for one layer), H (d, N) the free features, labels as in `all` (None: class-major balanced). Layer l sees
    H_l (`ufm.features`: H_1 = H, H_{l+1} = σ(W_l H_l)) and W_l reads it. One dict per layer, l = 1 … L:

        nc1              (1/K) tr(Σ_W Σ_B^†) of H_l (the vocabulary's nc1: NaN without between-class spread)
        nc2_means        the centred class means' distance to a simplex ETF (the vocabulary's nc2_means)
        orthogonal_gap   ‖G/‖G‖_F − I/√K‖_F for the Gram G of the uncentred class means: 0 for an orthogonal
                         frame (the DNC geometry of ReLU layers and of bias-free MSE, Súkeník et al. 2023, arXiv
                         2305.13165; Dang et al. 2023, arXiv 2301.00437)
        rank             numerical rank of the class means (singular values > RANK_TOL × the largest)
        singular_values  of the K uncentred class means, descending
        w_rank, w_singular_values   the same for W_l
        balance          for l < L: ‖A/‖A‖_F − B/‖B‖_F‖_F with A = W_{l+1}ᵀW_{l+1}, B = W_l W_lᵀ (0 where
                         consecutive layers are balanced, as at every critical point of the deep linear UFM up
                         to λ_{l+1}/λ_l); None for the last layer

    The low-rank solutions of Súkeník et al. 2024 (arXiv 2405.14468) show here as a rank below K in the middle
    layers."""
    from ._objective import features as _features

    Ws = list(W) if isinstance(W, (tuple, list)) else [W]
    Ws = [np.asarray(w, np.float64) for w in Ws]
    H = np.asarray(H, np.float64)
    b = np.zeros(Ws[-1].shape[0]) if b is None else np.asarray(b, np.float64)
    K, N = Ws[-1].shape[0], H.shape[1]
    feats = _features((tuple(Ws) if len(Ws) > 1 else Ws[0], H, b), activation)
    y = np.asarray(_label_array(labels, K, N))
    out = []
    for l, (A, w) in enumerate(zip(feats, Ws)):
        st, means = _layer_stats(A, y, K)
        st = {k: float(v) for k, v in st.items()}
        means = np.asarray(means)  # (K, d_l): the uncentred class means
        G = means @ means.T
        gn = np.linalg.norm(G)
        ortho = float(np.linalg.norm(G / gn - np.eye(K) / np.sqrt(K))) if gn > 0 else float("nan")
        sv = np.linalg.svd(means, compute_uv=False)
        wsv = np.linalg.svd(w, compute_uv=False)
        balance = None
        if l + 1 < len(Ws):
            P, Q = Ws[l + 1].T @ Ws[l + 1], w @ w.T
            pn, qn = np.linalg.norm(P), np.linalg.norm(Q)
            balance = float(np.linalg.norm(P / pn - Q / qn)) if pn > 0 and qn > 0 else float("nan")
        out.append({"layer": l + 1, "nc1": st["nc1"], "nc2_means": st["nc2_means"], "orthogonal_gap": ortho,
                    "rank": _rank(sv), "singular_values": sv.tolist(), "w_rank": _rank(wsv),
                    "w_singular_values": wsv.tolist(), "balance": balance})
    return out


nc2 = _renamed("nc2", nc2_w)
nc2_guo = _renamed("nc2_guo", nc3)
nc3_guo = _renamed("nc3_guo", nc3_duality)
ncc_agreement = _renamed("ncc_agreement", lambda W, H, b, labels=None: 1.0 - nc4(W, H, b, labels))
