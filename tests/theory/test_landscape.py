"""FL convexity threshold (derived, independent of K) against autodiff Hessians; the polar landscape."""

import math

import numpy as np
import pytest

from ufm import theory
import ufm


@pytest.mark.parametrize("gamma", [0.5, 1.0, 2.0, 3.0, 5.0])
def test_fl_threshold_is_sharp_for_every_k(gamma):
    tau = theory.fl_convexity_threshold(gamma).tau
    assert 0 < tau < 0.21  # Zhou et al. 2022, arXiv 2210.02192, Cor. 2's 0.21 is sufficient, and far from sharp
    rng = np.random.default_rng(int(gamma * 10))
    for K in (2, 3, 6):
        above = [theory.fl_min_curvature(np.concatenate([[tau * 1.02], (1 - tau * 1.02) * rng.dirichlet(np.ones(K - 1))]),
                                         gamma) for _ in range(10)]
        assert min(above) >= -1e-12
        q = np.zeros(K - 1)
        q[0] = 1.0  # all off-target mass on one class
        p = np.concatenate([[tau * 0.98], (1 - tau * 0.98) * np.maximum(q, 1e-300)])
        assert theory.fl_min_curvature(p, gamma) < 0


def test_cross_entropy_is_convex_everywhere():
    assert theory.fl_convexity_threshold(0.0).tau == 0.0
    ts = np.linspace(1e-6, 1 - 1e-6, 1001)
    assert np.all(theory.fl_convexity_margin(ts, 0.0) >= 0)


def test_polar_landscape_matches_direct_evaluation():
    K = 6
    W = ufm.simplex_etf(K, K + 1)
    rng = np.random.default_rng(0)
    for _ in range(5):
        s, th = rng.uniform(0, 3), rng.uniform(0, math.pi)
        h = theory.polar_feature(W, 0, 1, s, th)
        z = W @ h
        zk, zk2, zo = theory.polar_logits(K, s, th)
        np.testing.assert_allclose(z, [zk, zk2] + [zo] * (K - 2), atol=1e-13)
        # Angle to w^0 is θ and the norm is s (eq. 28's parametrisation).
        assert np.linalg.norm(h) == pytest.approx(s, rel=1e-12)
        assert math.acos(np.clip(h @ W[0] / s, -1, 1)) == pytest.approx(th, abs=1e-7)
        ce = -z[0] + np.log(np.sum(np.exp(z)))
        assert theory.polar_ce(K, s, th) == pytest.approx(ce, rel=1e-13)
        mse = 0.5 * 2.0 * (z[0] - 3.0) ** 2 + 0.5 * np.sum(z[1:] ** 2)
        assert theory.polar_mse(K, s, th, alpha=2.0, M=3.0) == pytest.approx(mse, rel=1e-13)


def test_limit_gradients_by_finite_differences():
    s, th, h = 1.7, 0.6, 1e-6
    f = lambda s, t: 0.5 * 2.0 * (s * math.cos(t) - 1.5) ** 2 + 0.5 * s * s * math.sin(t) ** 2  # noqa: E731
    gs, gt = theory.polar_mse_limit_grad(s, th, alpha=2.0, M=1.5)
    assert gs == pytest.approx((f(s + h, th) - f(s - h, th)) / (2 * h), rel=1e-8)
    assert gt == pytest.approx((f(s, th + h) - f(s, th - h)) / (2 * h), rel=1e-8)
    ce = lambda s, t: -s * math.cos(t) + np.logaddexp(s * math.cos(t), s * math.sin(t))  # noqa: E731
    gs, gt = theory.polar_ce_two_logit_grad(s, th)
    assert gs == pytest.approx((ce(s + h, th) - ce(s - h, th)) / (2 * h), rel=1e-8)
    assert gt == pytest.approx((ce(s, th + h) - ce(s, th - h)) / (2 * h), rel=1e-8)
