"""The global-optimality certificate: ratio 1 at minimizers, > 1 at saddles, and a gap bound that holds."""

import pytest

from ufm import theory
import ufm

PROBLEMS = [
    dict(loss="ce", d=6),
    dict(loss="ls", delta=0.2, d=5),
    dict(loss="mse", d=6, lam_b=0.5),
    dict(loss="mse", alpha=3.0, M=2.0, d=6),  # no closed form: the certificate still certifies
    dict(loss="ce", d=5, bias=False),
]
IDS = ["ce", "ls", "mse", "mse-a3-M2", "ce-nobias"]


def problem(kw):
    kw = {"lam_w": 2e-3, "lam_h": 1e-3, "lam_b": 1e-2, **kw}
    return ufm.Problem(K=4, n=3, **kw)


@pytest.mark.parametrize("kw", PROBLEMS, ids=IDS)
def test_certifies_solver_minimum(kw):
    p = problem(kw)
    sol = ufm.solve(p)
    c = theory.certificate(p, sol.W, sol.H, sol.b)
    assert c.ratio == pytest.approx(1.0, abs=1e-8)
    # bound ≈ ‖s‖·R* with R* ≈ F/λ_Z ≈ 10³·f here: a 1e-13 residual certifies ~1e-10 relative.
    assert 0 <= c.gap_bound <= 1e-9 * sol.objective


@pytest.mark.parametrize("kw", PROBLEMS, ids=IDS)
def test_gap_bound_holds_away_from_the_minimum(kw):
    p = problem(kw)
    f_star = ufm.solve(p).objective
    for steps in (5, 50, 500):
        rough = ufm.solve(p, method=ufm.GD(lr=0.5), max_steps=steps, tol=0.0, seed=3)
        c = theory.certificate(p, rough.W, rough.H, rough.b)
        assert rough.objective - f_star <= c.gap_bound * (1 + 1e-12) + 1e-15, steps


def test_zero_solution_ratio_at_most_one():
    p = ufm.Problem(K=4, n=3, d=6, loss="ce", lam_w=0.3, lam_h=0.3)
    sol = ufm.solve(p)
    c = theory.certificate(p, sol.W, sol.H, sol.b)
    # The solve stops at ‖∇f‖ ≤ 1e-12·|f|; the bound multiplies that residual by ‖x‖ + R* (here ≈ 20).
    assert c.ratio <= 1.0 and c.gap_bound < 1e-10


def test_saddles_have_ratio_above_one():
    p = problem(dict(loss="ls", delta=0.1, d=6))
    for s in theory.saddles(p):
        assert theory.certificate(p, *s.point).ratio > 1, s.name


def test_focal_and_unbounded_bias_give_no_gap_bound():
    p = problem(dict(loss="fl", gamma=2.0, d=6))
    sol = ufm.solve(p)
    c = theory.certificate(p, sol.W, sol.H, sol.b)
    assert c.gap_bound is None and "local" in c.note and c.ratio == pytest.approx(1.0, abs=1e-8)
    q = problem(dict(loss="ce", d=6, lam_b=0.0))
    c = theory.certificate(q, *ufm.solve(q).params)
    assert c.gap_bound is None and "λ_b = 0" in c.note


def test_frozen_w_convex_bound():
    p = ufm.Problem(K=4, n=3, d=5, loss="ce", fixed_w="etf", lam_h=1e-3)
    f_star = ufm.solve(p).objective
    rough = ufm.solve(p, method=ufm.GD(lr=1.0), max_steps=30, tol=0.0)
    c = theory.certificate(p, rough.W, rough.H, rough.b)
    assert c.ratio is None and rough.objective - f_star <= c.gap_bound


@pytest.mark.parametrize("loss", ["ce", "mse"])
def test_certificates_of_every_d_up_to_the_bucket_share_their_programs_and_numbers(loss, monkeypatch):
    """The certificate evaluates f and ∇f with d padded by zeros (to 8 at K = 4) and g(Z) without d at all: after
    d = 6, the d = 2, 3, 5 points (and CE's LS/FL siblings) compile nothing, and every field equals the
    certificate computed without padding (1e-12 relative: the padding adds exact zeros, sums may reassociate)."""
    import numpy as np

    from ufm.theory import _certificate

    rng = np.random.default_rng(0)
    ps = {d: problem(dict(loss=loss, d=d)) for d in (6, 2, 3, 5)}
    if loss == "ce":
        ps["ls"] = problem(dict(loss="ls", delta=0.2, d=5))
        ps["fl"] = problem(dict(loss="fl", gamma=2.0, d=3))
    points = {k: (rng.standard_normal((4, p.d)), rng.standard_normal((p.d, p.N)), rng.standard_normal(4))
              for k, p in ps.items()}
    certs = {6: theory.certificate(ps[6], *points[6])}
    with ufm.compilations() as c:
        certs.update({k: theory.certificate(p, *points[k]) for k, p in ps.items() if k != 6})
    assert c.count == 0
    monkeypatch.setattr(_certificate, "padded_d", lambda d, K: d)  # each d its own program
    for k, p in ps.items():
        own = theory.certificate(p, *points[k])
        for field in ("ratio", "stationarity", "imbalance", "subgradient", "gap_bound"):
            want, got = getattr(own, field), getattr(certs[k], field)
            assert (want is None and got is None) or got == pytest.approx(want, rel=1e-12, abs=1e-14), (k, field)


