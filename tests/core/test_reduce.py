"""The exact class-mean / low-dimension reduction (`ufm.solve(reduce=...)`, ufm/_reduce.py), as theorems:
the lift of a reduced solve is a critical point of the full problem with the same objective, the full-dimension
certificate holds at it, and its value is the full solve's — across losses, bias, frozen W, K = 2, d < K, d = K,
d > K and n = 1."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ufm
import ufm.theory

LOSSES = {
    "mse": dict(loss="mse"),
    "mse-rescaled": dict(loss="mse", alpha=2.0, M=3.0),
    "ce": dict(loss="ce"),
    "ce-nobias": dict(loss="ce", bias=False),
    "ce-lamb0": dict(loss="ce", lam_b=0.0),
    "ls": dict(loss="ls", delta=0.3),
    "fl-gamma0": dict(loss="fl", gamma=0.0),
    "ce-etf": dict(loss="ce", fixed_w="etf"),
}
# (loss case, K, n, d): the edges — K = 2, d = 1, d < K, d = K, d > K, n = 1 — spread over the losses. The default
# suite runs the first six (MSE, CE, LS; bias off, λ_b = 0, frozen W); `make test-all` (slow marker) adds rescaled
# MSE, FL at γ = 0 and more shapes.
SLOW = pytest.mark.slow
CASES = [
    ("mse", 2, 3, 1), ("ce", 3, 1, 7), ("ce-nobias", 4, 5, 4), ("ce-lamb0", 5, 3, 12), ("ls", 4, 5, 2),
    ("ce-etf", 3, 4, 8),
    pytest.param("mse", 5, 3, 12, marks=SLOW), pytest.param("mse-rescaled", 3, 4, 2, marks=SLOW),
    pytest.param("ce", 2, 4, 5, marks=SLOW), pytest.param("fl-gamma0", 4, 5, 4, marks=SLOW),
    pytest.param("mse", 4, 5, 4, marks=SLOW), pytest.param("mse-rescaled", 4, 2, 9, marks=SLOW),
    pytest.param("ce", 4, 5, 2, marks=SLOW), pytest.param("ce-nobias", 2, 3, 1, marks=SLOW),
    pytest.param("ls", 3, 1, 7, marks=SLOW), pytest.param("ls", 5, 3, 12, marks=SLOW),
    pytest.param("ce-etf", 4, 5, 3, marks=SLOW),
]


def _full_gradient(problem, sol):
    obj = ufm.objective(problem)
    return float(np.linalg.norm(np.asarray(obj.grad_x(obj.pack(sol.params)))))


@pytest.mark.parametrize("case, K, n, d", CASES)
def test_the_lift_is_a_critical_point_with_the_reduced_value_and_the_full_solve_agrees(case, K, n, d):
    kw = LOSSES[case]
    p = ufm.Problem(K=K, n=n, d=d, lam_w=2e-3, lam_h=1e-3, **{"lam_b": 1e-2, **kw})
    red = ufm.solve(p)  # reduce="auto"
    expect = ufm.reduction(p).reduced
    assert red.path == ("full" if expect is None else "reduced")
    assert red.W.shape == (K, d) and red.H.shape == (d, n * K) and red.status == "converged"
    f = ufm.objective(p)
    # The lifted point: f there equals the reduced objective (rounding of a sum of N vs K terms: 1e-13), its
    # gradient in the full dimension is the reduced one's, reported exactly (1e-12 relative).
    assert float(f.f(red.params)) == pytest.approx(red.objective, rel=1e-13, abs=1e-15)
    g = _full_gradient(p, red)
    assert g == pytest.approx(red.grad_norm, rel=1e-6, abs=1e-15) and g <= 1e-10 * max(red.objective, 1e-300)
    # The full solve (an independent path) reaches the same value: every case here is in a benign regime, where
    # all local minima are global (Zhu et al. 2021, arXiv 2105.02375, Thm 3.2; Zhou et al. 2022,
    # arXiv 2203.01238, Thm 3.2; Zhou et al. 2022, arXiv 2210.02192, Thm 3); 1e-12 relative: both converge to
    # relative gradient 1e-12.
    full = ufm.solve(p, reduce="never")
    assert full.path == "full" and full.status == "converged"
    assert red.objective == pytest.approx(full.objective, rel=1e-12, abs=1e-15)
    # The lifted point, certified in the full dimension (convex losses, λ_b > 0 or no bias; d ≥ K, where the
    # rank of WH is not constrained and the nuclear-norm relaxation is tight, or a frozen W).
    cert = ufm.theory.certificate(p, red.W, red.H, red.b)
    if cert.gap_bound is not None and (d >= K or kw.get("fixed_w")):
        assert cert.gap_bound <= 1e-9 * max(red.objective, 1.0)
    if expect is not None:  # the lifted features of a class are equal: within-class variability is rounding
        assert float(ufm.metrics.nc1(red.H, K=K)) < 1e-28


def test_shapes_differing_in_n_and_in_d_at_least_K_share_one_compiled_program():
    ufm.clear_caches()
    first = ufm.solve(ufm.Problem(loss="ce", K=4, n=3, d=6))  # compiled, or read back from a persistent cache
    assert first.path == "reduced"
    with ufm.compilations() as c:
        for n, d in ((10, 4), (50, 32), (1, 5), (200, 128)):
            sol = ufm.solve(ufm.Problem(loss="ce", K=4, n=n, d=d, lam_h=1e-3 * n ** -0.5))
            assert sol.path == "reduced" and sol.compile_seconds == 0.0, (n, d)
    assert not any("ufm_" in name for name in c.by_name), c.by_name  # no solve and no second-order program
    with ufm.compilations() as c:
        ufm.solve(ufm.Problem(loss="ce", K=4, n=3, d=6), method="lbfgs")  # another method: its own program
    assert c.by_name.get("jit(ufm_solve)", [0])[0] + c.loaded >= 1
    with ufm.compilations() as c:  # d < K, or no bias: the programs of K = 4, the extra numbers masked
        for p in (ufm.Problem(loss="ce", K=4, n=3, d=2), ufm.Problem(loss="ls", delta=0.2, K=4, n=3, d=3, bias=False)):
            assert ufm.solve(p).compile_seconds == 0.0 and ufm.solve(p).converged
    assert not any("ufm_" in name for name in c.by_name), c.by_name


def test_auto_solves_in_full_where_the_reduction_is_not_exact_for_local_minima():
    fl = ufm.Problem(loss="fl", gamma=3.0, K=3, n=4, d=5)
    assert ufm.reduction(fl).reduced is None and "not convex in the logits" in ufm.reduction(fl).reason
    assert ufm.solve(fl).path == "full"
    assert ufm.solve(fl, reduce="always").path == "reduced"  # asked for: the global-minimum value only
    p = ufm.Problem(K=3, n=4, d=5)
    start = ufm.solve(p, reduce="never")
    assert ufm.solve(p, init=start.params).path == "full"  # a start point's features need not be class means
    assert ufm.reduction(ufm.Problem(K=3, n=1, d=2)).reason.startswith("nothing to reduce")
    with pytest.raises(ufm.ParameterError, match="reduce"):
        ufm.solve(p, reduce="yes")
    with pytest.raises(ufm.ParameterError, match="start point"):
        ufm.solve(p, reduce="always", init=start.params)


def test_batches_reduce_and_lift_every_member():
    probs = [ufm.Problem(loss="ls", K=3, n=6, d=8, delta=dl) for dl in (0.0, 0.2, 0.5)]
    batch = ufm.solve_batch(probs, seeds=[0, 1, 2])
    assert batch.path == "reduced" and batch.W.shape == (3, 3, 8) and batch.H.shape == (3, 8, 18)
    for i, p in enumerate(probs):
        one = ufm.solve(p, seed=i)
        assert batch[i].objective == pytest.approx(one.objective, rel=1e-12)
        assert batch[i].reduced == ufm.reduced_problem(p) and batch[i].problem == p
        assert batch[i].grad_norm == pytest.approx(_full_gradient(p, batch[i]), rel=1e-6, abs=1e-15)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(K=st.integers(2, 5), n=st.integers(1, 6), extra=st.integers(0, 6),
       loss=st.sampled_from(["mse", "ce", "ls"]), lw=st.floats(-5, -1), lh=st.floats(-5, -1),
       lb=st.sampled_from([0.0, 1e-3, 1e-1]), bias=st.booleans())
def test_random_problems_reduced_and_full_agree(K, n, extra, loss, lw, lh, lb, bias):
    """Random problems with d ≥ K − 1 (benign for these losses): reduced and full solves reach one value, and
    the lift is critical in the full problem. Tolerance 1e-11 relative: two independent converged solves.
    (d = K − 2 is not benign: at K = 5, d = 3, CE, the class-mean solve ended at 0.077164, the full one at
    0.077107, both converged.) λ down to 1e-5 each: the default budget of `auto` must suffice there."""
    p = ufm.Problem(loss=loss, K=K, n=n, d=max(1, K - 1 + extra), lam_w=10**lw, lam_h=10**lh, lam_b=lb, bias=bias,
                    delta=0.1 if loss == "ls" else 0.0)
    red, full = ufm.solve(p), ufm.solve(p, reduce="never")
    # "stalled": Newton at float64's floor (tiny λ's); the values still agree.
    assert red.status in ("converged", "stalled") and full.status in ("converged", "stalled")
    assert red.objective == pytest.approx(full.objective, rel=1e-11, abs=1e-14)
    assert _full_gradient(p, red) <= 1e-10 * max(abs(red.objective), 1e-300) + 1e-15


@pytest.mark.parametrize("K, n, d, loss, lw, lh, lb, bias", [
    (2, 1, 1, "ce", 1e-2, 1e-5, 0.0, True),    # Newton's exact step raised f by its rounding and was refused
    (2, 1, 7, "ce", 1e-5, 1e-5, 0.1, True),    # f = 1.3e-4 from logits of size ~6: f rounds at 3e-12 relative
    (2, 6, 1, "mse", 1e-5, 1e-5, 0.0, False),  # a flat valley with −1e-9 curvature: the ratio test must decide
    (3, 6, 9, "mse", 1e-5, 1e-5, 0.0, False),  # Auto's Newton phase needs > 100 steps here
    (5, 1, 4, "mse", 1e-5, 1e-5, 0.0, True),
])
def test_tiny_lambda_edges_reduced_and_full_agree(K, n, d, loss, lw, lh, lb, bias):
    """Edges the random draw above found (λ down to 1e-5): both paths end converged, or stalled at float64's
    floor, at one value (1e-11 relative: two independent solves) with the lift critical in the full problem."""
    p = ufm.Problem(loss=loss, K=K, n=n, d=d, lam_w=lw, lam_h=lh, lam_b=lb, bias=bias)
    red, full = ufm.solve(p), ufm.solve(p, reduce="never")
    for s in (red, full):
        assert s.status in ("converged", "stalled") and s.rel_grad_norm <= 1e-10, (s.status, s.rel_grad_norm)
    assert red.objective == pytest.approx(full.objective, rel=1e-11)
    assert _full_gradient(p, red) <= 1e-10 * abs(red.objective)


@pytest.mark.parametrize("n", [3, (1, 2, 4)], ids=["balanced", "imbalanced"])
@pytest.mark.parametrize("depth", [1, 2])
def test_a_reduced_solution_builds_its_features_only_when_read(n, depth):
    """A reduced solve's H (d, N) is its class means repeated: `Solution.class_means` gives the means without
    building H, H is built on first read (then kept), a batch member's H is the batch's row, and both equal the
    lift written out with np.repeat and zero rows (exactly: the same numbers copied)."""
    kw = dict(depth=depth, activation="linear") if depth > 1 else {}
    probs = [ufm.Problem(K=3, n=n, d=7, lam_w=lw, lam_h=2e-3, **kw) for lw in (1e-3, 5e-3)]
    batch = ufm.solve_batch(probs, seeds=[0, 1])
    assert batch.path == "reduced"
    means = batch.class_means
    assert means.shape == (2, 7, 3)
    red = ufm.solve_batch([ufm.reduced_problem(p) for p in probs], seeds=[0, 1])  # the class-mean solves
    dr = red.H.shape[1]
    assert np.array_equal(means[:, :dr], red.H) and not means[:, dr:].any()
    member = batch[1]
    assert np.array_equal(member.class_means, means[1])
    want = np.repeat(means[1], probs[1].counts, axis=1)
    assert member.H is member.H and np.array_equal(member.H, want)  # built once, kept
    assert np.array_equal(batch.H[1], want) and batch.H.shape == (2, 7, probs[1].N)
    full = ufm.solve(probs[0], reduce="never")  # features not built from means: the mean of each class
    with ufm.float64():
        assert np.array_equal(full.class_means, np.asarray(ufm.metrics.class_means(full.H, probs[0].labels)[0]))


@pytest.mark.parametrize("kw", [dict(loss="ce"), dict(loss="mse", bias=False), dict(loss="ls", delta=0.2, n=(2, 3, 5))],
                         ids=["ce", "mse-nobias", "ls-imbalanced"])
def test_a_reduced_solution_embeds_exactly_as_the_solve_at_another_d(kw):
    """Problems that differ only in d ≥ K have one class-mean form: `Solution.embed` of the solve at one d is,
    field by field, the solve at another (same seed): the same program from the same start, lifted (exact
    equality; seconds are 0: nothing ran)."""
    import dataclasses

    p = ufm.Problem(**{**dict(K=3, n=4, d=3, lam_w=2e-3, lam_h=1e-3), **kw})
    src = ufm.solve(p, seed=5)
    for d in (4, 11):
        q = p.replace(d=d)
        got, want = src.embed(q), ufm.solve(q, seed=5)
        assert got.seconds == 0.0 == got.compile_seconds
        for f in dataclasses.fields(ufm.Solution):
            if f.name in ("seconds", "compile_seconds"):
                continue
            a, b = getattr(got, f.name), getattr(want, f.name)
            assert np.array_equal(a, b) if isinstance(a, np.ndarray) else a == b, f.name
        assert got.embed(p).W.shape == (3, 3)  # and back
        built = ufm.solve(p, seed=5)
        assert built.H.shape == (3, p.N)  # H read first: the means are its columns, still exact
        assert np.array_equal(built.embed(q).H, want.H) and np.array_equal(built.class_means, src.class_means)
    with pytest.raises(ValueError, match="class-mean form is not this solution's"):
        src.embed(p.replace(d=2))  # d < K: another class-mean problem
    with pytest.raises(ValueError, match="class-mean form is not this solution's"):
        src.embed(p.replace(lam_w=3e-3))
    with pytest.raises(ValueError, match="solved in full"):
        ufm.solve(p, reduce="never").embed(p.replace(d=5))
    with pytest.raises(TypeError, match="batch"):
        ufm.solve_batch([p, p]).embed(p)


@pytest.mark.parametrize("n", [3, (1, 2, 4, 2)], ids=["balanced", "imbalanced"])
@pytest.mark.parametrize("lead", [(), (2,)], ids=["single", "batch"])
def test_lift_writes_the_means_into_zeros_exactly_as_repeating_them(n, lead):
    """`ufm.lift` fills only the reduced rows of zeros: the same arrays, bit for bit, as zero-padding d and
    repeating each class mean n_k times (class-major)."""
    p = ufm.Problem(K=4, n=n, d=7)
    rng = np.random.default_rng(0)
    W, H, b = rng.normal(size=lead + (4, 4)), rng.normal(size=lead + (4, 4)), rng.normal(size=lead + (4,))
    Wl, Hl, bl = ufm.lift(p, W, H, b)
    pad = [(0, 0)] * len(lead)
    assert np.array_equal(Wl, np.pad(W, pad + [(0, 0), (0, 3)]))
    assert np.array_equal(Hl, np.repeat(np.pad(H, pad + [(0, 3), (0, 0)]), p.counts, axis=-1))
    assert np.array_equal(bl, b) and Hl.shape == lead + (7, p.N)
