"""Strict saddles: critical, negative curvature along Δ as predicted, exact λ_min at the origin, escape."""

import numpy as np
import pytest

from ufm import theory
import ufm

PROBLEMS = [dict(loss="ce"), dict(loss="ls", delta=0.2), dict(loss="fl", gamma=2.0), dict(loss="mse"),
            dict(loss="mse", bias=False)]
IDS = ["ce", "ls", "fl", "mse", "mse-nobias"]


@pytest.mark.parametrize("kw", PROBLEMS, ids=IDS)
def test_saddles(kw):
    p = ufm.Problem(K=4, n=3, d=6, lam_w=2e-3, lam_h=1e-3, lam_b=1e-2, **kw)
    obj = ufm.objective(p)
    f_star = ufm.solve(p).objective
    found = theory.saddles(p)
    names = {s.name for s in found}
    assert {"origin", "padded-r1", "padded-r2"} <= names
    if not p.bias:
        assert {"mse-subset-1", "mse-subset-3"} <= names
    rng = np.random.default_rng(0)
    for s in found:
        x, dx = np.asarray(obj.pack(s.point)), np.asarray(obj.pack(s.direction))
        assert np.linalg.norm(obj.grad_x(x)) < 1e-12, s.name
        curv = float(dx @ np.asarray(obj.hvp_x(x, dx)))
        assert curv == pytest.approx(s.curvature, rel=1e-10) and curv < 0
        ev = theory.spectrum_full(p, *s.point).eigenvalues
        assert ev[0] <= s.rayleigh + 1e-14
        if s.lambda_min is not None:
            assert ev[0] == pytest.approx(s.lambda_min, rel=1e-10)
        # A generic 1e-6 perturbation escapes to the global minimum (a pure Δ perturbation would stay in the
        # invariant subspace span(α) and stop at another saddle).
        r = rng.standard_normal(x.shape)
        x0 = x + 1e-6 * (dx / np.linalg.norm(dx) + r / np.linalg.norm(r))
        esc = ufm.solve(p, init=obj.unpack(x0))
        assert esc.converged and esc.objective == pytest.approx(f_star, rel=1e-10), s.name


def test_pure_direction_perturbation_stays_on_invariant_subspace():
    p = ufm.Problem(K=4, n=3, d=6, loss="ce", lam_w=2e-3, lam_h=1e-3)
    obj = ufm.objective(p)
    s = theory.origin(p)
    x, dx = np.asarray(obj.pack(s.point)), np.asarray(obj.pack(s.direction))
    esc = ufm.solve(p, init=obj.unpack(x + 1e-6 * dx / np.linalg.norm(dx)))
    rank1 = theory.padded(p, 1)
    assert esc.objective == pytest.approx(float(obj.f(rank1.point)), rel=1e-10)
    assert esc.objective > ufm.solve(p).objective * 1.5


def test_bad_saddle_arguments():
    p = ufm.Problem(K=4, n=3, d=6, loss="mse")
    with pytest.raises(ValueError, match="r must satisfy"):
        theory.padded(p, 3)
    with pytest.raises(ValueError, match="without bias"):
        theory.mse_subset(p, 1)


@pytest.mark.parametrize("kw", [dict(loss="ce", K=4, n=1, d=3), dict(loss="mse", bias=False, K=4, n=2, d=2),
                                dict(loss="fl", gamma=2.0, K=3, n=1, d=4)])
def test_gradient_descent_escapes_each_saddle_when_the_quadratic_model_says(kw):
    """d ≤ K and d > K: every constructed saddle has a negative Hessian eigenvalue, and plain gradient descent
    (η = 1/λ_max) from a 1e-6 random start drops f by 1e-6·|f| at the step the quadratic model predicts (the exit
    is still in the quadratic regime: ±1 step for rounding)."""
    p = ufm.Problem(lam_w=1e-2, lam_h=1e-2, **kw)
    found = theory.saddles(p)
    assert found
    for s in found:
        e = theory.escape(p, s.point, seed=3)
        assert e.steps is not None and abs(e.steps - e.predicted) <= 1, s.name
        assert e.lambda_min < 0 and e.trace[-1] <= -1e-6 * abs(e.f_saddle) and e.f_end < e.f_saddle
        assert e.step == pytest.approx(1 / e.lambda_max)


