"""CE/LS closed form, the 1-D scale of contrastive losses, the lower bounds φ and ξ(ρ)."""

import math

import numpy as np
import pytest

from ufm import theory
import ufm

CASES = [
    dict(loss="ce", d=6),
    dict(loss="ce", d=4),
    dict(loss="ce", d=3),  # d = K−1: extension
    dict(loss="ls", delta=0.3, d=6),
    dict(loss="ls", delta=0.9, d=5, lam=3e-3),
    dict(loss="fl", gamma=1.0, d=6),
    dict(loss="fl", gamma=3.0, d=6),
    dict(loss="fl", gamma=5.0, d=4),  # d = K: extension
]
IDS = ["ce-d6", "ce-d4", "ce-d3", "ls0.3", "ls0.9", "fl1", "fl3", "fl5-d4"]


def problem(kw):
    kw = dict(kw)
    lam = kw.pop("lam", 1e-3)
    return ufm.Problem(K=4, n=5, lam_w=2 * lam, lam_h=lam / 2, lam_b=1e-2, **kw)


@pytest.mark.parametrize("kw", CASES, ids=IDS)
def test_prediction_matches_solver(kw):
    p = problem(kw)
    pred = theory.predict(p)
    sol = ufm.solve(p)
    assert sol.objective == pytest.approx(pred.objective, rel=1e-11)
    np.testing.assert_allclose(sol.b, 0.0, atol=1e-8)
    m = ufm.metrics.all(sol.W, sol.H, sol.b)
    assert m["w_norm_mean"] == pytest.approx(pred.w_norm, rel=1e-7)
    assert m["h_mean_norm_mean"] == pytest.approx(pred.h_mean_norm, rel=1e-7)
    assert pred.extension == (p.d < p.K or (p.loss == "fl" and p.d == p.K))


@pytest.mark.parametrize("kw", CASES[:5], ids=IDS[:5])
def test_closed_form_scale_is_the_global_minimiser_of_g(kw):
    p = problem(kw)
    a = theory.ce_ls_scale(p)
    m = theory.scale_minima(p)
    assert len(m.local) == 1  # g is convex for CE/LS
    assert m.a == pytest.approx(a, rel=1e-12)
    # Stationarity by hand: p_n = s/K (Guo et al. 2025, arXiv 2402.03979, Lemma D.5 proof).
    s = math.sqrt(p.K * p.N) * p.lam_z + p.delta
    assert theory.probabilities(p.K, a)[1] == pytest.approx(s / p.K, rel=1e-12)


def test_collapse_when_s_at_least_one():
    p = ufm.Problem(K=4, n=5, d=6, loss="ls", delta=0.95, lam_w=1e-2, lam_h=1e-2)
    pred = theory.predict(p)
    assert pred.a == 0.0 and pred.case == "ls:collapsed-to-zero"
    sol = ufm.solve(p)
    assert sol.objective == pytest.approx(pred.objective, rel=1e-10)
    assert np.abs(sol.W).max() < 1e-6


def test_minimizer_is_stationary():
    for kw in CASES:
        p = problem(kw)
        W, H, b = theory.minimizer(p)
        g = ufm.objective(p).grad((W, H, b))
        assert max(float(np.abs(np.asarray(x)).max()) for x in g) < 1e-12, kw


def test_focal_scale_can_have_two_local_minima():
    # For many classes FL's |dL/da| peaks inside (0, ∞) (K = 100, γ = 5: 1.160 at a = 0, 1.315 at a ≈ 1.66),
    # so a regulariser slope c = (K−1)√n λ_Z between the two makes a = 0 a local minimum next to an interior
    # one (Zhou et al. 2022, arXiv 2210.02192, Figs. 9–10, ψ_FL with two stationary points). Both are reported; the global one is chosen.
    counts = set()
    for c in np.linspace(1.17, 1.30, 14):
        lam = c / 99
        p = ufm.Problem(K=100, n=1, d=101, loss="fl", gamma=5.0, lam_w=lam, lam_h=lam)
        m = theory.scale_minima(p)
        g = theory.scale_objective(p, [a for a, _ in m.local])
        np.testing.assert_allclose(g, [v for _, v in m.local], rtol=1e-14)
        assert m.g == min(v for _, v in m.local)
        counts.add(len(m.local))
        if len(m.local) == 2:
            assert m.local[0][0] == 0.0 and m.local[1][0] > 0.5
    assert counts == {2}


