"""Neural-collapse metrics of features as networks produce them: any labels, any size, float32 in, float64 inside,
in memory or streamed batch by batch. One path for both: `collapse` folds its rows into an `Accumulator` in
chunks, so the two agree to rounding.

Sufficient statistics (O(K·d + d²) memory, independent of N): per-class counts n_k, means μ_k, the within-class
scatter S = Σ_i (h_i − μ_{y_i})(h_i − μ_{y_i})ᵀ and its per-class traces t_k. A batch is folded in with the exact
pairwise update of Chan, Golub & LeVeque (1979): S ← S + S_B + Σ_k n_k m_k/(n_k + m_k)·(ν_k − μ_k)(ν_k − μ_k)ᵀ,
with the batch's own class means ν_k and counts m_k and its scatter S_B taken about ν_k (two passes inside the
batch), so nothing is computed as a difference of large sums. The N×K one-hot matrix and N×N Gram matrices never
exist: class sums are segment sums, ranks and pseudo-inverses come from K×K and d×d matrices.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._config import float64
from ._errors import ParameterError, UFMError

CHUNK = 4096  # rows folded in at once: the float64 copy of a chunk is the largest temporary
LAYOUTS = ("N,d", "d,N")
GLOBAL_MEANS = ("samples", "classes")


class LabelError(UFMError, ValueError):
    """Labels that cannot define classes (wrong type, out of range, wrong length, an empty class).

    where: the call that refused them; problem: what is wrong, in words; fixes: keyword arguments that would
    make the call valid, as (name, value) pairs (the message spells them as Python keywords; the command line
    spells them as its flags)."""

    def __init__(self, where: str, problem: str, fixes: tuple = ()):
        self.where, self.problem, self.fixes = where, problem, tuple(fixes)
        hint = " or ".join(f"pass {name}={value}" for name, value in self.fixes)
        super().__init__(f"{where}: {problem}" + (f"; {hint}" if hint else ""))


class Stats(NamedTuple):
    """The state of an `Accumulator` (a pytree, float64): counts (K,), means (K, d), scatter (d, d), trace (K,)."""

    count: jax.Array
    mean: jax.Array
    scatter: jax.Array
    trace: jax.Array


def _empty(K: int, d: int) -> Stats:
    z = functools.partial(jnp.zeros, dtype=jnp.float64)
    return Stats(z(K), z((K, d)), z((d, d)), z(K))


def _chunk_stats(H, y, w, K: int) -> Stats:
    """Statistics of one chunk: H (m, d) any float dtype, y (m,) int, w (m,) 0/1 row weights (padding)."""
    H = H.astype(jnp.float64)
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


def _bucket(m: int) -> int:
    """Rows of a chunk of m ≤ CHUNK rows after padding: a power of two ≥ 256, so that every chunk shape is one of
    a few compiled programs; padded rows carry weight 0."""
    return max(256, 1 << (max(m, 1) - 1).bit_length())


def _chunks(H, y):
    """(H, y, w) on the device, CHUNK rows at a time (a short array padded to `_bucket`, the tail of a long one to
    CHUNK): only one chunk's copy of the data exists at once, and every N uses the same few programs."""
    y = np.asarray(y, np.int32)
    for lo in range(0, H.shape[0], CHUNK):
        h, yy = H[lo:lo + CHUNK], y[lo:lo + CHUNK]
        m = h.shape[0]
        rows = CHUNK if H.shape[0] > CHUNK else _bucket(m)  # the tail of a long array reuses the chunk program
        w = np.zeros(rows, np.float32)
        w[:m] = 1.0
        if rows > m:  # pad on the host (numpy input) or the device (JAX input): no extra compiled program
            xp = np if isinstance(h, np.ndarray) else jnp
            h = xp.concatenate([h, xp.zeros((rows - m, h.shape[1]), h.dtype)])
            yy = np.concatenate([yy, np.zeros(rows - m, np.int32)])
        yield jnp.asarray(h), jnp.asarray(yy), jnp.asarray(w)


