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
