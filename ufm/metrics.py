"""Neural-collapse metrics (Papyan, Han & Donoho 2020, arXiv 2008.08186; the forms of Zhou et al. 2022, arXiv 2203.01238, eqs. 6–8, and Guo et al. 2025, arXiv 2402.03979, eqs. 4–6). Pure JAX functions of (W (K,d), H (d,N), b (K,), labels (N,)).

Every metric is computed in float64 (inside `metrics.all` always; called one by one, where JAX's 64-bit mode is
on: `ufm.float64()` or `ufm.configure()`), is invariant to an orthogonal rotation of the
feature space (H → RH, W → WRᵀ) and to the order of the samples, and is jit/vmap compatible. `labels=None`
means the class-major balanced layout of `ufm.Problem` (n = N/K samples of class 0, then class 1, ...).

Conventions differ between the papers; each has its own name:

=================  ============================================================  ============================
key                formula                                                      source
=================  ============================================================  ============================
nc1                (1/K) tr(Σ_W Σ_B^†), Σ_B^† from the top K−1 eigenpairs       Zhou et al. 2022, arXiv 2203.01238, eq. 6, Guo et al. 2025, arXiv 2402.03979, eq. 4
nc2                ‖WWᵀ/‖WWᵀ‖_F − E‖_F                                         Zhou et al. 2022, arXiv 2203.01238, eq. 7 (Zhu/Zhou)
nc2_guo            ‖WM̄/‖WM̄‖_F − E‖_F   (= nc3: the same formula)               Guo et al. 2025, arXiv 2402.03979, eq. 5 (Guo)
nc3                ‖WM̄/‖WM̄‖_F − E‖_F                                           Zhou et al. 2022, arXiv 2203.01238, eq. 8 (Zhu/Zhou)
nc3_guo            ‖Wᵀ/‖W‖_F − M̄/‖M̄‖_F‖_F  (not squared)                       Guo et al. 2025, arXiv 2402.03979, eq. 6 (Guo)
numerical_rank     (1/K) Σ_k ‖H_k‖_*² / ‖H_k‖_F²                                 Zhou et al. 2022, arXiv 2203.01238, §4
cm_min, cm_mean    min / mean of CM_{k,i} = cos θ_{k,i;k} − max_{j≠k} cos θ_{k,i;j}  Zhou et al. 2022, arXiv 2203.01238, §4
accuracy           fraction with argmax_k (W h + b)_k = label
ncc_accuracy       fraction whose nearest class mean h̄_k is their own class     Papyan et al. NC4
ncc_agreement      fraction where the NCC and the linear classifier agree
w_norm_mean        (1/K) Σ_k ‖w^k‖                                               Guo et al. 2025, arXiv 2402.03979, footnote 2
h_mean_norm_mean   (1/K) Σ_k ‖h̄_k − h_G‖                                         Guo et al. 2025, arXiv 2402.03979, footnote 2
self_duality       ‖H̄ − c Wᵀ‖_F / ‖H̄‖_F at the best c (uncentred means)        Zhou et al. 2022, arXiv 2203.01238, Thm 3.1 (h̄_k ∝ w^k)
duality_scale      that c = ⟨H̄, Wᵀ⟩/‖W‖_F²                                      (√(λ_W/(nλ_H)) at NC)
=================  ============================================================  ============================

with M̄ = [h̄_k − h_G]_k (d,K), H̄ = [h̄_k]_k, E = Π/√(K−1). For d < K−1 the ETF targets of nc2/nc3 are
unattainable (Zhou et al. 2022, arXiv 2203.01238, footnote 5): compare W's Gram with the predicted one instead.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ._config import float64
from ._problem import class_labels

from ._collapse import Accumulator, Collapse, DecisionPass, LabelError, Stats, Timeline, collapse
from ._collapse import _as_labels, _present, duality_gap, etf_gap, nc1_from, stats_of

__all__ = [
    "collapse", "Collapse", "Accumulator", "DecisionPass", "Stats", "LabelError", "Timeline",
    "KEYS", "class_means", "sigma_w", "sigma_b", "nc1", "nc2", "nc2_guo", "nc3", "nc3_guo", "numerical_rank", "class_groups",
    "cosine_margins", "accuracy", "ncc_accuracy", "ncc_agreement", "w_norm_mean", "h_mean_norm_mean",
    "self_duality", "duality_scale", "all",
]

KEYS = (
    "nc1", "nc2", "nc2_guo", "nc3", "nc3_guo", "numerical_rank", "cm_min", "cm_mean", "accuracy", "ncc_accuracy",
    "ncc_agreement", "w_norm_mean", "h_mean_norm_mean", "self_duality", "duality_scale",
)


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


def nc2(W):
    """‖WWᵀ/‖WWᵀ‖_F − Π/√(K−1)‖_F (Zhou et al. 2022, arXiv 2203.01238, eq. 7, Zhu/Zhou)."""
    return etf_gap(_f64(W) @ _f64(W).T)


def nc3(W, H, labels=None):
    """‖WM̄/‖WM̄‖_F − Π/√(K−1)‖_F with M̄ the centred class means (Zhou et al. 2022, arXiv 2203.01238, eq. 8, Zhu/Zhou)."""
    W = _f64(W)
    Hbar, hG = class_means(H, labels, W.shape[0])
    return etf_gap(W @ (Hbar - hG[:, None]))


def nc2_guo(W, H, labels=None):
    """‖WM̄/‖WM̄‖_F − Π/√(K−1)‖_F (Guo et al. 2025, arXiv 2402.03979, eq. 5, Guo; its Wᵀ is our W). Identical to `nc3`."""
    return nc3(W, H, labels)


def nc3_guo(W, H, labels=None):
    """‖Wᵀ/‖W‖_F − M̄/‖M̄‖_F‖_F (Guo et al. 2025, arXiv 2402.03979, eq. 6, Guo; not squared): `duality_gap`."""
    Hbar, hG = class_means(H, labels, W.shape[0])
    return duality_gap(_f64(W), (Hbar - hG[:, None]).T)


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


def ncc_agreement(W, H, b, labels=None):
    """Fraction of samples on which the NCC and the linear classifier predict the same class."""
    return _fraction(_agree(W, H, b, labels))


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
    K = W.shape[0]
    cm = cosine_margins(W, H, labels)
    return {
        "nc1": nc1(H, labels, K),
        "nc2": nc2(W),
        "nc2_guo": nc2_guo(W, H, labels),
        "nc3": nc3(W, H, labels),
        "nc3_guo": nc3_guo(W, H, labels),
        "numerical_rank": _numerical_rank_grouped(H, groups),
        "cm_min": jnp.min(cm),
        "cm_mean": jnp.mean(cm),
        "accuracy": jnp.count_nonzero(_correct(W, H, b, labels)),  # counts: `all` divides on the host
        "ncc_accuracy": jnp.count_nonzero(_ncc_correct(H, labels, K)),
        "ncc_agreement": jnp.count_nonzero(_agree(W, H, b, labels)),
        "w_norm_mean": w_norm_mean(W),
        "h_mean_norm_mean": h_mean_norm_mean(H, labels, K),
        "self_duality": self_duality(W, H, labels),
        "duality_scale": duality_scale(W, H, labels),
    }


_COUNTS = ("accuracy", "ncc_accuracy", "ncc_agreement")  # `_all` returns counts for these

# Labels are traced (an int array, or None for the class-major layout): a new labelling does not recompile.
_all_jit = jax.jit(_all)
_all_batched = jax.jit(jax.vmap(_all, in_axes=(0, 0, 0, None, None)))


@float64()
def all(W, H, b, labels=None) -> dict:  # noqa: A001 - the issue's public name
    """Every metric of the table above as a dict of Python floats (keys `KEYS`), computed in float64 whatever
    the process's JAX 64-bit setting.

    With a leading batch axis on W, H, b (a `solve_batch` solution), values are numpy arrays instead.
    """
    W, H, b = (np.asarray(a) for a in (W, H, b))
    if W.ndim not in (2, 3) or H.ndim != W.ndim or b.ndim != W.ndim - 1:
        raise ValueError(f"metrics.all expects W (K,d), H (d,N), b (K,) (or each with a leading batch axis); got "
                         f"{W.shape}, {H.shape}, {b.shape}")
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
    if W.ndim == 3:
        out = _all_batched(W, H, b, lab, groups)
        return {k: np.asarray(out[k]) / H.shape[-1] if k in _COUNTS else np.asarray(out[k]) for k in KEYS}
    out = _all_jit(W, H, b, lab, groups)
    return {k: float(out[k]) / H.shape[-1] if k in _COUNTS else float(out[k]) for k in KEYS}