@functools.partial(jax.jit, static_argnums=(4,))
def _fold(state: Stats, H, y, w, K: int) -> Stats:
    """`state` with one chunk folded in: H (m, d), labels y (m,), row weights w (m,). One compile per chunk
    size; the labels are traced, so a new labelling reuses the program."""
    return _merge(state, _chunk_stats(H, y, w.astype(jnp.float64), K))


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
def _decide(acc: Decisions, H, y, w, means, present, W, b) -> Decisions:
    """`acc` with the decisions of one chunk (as in `_fold`) added: nearest class mean (among the classes
    `present`) vs argmax(Wh + b) and argmax(Wh); the N×K score matrix never exists."""
    sq = jnp.where(present, jnp.sum(means * means, axis=1), jnp.inf)
    h, w = H.astype(jnp.float64), w.astype(jnp.float64)
    ncc = jnp.argmin(sq[None, :] - 2 * h @ means.T, axis=1)  # ‖h − μ_k‖² up to ‖h‖²
    z = h @ W.T
    clf, clf0 = jnp.argmax(z + b[None, :], axis=1), jnp.argmax(z, axis=1)
    s = lambda m: jnp.sum(w * m)  # noqa: E731
    return Decisions(acc.seen + s(1.0), acc.ncc_correct + s(ncc == y), acc.clf_correct + s(clf == y),
                     acc.clf_correct_nobias + s(clf0 == y), acc.agree + s(clf == ncc), acc.agree_nobias + s(clf0 == ncc))


class Collapse(NamedTuple):
    """Every neural-collapse metric of one set of features (Python floats; None where W is needed but not given,
    or where a streamed run made no decision pass), under the keys of `ufm.metrics.VOCABULARY`. K' = classes with
    samples, μ_G the global mean (see
    `global_mean`), M the K'×d matrix of centred class means m_k = μ_k − μ_G, Σ_W = S/N, Σ_B = MᵀM/K',
    E = (I − 11ᵀ/K')/√(K'−1) the normalised simplex-ETF Gram matrix, and for a matrix A, Â = A/‖A‖_F.

    nc1                (1/K') tr(Σ_W Σ_B^†), Σ_B^† on the top K'−1 directions of M (Papyan, Han & Donoho 2020,
                       arXiv 2008.08186, Fig. 6; the NC1 of Zhu et al. 2021, arXiv 2105.02375, eq. 7)
    cdnv               mean over class pairs of (σ_k² + σ_l²)/(2‖μ_k − μ_l‖²), σ_k² = E_k‖h − μ_k‖²
                       (Galanti, György & Hutter 2022, "On the Role of Neural Collapse in Transfer Learning",
                       arXiv 2112.15121, Def. 1)
    nc2_means          ‖(MMᵀ)^ − E‖_F: the centred class means against a simplex ETF (Zhu et al. 2021 form)
    nc2_w              ‖(WWᵀ)^ − E‖_F: the classifier rows against a simplex ETF (Zhu et al. 2021, eq. 8)
    equinorm_means     std/mean of ‖m_k‖; equinorm_w: std/mean of ‖w_k‖ (Papyan et al. 2020, Fig. 2)
    equiangle_means    std over pairs of cos(m_k, m_l); maxangle_means: mean over pairs of |cos + 1/(K'−1)|
                       (Papyan et al. 2020, Fig. 3)
    nc3                ‖(WMᵀ)^ − E‖_F (Zhu et al. 2021, eq. 9: the classifier aligned with the centred means)
    nc3_duality        ‖Ŵ − M̂‖_F (Papyan et al. 2020, Fig. 4: self-duality, rows matched class by class)
    nc4                fraction of samples where argmax_k (Wh + b)_k ≠ argmin_k ‖h − μ_k‖ (Papyan et al. 2020,
                       Fig. 7, with the classifier's bias); nc4_nobias: the same with argmax_k (Wh)_k
    accuracy           argmax_k (Wh + b)_k = label; accuracy_nobias without b; ncc_accuracy: nearest class mean
    num_classes        K' (classes with samples); num_samples: N
    classes_from       where K came from: "num_classes" (given), "W" (its rows) or "labels" (the largest label
                       + 1: a class above it that has no samples cannot be seen, so it is not counted)
    """

    nc1: float
    cdnv: float
    nc2_means: float
    equinorm_means: float
    equiangle_means: float
    maxangle_means: float
    nc2_w: float | None
    equinorm_w: float | None
    nc3: float | None
    nc3_duality: float | None
    nc4: float | None
    nc4_nobias: float | None
    accuracy: float | None
    accuracy_nobias: float | None
    ncc_accuracy: float | None
    num_classes: int
    num_samples: int
    classes_from: str = "num_classes"

    def to_dict(self) -> dict:
        return self._asdict()


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


