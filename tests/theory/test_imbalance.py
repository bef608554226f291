"""Imbalanced classes: per-class counts through Problem, the exact class-mean reduction, solve/solve_batch,
metrics, the command line and scans; the imbalanced MSE closed form and minority collapse (ufm.theory)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import ufm
import ufm.theory as theory
from ufm.cli import main
from ufm.experiments import scan

COUNTS = (30, 12, 5, 2)


# ------------------------------------------------------------------------------------------ Problem and counts


def test_counts_are_validated_and_equal_counts_are_the_balanced_problem():
    p = ufm.Problem(K=4, n=[30, 12, 5, 2], d=3)
    assert p.n == COUNTS and p.counts == COUNTS and p.N == 49 and not p.balanced and p.imbalance == 15.0
    assert list(np.bincount(p.labels)) == list(COUNTS) and p.Y.shape == (4, 49)
    assert ufm.Problem(K=3, n=(5, 5, 5)) == ufm.Problem(K=3, n=5)  # one spelling of a balanced problem
    assert ufm.Problem(K=3, n=np.array([2, 2, 2])).n == 2
    d = p.to_dict()
    assert d["n"] == list(COUNTS) and "means" not in d and ufm.Problem(**d) == p  # round trip, old identities
    assert ufm.reduced_problem(p).to_dict()["means"] is True
    for bad in ((1, 2, 3), (1, 0, 2, 2), (1, 2.5, 2, 2), (True, 1, 1, 1), "1,2,3,4", 0, -3, 2.0):
        with pytest.raises(ufm.ParameterError, match=r"Problem\.n must be"):
            ufm.Problem(K=4, n=bad)


def test_class_counts_profiles():
    assert ufm.class_counts(4, 100, 10) == (100, 100, 10, 10)
    assert ufm.class_counts(5, 100, 10, minority=1) == (100, 100, 100, 100, 10)
    lt = ufm.class_counts(5, 160, 16, "longtail")
    assert lt == (160, 80, 40, 20, 10)  # 160·16^(−k/4)
    assert ufm.class_counts(3, 7, 1.0) == (7, 7, 7) and ufm.Problem(K=3, n=ufm.class_counts(3, 7, 1.0)).balanced
    for kw, param in ((dict(ratio=0.5), "ratio"), (dict(ratio=200), "ratio"), (dict(ratio=2, profile="zipf"),
                      "profile"), (dict(ratio=2, minority=4), "minority")):
        with pytest.raises(ufm.ParameterError, match=param):
            ufm.class_counts(4, 100, **kw)


# ------------------------------------------------------------------------------------------ solves


def _full_gradient(problem, sol):
    obj = ufm.objective(problem)
    return float(np.linalg.norm(np.asarray(obj.grad_x(obj.pack(sol.params)))))


CASES = {
    "mse": dict(loss="mse"), "mse-nobias": dict(loss="mse", bias=False), "ce": dict(loss="ce"),
    "ls": dict(loss="ls", delta=0.3), "ce-lamb0": dict(loss="ce", lam_b=0.0), "ce-etf": dict(loss="ce", fixed_w="etf"),
}


SLOW = pytest.mark.slow


@pytest.mark.parametrize("case, d", [("mse", 6), ("mse-nobias", 3), ("ce", 4), pytest.param("ls", 7, marks=SLOW),
                                     pytest.param("ce-lamb0", 5, marks=SLOW), pytest.param("ce-etf", 5, marks=SLOW)])
def test_imbalanced_class_mean_solve_lifts_to_a_critical_point_with_the_full_solves_value(case, d):
    p = ufm.Problem(K=4, n=COUNTS, d=d, lam_w=2e-3, lam_h=1e-3, **{"lam_b": 1e-2, **CASES[case]})
    red = ufm.solve(p)
    assert red.path == "reduced" and red.reduced.means and red.status == "converged"
    assert red.H.shape == (d, p.N)
    # The lift: class k's mean repeated n_k times; f there is the reduced objective (sums of N vs K terms: 1e-13);
    # its full-dimension gradient is reported exactly (Σ_k ‖∇_{h_k} f_r‖²/n_k; 1e-6: the norm of a 1e-15 vector).
    for k in range(p.K):
        block = red.H[:, p.labels == k]
        assert np.array_equal(block, np.repeat(block[:, :1], COUNTS[k], axis=1))
    assert float(ufm.objective(p).f(red.params)) == pytest.approx(red.objective, rel=1e-13)
    assert _full_gradient(p, red) == pytest.approx(red.grad_norm, rel=1e-6, abs=1e-14)
    full = ufm.solve(p, reduce="never", method="newton")  # the independent path; 1e-12: two converged solves
    assert full.status == "converged" and red.objective == pytest.approx(full.objective, rel=1e-12)
    cert = theory.certificate(p, red.W, red.H, red.b)
    if cert.gap_bound is not None and (d >= p.K or p.fixed_w):
        assert cert.gap_bound <= 1e-9 * red.objective
    m = ufm.metrics.all(red.W, red.H, red.b, labels=p.labels)
    # d < K (bias-free MSE): the smallest class has no dimension left and is misclassified (47 of 49 right).
    assert m["nc1"] < 1e-28 and m["accuracy"] == (47 / 49 if (case, d) == ("mse-nobias", 3) else 1.0)


def test_problems_differing_only_in_their_counts_share_one_compiled_program():
    ufm.solve(ufm.Problem(loss="ce", K=4, n=COUNTS, d=6))
    with ufm.compilations() as c:
        for n in ((50, 50, 5, 5), 7, (1, 2, 3, 400), ufm.class_counts(4, 90, 30, "longtail")):
            assert ufm.solve(ufm.Problem(loss="ce", K=4, n=n, d=9)).compile_seconds == 0.0
    assert not any("ufm_" in name for name in c.by_name), c.by_name


def test_a_batch_of_imbalanced_problems_is_solved_in_the_class_mean_form():
    probs = [ufm.Problem(loss="ls", delta=dl, K=3, n=(9, 3, 1), d=5) for dl in (0.0, 0.5)]
    batch = ufm.solve_batch(probs, seeds=[0, 1])
    assert batch.path == "reduced" and batch.H.shape == (2, 5, 13)
    for i, p in enumerate(probs):
        assert batch[i].problem == p and batch[i].reduced == ufm.reduced_problem(p)
        assert batch[i].objective == pytest.approx(ufm.solve(p, seed=i).objective, rel=1e-12)
        assert batch[i].grad_norm == pytest.approx(_full_gradient(p, batch[i]), rel=1e-6, abs=1e-14)  # float64 floor
    with pytest.raises(ValueError, match="static field"):  # different counts: different lifted shapes
        ufm.solve_batch([probs[0], probs[0].replace(n=(2, 8, 4))])


# ------------------------------------------------------------------------------------------ theory


MSE_REGIMES = [
    dict(bias=False, d=6), dict(bias=False, d=3), dict(bias=False, d=2, lam_w=3e-2, lam_h=3e-2),
    dict(bias=True, d=4), dict(bias=True, d=7, lam_b=0.0), dict(bias=True, d=4, M=3.0), dict(bias=True, d=5, lam_b=2.0),
]


@pytest.mark.parametrize("kw", MSE_REGIMES, ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_imbalanced_mse_closed_form_matches_the_certified_solve(kw):
    kw = {"lam_w": 3e-3, "lam_h": 2e-3, **kw}
    p = ufm.Problem(K=4, n=COUNTS, loss="mse", **kw)
    th = theory.imbalanced_mse(p)
    sol = ufm.solve(p)
    # 1e-12 on the value (two float64 minimisations); Grams and b to 1e-8: they move as √ of the value's error.
    assert sol.objective == pytest.approx(th.objective, rel=1e-12)
    means = np.stack([sol.H[:, p.labels == k].mean(axis=1) for k in range(p.K)], axis=1)
    np.testing.assert_allclose(sol.W @ sol.W.T, th.gram_w, atol=1e-8 * max(1.0, np.abs(th.gram_w).max()))
    np.testing.assert_allclose(means.T @ means, th.gram_h, atol=1e-8 * max(1.0, np.abs(th.gram_h).max()))
    np.testing.assert_allclose(sol.b, th.b, atol=1e-8)
    W0, H0, b0 = theory.imbalanced_mse_minimizer(p)  # an explicit minimiser with that value
    assert float(ufm.objective(p).f((W0, H0, b0))) == pytest.approx(th.objective, rel=1e-12)
    pred = theory.predict(p)
    assert pred.objective == th.objective and pred.case.startswith("mse:imbalanced")
    if not p.bias:  # bias-free: σ_k = (M√n_k − Nλ_Z)_+, the d largest; class k collapses iff M√n_k ≤ Nλ_Z
        s = np.maximum(p.M * np.sqrt(COUNTS) - p.N * p.lam_z, 0.0)
        s[min(p.d, p.K):] = 0.0
        np.testing.assert_allclose(np.sort(th.sigma)[::-1], np.sort(s)[::-1], rtol=1e-12)
        assert th.threshold_lam_z == pytest.approx(p.M * math.sqrt(min(COUNTS)) / p.N)


@pytest.mark.parametrize("kw", [dict(bias=False, d=5), dict(bias=True, d=4), dict(bias=True, d=6, M=2.0),
                                dict(bias=False, d=2)])
def test_imbalanced_mse_at_equal_counts_is_the_balanced_theorem(kw):
    """Equal counts: the imbalanced form agrees with the balanced closed form of Zhou et al. 2022
    (arXiv 2203.01238, Thm B.1) — two independent derivations (1e-12)."""
    p = ufm.Problem(K=4, n=6, loss="mse", lam_w=2e-3, lam_h=5e-3, **kw)
    assert theory.imbalanced_mse(p).objective == pytest.approx(theory.mse_cases(p).objective, rel=1e-12)


def test_imbalanced_mse_refuses_what_it_does_not_cover():
    for p, param in ((ufm.Problem(K=3, n=(3, 2, 1), loss="ce"), "loss"),
                     (ufm.Problem(K=3, n=(3, 2, 1), loss="mse", alpha=2.0), "loss"),
                     (ufm.Problem(K=3, n=(3, 2, 1), loss="mse", d=2), "d")):
        with pytest.raises(ufm.ParameterError, match=param):
            theory.imbalanced_mse(p)
    assert theory.predict(ufm.Problem(K=3, n=(3, 2, 1), loss="ce")).objective is None


def test_minority_spread():
    W = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    assert theory.minority_spread(W, [2, 3]) == 0.0
    assert theory.minority_spread(W, [0, 1]) == pytest.approx(math.sqrt(2))
    assert theory.minority_spread(np.zeros((3, 2)), [1, 2]) == 0.0


def test_mse_minority_collapse_threshold_by_bisection_is_the_closed_form():
    """Bias-free MSE: the minority classes vanish at λ_Z = M√n_min/N (λ_W = λ_H = λ). Bisection on certified
    solves locates it to 1e-8 relative (the certificate test is first order, so the bracket is sharp)."""
    counts = (100, 100, 10, 10)
    p = ufm.Problem(K=4, n=counts, d=4, loss="mse", bias=False)
    t = theory.minority_threshold(p, 0.005, 0.03, minority=[2, 3], rtol=1e-10)
    exact = math.sqrt(10) / 220
    assert t.lam == pytest.approx(exact, rel=1e-8) and (t.rank_lo, t.rank_hi) == (4, 2)
    assert t.spread_hi < 1e-6 < t.spread_lo or t.ratio_lo > 1
    with pytest.raises(ufm.ParameterError, match="lo"):
        theory.minority_threshold(p, 0.02, 0.03)  # both above the threshold
    with pytest.raises(ufm.ParameterError, match="problem"):
        theory.minority_threshold(p.replace(d=3), 0.005, 0.03)


def test_ce_minority_classifiers_merge_then_vanish():
    """CE with a step imbalance: as λ grows the two minority classifiers first merge onto one vector (rank of WH
    3 → 2: minority collapse, Fang et al. 2021, arXiv 2101.12699) and later vanish (2 → 1); each transition is
    sharp and certified on both sides. The merge is at λ_Z = √n_min/N (`merge_threshold`, derived from the
    antisymmetric direction of the certificate's dual matrix): located to 1e-8."""
    p = ufm.Problem(K=4, n=(100, 100, 10, 10), d=4, loss="ce")
    merge = theory.minority_threshold(p, 0.01, 0.015, minority=[2, 3], rtol=1e-10)
    assert (merge.rank_lo, merge.rank_hi) == (3, 2)
    assert merge.lam == pytest.approx(theory.merge_threshold(p, [2, 3]), rel=1e-8)
    assert theory.merge_threshold(p.replace(loss="ls", delta=0.25), [2, 3]) == pytest.approx(0.75 * math.sqrt(10) / 220)
    with pytest.raises(ufm.ParameterError, match="minority"):
        theory.merge_threshold(p, [1, 2])  # unequal counts
    for f, distinct in ((0.97, True), (1.03, False)):
        q = p.replace(lam_w=merge.lam * f, lam_h=merge.lam * f)
        sol = ufm.solve(q)
        spread = theory.minority_spread(sol.W, [2, 3])
        assert (spread > 1e-3) if distinct else (spread < 1e-8)
        assert theory.certificate(q, sol.W, sol.H, sol.b).ratio == pytest.approx(1.0, abs=1e-9)
        norms = np.linalg.norm(sol.W, axis=1)
        assert norms[2] == pytest.approx(norms[3], rel=1e-9) and norms[2] > 0.1 * norms[0]


def test_merge_threshold_in_hong_and_lings_two_cluster_setting_at_their_own_lambdas():
    """Hong & Ling 2023 (arXiv 2309.09725), two clusters: K = 10, k_A = 3 classes of n_A = 500, 7 of n_B = 100,
    CE with a bias. Their experiments weight l/20·‖H‖² + 5l·‖W‖² + 0.01‖b‖² (no ½): λ_W/λ_H = 100 and λ_Z = l
    here. The minority features collapse onto one vector at l = √n_B/N = 1/220 (rank of WH 9 → 3): bisection at
    their ρ = λ_W/λ_H = 100 locates it to the bisection's tolerance (ρ = 1: the test above)."""
    p = ufm.Problem(K=10, n=(500,) * 3 + (100,) * 7, d=10, loss="ce", lam_b=0.02)
    star = theory.merge_threshold(p, range(3, 10))
    assert star == pytest.approx(math.sqrt(100) / 2200, rel=1e-15)
    t = theory.minority_threshold(p, 0.9 * star, 1.1 * star, minority=range(3, 10), rtol=1e-6, lam_ratio=100.0)
    assert (t.rank_lo, t.rank_hi) == (9, 3)
    assert t.lam == pytest.approx(star, rel=1e-6)  # bisection stops at hi/lo − 1 ≤ 1e-6
    with pytest.raises(ufm.ParameterError, match="lam_ratio"):
        theory.minority_threshold(p, 0.9 * star, 1.1 * star, lam_ratio=0.0)
# ------------------------------------------------------------------------------------------ command line, scans


def test_cli_takes_counts_and_imbalance_flags(capsys):
    assert main(["solve", "--K", "4", "--n", "30,12,5,2", "--d", "5", "--loss", "mse", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["problem"]["n"] == [30, 12, 5, 2] and rec["path"] == "reduced" and rec["status"] == "converged"
    assert rec["prediction"]["case"].startswith("mse:imbalanced") and rec["metrics"]["nc1"] < 1e-20
    assert abs(rec["objective"] - rec["prediction"]["objective"]) <= 1e-12 * rec["objective"]
    assert main(["solve", "--K", "6", "--n", "40", "--imbalance", "8", "--profile", "longtail", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["problem"]["n"] == list(ufm.class_counts(6, 40, 8, "longtail"))
    assert main(["solve", "--K", "4", "--n", "30,12,5,2"]) == 0
    assert "n=[30, 12, 5, 2]" in capsys.readouterr().out


@pytest.mark.parametrize("argv, flag", [
    (["--K", "4", "--n", "3,2"], "--n"), (["--K", "3", "--n", "3,x,1"], "--n"), (["--K", "3", "--n", "3,0,1"], "--n"),
    (["--K", "4", "--n", "10", "--imbalance", "20"], "--imbalance"),
    (["--K", "4", "--n", "10", "--imbalance", "2", "--profile", "zipf"], "--profile"),
    (["--K", "4", "--n", "10", "--profile", "longtail"], "--profile"),
    (["--K", "4", "--n", "4,3,2,1", "--imbalance", "2"], "--imbalance"),
])
def test_cli_bad_counts_one_line_exit_2(argv, flag, capsys):
    assert main(["solve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "Traceback" not in err


SPEC = """
[[group]]
name = "lt"
loss = "ce"
K = 4
n = 40
d = 6
imbalance = [1, 4, 20]
profile = "longtail"
lam_w = 1e-3
lam_h = 1e-3
"""


def test_scan_imbalance_axis_runs_and_records_the_counts(tmp_path):
    spec = scan.parse(SPEC)
    counts = {tuple(p.counts) for p in spec.groups[0].configs()}
    assert counts == {ufm.class_counts(4, 40, R, "longtail") for R in (1, 4, 20)}
    store = str(tmp_path / "s.db")
    assert scan.run(spec, store, progress=False)["done"] == 3
    rows = json.loads(scan.export(store, "json"))
    for row in rows:
        p = ufm.Problem(**{k: row[k] for k in ufm.Problem().to_dict()})
        assert row["imbalance"] == pytest.approx(p.imbalance) and row["path"] == "reduced"
        assert row["objective"] == pytest.approx(ufm.solve(p, method="newton", seed=row["seed"]).objective, rel=1e-11)
        if p.d >= p.K:
            assert row["cert_ratio"] == pytest.approx(1.0, abs=1e-6)
    # A spec without the axis keeps its identity (no new keys in its canonical form).
    assert "profile" not in scan.parse(SPEC.replace('imbalance = [1, 4, 20]\nprofile = "longtail"\n', "")).canonical


@pytest.mark.parametrize("text, key", [
    (SPEC.replace('"longtail"', '"zipf"'), "profile"),
    (SPEC.replace("imbalance = [1, 4, 20]", "imbalance = [0.5]"), "imbalance"),
    (SPEC.replace("imbalance = [1, 4, 20]", "imbalance = [100]"), "imbalance"),
    (SPEC.replace("imbalance = [1, 4, 20]\n", ""), "profile"),
    (SPEC.replace('profile = "longtail"', 'profile = ["step"]'), "profile"),
])
def test_scan_bad_imbalance_axis_is_refused(text, key):
    with pytest.raises(scan.SpecError, match=key):
        scan.parse(text)


def test_vanishing_regularisation_approaches_seli_not_the_etf():
    """Bias-free CE with counts (100, 100, 10, 10): as λ → 0 the trace-normalised W Wᵀ moves towards SELI
    (Thrampoulidis et al. 2022, arXiv 2208.05512) and stays away from the simplex ETF; at equal counts SELI is the
    ETF (rounding: 1e-15)."""
    np.testing.assert_allclose(theory.seli_gram((5, 5, 5)), (np.eye(3) - 1 / 3) / 2, atol=1e-15)
    G_seli, G_etf = theory.seli_gram((100, 100, 10, 10)), (np.eye(4) - 0.25) / 3
    dist = []
    for lam in (1e-2, 1e-6):
        sol = ufm.solve(ufm.Problem(K=4, n=(100, 100, 10, 10), d=4, loss="ce", bias=False, lam_w=lam, lam_h=lam),
                        method="lbfgs")
        assert sol.status == "converged"
        WW = sol.W @ sol.W.T / np.trace(sol.W @ sol.W.T)
        dist.append((np.linalg.norm(WW - G_seli), np.linalg.norm(WW - G_etf)))
    assert dist[1][0] < dist[0][0] and dist[1][0] < 0.15 * dist[1][1]
