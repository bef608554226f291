"""Every solver against the independent vanilla/rescaled-MSE optimum (value route of Zhou et al. 2022, arXiv 2203.01238, Thm B.1), the Newton
polish to 1e-12, batching, divergence and bad input."""

import numpy as np
import pytest

import ufm
from ufm import _executables
from mse_reference import mse_optimum

FIRST_ORDER_TOL = 1e-10  # relative gradient; objective gap ≈ ‖∇f‖²/μ stays far below 1e-10 relative
METHODS = {
    "auto": dict(method="auto"),  # these problems are small: Newton from the start (Auto.small)
    "auto-two-phase": dict(method=ufm.Auto(small=0)),  # L-BFGS, then Newton, whatever the size
    "lbfgs": dict(method="lbfgs"),
    "newton": dict(method="newton"),
    "gd": dict(method=ufm.GD(lr=0.5), tol=FIRST_ORDER_TOL, max_steps=20000),
    "sgd": dict(method=ufm.SGD(lr=0.5, momentum=0.9), tol=FIRST_ORDER_TOL, max_steps=20000),
    "adam": dict(method=ufm.Adam(lr=1e-2, schedule="cosine"), tol=FIRST_ORDER_TOL, max_steps=20000),
}
# (d, λ_W = λ_H, λ_b, bias, M) for K = 4, n = 5: x = sqrt(KN λ_W λ_H) = 0.089 except the zero case (1.79).
REGIMES = {
    "d>K,lam_b-small": (6, 1e-2, 1e-2, True, 1.0),
    "d>K,lam_b-large": (6, 1e-2, 1.0, True, 1.0),
    "d=K": (4, 1e-2, 1e-2, True, 1.0),
    "d=K-1": (3, 1e-2, 1e-2, True, 1.0),
    "d<K-1": (2, 1e-2, 0.5, True, 1.0),
    "zero-solution": (6, 0.2, 1e-2, True, 1.0),
    "no-bias": (6, 1e-2, 0.0, False, 1.0),
    "rescaled-M2": (6, 1e-2, 1e-2, True, 2.0),
}


@pytest.mark.parametrize("regime", REGIMES)
@pytest.mark.parametrize("name", METHODS)
def test_every_solver_reaches_mse_optimum(name, regime):
    d, lam, lam_b, bias, M = REGIMES[regime]
    p = ufm.Problem(K=4, n=5, d=d, loss="mse", lam_w=lam, lam_h=lam, lam_b=lam_b, bias=bias, M=M)
    f_star, b_star = mse_optimum(4, 5, d, lam, lam, lam_b, M=M, bias=bias)
    sol = ufm.solve(p, **METHODS[name])
    assert sol.status == "converged", (sol.status, sol.steps, sol.rel_grad_norm)
    # The bar: relative 1e-10 in float64.
    assert abs(sol.objective - f_star) <= 1e-10 * f_star
    # b* to the accuracy the objective pins it down (f is quadratic in b: |Δb| ~ sqrt(Δf)).
    np.testing.assert_allclose(sol.b, b_star, atol=1e-5)


@pytest.mark.parametrize(
    "kw",
    [dict(loss="ce"), dict(loss="ls", delta=0.2), dict(loss="fl", gamma=3.0), dict(loss="mse", alpha=2.0),
     dict(loss="ce", fixed_w="etf"), dict(loss="ls", delta=0.5, bias=False)],
    ids=["ce", "ls", "fl3", "mse-alpha2", "ce-etf", "ls-nobias"],
)
def test_newton_polishes_to_1e_12(kw):
    p = ufm.Problem(K=5, n=4, d=7, lam_w=1e-3, lam_h=2e-3, lam_b=1e-2, **kw)
    rough = ufm.solve(p, method="lbfgs", tol=1e-5)
    polished = ufm.solve(p, method="newton", init=rough.params)
    assert polished.status == "converged" and polished.rel_grad_norm <= 1e-12
    assert polished.objective <= rough.objective
    auto = ufm.solve(p)
    assert auto.status == "converged" and auto.rel_grad_norm <= 1e-12
    # Both reach the same global value (benign landscape, d > K); rounding of f ~ 1e-16.
    np.testing.assert_allclose(auto.objective, polished.objective, rtol=1e-12)


