"""The deep linear UFM with balanced bias-free MSE: the closed form (`theory.deep_linear_mse`) against float64
solves, its minimiser, its collapse threshold, and depth 1 against the one-layer theory."""

from __future__ import annotations

import numpy as np
import pytest

import ufm
from ufm import theory


def _best(p, seeds=(0,)):
    """The lowest of Newton solves from N(0, 1) starts (for L ≥ 2 the origin is a local minimum too, and small
    starts can stop at lower-rank points)."""
    sols = [ufm.solve(p, method="newton", seed=s, init_scale=1.0, max_steps=3000) for s in seeds]
    return min(sols, key=lambda s: s.objective)


_GRID = [(K, L) for K in (2, 3, 4, 6) for L in (2, 3, 4)]
_DEFAULT = {(2, 2), (3, 4), (4, 3), (6, 2)}  # the default suite's share; the whole grid with -m slow, and in ufm verify


@pytest.mark.parametrize("K, L", [kl if kl in _DEFAULT else pytest.param(*kl, marks=pytest.mark.slow) for kl in _GRID])
def test_closed_form_agrees_with_solves(K, L):
    """≤ 1e-10 relative on n ∈ {1, 3}, equal and per-layer λ's (measured: ≤ 1.1e-15)."""
    for n in (1, 3):
        for lam in (1e-3, (1e-3, 3e-3, 2e-3, 5e-4)[:L]):
            p = ufm.Problem(K=K, n=n, d=K + 1, loss="mse", bias=False, depth=L, lam_w=lam, lam_h=2e-3)
            cf = theory.deep_linear_mse(p)
            sol = _best(p)
            assert sol.status == "converged" and not cf.collapsed
            assert abs(sol.objective - cf.objective) <= 1e-10 * cf.objective, (n, lam)
            assert theory.predict(p).objective == cf.objective


@pytest.mark.parametrize("kw", [dict(d=6), dict(d=2), dict(d=3, M=2.0), dict(d=5, lam_w=0.3, lam_h=0.4)],
                         ids=["d>K", "d<K", "M=2", "collapsed"])
def test_depth_one_is_the_one_layer_closed_form(kw):
    """At L = 1 the quasi-norm is the nuclear norm and the result is Zhou et al. 2022 (arXiv 2203.01238, Thm 3.1/
    B.1) as `predict` has it, in every regime (1e-13: two routes to the same scalar)."""
    p = ufm.Problem(**{"K": 4, "n": 3, "loss": "mse", "bias": False, "lam_w": 2e-3, "lam_h": 3e-3, **kw})
    assert theory.deep_linear_mse(p).objective == pytest.approx(theory.predict(p).objective, rel=1e-13)
    lam = theory.deep_linear_mse_threshold(p)
    assert lam == pytest.approx(p.M / np.sqrt(p.N * p.K), rel=1e-14)  # λ_Wλ_H = M²/(NK) at λ_W = λ_H


@pytest.mark.parametrize("L", [2, 3])
def test_the_minimiser_is_critical_and_an_orthogonal_frame_at_every_layer(L):
    p = ufm.Problem(K=3, n=2, d=5, loss="mse", bias=False, depth=L, widths=(4,) * (L - 1),
                    lam_w=(2e-3, 1e-3, 3e-3)[:L], lam_h=1e-3)
    W, H, b = theory.minimizer(p)
    obj = ufm.objective(p)
    with ufm.float64():
        f = float(obj.f((W, H, b)))
        g = np.asarray(obj.grad_x(np.asarray(obj.pack((W, H, b)))))
    assert f == pytest.approx(theory.deep_linear_mse(p).objective, rel=1e-13)
    assert np.linalg.norm(g) <= 1e-12
    for A in ufm.features((W, H, b), "linear"):
        means = A.reshape(A.shape[0], p.K, p.n).mean(axis=2)
        G = means.T @ means
        assert np.allclose(G, G[0, 0] * np.eye(p.K), atol=1e-14)  # orthogonal, equal norms


