"""ufm.metrics.collapse and the streaming Accumulator: formulas against direct numpy references, streaming equal
to in-memory, float32 in / float64 inside, both layouts, both global means, every bad input refused by name,
and no recompilation for a new labelling."""

from __future__ import annotations

import itertools

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ufm
from ufm.metrics import Accumulator, LabelError, collapse

REL = 1e-10  # float64 accumulation of O(1) data: agreement to ~1e-13; 1e-10 leaves room for reassociation


def _data(K=5, d=7, counts=(30, 12, 50, 7, 21), seed=0, spread=0.3):
    """Imbalanced clusters around random centres, shuffled; a classifier near the centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((K, d)) * 2
    y = np.concatenate([np.full(c, k) for k, c in enumerate(counts)])
    rng.shuffle(y)
    X = centres[y] + spread * rng.standard_normal((y.size, d))
    W = centres + 0.1 * rng.standard_normal((K, d))
    b = 0.1 * rng.standard_normal(K)
    return X, y, W, b


def _reference(X, y, W, b, global_mean="samples"):
    """Direct numpy evaluation of every formula in `ufm.metrics.Collapse`."""
    K = int(y.max()) + 1
    mu = np.stack([X[y == k].mean(axis=0) for k in range(K)])
    n = np.bincount(y, minlength=K)
    mu_g = X.mean(axis=0) if global_mean == "samples" else mu.mean(axis=0)
    M = mu - mu_g
    C = X - mu[y]
    Sw = C.T @ C / len(y)
    Sb = M.T @ M / K
    vals, vecs = np.linalg.eigh(Sb)
    top = vecs[:, -(K - 1):] / vals[-(K - 1):]
    nc1 = np.trace(Sw @ top @ vecs[:, -(K - 1):].T) / K
    var = np.array([np.sum(C[y == k] ** 2) / n[k] for k in range(K)])
    cdnv = np.mean([(var[i] + var[j]) / (2 * np.sum((mu[i] - mu[j]) ** 2))
                    for i, j in itertools.permutations(range(K), 2)])
    E = (np.eye(K) - 1 / K) / np.sqrt(K - 1)
    unit = lambda A: A / np.linalg.norm(A)  # noqa: E731
    norms = np.linalg.norm(M, axis=1)
    cos = (M @ M.T) / np.outer(norms, norms)
    off = cos[~np.eye(K, dtype=bool)]
    ncc = np.argmin(((X[:, None, :] - mu[None]) ** 2).sum(-1), axis=1)
    clf, clf0 = np.argmax(X @ W.T + b, axis=1), np.argmax(X @ W.T, axis=1)
    return {
        "nc1": nc1, "cdnv": cdnv, "nc2_means": np.linalg.norm(unit(M @ M.T) - E),
        "equinorm_means": norms.std() / norms.mean(), "equiangle_means": off.std(),
        "maxangle_means": np.mean(np.abs(off + 1 / (K - 1))),
        "nc2_w": np.linalg.norm(unit(W @ W.T) - E),
        "equinorm_w": np.linalg.norm(W, axis=1).std() / np.linalg.norm(W, axis=1).mean(),
        "nc3": np.linalg.norm(unit(W @ M.T) - E), "nc3_duality": np.linalg.norm(unit(W) - unit(M)),
        "nc4": np.mean(clf != ncc), "nc4_nobias": np.mean(clf0 != ncc), "accuracy": np.mean(clf == y),
        "accuracy_nobias": np.mean(clf0 == y), "ncc_accuracy": np.mean(ncc == y),
    }


def _close(rec, ref, rel=REL):
    for key, want in ref.items():
        got = getattr(rec, key)
        assert got is not None, key
        assert abs(got - want) <= rel * max(abs(want), 1e-12), (key, got, want)


@pytest.mark.parametrize("global_mean", ["samples", "classes"])
def test_every_metric_matches_a_direct_numpy_evaluation(global_mean):
    X, y, W, b = _data()
    rec = collapse(X, y, W, b, global_mean=global_mean)
    _close(rec, _reference(X, y, W, b, global_mean))
    assert (rec.num_classes, rec.num_samples) == (5, 120)
    assert all(isinstance(v, float) for k, v in rec._asdict().items() if k in ufm.metrics.KEYS)  # float64 Python floats


def test_the_two_global_means_differ_for_imbalanced_classes_and_agree_for_balanced():
    X, y, W, b = _data(counts=(500, 50, 5, 50, 500))
    a, c = collapse(X, y, global_mean="samples"), collapse(X, y, global_mean="classes")
    assert abs(a.nc1 - c.nc1) > 1e-3 * a.nc1
    X, y, W, b = _data(counts=(20,) * 5)
    a, c = collapse(X, y, global_mean="samples"), collapse(X, y, global_mean="classes")
    assert abs(a.nc1 - c.nc1) <= 1e-12 * a.nc1


def test_nc1_nc3_agree_with_the_ufm_metrics_on_a_solved_ufm():
    p = ufm.Problem(K=6, n=8, d=9, loss="ls", delta=0.1)
    sol = ufm.solve(p)
    H = sol.H + 1e-2 * np.random.default_rng(1).standard_normal(sol.H.shape)
    rec = collapse(H, p.labels, sol.W, sol.b, layout="d,N")
    with ufm.float64():
        assert abs(rec.nc1 - float(ufm.metrics.nc1(H, p.labels, p.K))) <= REL * rec.nc1
        assert abs(rec.nc3 - float(ufm.metrics.nc3(sol.W, H, p.labels))) <= REL * rec.nc3
        assert abs(rec.nc3_duality - float(ufm.metrics.nc3_duality(sol.W, H, p.labels))) <= REL * rec.nc3_duality
    at_min = collapse(sol.H, p.labels, sol.W, sol.b, layout="d,N")
    # At the global minimizer: NC1 and CDNV vanish (rounding), the means form a simplex ETF (d ≥ K).
    assert at_min.nc1 < 1e-20 and at_min.cdnv < 1e-20 and at_min.nc2_means < 1e-10 and at_min.nc4 == 0.0


@pytest.mark.parametrize("splits", [[120], [1, 119], [37, 41, 42], [7] * 17 + [1]])
def test_streaming_equals_in_memory(splits):
    X, y, W, b = _data()
    whole = collapse(X, y, W, b)
    acc = Accumulator(5, 7)
    edges = np.cumsum([0] + splits)
    for lo, hi in zip(edges[:-1], edges[1:]):
        acc = acc.update(X[lo:hi], y[lo:hi])
    dec = acc.decisions()
    for lo, hi in zip(edges[:-1], edges[1:]):
        dec = dec.update(X[lo:hi], y[lo:hi], W, b)
    streamed = acc.result(W, b, decisions=dec)
    _close(streamed, {k: v for k, v in whole.to_dict().items() if isinstance(v, float)})
    assert acc.count.tolist() == [30, 12, 50, 7, 21]
    np.testing.assert_allclose(acc.means[2], X[y == 2].mean(axis=0), rtol=1e-13)
    assert acc.result(W, b).nc4 is None  # no decision pass: said, not guessed


def test_float32_features_are_accumulated_in_float64_and_the_layout_is_explicit():
    X, y, W, b = _data()
    X32 = X.astype(np.float32)
    r32 = collapse(X32, y, W, b)
    r64 = collapse(X32.astype(np.float64), y, W, b)
    _close(r32, {k: v for k, v in r64.to_dict().items() if isinstance(v, float)}, rel=1e-12)
    rT = collapse(X.T.copy(), y, W, b, layout="d,N")
    _close(rT, {k: v for k, v in collapse(X, y, W, b).to_dict().items() if isinstance(v, float)}, rel=1e-13)


def test_large_offsets_do_not_cancel():
    """Features far from the origin (|h| ~ 1e6, spread 1e-3): the pairwise update keeps NC1 exact, where the
    one-pass Σhhᵀ − nμμᵀ would lose every digit."""
    X, y, W, b = _data(spread=1e-3)
    shifted = X + 1e6
    _close(collapse(shifted, y), {k: getattr(collapse(X, y), k) for k in ("nc1", "cdnv", "nc2_means")}, rel=1e-6)


def test_a_new_labelling_does_not_recompile():
    X, y, W, b = _data()
    compiles = []

    def listen(event, *args, **kw):
        if "compil" in event:
            compiles.append(event)

    collapse(X, y, W, b)
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        for seed in (1, 2):
            collapse(X, np.random.default_rng(seed).permutation(y), W, b)
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiles == []


@pytest.mark.parametrize("labels, match", [
    (lambda y: y + 1, r"\[0, 5\); found 5 .*labels 1\.\.K"),
    (lambda y: np.where(y == 0, -1, y), "found -1"),
    (lambda y: y.astype(float), "integers; got dtype float64"),
    (lambda y: y[:-1], "119 labels for 120 samples"),
    (lambda y: y.astype(bool), "integers"),
    (lambda y: None, "labels are required"),
    (lambda y: np.where(y == 3, 4, y), "class 3 has no samples"),
])
def test_bad_labels_are_refused_by_name(labels, match):
    X, y, W, b = _data()
    with pytest.raises(LabelError, match=match):
        collapse(X, labels(y), num_classes=5)


def test_empty_classes_only_on_request():
    X, y, W, b = _data()
    y2 = np.where(y == 3, 4, y)  # class 3 empty
    rec = collapse(X, y2, num_classes=5, allow_empty=True)
    present = np.array([0, 1, 2, 4])
    relabel = np.searchsorted(present, y2)
    assert rec.num_classes == 4
    _close(rec, {k: getattr(collapse(X, relabel), k) for k in ("nc1", "cdnv", "nc2_means", "ncc_accuracy")})


@pytest.mark.parametrize("kw, match", [
    (dict(features=lambda X: np.where(np.arange(120)[:, None] == 17, np.nan, X)), "NaN or Inf in sample 17"),
    (dict(features=lambda X: X[:, :, None]), "2-D"),
    (dict(features=lambda X: X.astype(int)), "floating-point"),
    (dict(layout="N×d"), "layout"),
    (dict(W=lambda W: W[:, :3]), r"shape \(num_classes, dim\) = \(5, 7\)"),
    (dict(b=lambda b: b[:2]), r"shape \(num_classes,\) = \(5,\)"),
    (dict(global_mean="median"), "global_mean"),
])
def test_bad_features_and_classifiers_are_refused_by_name(kw, match):
    X, y, W, b = _data()
    args = dict(features=X, labels=y, W=W, b=b)
    for key, v in kw.items():
        args[key] = v(args[key]) if callable(v) else v
    with pytest.raises(ValueError, match=match):
        collapse(args.pop("features"), args.pop("labels"), args.pop("W"), args.pop("b"), **args)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), cuts=st.lists(st.integers(1, 119), max_size=6, unique=True))
def test_streaming_is_order_and_split_invariant(seed, cuts):
    """Any permutation of the samples and any split into batches give the in-memory numbers."""
    X, y, W, b = _data()
    perm = np.random.default_rng(seed).permutation(y.size)
    acc = Accumulator(5, 7)
    edges = [0] + sorted(cuts) + [y.size]
    for lo, hi in zip(edges[:-1], edges[1:]):
        acc = acc.update(X[perm][lo:hi], y[perm][lo:hi])
    ref = collapse(X, y)
    got = acc.result()
    for key in ("nc1", "cdnv", "nc2_means", "equinorm_means", "equiangle_means", "maxangle_means"):
        assert abs(getattr(got, key) - getattr(ref, key)) <= REL * abs(getattr(ref, key)), key


def test_timeline_tabulates_checkpoints():
    X, y, W, b = _data()
    mu = np.stack([X[y == k].mean(axis=0) for k in range(5)])[y]
    # The within-class spread halves at each step about fixed class means: NC1 and CDNV fall by exactly 4.
    shrink = [(step, mu + 0.5 ** step * (X - mu), y, W, b) for step in range(4)]
    tl = ufm.metrics.Timeline.from_checkpoints(shrink)
    t = tl.table()
    assert list(t["step"]) == [0, 1, 2, 3] and t["nc1"].shape == (4,)
    np.testing.assert_allclose(t["nc1"][1:] / t["nc1"][:-1], 0.25, rtol=1e-10)
    np.testing.assert_allclose(t["cdnv"][1:] / t["cdnv"][:-1], 0.25, rtol=1e-10)
    cb = ufm.metrics.Timeline()
    cb(7, X, y)  # as a training-loop callback, without a classifier
    assert np.isnan(cb.table()["nc3"][0]) and cb.table()["nc1"][0] == pytest.approx(t["nc1"][0], rel=1e-12)


def test_ufm_metrics_all_traces_labels_and_validates_them():
    p = ufm.Problem(K=3, n=4, d=5)
    sol = ufm.solve(p)
    perm = np.random.default_rng(0).permutation(p.N)
    H, y = sol.H[:, perm], p.labels[perm]
    first = ufm.metrics.all(sol.W, H, sol.b, y)
    assert first["nc1"] == pytest.approx(ufm.metrics.all(sol.W, sol.H, sol.b)["nc1"], abs=1e-20)
    compiles = []
    listen = lambda event, *a, **k: compiles.append(event) if "compil" in event else None  # noqa: E731
    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        ufm.metrics.all(sol.W, sol.H, sol.b, p.labels)  # another labelling, same shapes
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert compiles == []
    with pytest.raises(LabelError, match=r"\[0, 3\)"):
        ufm.metrics.all(sol.W, sol.H, sol.b, p.labels + 1)
    with pytest.raises(LabelError, match="integers"):
        ufm.metrics.all(sol.W, sol.H, sol.b, p.labels.astype(float))