def stats_of(H, y, K: int) -> Stats:
    """The statistics of the columns of H (d, N) with labels y (N,) in one pass (pure JAX: jit/vmap it)."""
    return _chunk_stats(H.T, y, jnp.ones(H.shape[1], jnp.float64), K)


def _cv(x):
    return jnp.std(x) / jnp.maximum(jnp.mean(x), jnp.finfo(jnp.float64).tiny)


def from_stats(s: Stats, W, classes_mean: bool) -> dict:
    """The quantities that need no pass over the samples, from the statistics of present classes only (s holds
    only those rows): nc1, cdnv, nc2_means, equinorm_means, equiangle_means, maxangle_means and, with the
    classifier rows W of those classes, nc2_w, equinorm_w, nc3, nc3_duality (`ufm.metrics.VOCABULARY`). Pure JAX:
    `collapse`, `Accumulator` and `metrics.all` all compute them here."""
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
    out = {
        "nc1": nc1, "cdnv": cdnv, "nc2_means": etf_gap(G), "equinorm_means": _cv(norms),
        "equiangle_means": jnp.sqrt(jnp.sum(jnp.where(pair, (cos - mean_cos) ** 2, 0.0)) / n_pairs),
        "maxangle_means": jnp.sum(jnp.where(pair, jnp.abs(cos + 1.0 / (K - 1)), 0.0)) / n_pairs,
    }
    if W is not None:
        out.update(nc2_w=etf_gap(W @ W.T), equinorm_w=_cv(jnp.linalg.norm(W, axis=1)), nc3=etf_gap(W @ M.T),
                   nc3_duality=duality_gap(W, M))
    return out


_from_stats = jax.jit(from_stats, static_argnums=(2,))


def decision_counts(acc: "Decisions", H, y, w, means, present, W, b) -> "Decisions":
    """`acc` with the decisions of the rows H (m, d) with labels y and row weights w added: nearest class mean
    (among the classes `present`) against argmax(Wh + b) and argmax(Wh) — what nc4, nc4_nobias and the accuracies
    count (`DecisionPass`, `metrics.all`). The N×K score matrix never exists."""
    return _decide(acc, H, y, w, means, present, W, b)


def decisions_result(c: dict, with_classifier: bool = True) -> dict:
    """nc4, nc4_nobias, accuracy, accuracy_nobias, ncc_accuracy from decision counts (floats on the host: a
    division inside a program rounds 49·(1/49) to 0.9999999999999999)."""
    n = np.maximum(c["seen"], 1.0)
    out = {"ncc_accuracy": c["ncc_correct"] / n}
    if with_classifier:
        out.update(accuracy=c["clf_correct"] / n, accuracy_nobias=c["clf_correct_nobias"] / n,
                   nc4=1.0 - c["agree"] / n, nc4_nobias=1.0 - c["agree_nobias"] / n)
    return out


def _as_rows(features, layout: str, where: str):
    if layout not in LAYOUTS:
        raise ParameterError("layout", layout, "'N,d' (rows are samples) or 'd,N' (columns are samples)", where)
    H = np.asarray(features) if not isinstance(features, jax.Array) else features
    if H.ndim != 2:
        raise ParameterError("features", f"an array of shape {tuple(H.shape)}", f"2-D, laid out as {layout!r}", where)
    if not jnp.issubdtype(H.dtype, jnp.floating):
        raise ParameterError("features", f"dtype {H.dtype}", "a floating-point array", where)
    H = H if layout == "N,d" else H.T
    finite = np.isfinite(H).all(axis=1) if isinstance(H, np.ndarray) else np.asarray(jnp.all(jnp.isfinite(H), axis=1))
    if not finite.all():
        i = int(np.argmin(finite))
        raise ParameterError("features", f"NaN or Inf in sample {i} (and {int((~finite).sum()) - 1} more)",
                             "finite everywhere", where)
    return H


