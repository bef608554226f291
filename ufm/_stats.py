"""The sufficient statistics of features and the NC formulas computed from them, shared by `ufm.metrics.all` (a
UFM solution) and `collapse` / `Accumulator` (a network's features): one definition of each quantity.

Per-class counts n_k, means μ_k, the within-class scatter S = Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ and its
per-class traces t_k (O(K·d + d²) memory, independent of N). A batch is folded in with the exact pairwise update of
Chan, Golub & LeVeque (1979): S ← S + S_B + Σ_k n_k m_k/(n_k + m_k)·(ν_k − μ_k)(ν_k − μ_k)ᵀ, with the batch's own
class means ν_k and counts m_k and its scatter S_B taken about ν_k (two passes inside the batch), so nothing is
computed as a difference of large sums. Class sums are segment sums, ranks and pseudo-inverses come from K×K and
d×d matrices; the N×K one-hot matrix and N×N Gram matrices never exist.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class Stats(NamedTuple):
    """The state of an `Accumulator` (a pytree, float64): counts (K,), means (K, d), scatter (d, d), trace (K,)."""

    count: jax.Array
    mean: jax.Array
    scatter: jax.Array
    trace: jax.Array


def _empty(K: int, d: int) -> Stats:
    z = functools.partial(jnp.zeros, dtype=jnp.float64)
    return Stats(z(K), z((K, d)), z((d, d)), z(K))


def _chunk_stats(H, y, w, K: int, scale=1.0) -> Stats:
    """Statistics of one chunk: H (m, d) any float dtype, y (m,) int, w (m,) 0/1 row weights (padding), of the
    features times `scale` (a power of two: exact; it keeps squares of features of magnitude 1e200 finite)."""
    H = H.astype(jnp.float64) * scale
    count = jax.ops.segment_sum(w, y, num_segments=K)
    mean = jax.ops.segment_sum(H * w[:, None], y, num_segments=K) / jnp.maximum(count, 1.0)[:, None]
    C = (H - mean[y]) * w[:, None]
    return Stats(count, mean, C.T @ C, jax.ops.segment_sum(jnp.sum(C * C, axis=1), y, num_segments=K))


def _merge(a: Stats, b: Stats) -> Stats:
    """Chan, Golub & LeVeque's exact combination of the statistics of two disjoint sets of rows."""
    n = a.count + b.count
    safe = jnp.maximum(n, 1.0)
    delta = b.mean - a.mean  # (K, d)
    f = a.count * b.count / safe  # (K,)
    D = delta * jnp.sqrt(f)[:, None]
    return Stats(n, a.mean + delta * (b.count / safe)[:, None], a.scatter + b.scatter + D.T @ D,
                 a.trace + b.trace + f * jnp.sum(delta * delta, axis=1))

@functools.partial(jax.jit, static_argnums=(4,))
def _fold(state: Stats, H, y, w, K: int, scale) -> Stats:
    """`state` with one chunk folded in: H (m, d), labels y (m,), row weights w (m,), features times `scale`.
    One compile per chunk size; the labels and the scale are traced, so a new labelling reuses the program."""
    return _merge(state, _chunk_stats(H, y, w.astype(jnp.float64), K, scale))


class Decisions(NamedTuple):
    """Counts of a pass over the samples with fixed class means (a pytree of float64 scalars): samples seen,
    NCC correct, classifier correct (with and without b), NCC–classifier agreement (with and without b)."""

    seen: jax.Array
    ncc_correct: jax.Array
    clf_correct: jax.Array
    clf_correct_nobias: jax.Array
    agree: jax.Array
    agree_nobias: jax.Array


@jax.jit
def _decide(acc: Decisions, H, y, w, means, present, W, b, scale=1.0) -> Decisions:
    """`acc` with the decisions of one chunk (as in `_fold`) added: nearest class mean (among the classes
    `present`) vs argmax(Wh + b) and argmax(Wh); the N×K score matrix never exists. The nearest mean is found
    among the features and means times `scale` (the same decision, with finite squares); the classifier sees h."""
    ms = means * scale
    sq = jnp.where(present, jnp.sum(ms * ms, axis=1), jnp.inf)
    h, w = H.astype(jnp.float64), w.astype(jnp.float64)
    ncc = jnp.argmin(sq[None, :] - 2 * (h * scale) @ ms.T, axis=1)  # ‖h − μ_k‖² up to ‖h‖²
    z = h @ W.T
    clf, clf0 = jnp.argmax(z + b[None, :], axis=1), jnp.argmax(z, axis=1)
    s = lambda m: jnp.sum(w * m)  # noqa: E731
    return Decisions(acc.seen + s(1.0), acc.ncc_correct + s(ncc == y), acc.clf_correct + s(clf == y),
                     acc.clf_correct_nobias + s(clf0 == y), acc.agree + s(clf == ncc), acc.agree_nobias + s(clf0 == ncc))