@pytest.mark.parametrize("L", [2, 3])
def test_the_collapse_threshold_splits_the_solves(L):
    """Below λ* (all λ's equal) the nonzero point is the global minimum; above, the origin is (f* = M²/2 ·
    K·n/N = 1/2); for L ≥ 2 the origin is a local minimum on both sides (ufm.curvature finds no negative
    curvature there), so "global" is decided by the value."""
    base = ufm.Problem(K=3, n=2, d=4, loss="mse", bias=False, depth=L)
    lam = theory.deep_linear_mse_threshold(base)
    below = base.replace(lam_w=0.95 * lam, lam_h=0.95 * lam)
    above = base.replace(lam_w=1.05 * lam, lam_h=1.05 * lam)
    cb, ca = theory.deep_linear_mse(below), theory.deep_linear_mse(above)
    assert not cb.collapsed and cb.objective < 0.5 and cb.beta < cb.beta_star
    assert ca.collapsed and ca.objective == pytest.approx(0.5, rel=1e-15) and ca.beta > ca.beta_star
    # Just above λ* the nonzero aligned points still exist, now non-global local minima (one value per rank j,
    # `critical_values`): N(0, 1) starts end at one of them, small starts at the origin.
    assert len(ca.critical_values) == 4 and min(ca.critical_values[1:]) > 0.5 == ca.critical_values[0]
    assert cb.critical_values[-1] == cb.objective
    big = _best(above)
    assert min(abs(big.objective - v) for v in ca.critical_values[1:]) <= 1e-10 * ca.objective
    assert ufm.solve(above, method="newton", init_scale=1e-2).objective == pytest.approx(0.5, rel=1e-10)
    assert abs(_best(below).objective - cb.objective) <= 1e-10 * cb.objective
    for p in (below, above):
        origin = ufm.curvature(p, tuple(np.zeros(s) for s in ufm.Layout.of(p).w_shapes), np.zeros((4, 6)))
        assert origin.verdict == "nonnegative"


def test_what_has_no_closed_form_says_why():
    relu = ufm.Problem(K=3, n=2, d=4, loss="mse", bias=False, depth=2, activation="relu")
    assert theory.predict(relu).objective is None and "relu" in theory.predict(relu).case
    with pytest.raises(theory.NoClosedForm):
        theory.minimizer(relu)
    for p in (relu, relu.replace(activation="linear", loss="ce"), relu.replace(activation="linear", bias=True)):
        with pytest.raises(ufm.ParameterError, match="deep_linear_mse"):
            theory.deep_linear_mse(p)
    with pytest.raises(ufm.ParameterError, match="activation must be 'linear'"):  # CE's DNC: an ETF, linear only
        theory.census(relu.replace(loss="ce"))
    with pytest.raises(ufm.ParameterError, match="alpha must be 1"):
        theory.census(relu.replace(activation="linear", alpha=0.5))
    cert = theory.certificate(relu, *theory.deep_linear_mse_minimizer(relu.replace(activation="linear")))
    assert cert.ratio is None and "depth 2" in cert.note


@pytest.mark.parametrize("K, L", [(3, 2), (4, 3)])
def test_the_dnc_point_has_the_dnc_value_and_orthogonal_frames(K, L):
    """`theory.dnc`: in the ReLU MSE DUFM the DNC point (nonnegative orthogonal frames, balanced layers) has the
    deep linear rank-K aligned value, its class means are orthogonal frames at every layer and it is critical."""
    p = ufm.Problem(K=K, n=2, d=K + 1, loss="mse", bias=False, depth=L, activation="relu", lam_w=3e-3, lam_h=3e-3)
    d = theory.dnc(p)
    lin = theory.deep_linear_mse(p.replace(activation="linear"))
    assert d.objective == lin.critical_values[K] < 0.5
    obj = ufm.objective(p)
    with ufm.float64():
        f = float(obj.f((d.W, d.H, d.b)))
        g = np.asarray(obj.grad_x(np.asarray(obj.pack((d.W, d.H, d.b)))))
    assert f == pytest.approx(d.objective, rel=1e-13) and np.linalg.norm(g) <= 1e-12
    for r in ufm.metrics.layers(d.W, d.H, d.b, activation="relu"):
        assert r["orthogonal_gap"] <= 1e-14 and r["rank"] == K and r["nc1"] <= 1e-14
    with pytest.raises(ufm.ParameterError, match="widths"):
        theory.dnc(p.replace(d=K - 1))
    with pytest.raises(ufm.ParameterError, match="depth"):
        theory.dnc(p.replace(depth=1))