def _as_labels(labels, N: int, K: int | None, where: str):
    if labels is None:
        raise LabelError(where, "labels are required (one integer class per sample; the UFM's class-major order "
                                "is `ufm.class_labels(K, n)`)")
    y = np.asarray(labels)
    if y.ndim != 1:
        raise LabelError(where, f"labels must be 1-D; got shape {y.shape}")
    if y.shape[0] != N:
        raise LabelError(where, f"{y.shape[0]} labels for {N} samples (check the layout: 'N,d' or 'd,N')")
    if y.dtype == bool or not np.issubdtype(y.dtype, np.integer):
        raise LabelError(where, f"labels must be integers; got dtype {y.dtype} (convert with .astype(int) if they "
                                "are whole numbers)")
    lo, hi = (int(y.min()), int(y.max())) if N else (0, -1)
    given = K is not None
    if K is None:
        K = hi + 1
    if not isinstance(K, (int, np.integer)) or isinstance(K, bool) or K < 2:
        raise ParameterError("num_classes", K, "an integer ≥ 2", where)
    if lo < 0 or hi >= K:
        bad = lo if lo < 0 else hi
        fixes = () if given or lo < 0 else (("num_classes", hi + 1),)
        raise LabelError(where, f"labels must lie in [0, {K}); found {bad} (labels 1..K need y − 1)", fixes)
    return y.astype(np.int32), int(K)


def _batch(features, labels, layout: str, dim: int, K: int, where: str):
    """A streamed batch, validated as in `collapse` and against the accumulator's dimension: (rows, labels)."""
    H = _as_rows(features, layout, where)
    if H.shape[1] != dim:
        raise ParameterError("features", f"dimension {H.shape[1]}", f"dimension {dim}", where)
    return H, _as_labels(labels, H.shape[0], K, where)[0]


def _present(count: np.ndarray, allow_empty: bool, where: str) -> np.ndarray:
    present = count > 0
    if not present.all() and not allow_empty:
        missing = np.flatnonzero(~present)
        raise LabelError(where, f"class {int(missing[0])} has no samples ({missing.size} empty in all); to measure "
                                "the classes that have samples", (("allow_empty", True),))
    if present.sum() < 2:
        raise LabelError(where, f"need samples of at least 2 classes; found {int(present.sum())}")
    return present


def _check_classifier(W, b, K: int, d: int, where: str):
    if W is None:
        if b is not None:
            raise ParameterError("b", "given without W", "given with W", where)
        return None, None
    W = jnp.asarray(np.asarray(W), jnp.float64)
    if W.shape != (K, d):
        raise ParameterError("W", f"shape {tuple(W.shape)}", f"shape (num_classes, dim) = ({K}, {d})", where)
    b = jnp.zeros(K, jnp.float64) if b is None else jnp.asarray(np.asarray(b), jnp.float64)
    if b.shape != (K,):
        raise ParameterError("b", f"shape {tuple(b.shape)}", f"shape (num_classes,) = ({K},)", where)
    if not (bool(jnp.all(jnp.isfinite(W))) and bool(jnp.all(jnp.isfinite(b)))):
        raise ParameterError("W", "non-finite entries", "finite", where)
    return W, b