def _unit(A):
    return A / jnp.maximum(jnp.linalg.norm(A), jnp.finfo(jnp.float64).tiny)


def etf_gap(G):
    """‖G/‖G‖_F − (I − 11ᵀ/K)/√(K−1)‖_F for a K×K matrix G: 0 iff G is a positive multiple of a simplex-ETF Gram
    matrix (NC2 with G = WWᵀ or MMᵀ, NC3 with G = WMᵀ; Zhu et al. 2021, arXiv 2105.02375, eqs. 8–9)."""
    K = G.shape[0]
    return jnp.linalg.norm(_unit(G) - (jnp.eye(K) - 1.0 / K) / jnp.sqrt(K - 1.0))


def duality_gap(W, M):
    """‖W/‖W‖_F − M/‖M‖_F‖_F: the classifier rows against the centred class means, class by class (self-duality,
    Papyan et al. 2020, Fig. 4; the NC3 of Guo et al. 2025, arXiv 2402.03979, eq. 6)."""
    return jnp.linalg.norm(_unit(W) - _unit(M))


def nc1_from(sigma_w, M):
    """(1/K) tr(Σ_W Σ_B^†) with Σ_B = MᵀM/K for the K×d centred class means M, Σ_B^† on its top min(K−1, d)
    directions with eigenvalue > 1e-12 × the largest (Papyan et al. 2020; Zhu et al. 2021, eq. 7). Through the SVD
    M = U S Vᵀ: tr(Σ_W Σ_B^†) = Σ_j K/s_j² · v_jᵀ Σ_W v_j, each term ≥ 0, so the result is ≥ 0 exactly."""
    K = M.shape[0]
    _, sv, Vt = jnp.linalg.svd(M, full_matrices=False)
    r = min(K - 1, M.shape[1])
    sv2, Vt = sv[:r] ** 2, Vt[:r]
    keep = sv2 > 1e-12 * jnp.maximum(sv2[0], jnp.finfo(jnp.float64).tiny)
    within = jnp.einsum("jd,de,je->j", Vt, sigma_w, Vt)
    return jnp.sum(jnp.where(keep, within * K / jnp.where(keep, sv2, 1.0), 0.0)) / K


def stats_of(H, y, K: int, scale=1.0) -> Stats:
    """The statistics of the columns of H (d, N) times `scale` with labels y (N,) in one pass (pure JAX)."""
    return _chunk_stats(H.T, y, jnp.ones(H.shape[1], jnp.float64), K, scale)


def pow2_scale(A):
    """`power_of_two_scale(max |A|)` inside a program: 2^−e with max|A|·2^−e in [1, 2), 1 for 0 or non-finite."""
    top = jnp.max(jnp.abs(A))
    ok = jnp.isfinite(top) & (top > 0)
    return jnp.where(ok, jnp.ldexp(jnp.ones((), A.dtype), 1 - jnp.frexp(jnp.where(ok, top, 1.0))[1]), 1.0)


def _cv(x):
    return jnp.std(x) / jnp.maximum(jnp.mean(x), jnp.finfo(jnp.float64).tiny)