CLASS_MEAN_CASES = [dict(loss="ce"), dict(loss="mse"), dict(loss="ls", delta=0.2), dict(loss="fl", gamma=2.0),
                    dict(loss="ce", bias=False), dict(loss="ce", n=(3, 5, 2, 4)), dict(loss="mse", K=2, n=7),
                    dict(loss="ce", d=2), dict(loss="ce", lam_b=0.0), dict(loss="mse", n=1, d=3)]


@pytest.mark.parametrize("kw, kind", [(kw, kind) for kw in CLASS_MEAN_CASES for kind in ("solved", "random")
                                      if not (kind == "solved" and kw["loss"] == "fl")],  # FL(2): solved in full
                         ids=lambda v: "-".join(f"{k}={x}" for k, x in v.items()) if isinstance(v, dict) else v)
def test_a_point_equal_within_classes_is_certified_on_its_class_means_with_the_same_numbers(kw, kind, monkeypatch):
    """The features of a class-mean solve's lift (and any point whose columns repeat within each class) are
    certified on K columns (A ↦ Ā diag(√n_k), exact): every field equals the certificate on all N columns
    (1e-12 relative or 1e-13 absolute: sums reassociate), at solved and at random points (balanced, imbalanced,
    K = 2, d < K, n = 1, no bias, λ_b = 0, FL's local certificate)."""
    import numpy as np

    from ufm.theory import _certificate

    base = dict(K=4, n=3, d=6, lam_w=1e-2, lam_h=2e-3)
    p = ufm.Problem(**{**base, **kw})
    if kind == "solved":
        sol = ufm.solve(p)
        assert sol.path == "reduced" or p.n == 1
        W, H, b = sol.W, sol.H, sol.b
    else:
        rng = np.random.default_rng(1)
        W, Hbar, b = rng.normal(size=(p.K, p.d)), rng.normal(size=(p.d, p.K)), rng.normal(size=p.K)
        H = Hbar[:, p.labels]
    assert (_certificate._as_means(p, np.asarray(H)) is None) == (p.n == 1)  # n = 1: nothing to compress
    fast = theory.certificate(p, W, H, b)
    monkeypatch.setattr(_certificate, "_as_means", lambda *a: None)
    full = theory.certificate(p, W, H, b)
    assert fast.note == full.note
    for field in ("ratio", "stationarity", "imbalance", "subgradient", "gap_bound"):
        want, got = getattr(full, field), getattr(fast, field)
        assert (want is None and got is None) or got == pytest.approx(want, rel=1e-12, abs=1e-13), (field, got, want)


def test_a_point_not_equal_within_classes_is_certified_on_all_columns():
    from ufm.theory import _certificate

    p = ufm.Problem(K=3, n=4, d=5)
    H = ufm.solve(p).H.copy()
    assert _certificate._as_means(p, H) is not None
    H[2, 5] += 1e-12  # one feature of one sample: no longer the lift of class means
    assert _certificate._as_means(p, H) is None


def test_class_mean_certificates_compile_nothing_per_sample_count():
    """On class means the certificate's programs have K columns: a new n at the same (K, d, loss) compiles
    nothing (the full path compiled f and ∇f, and g(Z), for every N)."""
    p = ufm.Problem(K=3, n=4, d=5)
    s = ufm.solve(p)
    theory.certificate(p, s.W, s.H, s.b)
    with ufm.compilations() as c:
        for n in (7, 50):
            q = p.replace(n=n)
            t = ufm.solve(q)
            theory.certificate(q, t.W, t.H, t.b)
    assert c.count == 0, c.by_name


@pytest.mark.parametrize("kw", [dict(loss="ce"), dict(loss="mse", n=(1, 2, 5)), dict(loss="ce", fixed_w="etf"),
                                dict(loss="ls", delta=0.2, d=2), dict(loss="fl", gamma=2.0)],
                         ids=["ce", "mse-imbalanced", "ce-frozen-w", "ls-d<K", "fl"])
def test_the_certificate_of_class_means_is_that_of_their_lift(kw):
    """`certificate(problem, W, Hbar, b)` with Hbar (d, K) the class means of features equal within classes is
    the certificate of those features (d, N): the same numbers exactly (the same computation; frozen W reads
    the N columns, rebuilt from the means). What `solution_record` uses for a reduced solve, so that H is not
    built. n = 1 (N = K): H is the features themselves, both readings agree."""
    import numpy as np

    p = ufm.Problem(**{**dict(K=3, n=4, d=5, lam_w=1e-2, lam_h=2e-3), **kw})
    rng = np.random.default_rng(2)
    W, Hbar, b = rng.normal(size=(p.K, p.d)), rng.normal(size=(p.d, p.K)), rng.normal(size=p.K)
    assert theory.certificate(p, W, Hbar, b) == theory.certificate(p, W, Hbar[:, p.labels], b)
    sol = ufm.solve(p)
    if sol.path == "reduced":  # FL at γ = 2 is solved in full: its features are not class means exactly
        assert theory.certificate(p, sol.W, sol.class_means, sol.b) == theory.certificate(p, sol.W, sol.H, sol.b)
    one = p.replace(n=1)
    assert theory.certificate(one, W, Hbar, b) == theory.certificate(one, W, Hbar[:, one.labels], b)