@pytest.mark.parametrize("loss, kw", [("ce", {}), ("ls", dict(delta=0.4)), ("fl", dict(gamma=2.0))])
def test_lower_bound_phi(loss, kw):
    p = ufm.Problem(K=5, n=3, d=6, loss=loss, **kw)
    rng = np.random.default_rng(0)
    gap = theory.lower_bound_gap(p, rng.standard_normal((5, 15)) * 4)
    assert gap.min() >= -1e-13 and gap.max() > 1e-3
    # Equal off-target logits: equality (to rounding).
    Z = rng.standard_normal((1, 15)) + 2.5 * np.repeat(np.eye(5), 3, axis=1)
    np.testing.assert_allclose(theory.lower_bound_gap(p, Z), 0.0, atol=1e-14)


def test_xi_rho_is_the_objective_on_the_nc_family():
    p = ufm.Problem(K=4, n=100, d=6, loss="ce", lam_w=5e-4, lam_h=5e-4)
    rho = np.linspace(0.0, 400.0, 401)
    xi = theory.xi_ce(rho, p.K, p.n, p.lam_w, p.lam_h)
    a = rho * math.sqrt(p.lam_w / (p.lam_h * p.n)) / (p.K - 1)
    np.testing.assert_allclose(xi, theory.scale_objective(p, a), rtol=1e-13)
    # And f itself on that family, evaluated directly at one ρ.
    W, H, b = theory.nc_minimizer(p, a[100])
    assert float(np.sum(W**2)) == pytest.approx(rho[100], rel=1e-12)
    assert float(ufm.objective(p).f((W, H, b))) == pytest.approx(xi[100], rel=1e-13)
    fine = np.linspace(0, 400, 400001)
    assert theory.xi_ce(fine, p.K, p.n, p.lam_w, p.lam_h).min() == pytest.approx(theory.predict(p).objective, rel=1e-9)


def test_unknown_regimes_say_so():
    pred = theory.predict(ufm.Problem(K=6, d=3, loss="ce"))
    assert pred.objective is None and pred.a is None and "d<K-1" in pred.case
    pred = theory.predict(ufm.Problem(K=4, d=5, loss="ce", fixed_w="etf"))
    assert pred.objective is None and "fixed-etf" in pred.case


def test_the_scale_of_ce_ls_fl_shares_one_program_per_k():
    """g(a) of CE, LS and FL runs as their softmax family (two programs per K: a padded to 8 points, or to 8 192):
    after one CE call of each length, LS and FL at the same K and any length up to 8 192 compile nothing, and each
    g agrees with the loss's own formula evaluated directly (1e-13: the family's formula reassociates a few
    terms)."""
    ps = [problem(kw) for kw in (dict(loss="ce", d=6), dict(loss="ls", delta=0.3, d=6), dict(loss="fl", gamma=3.0, d=6))]
    a = np.linspace(0.0, 6.0, 4001)
    theory.scale_objective(ps[0], a)
    theory.scale_objective(ps[0], a[:1])
    with ufm.compilations() as c:
        values = [theory.scale_objective(p, a[:n]) for p, n in zip(ps, (4001, 1, 65))]
        values.append(theory.scale_objective(ps[2], a[:8]))
        theory.scale_minima(ps[1])
    assert c.count == 0
    K = 4
    e1 = np.eye(K)[:, :1]
    for p, v in zip(ps + ps[2:], values):
        direct = [float(ufm.losses.per_sample(p.loss, t * (e1 - 1 / K), e1, p.hyper)[0]) + theory.scale_slope(p) * t
                  for t in a[:v.size:50]]
        np.testing.assert_allclose(v[::50], direct, rtol=1e-13, atol=1e-15)
