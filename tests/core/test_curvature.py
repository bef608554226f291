"""`ufm.curvature`, the one second-order test (Lanczos on Hessian-vector products, seeded, budgeted): proofs of
negative curvature, its "nonnegative" and "undecided" verdicts, repeatability, and its input checks."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ufm
from ufm import _curvature, theory


@pytest.mark.parametrize("kw", [dict(loss="mse", bias=False), dict(loss="ce"), dict(loss="fl", gamma=3.0)],
                         ids=["mse", "ce", "fl"])
def test_saddles_are_negative_and_the_global_minimum_is_not(kw):
    """At every constructed strict saddle (Zhu et al. 2021, arXiv 2105.02375, Thm 3.2; Zhou et al. 2022,
    arXiv 2203.01238, Thm 3.2) the test proves negative curvature, and its θ₁ is an upper bound on λ_min of
    the dense Hessian; at the solved global minimum it finds none."""
    p = ufm.Problem(K=4, n=2, d=5, lam_w=2e-3, lam_h=1e-3, **kw)
    for s in theory.saddles(p):
        c = ufm.curvature(p, *s.point)
        lam = theory.spectrum_full(p, *s.point).eigenvalues
        # θ₁ is a Rayleigh quotient: ≥ λ_min up to rounding (1e-12 of the spectrum's scale).
        assert c.verdict == "negative" and c.negative, (s.name, c.describe())
        assert lam[0] - 1e-12 * np.abs(lam).max() <= c.lambda_min < 0, s.name
        assert c.lambda_max <= lam[-1] * (1 + 1e-12) and c.hvps <= c.budget
    sol = ufm.solve(p, reduce="never")
    c = ufm.curvature(p, sol.W, sol.H, sol.b)
    assert c.verdict == "nonnegative" and c.lambda_min >= -c.noise
    # decided after MIN_STEPS products, or earlier only where the Krylov space closed (residual exactly 0)
    assert c.hvps >= _curvature.MIN_STEPS or c.error == 0.0


def test_exact_at_the_origin():
    """At the origin of bias-free MSE the Hessian has few distinct eigenvalues: the Krylov space closes after a
    few products and θ₁ is λ_min = λ_Z − ‖G‖₂ exactly (Zhou et al. 2022, arXiv 2203.01238, Thm 3.2's origin)."""
    p = ufm.Problem(K=3, n=2, d=4, loss="mse", bias=False, lam_w=1e-2, lam_h=1e-2)
    o = theory.saddles(p)[0]
    assert o.name == "origin"
    c = ufm.curvature(p, *o.point)
    assert c.negative and c.hvps < 10
    assert c.lambda_min == pytest.approx(o.lambda_min, rel=1e-10)


def test_same_point_same_seed_same_verdict_and_products():
    p = ufm.Problem(K=5, n=2, d=6, loss="fl", gamma=5.0, lam_w=5e-3, lam_h=5e-3)
    rng = np.random.default_rng(3)
    W, H, b = rng.standard_normal((5, 6)), rng.standard_normal((6, 10)), rng.standard_normal(5)
    a, b2 = ufm.curvature(p, W, H, b, seed=7), ufm.curvature(p, W, H, b, seed=7)
    assert a == b2  # every field: verdict, θ₁, θ_max, error, noise, products
    other = ufm.curvature(p, W, H, b, seed=8)
    assert other.verdict == a.verdict


def test_a_spent_budget_says_undecided_never_a_verdict():
    p = ufm.Problem(K=4, n=3, d=6, loss="ce", lam_w=2e-3, lam_h=1e-3)
    sol = ufm.solve(p, reduce="never")
    c = ufm.curvature(p, sol.W, sol.H, sol.b, budget=5)
    assert c.verdict == "undecided" and c.hvps == 5 and c.budget == 5
    assert "undecided" in c.describe()


def test_progress_lines_and_input_checks():
    p = ufm.Problem(K=3, n=1, d=3)
    sol = ufm.solve(p, reduce="never")
    lines = []
    ufm.curvature(p, sol.W, sol.H, sol.b, progress=lines.append)
    assert lines and all("Hessian-vector products" in m for m in lines)
    with pytest.raises(ufm.ParameterError, match="budget"):
        ufm.curvature(p, sol.W, sol.H, sol.b, budget=0)
    with pytest.raises(ufm.ParameterError, match="seed"):
        ufm.curvature(p, sol.W, sol.H, sol.b, seed=-1)
    with pytest.raises(ufm.ParameterError, match="W"):
        ufm.curvature(p, sol.W.T[:, :2], sol.H, sol.b)
    with pytest.raises(TypeError, match="problem"):
        ufm.curvature("p", sol.W, sol.H)


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 30), negative=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_quadratics_with_a_budget_of_the_whole_space_always_decide_right(n, negative, seed):
    """½ xᵀAx with a spectrum in [0.1, 1] (or one eigenvalue at −0.1 … −1): with a budget of n products the
    Krylov space can become the whole space, so the verdict is always decided and right, θ₁ ≥ λ_min(A), and
    θ₁ = λ_min(A) where all n products ran."""
    rng = np.random.default_rng(seed)
    lam = rng.uniform(0.1, 1.0, n)
    if negative:
        lam[0] = -rng.uniform(0.1, 1.0)
    Q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    A = jnp.asarray((Q * lam) @ Q.T)
    with ufm.float64():
        c = _curvature.function_test(lambda x: 0.5 * x @ A @ x, jnp.zeros(n), budget=n, seed=seed % 1000)
    assert c.verdict == ("negative" if negative else "nonnegative")
    assert c.lambda_min >= lam.min() - 1e-12  # a Rayleigh quotient (1e-12: rounding of a spectrum within [-1, 1])
    if c.hvps == n:  # the whole space: θ₁ is λ_min (1e-10: n reorthogonalised steps in float64)
        assert c.lambda_min == pytest.approx(lam.min(), abs=1e-10)