def test_escape_refuses_a_minimiser_and_bad_arguments():
    p = ufm.Problem(loss="ce", K=3, n=1, d=4, lam_w=1e-2, lam_h=1e-2)
    sol = ufm.solve(p)
    with pytest.raises(ufm.ParameterError, match="point"):
        theory.escape(p, (sol.W, sol.H, sol.b))
    o = theory.origin(p)
    for kw, name in ((dict(radius=0.0), "radius"), (dict(drop=2.0), "drop")):
        with pytest.raises(ufm.ParameterError, match=name):
            theory.escape(p, o.point, **kw)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_mse_d_below_k_has_no_full_rank_saddles_with_wrong_directions(d):
    """Zhou et al. 2022 (arXiv 2203.01238), Thm 3.2, d < K, bias-free balanced MSE: the non-global critical points
    are the rank-deficient ones (`mse_subset`, `padded`). A full-rank (rank d) critical point with "wrong" singular
    directions does not exist, because YYᵀ = nI: every unit vector of ℝ^K is a left singular vector of Y with the
    same singular value √n. So the rank-d point aligned with ANY d-dimensional subspace U of ℝ^K —
    W = a_W U, H = a_H (YᵀU/√n)ᵀ at the 1-D optimum — is critical and globally optimal (checked here for random U)."""
    p = ufm.Problem(K=4, n=3, d=d, loss="mse", bias=False, lam_w=2e-3, lam_h=3e-3)
    cf = theory.deep_linear_mse(p)  # depth 1: the one-layer closed form, with its factor scales
    obj = ufm.objective(p)
    rng = np.random.default_rng(d)
    for _ in range(3):
        U, _ = np.linalg.qr(rng.standard_normal((p.K, d)))
        V = p.Y.T @ U / np.sqrt(p.n)  # (N, d), orthonormal columns
        W, H = cf.a[1] * U, cf.a[0] * V.T
        x = np.asarray(obj.pack((W, H, np.zeros(p.K))))
        with ufm.float64():
            g, f = np.asarray(obj.grad_x(x)), float(obj.f_x(x))
        assert np.linalg.norm(g) <= 1e-13 and f == pytest.approx(theory.predict(p).objective, rel=1e-13)


@pytest.mark.parametrize("K, d, n", [(4, 2, 2), (4, 3, 1), (5, 1, 3), (3, 2, 2)])
def test_mse_with_bias_below_k_has_a_full_rank_saddle_on_the_all_ones_direction(K, d, n):
    """With a bias, Y − b1ᵀ has the singular value 1 − Kβ on the all-ones direction, below the centred ones: the
    rank-d point that spends a direction there (`mse_mean_direction`) is critical and a strict saddle, its
    predicted curvature exact (a closed form: tolerance is rounding), and the census reaches it."""
    p = ufm.Problem(K=K, n=n, d=d, loss="mse", lam_w=1e-2, lam_h=1e-2, lam_b=1.0)
    s = theory.mse_mean_direction(p)
    obj = ufm.objective(p)
    x, dx = np.asarray(obj.pack(s.point)), np.asarray(obj.pack(s.direction))
    with ufm.float64():
        assert np.linalg.norm(obj.grad_x(x)) <= 1e-14
        assert float(dx @ np.asarray(obj.hvp_x(x, dx))) == pytest.approx(s.curvature, rel=1e-12)
    W = s.point[0]
    assert np.linalg.matrix_rank(W) == d and s.curvature < 0  # full rank, yet not a minimiser
    assert np.linalg.eigvalsh(theory.hessian_full(p, *s.point))[0] <= s.rayleigh + 1e-14
    assert ufm.curvature(p, *s.point).negative and "mse-mean-direction" in [t.name for t in theory.saddles(p)]
    with ufm.float64():
        assert float(obj.f_x(x)) > theory.predict(p).objective
    if (K, d) == (4, 2):
        c = theory.census(p, starts=12)
        hit = [pt for pt in c.points if "mean-direction" in pt.starts and pt.kind == "strict saddle"]
        assert hit and hit[0].objective == pytest.approx(float(obj.f_x(x)), rel=1e-10)


def test_the_all_ones_saddle_needs_its_setting():
    with pytest.raises(ValueError, match="bias"):
        theory.mse_mean_direction(ufm.Problem(K=4, n=2, d=2, loss="mse", bias=False))
    with pytest.raises(ValueError, match="d < K"):
        theory.mse_mean_direction(ufm.Problem(K=4, n=2, d=4, loss="mse"))
    with pytest.raises(ValueError, match="Kc"):  # large λ: s₁ ≤ 0, the point does not exist
        theory.mse_mean_direction(ufm.Problem(K=4, n=2, d=2, loss="mse", lam_w=0.2, lam_h=0.2, lam_b=0.1))
