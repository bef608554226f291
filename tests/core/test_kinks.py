"""A deep ReLU solve never reports "converged" where a descent direction leaves through a kink (`ufm.kinks`).

JAX differentiates relu with relu′(0) = 0: at a point where a pre-activation sits at 0 its gradient is that of
one smooth piece only. A feature column left at 0 is the plain case: every unit of that sample is at its kink,
the column's gradient is 0 forever, and the gradient test alone calls the end point converged."""

from __future__ import annotations

import numpy as np
import pytest

import ufm
from ufm import theory


def _relu(K=3, n=2, lam=1e-3, depth=2, width=None):
    width = width or K + 1
    return ufm.Problem(K=K, n=n, d=K + 1, loss="mse", bias=False, lam_w=lam, lam_h=lam, depth=depth,
                       activation="relu", widths=(width,) * (depth - 1))


def test_a_zero_feature_column_is_a_kink_point_the_solve_reports_as_nonstationary():
    p = _relu()
    start = ufm.solve(p, seed=1)
    assert start.status == "converged" and start.kinks == 0  # generic end point: no pre-activation at 0
    H = np.array(start.H)
    H[:, 0] = 0.0
    sol = ufm.solve(p, init=(start.W, H, start.b), method="lbfgs")
    # The column stays at 0 (its gradient under relu′(0) = 0 is 0); the rest converges around it.
    assert np.abs(sol.H[:, 0]).max() == 0.0 and sol.rel_grad_norm < 1e-9
    assert sol.status == "nonstationary" and not sol.converged and sol.kinks >= p.widths[0]
    k = ufm.kinks(p, sol.W, sol.H, sol.b)
    assert k.verdict == "descent" and k.rate < 0 and k.decrease > 0
    # The direction is checked here on f itself, independently of the test's own line search.
    obj = ufm.objective(p)
    x = obj.pack((tuple(np.asarray(w) for w in sol.W), np.asarray(sol.H), np.asarray(sol.b)))
    with ufm.float64():
        assert float(obj.f_x(x + k.step * k.direction)) < float(obj.f_x(x)) - 0.5 * k.decrease
    # and the lower point the direction leads to is where a solve then goes: the ordinary minimum's value.
    assert start.objective < sol.objective


@pytest.mark.parametrize("K", [2, 3])
def test_the_dnc_point_has_kinks_and_no_descent_direction(K):
    # The DNC point of the binary / two-layer deep UFM (optimal there: Súkeník, Mondelli, Lampert 2023, arXiv
    # 2305.13165; Súkeník, Lampert, Mondelli 2024, arXiv 2405.14468) puts every other class's pre-activation at 0.
    p = _relu(K=K)
    d = theory.dnc(p)
    k = ufm.kinks(p, d.W, d.H, d.b)
    assert k.verdict == "no descent found" and k.count == sum(k.per_layer) > 0 and k.direction is None
    assert k.pieces[:2] == ("all off", "all on")
    sol = ufm.solve(p, init=(d.W, d.H, d.b))
    assert sol.status == "converged" and sol.kinks == k.count
    assert sol.objective == pytest.approx(d.objective, rel=1e-12)  # rounding: it does not move


def test_smooth_points_and_problems_without_relu():
    p = _relu(depth=3)
    rng = np.random.default_rng(0)
    W = tuple(np.abs(rng.standard_normal(s)) for s in ufm.Layout.of(p).w_shapes)  # every pre-activation > 0
    H = np.abs(rng.standard_normal((p.d, p.N)))
    k = ufm.kinks(p, W, H)
    assert k.verdict == "smooth" and k.count == 0 and k.per_layer == (0, 0)
    # A column of the first layer's features all at 0 puts the next layer's pre-activations at 0 too.
    H0 = H.copy()
    H0[:, 0] = 0.0
    k0 = ufm.kinks(p, W, H0)
    assert k0.per_layer == (p.widths[0], p.widths[1]) and k0.verdict == "descent"
    lin = p.replace(activation="linear")
    assert ufm.solve(lin).kinks == -1 and ufm.solve(ufm.Problem(K=3, n=2, d=4)).kinks == -1
    with pytest.raises(ufm.ParameterError, match="activation"):
        ufm.kinks(lin, W, H)
    with pytest.raises(ufm.ParameterError, match="H"):
        ufm.kinks(p, W, H[:, 1:])
    with pytest.raises(ufm.ParameterError, match="W"):
        ufm.kinks(p, W[:2], H)


def test_batches_carry_the_kink_test_per_member():
    p = _relu()
    start = ufm.solve(p, seed=1)
    H = np.array(start.H)
    H[:, 0] = 0.0
    batch = ufm.solve_batch([p, p], method="lbfgs", init=[(start.W, start.H, start.b), (start.W, H, start.b)])
    assert list(batch.status) == ["converged", "nonstationary"]
    assert batch[0].kinks == 0 and batch[1].kinks > 0 and list(batch.kinks) == [s.kinks for s in batch.unstack()]


def test_a_saddle_at_a_kink_needs_f_itself_to_go_down():
    # Solved from the complete-graph low-rank point (theory.low_rank), K = 6, L = 2 ends at the DNC value with 24
    # pre-activations at 0. The Hessian JAX computes there (its piece, every unit at 0 off) has a negative
    # eigenvalue, but f does not follow that piece outside its cone: the point is not reported as a saddle.
    p = ufm.Problem(K=6, n=1, d=6, loss="mse", bias=False, lam_w=3e-3, lam_h=3e-3, depth=2, activation="relu",
                    widths=(6,))
    lr = theory.low_rank(p)
    sol = ufm.solve(p, init=(lr.W, lr.H, lr.b), method="lbfgs", max_steps=3000, reduce="never")
    assert sol.kinks > 0 and sol.min_curvature < -1e-4
    assert ufm.curvature(p, sol.W, sol.H, sol.b).negative  # the piece's curvature, as measured
    assert sol.status == "converged" and ufm.kinks(p, sol.W, sol.H, sol.b).verdict == "no descent found"
    assert sol.objective == pytest.approx(theory.dnc(p).objective, rel=1e-12)  # rounding