def test_the_census_finds_a_point_below_dnc_beyond_two_layers_and_classes_and_none_at_k_2():
    """Súkeník, Lampert, Mondelli 2024 (arXiv 2405.14468): beyond two layers and two classes DNC is not optimal;
    with two classes it is (Súkeník, Mondelli, Lampert 2023, arXiv 2305.13165). 8 starts, seed 0 (measured: the
    3rd start, low-rank 1, reaches 1.4e-2 below f_DNC at K = 4, L = 4); the census repeats exactly."""
    relu = dict(n=1, loss="mse", bias=False, activation="relu")
    low = theory.census(ufm.Problem(K=4, d=4, depth=4, lam_w=2e-3, lam_h=2e-3, **relu), starts=8)
    assert isinstance(low, theory.DeepCensus) and low.below_dnc and low.margin < -1e-3
    assert [r.label for r in low.runs][:5] == ["dnc", "dnc+1e-3", "low-rank 1", "low-rank 2", "low-rank 3"]
    assert low.first_below is not None and low.lowest < low.f_dnc and "not the global minimum" in low.table()
    p = low.problem
    with ufm.float64():
        assert float(ufm.objective(p).f(low.best)) == pytest.approx(low.lowest, rel=1e-13)  # the proof is a point
    two = theory.deep_census(ufm.Problem(K=2, d=2, depth=3, lam_w=3e-3, lam_h=3e-3, **relu), starts=8)
    assert not two.below_dnc and two.margin >= -1e-9 and two.to_dict()["first_below"] is None
    again = theory.deep_census(ufm.Problem(K=2, d=2, depth=3, lam_w=3e-3, lam_h=3e-3, **relu), starts=8)
    assert again.runs == two.runs


@pytest.mark.parametrize("K, L", [(6, 2), (6, 3), (6, 4), (10, 3), (10, 4)])
def test_the_complete_graph_point_has_its_closed_form_and_beats_dnc_where_its_constant_is_smaller(K, L):
    # theory.low_rank: class {a, b} ↔ an edge of the complete graph on m vertices (K = m(m−1)/2), rank m in the
    # layers before the last ReLU (Súkeník, Lampert, Mondelli 2024, arXiv 2405.14468: K = 10 from K_5).
    p = ufm.Problem(K=K, n=2, d=K, loss="mse", bias=False, depth=L, activation="relu", widths=(K,) * (L - 1),
                    lam_w=(1e-3, 2e-3, 5e-4, 1e-3)[:L], lam_h=1e-3)
    lr = theory.low_rank(p)
    f = float(ufm.objective(p).f((lr.W, lr.H, lr.b)))
    assert f == pytest.approx(lr.objective, rel=1e-12)  # rounding: the 1-D problem is solved to ~4 eps
    ranks = [r["rank"] for r in ufm.metrics.layers(lr.W, lr.H, lr.b, activation="relu")]
    assert ranks == [lr.m] * (L - 1) + [K] and lr.m * (lr.m - 1) // 2 == K
    # The constant ratio with equal λ's: (m^{L−1} K² / (2 K^L))^{1/(L+1)}; per-layer λ's leave it unchanged,
    # as both constants carry Π λ_j.
    assert lr.ratio == pytest.approx((lr.m ** (L - 1) * K**2 / (2 * K**L)) ** (1 / (L + 1)), rel=1e-12)
    assert (lr.objective < lr.f_dnc) == (lr.ratio < 1) == (L >= 4)
    # Every sample's logit is s·e_k: the point is collapsed and classifies every sample.
    Z = np.asarray(ufm.logits((lr.W, lr.H, lr.b), "relu"))
    Y = np.kron(np.eye(K), np.ones((1, p.n)))  # class-major samples
    assert np.abs(Z - lr.s * Y).max() <= 1e-12 * lr.s


def test_the_complete_graph_needs_a_triangular_k_and_relu():
    base = dict(n=1, loss="mse", bias=False, depth=3, activation="relu")
    for K in (3, 4, 5):
        with pytest.raises(ufm.ParameterError, match="K"):
            theory.low_rank(ufm.Problem(K=K, d=K, widths=(K, K), **base))
    with pytest.raises(ufm.ParameterError, match="activation"):
        theory.low_rank(ufm.Problem(K=6, d=6, widths=(6, 6), **{**base, "activation": "linear"}))