def from_stats(s: Stats, W, classes_mean: bool) -> dict:
    """The quantities that need no pass over the samples, from the statistics of present classes only (s holds
    only those rows): nc1, cdnv, nc2_means, equinorm_means, equiangle_means, maxangle_means and, with the
    classifier rows W of those classes, nc2_w, equinorm_w, nc3, nc3_duality (`ufm.metrics.VOCABULARY`). Pure JAX:
    `collapse`, `Accumulator` and `metrics.all` all compute them here.

    Without between-class spread (the class means coincide, up to 1e-12 of their size, or are not finite) the
    quantities of the centred means are undefined: they are NaN, and "degenerate" is 1 (never a value that reads
    as collapsed: nc1 = 0 with Σ_B = 0 would); with W = 0 the classifier's are, and "zero_classifier" is 1
    (`notes` turns the flags into words). Every quantity is invariant under positive scalings of the features
    and of W: pass statistics of scaled features and a scaled W where squares could overflow or underflow."""
    K = s.count.shape[0]
    N = jnp.sum(s.count)
    mu_g = jnp.mean(s.mean, axis=0) if classes_mean else s.count @ s.mean / N
    M = s.mean - mu_g  # (K, d)
    tiny = jnp.finfo(jnp.float64).tiny
    nc1 = nc1_from(s.scatter / N, M)
    # CDNV from the K×K Gram of the means: ‖μ_k − μ_l‖² = G_kk + G_ll − 2G_kl.
    G = M @ M.T
    dist = jnp.diag(G)[:, None] + jnp.diag(G)[None, :] - 2 * G
    var = s.trace / s.count
    pair = ~jnp.eye(K, dtype=bool)
    cdnv = jnp.sum(jnp.where(pair, (var[:, None] + var[None, :]) / (2 * jnp.where(pair, dist, 1.0)), 0.0))
    cdnv = cdnv / (K * (K - 1))
    norms = jnp.sqrt(jnp.diag(G))
    cos = G / jnp.maximum(norms[:, None] * norms[None, :], tiny)
    off = jnp.where(pair, cos, 0.0)
    n_pairs = K * (K - 1)
    mean_cos = jnp.sum(off) / n_pairs
    size = jnp.max(jnp.linalg.norm(s.mean, axis=1))
    degenerate = ~(jnp.sqrt(jnp.trace(G)) > 1e-12 * size)  # NaN or inf compare False: degenerate too
    undefined = lambda v: jnp.where(degenerate, jnp.nan, v)  # noqa: E731
    out = {
        "nc1": undefined(nc1), "cdnv": undefined(cdnv), "nc2_means": undefined(etf_gap(G)),
        "equinorm_means": undefined(_cv(norms)),
        "equiangle_means": undefined(jnp.sqrt(jnp.sum(jnp.where(pair, (cos - mean_cos) ** 2, 0.0)) / n_pairs)),
        "maxangle_means": undefined(jnp.sum(jnp.where(pair, jnp.abs(cos + 1.0 / (K - 1)), 0.0)) / n_pairs),
        "degenerate": degenerate.astype(jnp.float64),
    }
    if W is not None:
        # W = 0 (an untrained zero-initialised classifier): its geometry is undefined, not "collapsed" (the
        # spread of its row norms would read 0, a perfectly equinorm classifier).
        zero_w = ~(jnp.max(jnp.abs(W)) > 0)
        no_w = lambda v: jnp.where(zero_w, jnp.nan, v)  # noqa: E731
        out.update(nc2_w=no_w(etf_gap(W @ W.T)), equinorm_w=no_w(_cv(jnp.linalg.norm(W, axis=1))),
                   nc3=no_w(undefined(etf_gap(W @ M.T))), nc3_duality=no_w(undefined(duality_gap(W, M))),
                   zero_classifier=zero_w.astype(jnp.float64))
    return out


DEGENERATE = ("no between-class spread: the class means coincide, so nc1, cdnv, nc2_means, nc3, nc3_duality and "
              "the spreads of the means' norms and angles are undefined (NaN)")
ZERO_CLASSIFIER = "W = 0: the classifier's geometry (nc2_w, equinorm_w, nc3, nc3_duality) is undefined (NaN)"


def notes(out: dict) -> str:
    """Why some of `from_stats`'s quantities are NaN (its flags popped from `out`), or ""."""
    flags = ((out.pop("degenerate", 0.0), DEGENERATE), (out.pop("zero_classifier", 0.0), ZERO_CLASSIFIER))
    return "; ".join(text for flag, text in flags if flag)


def power_of_two_scale(max_abs: float) -> float:
    """2^−e with max_abs·2^−e in [1, 2): multiplying by it is exact, and the squares of the scaled features can
    neither overflow (features of 1e200) nor underflow (1e-200). 1 for 0 or a non-finite max_abs."""
    if not (np.isfinite(max_abs) and max_abs > 0):
        return 1.0
    return float(np.ldexp(1.0, 1 - int(np.frexp(max_abs)[1])))


_from_stats = jax.jit(from_stats, static_argnums=(2,))


def decision_counts(acc: "Decisions", H, y, w, means, present, W, b, scale=1.0) -> "Decisions":
    """`acc` with the decisions of the rows H (m, d) with labels y and row weights w added: nearest class mean
    (among the classes `present`) against argmax(Wh + b) and argmax(Wh) — what nc4, nc4_nobias and the accuracies
    count (`DecisionPass`, `metrics.all`). The N×K score matrix never exists."""
    return _decide(acc, H, y, w, means, present, W, b, scale)


def decisions_result(c: dict, with_classifier: bool = True) -> dict:
    """nc4, nc4_nobias, accuracy, accuracy_nobias, ncc_accuracy from decision counts (floats on the host: a
    division inside a program rounds 49·(1/49) to 0.9999999999999999)."""
    n = np.maximum(c["seen"], 1.0)
    out = {"ncc_accuracy": c["ncc_correct"] / n}
    if with_classifier:
        out.update(accuracy=c["clf_correct"] / n, accuracy_nobias=c["clf_correct_nobias"] / n,
                   nc4=1.0 - c["agree"] / n, nc4_nobias=1.0 - c["agree_nobias"] / n)
    return out


__all__ = ["Stats", "Decisions", "stats_of", "from_stats", "decision_counts", "decisions_result", "nc1_from",
           "etf_gap", "duality_gap", "DEGENERATE", "ZERO_CLASSIFIER", "notes", "power_of_two_scale", "pow2_scale"]