class Accumulator:
    """Streaming neural-collapse statistics: memory O(K·d + d²), whatever the number of samples.

        acc = ufm.metrics.Accumulator(num_classes=K, dim=d)
        for X, y in batches:                    # X (batch, d) any float dtype, y (batch,) ints in [0, K)
            acc = acc.update(X, y)
        rec = acc.result(W, b)                  # a `Collapse`; nc4 and the accuracies need a second pass:
        dec = acc.decisions()
        for X, y in batches:
            dec = dec.update(X, y, W, b)
        rec = acc.result(W, b, decisions=dec)

    `update` returns a new accumulator (the old one is unchanged); the state is `acc.stats`, a pytree. Batches
    may have any size; each new batch size compiles once.
    """

    def __init__(self, num_classes: int, dim: int, *, layout: str = "N,d", stats: Stats | None = None):
        for name, v, lo in (("num_classes", num_classes, 2), ("dim", dim, 1)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ParameterError(name, v, f"an integer ≥ {lo}", "Accumulator")
        if layout not in LAYOUTS:
            raise ParameterError("layout", layout, "'N,d' or 'd,N'", "Accumulator")
        self.num_classes, self.dim, self.layout = int(num_classes), int(dim), layout
        with float64():
            self.stats = _empty(self.num_classes, self.dim) if stats is None else stats

    @float64()
    def update(self, features, labels) -> "Accumulator":
        """This accumulator with the batch (features, labels) folded in (validated as in `collapse`)."""
        H, y = _batch(features, labels, self.layout, self.dim, self.num_classes, "Accumulator.update")
        return self._fold(H, y)

    def _fold(self, H, y) -> "Accumulator":
        stats = self.stats
        for chunk in _chunks(H, y):
            # Wait for each fold: JAX dispatches asynchronously, and a loop over chunks would otherwise queue every
            # chunk's device copy at once (memory growing with N instead of staying flat).
            stats = jax.block_until_ready(_fold(stats, *chunk, self.num_classes))
        return Accumulator(self.num_classes, self.dim, layout=self.layout, stats=stats)

    @property
    def count(self) -> np.ndarray:
        """Samples seen per class (K,)."""
        return np.asarray(self.stats.count).astype(np.int64)

    @property
    def means(self) -> np.ndarray:
        """Class means μ_k (K, d), float64 (rows of empty classes are 0)."""
        return np.asarray(self.stats.mean)

    def decisions(self) -> "DecisionPass":
        """A second pass over the samples, with this accumulator's final class means: NCC vs the classifier."""
        return DecisionPass(self.means, self.count > 0, self.layout)

    @float64()
    def result(self, W=None, b=None, *, decisions: "DecisionPass | None" = None, global_mean: str = "samples",
               allow_empty: bool = False) -> Collapse:
        """The `Collapse` record of everything seen so far.

        global_mean: "samples" (μ_G = mean of all samples, Papyan et al. 2020) or "classes" (mean of the class
          means, as in the common PyTorch metrics library); the two agree for balanced classes.
        allow_empty: measure only the classes that have samples (else an empty class is an error).
        """
        where = "Accumulator.result"
        if global_mean not in GLOBAL_MEANS:
            raise ParameterError("global_mean", global_mean, "'samples' or 'classes'", where)
        K, d = self.num_classes, self.dim
        present = _present(np.asarray(self.stats.count), allow_empty, where)
        W, b = _check_classifier(W, b, K, d, where)
        idx = np.flatnonzero(present)
        st = Stats(*(np.asarray(a) for a in self.stats))  # K×d and d×d: selecting on the host compiles nothing
        s = Stats(st.count[idx], st.mean[idx], st.scatter, st.trace[idx])
        Wp = None if W is None else np.asarray(W)[idx]
        out = {k: float(v) for k, v in _from_stats(s, Wp, global_mean == "classes").items()}
        rec = dict.fromkeys(Collapse._fields)
        rec["classes_from"] = "num_classes"
        rec.update(out, num_classes=int(present.sum()), num_samples=int(np.sum(self.count)))
        if decisions is not None:
            rec.update(decisions.result(with_classifier=W is not None))
        return Collapse(**rec)


class DecisionPass:
    """The second pass of a streamed measurement (see `Accumulator`): NCC and classifier decisions per batch."""

    def __init__(self, means, present, layout: str = "N,d", counts: Decisions | None = None):
        self.means, self.present, self.layout = np.asarray(means, np.float64), np.asarray(present, bool), layout
        with float64():
            self.counts = counts if counts is not None else Decisions(*(jnp.zeros((), jnp.float64),) * 6)

    @float64()
    def update(self, features, labels, W=None, b=None) -> "DecisionPass":
        K, d = self.means.shape
        H, y = _batch(features, labels, self.layout, d, K, "DecisionPass.update")
        return self._decide(H, y, *_check_classifier(W, b, K, d, "DecisionPass.update"))

    def _decide(self, H, y, Wc, bc) -> "DecisionPass":
        K, d = self.means.shape
        if Wc is None:  # NCC accuracy only: any classifier will do, its counts are not reported
            Wc, bc = jnp.zeros((K, d)), jnp.zeros(K)
        means, present, counts = jnp.asarray(self.means), jnp.asarray(self.present), self.counts
        for chunk in _chunks(H, y):
            counts = jax.block_until_ready(_decide(counts, *chunk, means, present, Wc, bc))
        return DecisionPass(self.means, self.present, self.layout, counts)

    def result(self, with_classifier: bool = True) -> dict:
        c = decisions_result({k: float(v) for k, v in self.counts._asdict().items()}, with_classifier)
        return {k: float(v) for k, v in c.items()}


@float64()
def collapse(features, labels, W=None, b=None, *, num_classes: int | None = None, layout: str = "N,d",
             global_mean: str = "samples", allow_empty: bool = False) -> Collapse:
    """Every neural-collapse metric of `features` (see `Collapse` for the formulas and their papers).

    features: (N, d) with layout "N,d" (rows are samples, as frameworks store them) or (d, N) with "d,N" (the
      UFM's H); any float dtype, accumulated in float64; NaN/Inf rows are refused.
    labels: (N,) integers in [0, num_classes) (default num_classes: max label + 1); anything else, a length
      mismatch or an empty class is refused with one line naming the problem (allow_empty=True measures the
      classes present). Labels are traced: a new labelling of the same shape does not recompile.
    W (K, d), b (K,): the classifier, for nc2_w, nc3, nc3_duality, nc4 and the accuracies (b defaults to 0).
      Without num_classes, W's rows give K.
    global_mean: "samples" or "classes" (see `Accumulator.result`).
    The record's `classes_from` says where K came from; "labels" (no num_classes, no W) means K = largest label
    + 1, so a top class with no samples is not counted.
    """
    if global_mean not in GLOBAL_MEANS:
        raise ParameterError("global_mean", global_mean, "'samples' or 'classes'", "collapse")
    H = _as_rows(features, layout, "collapse")
    W_rows = np.shape(W)[0] if W is not None and np.ndim(W) == 2 else None
    source = "num_classes" if num_classes is not None else "W" if W_rows is not None else "labels"
    y, K = _as_labels(labels, H.shape[0], num_classes if num_classes is not None else W_rows, "collapse")
    acc = Accumulator(K, H.shape[1])._fold(H, y)
    _present(np.asarray(acc.stats.count), allow_empty, "collapse")
    dec = acc.decisions()._decide(H, y, *_check_classifier(W, b, K, H.shape[1], "collapse"))
    rec = acc.result(W, b, decisions=dec, global_mean=global_mean, allow_empty=allow_empty)
    return rec._replace(classes_from=source)


class Timeline:
    """Neural-collapse metrics over training: one `collapse` record per checkpoint, as a tidy table.

        tl = ufm.metrics.Timeline()                      # keyword arguments go to every `collapse` call
        for epoch in range(E):
            ...train...
            tl.add(epoch, features, labels, W, b)        # or pass `tl` as a callback: tl(epoch, ...)
        tl.table()                                       # {"step": (T,), "nc1": (T,), "cdnv": (T,), ...}

    `Timeline.from_checkpoints(items)` does the same for a sequence of (step, features, labels[, W[, b]]) tuples
    or mappings with those keys. Metrics that a checkpoint could not give (no W) are NaN in the table.
    """

    def __init__(self, **collapse_kw):
        self.kw = collapse_kw
        self.steps: list = []
        self.records: list[Collapse] = []

    def add(self, step, features, labels, W=None, b=None) -> Collapse:
        rec = collapse(features, labels, W, b, **self.kw)
        self.steps.append(step)
        self.records.append(rec)
        return rec

    __call__ = add

    @classmethod
    def from_checkpoints(cls, checkpoints, **collapse_kw) -> "Timeline":
        tl = cls(**collapse_kw)
        for item in checkpoints:
            if isinstance(item, dict):
                tl.add(item["step"], item["features"], item["labels"], item.get("W"), item.get("b"))
            else:
                tl.add(*item)
        return tl

    def __len__(self) -> int:
        return len(self.records)

    def table(self) -> dict:
        """Column → numpy array over the checkpoints: "step" and every field of `Collapse` (float64, NaN where
        a checkpoint had no value)."""
        out = {"step": np.asarray(self.steps)}
        for key in Collapse._fields:
            if key == "classes_from":
                continue
            out[key] = np.array([np.nan if getattr(r, key) is None else getattr(r, key) for r in self.records],
                                dtype=np.float64)
        return out


__all__ = ["collapse", "Collapse", "Accumulator", "DecisionPass", "Decisions", "Stats", "LabelError", "Timeline", "CHUNK",
           "from_stats", "decision_counts", "decisions_result", "stats_of", "nc1_from", "etf_gap", "duality_gap"]