def test_minimize_flags_a_saddle_through_the_same_test():
    with ufm.float64():
        m = ufm.minimize(lambda x: x[0] ** 2 - x[1] ** 2 + x[1] ** 4, jnp.asarray([0.3, 0.0]))
    assert m.status is ufm.Status.SADDLE and m.min_curvature < 0


@pytest.mark.parametrize("kw", [dict(K=3, n=2, d=2, loss="ce"), dict(K=4, n=1, d=5, loss="fl", gamma=2.0, bias=False),
                                dict(K=3, n=1, d=1, loss="mse", bias=False), dict(K=4, n=3, d=2, loss="mse", means=True),
                                dict(K=3, n=1, d=4, depth=2, loss="mse", bias=False)])
@pytest.mark.parametrize("budget", [5, 300])
def test_the_bucketed_program_gives_the_verdicts_of_the_layouts_own(kw, budget, monkeypatch):
    """The test runs in the program of the layout's bucket (padded and masked, or the class-mean form of one
    sample per class): same verdict, same number of products, θ₁ and the Ritz vector to rounding (the padded
    sums reassociate), at a random point (negative curvature) and at a solve's end point (none)."""
    rng = np.random.default_rng(3)
    p = ufm.Problem(**kw, lam_w=1e-2, lam_h=1e-2)
    cols = p.K if p.means else p.N
    Ws = [rng.standard_normal(s) for s in ufm.Layout.of(p).w_shapes]
    W = tuple(Ws) if p.depth > 1 else Ws[0]
    s = ufm.solve(p, method="newton", reduce="never")
    points = [(W, rng.standard_normal((p.d, cols)), rng.standard_normal(p.K) if p.bias else None),
              (s.W, s.H, s.b if p.bias else None)]
    with ufm.float64():
        got = [ufm.curvature(p, *pt, budget=budget) for pt in points]
        monkeypatch.setattr(_curvature, "bucket", lambda layout: None)
        own = [ufm.curvature(p, *pt, budget=budget) for pt in points]
    assert [c.verdict for c in got] == [c.verdict for c in own] and got[0].negative
    for a, b in zip(got, own):
        assert a.hvps == b.hvps
        assert abs(a.lambda_min - b.lambda_min) <= 1e-9 * max(1.0, abs(b.lambda_max))  # rounding of padded sums
        if b.vector is not None:
            assert min(np.linalg.norm(a.vector - b.vector), np.linalg.norm(a.vector + b.vector)) <= 1e-6
