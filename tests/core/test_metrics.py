"""NC metrics: invariances, exact zeros at an ETF configuration, non-negativity, hand-computed values."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import ortho_group

import ufm
from ufm import metrics

K, n, d = 5, 4, 7
# Rounding of O(1) quantities through an eigendecomposition and normalisations in float64.
RTOL = 1e-9


def random_point(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((K, d)), rng.standard_normal((d, n * K)) * scale, rng.standard_normal(K)


def etf_point(noise=0.0, seed=0):
    """W a scaled simplex ETF, h_{k,i} = c·w^k + noise (the shape of Guo et al. 2025, arXiv 2402.03979, Thm 4.1), b = 0."""
    rng = np.random.default_rng(seed)
    W = 2.0 * ufm.simplex_etf(K, d) @ ortho_group.rvs(d, random_state=seed)
    H = 0.3 * np.repeat(W.T, n, axis=1) + noise * rng.standard_normal((d, n * K))
    return W, H, np.zeros(K)


@pytest.mark.parametrize("seed", [0, 1])
def test_invariant_to_rotation_and_within_class_permutation(seed):
    W, H, b = random_point(seed)
    base = metrics.all(W, H, b)
    R = ortho_group.rvs(d, random_state=seed + 10)
    rot = metrics.all(W @ R.T, R @ H, b)
    rng = np.random.default_rng(seed)
    perm = np.concatenate([k * n + rng.permutation(n) for k in range(K)])
    per = metrics.all(W, H[:, perm], b)
    for key in metrics.KEYS:
        np.testing.assert_allclose(rot[key], base[key], rtol=RTOL, atol=1e-12, err_msg=key)
        np.testing.assert_allclose(per[key], base[key], rtol=RTOL, atol=1e-12, err_msg=key)


def test_zero_on_exact_etf():
    m = metrics.all(*etf_point())
    for key in ("nc1", "cdnv", "nc2_w", "nc2_means", "nc3", "nc3_duality", "nc4", "nc4_nobias", "self_duality",
                "equinorm_w", "equinorm_means", "equiangle_means", "maxangle_means"):
        assert abs(m[key]) < 1e-12, (key, m[key])
    assert m["numerical_rank"] == pytest.approx(1.0, abs=1e-12)
    for key in ("accuracy", "accuracy_nobias", "ncc_accuracy"):
        assert m[key] == 1.0
    # CM = 1 − (−1/(K−1)) = K/(K−1) for every sample at an ETF.
    assert m["cm_min"] == pytest.approx(K / (K - 1), rel=1e-12)
    assert m["w_norm_mean"] == pytest.approx(2.0, rel=1e-12)
    assert m["h_mean_norm_mean"] == pytest.approx(0.6, rel=1e-12)
    assert m["duality_scale"] == pytest.approx(0.3, rel=1e-12)


def test_small_noise_gives_small_nc1():
    clean, noisy = metrics.all(*etf_point(1e-4)), metrics.all(*etf_point(1e-1))
    assert 0 < clean["nc1"] < 1e-6 < noisy["nc1"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1.0, 1e-3, 1e3])
def test_nc1_nonnegative_on_random_features(dtype, scale):
    for seed in range(5):
        W, H, b = random_point(seed, scale)
        # Nearly collapsed classes with a tiny between-class spread is where a naive pinv goes negative.
        H = (H + 1e4 * scale).astype(dtype)
        assert metrics.nc1(H, K=K) >= 0


def test_nc1_by_hand():
    # K = 2, d = 1: class means ±1, within-class deviations ±0.5 → Σ_W = 0.25, Σ_B = 1, NC1 = 0.25/2.
    H = np.array([[0.5, 1.5, -1.5, -0.5]])
    assert float(metrics.nc1(H, K=2)) == pytest.approx(0.125, rel=1e-14)
    assert float(metrics.numerical_rank(H, K=2)) == pytest.approx(1.0)


def test_numerical_rank_by_hand():
    # One class with two orthogonal features of equal norm: ‖H_k‖_*²/‖H_k‖_F² = (1+1)²/2 = 2.
    H = np.array([[1.0, 0.0, 3.0, 3.0], [0.0, 1.0, 0.0, 0.0]])
    assert float(metrics.numerical_rank(H, K=2)) == pytest.approx((2.0 + 1.0) / 2, rel=1e-12)


def test_labels_argument_equals_class_major_default():
    W, H, b = random_point(3)
    labels = np.repeat(np.arange(K), n)
    perm = np.random.default_rng(0).permutation(n * K)
    a = metrics.all(W, H, b)
    c = metrics.all(W, H[:, perm], b, labels[perm])
    for key in metrics.KEYS:
        np.testing.assert_allclose(c[key], a[key], rtol=RTOL, atol=1e-12, err_msg=key)


def test_batched_all_matches_single():
    pts = [random_point(s) for s in range(3)]
    batch = metrics.all(*(np.stack(a) for a in zip(*pts)))
    for i, p in enumerate(pts):
        single = metrics.all(*p)
        for key in metrics.KEYS:
            np.testing.assert_allclose(batch[key][i], single[key], rtol=1e-12, atol=1e-14, err_msg=key)


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="metrics.all"):
        metrics.all(np.zeros(3), np.zeros((3, 6)), np.zeros(3))
    with pytest.raises(ValueError, match="labels or K"):
        metrics.nc1(np.zeros((3, 6)))


@settings(max_examples=25, deadline=None)
@given(K_=st.integers(2, 6), d_=st.integers(1, 9), counts_seed=st.integers(0, 10_000))
def test_numerical_rank_in_all_equals_the_masked_definition(K_, d_, counts_seed):
    """`metrics.all` gathers each class's columns (`class_groups`, zero-padded to a power of two) instead of
    taking K masked d × N copies: the singular values are the same, so the value is (rounding of an SVD)."""
    rng = np.random.default_rng(counts_seed)
    counts = rng.integers(1, 9, size=K_)
    labels = rng.permutation(np.repeat(np.arange(K_), counts))
    H = rng.standard_normal((d_, labels.size)) * rng.choice([1e-6, 1.0, 1e3])
    W, b = rng.standard_normal((K_, d_)), rng.standard_normal(K_)
    got = metrics.all(W, H, b, labels=labels)["numerical_rank"]
    with ufm.float64():
        ref = float(metrics.numerical_rank(H, labels, K_))
    assert got == pytest.approx(ref, rel=1e-12)
    groups = metrics.class_groups(labels, K_)
    assert groups.shape[1] >= counts.max() and (groups.shape[1] & (groups.shape[1] - 1) == 0 or groups.shape[1] == labels.size)
    for k in range(K_):  # every column of class k once, the rest padding
        assert sorted(groups[k][groups[k] < labels.size]) == sorted(np.flatnonzero(labels == k))


@pytest.mark.parametrize("point", ["random", "imbalanced", "collapsed", "rank-deficient", "zero-W"])
def test_padding_d_changes_no_metric_and_shares_the_program(point, monkeypatch):
    """`metrics.all` pads d with zeros to the power of two ≥ K + 2 on small shapes: every value equals the unpadded
    program's (rel 1e-10, abs 1e-12: SVDs of the padded matrices round differently; NaN where unpadded is NaN),
    and after d = 7 the shapes d = 1, 3, 6 at the same (K, N) compile nothing."""
    rng = np.random.default_rng(1)
    labels = None
    Ws, Hs = {}, {}
    for dd in (7, 1, 3, 6):
        if point == "collapsed" and dd >= K - 1:
            W, H, _ = etf_point()
            W, H = W[:, :dd], H[:dd]
        else:
            W, H = rng.standard_normal((K, dd)), rng.standard_normal((dd, n * K))
        if point == "imbalanced":
            labels = np.repeat(np.arange(K), [1, 2, 5, 6, 6])
        if point == "rank-deficient":
            H = np.outer(rng.standard_normal(dd), rng.standard_normal(n * K))
        if point == "zero-W":
            W = np.zeros_like(W)
        Ws[dd], Hs[dd] = W, H
    b = rng.standard_normal(K)
    got = {7: metrics.all(Ws[7], Hs[7], b, labels)}
    with ufm.compilations() as c:
        got.update({dd: metrics.all(Ws[dd], Hs[dd], b, labels) for dd in (1, 3, 6)})
    assert c.count == 0
    monkeypatch.setattr(metrics, "PAD_MAX", 0)  # each d its own program
    for dd, m in got.items():
        own = metrics.all(Ws[dd], Hs[dd], b, labels)
        for key in metrics.KEYS:
            np.testing.assert_allclose(m[key], own[key], rtol=1e-10, atol=1e-12, err_msg=f"d={dd} {key}")
