"""MSE closed forms (Zhou et al. 2022, arXiv 2203.01238, Thm B.1) against the independent numpy value route and the solver."""

import numpy as np
import pytest

from ufm import theory
import ufm
from mse_reference import mse_optimum

K, n = 4, 5
# (d, λ, λ_b, bias, M, expected case); x = sqrt(KN)·λ = 0.089 for λ = 1e-2, 1.79 for λ = 0.2.
REGIMES = [
    (6, 1e-2, 1e-2, True, 1.0, "mse:d>=K:lam_b-small"),
    (6, 1e-2, 1.0, True, 1.0, "mse:d>=K:lam_b-large"),
    (4, 1e-2, 1.0, True, 1.0, "mse:d>=K:lam_b-large"),
    (3, 1e-2, 1.0, True, 1.0, "mse:d=K-1"),
    (2, 1e-2, 0.5, True, 1.0, "mse:d<K-1"),
    (6, 0.2, 1e-2, True, 1.0, "mse:zero"),
    (2, 0.2, 1e-2, True, 1.0, "mse:zero"),
    (6, 1e-2, 0.0, False, 1.0, "mse:d>=K:no-bias"),
    (6, 1e-2, 2.0, True, 3.0, "mse:d>=K:lam_b-large"),
    (3, 1e-2, 1e-2, True, 2.0, "mse:d=K-1"),
]


@pytest.mark.parametrize("d, lam, lam_b, bias, M, case", REGIMES, ids=[r[-1] + f"-d{r[0]}-M{r[4]}" for r in REGIMES])
def test_cases_equal_value_route_and_solver(d, lam, lam_b, bias, M, case):
    p = ufm.Problem(K=K, n=n, d=d, loss="mse", lam_w=lam, lam_h=lam, lam_b=lam_b, bias=bias, M=M)
    pred = theory.predict(p)
    assert pred.case == case
    f_ref, b_ref = mse_optimum(K, n, d, lam, lam, lam_b, M=M, bias=bias)
    # Closed form vs an SVD computed by numpy and a scalar minimisation: both exact up to rounding.
    assert pred.objective == pytest.approx(f_ref, rel=1e-12)
    np.testing.assert_allclose(pred.b, b_ref, atol=1e-9)
    f_route, b_route = theory.mse_value_route(p)
    assert f_route == pytest.approx(pred.objective, rel=1e-13)
    sol = ufm.solve(p)
    assert sol.objective == pytest.approx(pred.objective, rel=1e-10)


@pytest.mark.parametrize("d, lam_b", [(6, 1e-2), (6, 1.0), (3, 0.3), (2, 0.3)])
def test_minimizer_is_critical_and_attains_the_minimum(d, lam_b):
    p = ufm.Problem(K=K, n=n, d=d, loss="mse", lam_w=2e-2, lam_h=5e-3, lam_b=lam_b)
    W, H, b = theory.minimizer(p)
    obj = ufm.objective(p)
    assert float(obj.f((W, H, b))) == pytest.approx(theory.predict(p).objective, rel=1e-13)
    g = obj.grad((W, H, b))
    assert max(float(np.abs(np.asarray(a)).max()) for a in g) < 1e-13


def test_second_regime_gram():
    # H̄ᵀH̄ ∝ I − c 11ᵀ with c = b*/(1 − x) (Zhou et al. 2022, arXiv 2203.01238, Thm B.1), measured on the solver's class means.
    p = ufm.Problem(K=K, n=n, d=6, loss="mse", lam_w=1e-2, lam_h=1e-2, lam_b=0.5)
    c = theory.mse_cases(p)
    sol = ufm.solve(p)
    Hbar = sol.H.reshape(p.d, K, n).mean(axis=2)
    G = Hbar.T @ Hbar
    c_fit = -G[0, 1] / (G[0, 0] - G[0, 1])
    assert c_fit == pytest.approx(c.gram_c, rel=1e-8)
    assert c.gram_c == pytest.approx(c.b / (1 - c.x), rel=1e-14)


def test_non_vanilla_mse_has_no_closed_form():
    pred = theory.predict(ufm.Problem(loss="mse", alpha=2.0))
    assert pred.objective is None and "alpha" in pred.case
    with pytest.raises(ValueError, match="no closed form"):
        theory.minimizer(ufm.Problem(loss="mse", alpha=2.0))


@pytest.mark.parametrize("alpha, M, lam_b", [(0.5, 1.0, 1e-2), (3.0, 4.0, 1.0)])
def test_rescaled_mse_collapses_like_the_vanilla_loss(alpha, M, lam_b):
    """Rescaled MSE (Zhou et al. 2022, arXiv 2203.01238, §3.1, where it is conjectured): the certified minimiser
    has NC1, NC3, NC4 and self-duality at the scale √(λ_W/(λ_H n)); W Wᵀ lies in span{I, 11ᵀ} (the ETF for small
    λ_b; a(I − c11ᵀ) with a large λ_b or M, as in App. Thm B.1 at α = 1). Tolerances: solves reach ‖∇f‖ ~ 1e-13."""
    p = ufm.Problem(K=4, n=3, d=6, loss="mse", alpha=alpha, M=M, lam_w=5e-3, lam_h=5e-3, lam_b=lam_b)
    sol = ufm.solve(p)
    m = ufm.metrics.all(sol.W, sol.H, sol.b)
    assert m["nc1"] < 1e-20 and m["nc3"] < 1e-10 and m["nc4"] == 0.0 and m["accuracy"] == 1.0
    W, H = np.asarray(sol.W), np.asarray(sol.H)
    assert np.allclose(H, np.sqrt(p.lam_w / (p.lam_h * p.n)) * W[np.asarray(p.labels)].T, atol=1e-10)
    G = W @ W.T
    off = G[~np.eye(4, dtype=bool)]
    assert np.ptp(np.diag(G)) < 1e-10 and np.ptp(off) < 1e-10  # a·I + c·11ᵀ
    assert theory.certificate(p, sol.W, sol.H, sol.b).ratio == pytest.approx(1.0, abs=1e-9)