@pytest.mark.parametrize("execution", ["vmap", "map"])
def test_solve_batch_equals_loop(execution):
    base = ufm.Problem(K=4, n=3, d=5, loss="ls", lam_b=1e-2)
    problems = [
        base.replace(lam_w=1e-3, lam_h=1e-3, delta=0.0),
        base.replace(lam_w=5e-3, lam_h=1e-3, delta=0.1),
        base.replace(lam_w=1e-2, lam_h=2e-2, delta=0.4, lam_b=0.0),
        base.replace(lam_w=0.3, lam_h=0.3, delta=0.2),  # collapses to zero
    ]
    seeds = [0, 1, 2, 3]
    batch = ufm.solve_batch(problems, seeds=seeds, execution=execution)
    assert len(batch) == 4 and batch.W.shape == (4, 4, 5)
    for i, (p, s) in enumerate(zip(problems, seeds)):
        single = ufm.solve(p, seed=s)
        one = batch[i]
        assert one.status == single.status == "converged"
        # vmap may reassociate sums: agreement to rounding of f, not bit-for-bit.
        np.testing.assert_allclose(one.objective, single.objective, rtol=1e-12)
        np.testing.assert_allclose(one.W @ one.W.T, single.W @ single.W.T, rtol=1e-7, atol=1e-9)
        np.testing.assert_allclose(one.b, single.b, atol=1e-8)
        assert one.history[0, 0] == 0 and one.history[-1, 0] == one.steps


def test_solve_batch_rejects_mixed_shapes():
    with pytest.raises(ValueError, match="static field"):
        ufm.solve_batch([ufm.Problem(d=5), ufm.Problem(d=6)])
    with pytest.raises(ValueError, match="seeds"):
        ufm.solve_batch([ufm.Problem(), ufm.Problem()], seeds=[1, 2, 3])
    with pytest.raises(ValueError, match="execution"):
        ufm.solve_batch([ufm.Problem()], execution="pmap")


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_too_large_learning_rate_diverges_without_nan(loss):
    p = ufm.Problem(K=4, n=5, d=6, loss=loss, lam_w=1e-2, lam_h=1e-2)
    sol = ufm.solve(p, method=ufm.GD(lr=200.0), max_steps=5000, init_scale=1.0)
    assert sol.status == "diverged" and not sol.converged
    for a in (sol.W, sol.H, sol.b, sol.history):
        assert np.all(np.isfinite(a))
    assert np.isfinite(sol.objective) and np.isfinite(sol.grad_norm)


def test_history_and_reproducibility():
    p = ufm.Problem(K=3, n=4, d=4, loss="ce", lam_w=1e-2, lam_h=1e-2)
    a = ufm.solve(p, method=ufm.GD(lr=1.0), max_steps=300, tol=0.0, history_every=50)
    assert a.status == "max_steps" and a.steps == 300
    np.testing.assert_array_equal(a.history[:, 0], [0, 50, 100, 150, 200, 250, 300])
    assert np.all(np.diff(a.history[:, 1]) < 0)  # GD with a small step decreases f
    b = ufm.solve(p, method=ufm.GD(lr=1.0), max_steps=300, tol=0.0, history_every=50)
    np.testing.assert_array_equal(a.W, b.W)
    c = ufm.solve(p, method=ufm.GD(lr=1.0), max_steps=300, tol=0.0, seed=1, history_every=50)
    assert not np.array_equal(a.W, c.W)


def test_float32_solve():
    p = ufm.Problem(K=4, n=5, d=6, loss="mse", lam_w=1e-2, lam_h=1e-2, dtype="float32")
    sol = ufm.solve(p)
    f_star, _ = mse_optimum(4, 5, 6, 1e-2, 1e-2, 1e-2)
    assert sol.W.dtype == np.float32 and sol.status in ("converged", "stalled")
    assert abs(sol.objective - f_star) <= 1e-5 * f_star  # float32 rounding of f


