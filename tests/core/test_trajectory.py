"""ufm.trajectory: fixed-length iterates, identical to the solve loop's path, divergence reported."""

import numpy as np
import pytest

import ufm

P = ufm.Problem(K=3, n=4, d=5, loss="ce", lam_w=1e-2, lam_h=1e-2, lam_b=1e-2)


def test_snapshots_follow_the_solve_path():
    tr = ufm.trajectory(P, ufm.GD(lr=0.5), steps=60, every=20, seed=3)
    assert tr.status == "max_steps" and tr.steps_taken == 60 and tr.diverged_at is None
    assert list(tr.step) == [0, 20, 40, 60]
    assert tr.W.shape == (4, 3, 5) and tr.H.shape == (4, 5, 12) and tr.b.shape == (4, 3)
    x0 = ufm.initial_point(P, seed=3)
    W0, H0, b0 = tr[0]
    np.testing.assert_array_equal(np.concatenate([W0.ravel(), H0.ravel(), b0]), x0)
    for k in (20, 60):
        # tol=0: the solve cannot stop early, so it takes exactly k GD steps from the same start.
        s = ufm.solve(P, ufm.GD(lr=0.5), tol=0.0, max_steps=k, seed=3, reduce="never")  # the same path
        j = list(tr.step).index(k)
        # Same float64 operations in a different compiled program: agreement to rounding.
        np.testing.assert_allclose(tr.W[j], s.W, rtol=0, atol=1e-13)
        np.testing.assert_allclose(tr.objective[j], s.objective, rtol=1e-14)


def test_objective_decreases_under_small_steps_and_metrics_are_per_snapshot():
    tr = ufm.trajectory(P, ufm.GD(lr=0.2), steps=200, every=10)
    assert np.all(np.diff(tr.objective) <= 1e-15)  # GD with a step below 1/L is monotone
    m = tr.metrics()
    assert m["nc1"].shape == (21,)
    assert m["nc1"][-1] < m["nc1"][0]


def test_divergence_is_reported_not_returned_as_nan():
    tr = ufm.trajectory(P, ufm.GD(lr=1e7), steps=50, every=10)
    assert tr.status == "diverged" and tr.diverged_at is not None and 1 <= tr.diverged_at <= 50
    assert np.all(np.isfinite(tr.objective)) and np.all(np.isfinite(tr.W))


@pytest.mark.parametrize("kwargs, match", [
    ({"method": "bfgs"}, "method"),
    ({"steps": 10, "every": 3}, "multiple"),
    ({"steps": 0}, "steps"),
    ({"every": 0}, "every"),
])
def test_bad_arguments_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ufm.trajectory(P, **kwargs)


def test_an_early_end_repeats_the_final_iterate():
    """Newton converges in 13 steps here, long before 80: the snapshots after it hold its final iterate."""
    tr = ufm.trajectory(P, "newton", steps=80, every=20, tol=1e-12)
    assert tr.status == "converged" and tr.steps_taken < 20
    np.testing.assert_array_equal(tr.W[1], tr.W[-1])
    assert tr.objective[-1] == tr.objective[1] and tr.grad_norm[-1] <= 1e-12 * tr.objective[-1]


def test_compiled_solves_are_a_bounded_lru_cache():
    from ufm._executables import Executables

    c = Executables(maxsize=3)
    for k in range(5):
        c.put(k, f"exe{k}")
    assert len(c) == 3 and 0 not in c and 1 not in c
    assert c.get(2) == "exe2"  # 2 becomes the most recent: the next put drops 3
    c.put(5, "exe5")
    assert 3 not in c and 2 in c and c.values() == ["exe4", "exe2", "exe5"]
