"""What a status promises: "converged" is a minimiser candidate (a second-order test catches saddles, in solves,
batches and `minimize`), and magnitudes float64 cannot solve are refused by name."""

from __future__ import annotations


import numpy as np
import pytest

import ufm
import ufm.theory


# --- converged means a minimiser candidate ----------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["mse", "ce", "ls", "fl"])
def test_a_start_at_the_origin_is_reported_as_a_saddle_not_converged(loss):
    # Below the collapse-to-zero threshold the origin is a strict saddle of every loss (the UFM landscape
    # theorems: Zhu et al. 2021, arXiv 2105.02375, Thm 3.2; Zhou et al. 2022, arXiv 2203.01238, Thm 3.2):
    # its gradient in (W, H) vanishes, so the gradient test alone would stop there and call it converged.
    p = ufm.Problem(loss=loss, K=4, n=3, d=5, lam_w=1e-3, lam_h=1e-3, lam_b=1e-2)
    assert ufm.solve(p, init_scale=0.0).status == "saddle"  # reduced (class means) where "auto" reduces
    at_origin = ufm.solve(p, init_scale=0.0, reduce="never")
    assert at_origin.status == "saddle" and not at_origin.converged
    assert np.abs(at_origin.W).max() == 0 and at_origin.min_curvature < -1e-2  # the negative curvature it found
    # Its Ritz value is an eigenvalue of the dense Hessian (tolerance: 24 Lanczos steps, rounding only).
    lam_min = np.linalg.eigvalsh(ufm.theory.hessian_full(p, *at_origin.params))[0]
    assert at_origin.min_curvature == pytest.approx(lam_min, rel=1e-6)
    # A random start reaches a minimiser: converged, curvature ≥ 0 up to rounding.
    sol = ufm.solve(p)
    assert sol.status == "converged" and sol.min_curvature > -1e-10


def test_the_origin_is_converged_where_it_is_the_global_minimum_and_batches_carry_the_test():
    big = ufm.Problem(loss="mse", K=4, n=3, d=5, lam_w=1.0, lam_h=1.0)  # λ_Wλ_H above M²/(NK): W = H = 0 wins
    sol = ufm.solve(big, init_scale=0.0)
    assert sol.status == "converged" and sol.min_curvature > 0
    probs = [ufm.Problem(loss="ce", K=4, n=3, d=5, lam_w=lam, lam_h=lam) for lam in (1e-3, 1.0)]
    batch = ufm.solve_batch(probs, init_scale=0.0)
    assert list(batch.status) == ["saddle", "converged"] and [s.status for s in batch.unstack()] == list(batch.status)


def test_second_order_false_skips_the_test_and_says_so():
    p = ufm.Problem(loss="ce", K=4, n=3, d=5, lam_w=1e-3, lam_h=1e-3, lam_b=1e-2)
    plain = ufm.solve(p, init_scale=0.0, second_order=False)  # the origin: gradient test only
    assert plain.status == "converged" and np.isnan(plain.min_curvature)
    batch = ufm.solve_batch([p, p], init_scale=0.0, second_order=False)
    assert list(batch.status) == ["converged", "converged"] and np.isnan(batch.min_curvature).all()
    with pytest.raises(ufm.ParameterError, match="second_order"):
        ufm.solve(p, second_order="no")
    with pytest.raises(ufm.ParameterError, match="second_order"):
        ufm.solve_batch([p], second_order=1)


def test_minimize_reports_saddles_of_any_function():
    import jax.numpy as jnp

    def fun(x):  # a saddle at 0 (curvature +2, −1), minima at x[1] = ±1
        return x[0] ** 2 - 0.5 * x[1] ** 2 + 0.25 * x[1] ** 4

    at_saddle = ufm.minimize(fun, jnp.zeros(2, jnp.float64))
    assert at_saddle.status == "saddle" and at_saddle.min_curvature == pytest.approx(-1.0, rel=1e-10)
    off = ufm.minimize(fun, jnp.asarray([0.3, 0.2], jnp.float64))
    assert off.status == "converged" and abs(abs(float(off.x[1])) - 1) < 1e-10


# --- extreme numbers ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("field, value", [("lam_w", 1e-300), ("lam_h", 1e300), ("lam_b", 1e-13), ("M", 1e200),
                                          ("alpha", 1e-9), ("gamma", 1e6), ("etf_norm", 1e9)])
def test_magnitudes_float64_cannot_solve_are_refused_by_name(field, value):
    with pytest.raises(ufm.ParameterError) as e:
        ufm.Problem(**{field: value})
    assert e.value.param == field and "float64" in e.value.allowed