def test_fixed_etf_keeps_w_and_collapses_h():
    p = ufm.Problem(K=4, n=3, d=3, loss="ce", fixed_w="etf", etf_norm=2.0, lam_h=1e-3)
    sol = ufm.solve(p)
    np.testing.assert_array_equal(sol.W, ufm.simplex_etf(4, 3, 2.0))
    m = ufm.metrics.all(sol.W, sol.H, sol.b)
    assert sol.converged and m["nc1"] < 1e-20 and m["self_duality"] < 1e-10


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(method="bfgs"), "method"),
        (dict(tol=-1.0), "tol"),
        (dict(max_steps=0), "max_steps"),
        (dict(seed=-1), "seed"),
        (dict(init_scale=-0.1), "init_scale"),
        (dict(init=(np.zeros((3, 3)), np.zeros((3, 6)), np.zeros(3))), "init W"),
        (dict(history_every=0), "history_every"),
    ],
)
def test_bad_solve_arguments_name_the_parameter(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ufm.solve(ufm.Problem(K=3, n=2, d=4), **kwargs)


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ufm.GD(lr=0), "GD.lr"),
        (lambda: ufm.GD(schedule="linear"), "GD.schedule"),
        (lambda: ufm.SGD(momentum=1.0), "SGD.momentum"),
        (lambda: ufm.Adam(b2=1.5), "Adam.b2"),
        (lambda: ufm.LBFGS(memory=0), "LBFGS.memory"),
        (lambda: ufm.Newton(cg_steps=0), "Newton.cg_steps"),
        (lambda: ufm.Auto(switch=2.0), "Auto.switch"),
        (lambda: ufm.Auto(small=-1), "Auto.small"),
    ],
)
def test_bad_solver_settings_name_the_field(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_auto_phase_choice_is_by_dtype_and_optional_size_bound():
    """Auto's phase choice is static (dtype, and size where `small` is set): float64 runs Newton from the start
    at any size by default — the same minimum as both phases (1e-12: two converged float64 solves) — while
    float32, or a size above `small`, keeps L-BFGS first."""
    auto = ufm.Auto()
    small = (np.zeros((4, 6)), np.zeros((6, 20)), np.zeros(4))
    large = (np.zeros((10, 64)), np.zeros((64, 500)), np.zeros(10))
    assert auto.newton_only(small) and auto.newton_only(large) and len(auto.phases(large)) == 1
    assert not ufm.Auto(small=0).newton_only(small) and len(ufm.Auto(small=0).phases(small)) == 2
    assert ufm.Auto(small=200).newton_only(small) and not ufm.Auto(small=200).newton_only(large)
    assert not auto.newton_only(tuple(a.astype(np.float32) for a in small))
    p = ufm.Problem(K=4, n=5, d=6, loss="ce", lam_w=1e-2, lam_h=1e-2, lam_b=1e-2)
    one, two = ufm.solve(p, reduce="never"), ufm.solve(p, method=ufm.Auto(small=0), reduce="never")
    assert one.status == two.status == "converged"
    assert one.objective == pytest.approx(two.objective, rel=1e-12)


def test_auto_phases_are_lbfgs_then_newton_from_its_end_point():
    """The phases run in turn: Auto(small=0, lbfgs_steps=3) is 3 L-BFGS steps, then Newton from that point
    with the rest of the budget — the same iterates as the two solves done by hand (L-BFGS with max_steps=3,
    then Newton from its end; the tolerance's scale min(|f|, |f(x0)|) is |f| in both as f decreases), so the
    same objective to rounding (1e-13: identical arithmetic up to the loop boundaries) and steps summing up."""
    p = ufm.Problem(K=3, n=4, d=5, loss="ce", lam_w=1e-2, lam_h=1e-2, lam_b=1e-2)
    auto = ufm.Auto(small=0, lbfgs_steps=3, switch=1e-9)
    both = ufm.solve(p, method=auto, reduce="never", second_order=False)
    first = ufm.solve(p, method=auto.lbfgs, max_steps=3, reduce="never", second_order=False)
    assert first.steps == 3 and first.status == "max_steps"
    then = ufm.solve(p, method=auto.newton, init=(first.W, first.H, first.b), reduce="never", second_order=False)
    assert both.status == then.status == "converged"
    assert both.steps == 3 + then.steps
    assert both.objective == pytest.approx(then.objective, rel=1e-13)


def test_auto_peak_memory_is_the_larger_phase_not_the_sum():
    """Two loops run in turn: XLA's buffers of the float32 two-phase solve are within 5 % of the larger phase's
    own solve (L-BFGS) and well below the sum of the two (one loop holding both states measured 36× the
    parameters, with 10 pairs, against L-BFGS's 32× and Newton's 10×: 1.12× the larger phase)."""
    p = ufm.Problem(K=10, n=10, d=32, loss="ce", dtype="float32")
    auto = ufm.Auto()
    mem = {name: ufm.solve_memory(p, method=m, max_steps=20)["total"]
           for name, m in (("auto", auto), ("lbfgs", auto.lbfgs), ("newton", auto.newton))}
    assert mem["auto"] <= 1.05 * max(mem["lbfgs"], mem["newton"])
    assert mem["auto"] < 0.8 * (mem["lbfgs"] + mem["newton"])


# ----------------------------------------------------------------------------- buckets and planned compiles


class _OwnProgram(ufm.Newton):
    """Newton-CG under another type: a solver `ufm._program.bucket` does not know, so it gets a program per layout."""


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_class_mean_shapes_share_the_program_of_their_K_and_solve_the_same(loss):
    """d < K and no bias run in the (d = K, bias) program with the extra numbers masked: no compile for the second
    shape, and the same end point as the program of the shape's own (tolerance: the padded sums reassociate)."""
    with ufm.float64():
        first = ufm.solve(ufm.Problem(K=5, n=2, d=5, loss=loss, lam_w=3e-3, lam_h=2e-3), method="newton",
                          second_order=False)
        assert first.path == "reduced"
        for d, bias in ((2, True), (3, False), (5, False), (9, False)):
            p = ufm.Problem(K=5, n=3, d=d, loss=loss, bias=bias, lam_w=3e-3, lam_h=2e-3)
            with ufm.compilations() as c:
                s = ufm.solve(p, method="newton", second_order=False)
            assert s.compile_seconds == 0 and c.by_name.get("jit(ufm_solve)") is None, (d, bias)
            own = ufm.solve(p, method=_OwnProgram(), second_order=False)
            if d <= 5:  # a program of its own (d = 9 reduces to d = 5 and finds it): not compared with itself
                assert own.compile_seconds > 0
            assert s.status == own.status == "converged"
            assert s.W.shape == (5, d) and s.H.shape == (d, 15) and (bias or not np.any(s.b))
            assert abs(s.objective - own.objective) <= 1e-12 * abs(own.objective)
            assert np.allclose(s.W @ s.H, own.W @ own.H, atol=1e-8)


def test_prepare_compiles_the_plan_once_and_the_solves_find_it(monkeypatch):
    monkeypatch.setattr(_executables, "programs_dir", lambda: None)  # compiled here, not read back: counted
    ps = [ufm.Problem(K=3, n=2, d=d, loss=loss, lam_w=1e-2, lam_h=1e-2) for d in (2, 4) for loss in ("mse", "ce")]
    ps.append(ufm.Problem(K=3, n=2, d=4, loss="fl", gamma=2.0, lam_w=1e-2, lam_h=1e-2))  # solved in full
    ufm.clear_caches()
    count, seconds = ufm.prepare(ps, method="newton", max_steps=50, workers=2)
    # mse and softmax programs of K = 3 (every d shares it), FL's full program, a probe program per layout
    assert count >= 3 and seconds > 0
    with ufm.compilations() as c:
        for p in ps:
            s = ufm.solve_batch([p, p.replace(lam_w=2e-2)], method="newton", max_steps=50)
            assert s.compile_seconds == 0 and np.all(np.isfinite(s.objective))
    assert c.by_name.get("jit(ufm_solve)") is None and c.by_name.get("jit(ufm_curvature)") is None
    assert ufm.prepare(ps, method="newton", max_steps=50) == (0, pytest.approx(0.0, abs=1.0))
    # vmap: one program per batch size, as solve_batch(execution="vmap") compiles it
    group = [ps[0], ps[0].replace(lam_w=3e-2), ps[0].replace(lam_h=3e-2)]
    assert ufm.prepare(group, method="newton", max_steps=50, execution="vmap", second_order=False)[0] == 1
    s = ufm.solve_batch(group, method="newton", max_steps=50, execution="vmap", second_order=False)
    assert s.compile_seconds == 0 and np.all(np.isfinite(s.objective))


def test_prepare_checks_its_arguments():
    p = ufm.Problem(K=3, n=2, d=3)
    with pytest.raises(ufm.ParameterError, match="workers"):
        ufm.prepare([p], workers=0)
    with pytest.raises(ufm.ParameterError, match="execution"):
        ufm.prepare([p], execution="threads")
    with pytest.raises(TypeError, match=r"problems\[0\]"):
        ufm.prepare(["K=3"])
