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