def test_the_census_starts_from_the_complete_graph_point():
    p = ufm.Problem(K=6, n=1, d=6, loss="mse", bias=False, depth=4, activation="relu", widths=(6, 6, 6),
                    lam_w=1e-3, lam_h=1e-3)
    c = theory.census(p, starts=3)
    assert [r.label for r in c.runs] == ["dnc", "dnc+1e-3", "graph K_4"]
    # From the graph point (2.3 % below DNC as built) the solve goes lower still: measured −5.5 %.
    assert c.below_dnc and c.first_below == 3 and c.lowest < theory.low_rank(p).objective < c.f_dnc


@pytest.mark.parametrize("L", [1, 2, 3])
def test_imbalanced_closed_form_agrees_with_solves_and_minority_classes_collapse_first(L):
    # Dang et al. 2023 (arXiv 2301.00437), bias-free imbalanced MSE: each class has its own 1-D problem
    # (β_k = 2NC(M√n_k)^{q−2}); measured agreement with the best of 4 Newton solves: ≤ 1e-12.
    base = ufm.Problem(K=3, n=(6, 3, 1), d=4, loss="mse", bias=False, depth=L)
    lam_min = theory.deep_linear_mse_threshold(base)  # where the smallest class collapses
    for r in (0.5, 0.95, 1.05):
        p = base.replace(lam_w=r * lam_min, lam_h=r * lam_min)
        cf = theory.deep_linear_mse(p)
        assert (cf.s_k[2] == 0) == (r > 1) and cf.s_k[0] > cf.s_k[1] > 0  # the minority goes first
        best = min((ufm.solve(p, method="newton", seed=s, init_scale=1.0, max_steps=3000) for s in range(4)),
                   key=lambda s: s.objective)
        assert best.objective >= cf.objective * (1 - 1e-10)  # no solve below the closed form
        if r == 0.5:  # next to λ* one of the minority's two local minima has a small basin: random starts miss it
            assert best.objective == pytest.approx(cf.objective, rel=1e-10)
        W, H, b = theory.deep_linear_mse_minimizer(p)
        obj = ufm.objective(p)
        assert float(obj.f((W, H, b))) == pytest.approx(cf.objective, rel=1e-12)
        grad = ufm.Layout.of(p).free(obj.grad((W, H, b)))
        assert max(float(np.abs(np.asarray(g)).max()) for g in grad) < 1e-12
        if L == 1:  # the one-layer imbalanced closed form
            assert cf.objective == pytest.approx(theory.imbalanced_mse(p).objective, rel=1e-12)


def test_deep_linear_ce_dnc_is_a_critical_point_and_loses_to_lower_rank_points_beyond_two_layers():
    # The simplex-ETF point (theory.dnc for CE) is critical (its 1-D problem solved to rounding) with no negative
    # curvature found; the census finds rank-2 points below it at L = 3 (low-rank bias with cross-entropy:
    # Garrod, Keating 2024, arXiv 2410.23169) and nothing below it at L = 2. Measured: −7.68 %, 3rd start.
    for L, below in ((2, False), (3, True)):
        p = ufm.Problem(K=4, n=1, d=4, loss="ce", bias=False, depth=L, lam_w=1e-3, lam_h=1e-3)
        d = theory.dnc(p)
        obj = ufm.objective(p)
        x = np.asarray(obj.pack((d.W, d.H, d.b)))
        with ufm.float64():
            f, g = float(obj.f_x(x)), float(np.linalg.norm(obj.grad_x(x)))
        assert f == pytest.approx(d.objective, rel=1e-12) and g <= 1e-11 * f
        assert ufm.curvature(p, d.W, d.H, d.b).verdict == "nonnegative"
        c = theory.census(p, starts=5)
        assert c.below_dnc == below and (c.margin < -0.05 if below else c.margin > -1e-12)
        if below:
            assert min(c.runs, key=lambda r: r.objective).ranks == (2, 2, 2)


def test_deep_ce_dnc_needs_its_setting():
    base = dict(K=4, n=1, d=4, loss="ce", bias=False, depth=3)
    with pytest.raises(ufm.ParameterError, match="activation"):
        theory.dnc(ufm.Problem(**base, activation="relu"))
    with pytest.raises(ufm.ParameterError, match="bias"):
        theory.dnc(ufm.Problem(**{**base, "bias": True}))
    with pytest.raises(ufm.ParameterError, match="widths"):
        theory.dnc(ufm.Problem(**base, widths=(2, 4)))
