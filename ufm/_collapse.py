"""Neural-collapse metrics of features as networks produce them: any labels, any size, float32 in, float64 inside,
in memory or streamed batch by batch. One path for both: `collapse` folds its rows into an `Accumulator` in
chunks, so the two agree to rounding.

The statistics and the formulas are `_stats` (shared with `ufm.metrics.all`); the checks of features, labels and
classifiers and the chunking are `_features`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._config import float64
from ._errors import ParameterError
from ._features import (
    CHUNK, LAYOUTS, LabelError, _as_labels, _as_rows, _batch, _check_classifier, _chunks, _present, check_classes,
)
from ._stats import Decisions, Stats, _decide, _empty, _fold, _from_stats, decisions_result, notes, power_of_two_scale

GLOBAL_MEANS = ("samples", "classes")


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
    note               why some metrics are NaN, if they are: without between-class spread the metrics of the
                       centred means are undefined, with W = 0 the classifier's; never reported as collapsed
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
    note: str = ""

    def to_dict(self) -> dict:
        return self._asdict()

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

    scale: the statistics are those of the features times `scale` (default 1; a power of two is exact). Every
    metric is scale-invariant; for features whose squares overflow (magnitude ~1e155 and up) or underflow, pass
    `ufm.metrics.power_of_two_scale(max |feature|)` — `collapse` does.
    """

    def __init__(self, num_classes: int, dim: int, *, layout: str = "N,d", stats: Stats | None = None,
                 scale: float = 1.0):
        for name, v, lo in (("num_classes", num_classes, 2), ("dim", dim, 1)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
                raise ParameterError(name, v, f"an integer ≥ {lo}", "Accumulator")
        if layout not in LAYOUTS:
            raise ParameterError("layout", layout, "'N,d' or 'd,N'", "Accumulator")
        if not (isinstance(scale, (int, float, np.floating)) and np.isfinite(scale) and scale > 0):
            raise ParameterError("scale", scale, "a finite number > 0", "Accumulator")
        self.num_classes, self.dim, self.layout, self.scale = int(num_classes), int(dim), layout, float(scale)
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
            stats = jax.block_until_ready(_fold(stats, *chunk, self.num_classes, self.scale))
        return Accumulator(self.num_classes, self.dim, layout=self.layout, stats=stats, scale=self.scale)

    @property
    def count(self) -> np.ndarray:
        """Samples seen per class (K,)."""
        return np.asarray(self.stats.count).astype(np.int64)

    @property
    def means(self) -> np.ndarray:
        """Class means μ_k (K, d), float64 (rows of empty classes are 0)."""
        return np.asarray(self.stats.mean) / self.scale

    def decisions(self) -> "DecisionPass":
        """A second pass over the samples, with this accumulator's final class means: NCC vs the classifier."""
        return DecisionPass(self.means, self.count > 0, self.layout, scale=self.scale)

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
        Wp = None if W is None else np.asarray(W, np.float64)[idx]
        if Wp is not None:  # the classifier's metrics are scale-invariant: W times a power of two (exact)
            Wp = Wp * power_of_two_scale(float(np.max(np.abs(Wp))) if Wp.size else 0.0)
        out = {k: float(v) for k, v in _from_stats(s, Wp, global_mean == "classes").items()}
        rec = dict.fromkeys(Collapse._fields)
        rec["classes_from"] = "num_classes"
        rec["note"] = notes(out)
        rec.update(out, num_classes=int(present.sum()), num_samples=int(np.sum(self.count)))
        if decisions is not None:
            rec.update(decisions.result(with_classifier=W is not None))
        return Collapse(**rec)


class DecisionPass:
    """The second pass of a streamed measurement (see `Accumulator`): NCC and classifier decisions per batch."""

    def __init__(self, means, present, layout: str = "N,d", counts: Decisions | None = None, scale: float = 1.0):
        self.means, self.present, self.layout = np.asarray(means, np.float64), np.asarray(present, bool), layout
        self.scale = float(scale)  # the nearest mean is found at this scale (see `Accumulator`)
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
            counts = jax.block_until_ready(_decide(counts, *chunk, means, present, Wc, bc, self.scale))
        return DecisionPass(self.means, self.present, self.layout, counts, self.scale)

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
    check_classes(y, K, H.shape[1], source == "labels", allow_empty, "collapse")
    # Every metric is scale-invariant: the statistics of the features scaled by a power of two (exact) stay
    # finite whatever their magnitude (1e200: squares would overflow and nc1 read 0).
    scale = power_of_two_scale(float(np.max(np.abs(H))) if H.size else 0.0)
    acc = Accumulator(K, H.shape[1], scale=scale)._fold(H, y)
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
        """Column → numpy array over the checkpoints: "step" and every numeric field of `Collapse` (float64, NaN
        where a checkpoint had no value; `notes()` says why)."""
        out = {"step": np.asarray(self.steps)}
        for key in Collapse._fields:
            if key in ("classes_from", "note"):
                continue
            out[key] = np.array([np.nan if getattr(r, key) is None else getattr(r, key) for r in self.records],
                                dtype=np.float64)
        return out

    def notes(self) -> list:
        """Each checkpoint's `Collapse.note` (why its NaN metrics are NaN; "" where none is): the words beside
        `table()`'s numbers, which stay all numeric."""
        return [r.note for r in self.records]


__all__ = ["collapse", "Collapse", "Accumulator", "DecisionPass", "Stats", "LabelError", "Timeline", "CHUNK",
           "GLOBAL_MEANS"]
