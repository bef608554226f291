"""The open solver protocol: each solver on its own through `ufm.minimize` (a strongly convex quadratic and a
logistic regression, against scipy), and a solver written here, outside ufm, through `solve`, `solve_batch`
and `trajectory`."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from scipy.optimize import minimize as scipy_minimize

import ufm
from ufm import theory

SOLVERS = {
    "gd": ufm.GD(lr=0.05),
    "sgd": ufm.SGD(lr=0.02, momentum=0.9),
    "adam": ufm.Adam(lr=0.05, schedule="cosine"),
    "lbfgs": ufm.LBFGS(),
    "newton": ufm.Newton(),
    "auto": ufm.Auto(),
}


def _quadratic(seed=0, m=12):
    """f(x) = ½ xᵀAx − bᵀx with A ≻ 0 (eigenvalues in [1, 10]); x* = A⁻¹b."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    A = Q @ np.diag(np.linspace(1.0, 10.0, m)) @ Q.T
    b = rng.standard_normal(m)
    return A, b, np.linalg.solve(A, b)


def _logistic(seed=0, n=80, m=5, lam=1e-2):
    """ℓ2-regularised logistic regression on separable-ish data: strictly convex, no closed form."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, m))
    y = np.where(X @ rng.standard_normal(m) + 0.3 * rng.standard_normal(n) > 0, 1.0, -1.0)

    def f_np(w):
        return float(np.mean(np.logaddexp(0.0, -y * (X @ w))) + 0.5 * lam * w @ w)

    def grad_np(w):
        s = -y / (1.0 + np.exp(y * (X @ w)))
        return X.T @ s / n + lam * w

    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def f(w):
        return jnp.mean(jnp.logaddexp(0.0, -yj * (Xj @ w))) + 0.5 * lam * w @ w

    ref = scipy_minimize(f_np, np.zeros(m), jac=grad_np, method="BFGS", options={"gtol": 1e-13, "maxiter": 10000})
    return f, ref


@pytest.mark.parametrize("name", SOLVERS)
def test_each_solver_minimises_a_strongly_convex_quadratic(name):
    A, b, x_star = _quadratic()
    with ufm.float64():
        Aj, bj = jnp.asarray(A), jnp.asarray(b)
        # Start away from 0: the tolerance is relative to min(|f|, |f(x0)|), and f(0) = 0 here.
        r = ufm.minimize(lambda x: 0.5 * x @ Aj @ x - bj @ x, jnp.ones(12), SOLVERS[name], tol=1e-11,
                         max_steps=20000)
    assert r.status == "converged", (r.status, r.steps)
    # κ(A) = 10: ‖x − x*‖ ≤ ‖∇f‖/λ_min(A) = ‖∇f‖ ≤ 1e-11·|f| ≈ 1e-11.
    np.testing.assert_allclose(np.asarray(r.x), x_star, atol=1e-9)


@pytest.mark.parametrize("name", SOLVERS)
def test_each_solver_matches_scipy_on_logistic_regression(name):
    with ufm.float64():
        f, ref = _logistic()
        r = ufm.minimize(f, jnp.zeros(5), SOLVERS[name], tol=1e-10, max_steps=20000)
    assert r.status == "converged", (r.status, r.steps)
    # Strong convexity λ = 1e-2: ‖w − w*‖ ≤ ‖∇f‖/λ ≲ 1e-10·f/1e-2 ≈ 1e-8, and scipy stops at gtol 1e-13.
    np.testing.assert_allclose(np.asarray(r.x), ref.x, atol=1e-7)
    assert abs(r.f - ref.fun) <= 1e-12 * abs(ref.fun)


def test_minimize_keeps_the_pytree_structure_and_reports_divergence():
    with ufm.float64():
        r = ufm.minimize(lambda p: jnp.sum((p["a"] - 1.0) ** 2) + jnp.sum(p["b"] ** 2),
                         {"a": jnp.zeros(3), "b": jnp.ones(2)}, "newton")
        assert r.status == "converged" and set(r.x) == {"a", "b"}
        np.testing.assert_allclose(np.asarray(r.x["a"]), 1.0, atol=1e-10)
        bad = ufm.minimize(lambda x: -jnp.exp(jnp.sum(x)), jnp.zeros(2), ufm.GD(lr=10.0), max_steps=1000)
    assert bad.status == "diverged" and np.isfinite(bad.f)


@dataclasses.dataclass(frozen=True)
class Momentum:
    """A solver written outside ufm: optax heavy-ball momentum, following the `ufm.Solver` protocol only."""

    lr: float = 0.5
    momentum: float = 0.9

    def init(self, fun, x, f, g, max_steps):
        return optax.sgd(self.lr, momentum=self.momentum).init(x)

    def step(self, fun, x, f, g, state, max_steps):
        updates, state = optax.sgd(self.lr, momentum=self.momentum).update(g, state, x)
        x = optax.apply_updates(x, updates)
        f, g = jax.value_and_grad(fun)(x)
        return x, f, g, state

    def terminate(self, fun, x, f, g, state, max_steps):
        return jnp.asarray(False), jnp.asarray(ufm.Status.RUNNING.code)


def test_a_user_solver_runs_through_solve_batch_and_trajectory():
    assert isinstance(Momentum(), ufm.Solver)
    p = ufm.Problem(K=4, n=5, d=6, loss="mse", lam_w=1e-2, lam_h=1e-2, lam_b=1e-2)
    f_star = theory.predict(p).objective
    sol = ufm.solve(p, method=Momentum(), tol=1e-10, max_steps=20000)
    assert sol.status == "converged" and sol.method == Momentum()
    # Closed form of the MSE UFM (Zhou et al. 2022, arXiv 2203.01238, Thm 3.1); gap ~ ‖∇f‖²/μ ≪ 1e-10.
    assert abs(sol.objective - f_star) <= 1e-10 * f_star
    batch = ufm.solve_batch([p, p.replace(lam_b=0.5)], method=Momentum(), tol=1e-10, max_steps=20000, seeds=[0, 1])
    assert list(batch.status) == ["converged", "converged"]
    for i, q in enumerate((p, p.replace(lam_b=0.5))):
        assert abs(batch[i].objective - theory.predict(q).objective) <= 1e-10 * theory.predict(q).objective
    tr = ufm.trajectory(p, Momentum(), steps=400, every=100)
    assert tr.status == "max_steps" and tr.objective.shape == (5,)
    assert tr.objective[-1] < tr.objective[0]
    np.testing.assert_allclose(tr.objective[-1], ufm.solve(p, Momentum(), tol=0.0, max_steps=400).objective,
                               rtol=1e-12)


def test_objects_without_the_protocol_are_refused_by_name():
    with pytest.raises(ufm.ParameterError, match=r"missing: step, terminate"):
        ufm.solve(ufm.Problem(K=2, n=1, d=2), method=object.__new__(type("Half", (), {"init": lambda *a: 0})))
    with pytest.raises(ufm.ParameterError, match=r"solve\.method must be one of auto"):
        ufm.solve(ufm.Problem(K=2, n=1, d=2), method="bfgs")


def test_status_is_an_enum_that_compares_as_text():
    s = ufm.solve(ufm.Problem(K=3, n=2, d=3))
    assert isinstance(s.status, ufm.Status) and s.status == "converged" and s.status is ufm.Status.CONVERGED
    assert [ufm.Status.from_code(st.code) for st in ufm.Status] == list(ufm.Status)
    assert ufm.dumps({"status": s.status}) == '{"status": "converged"}'


def test_parameter_errors_carry_the_parameter_value_and_range():
    with pytest.raises(ufm.ParameterError) as e:
        ufm.Problem(lam_w=-1.0)
    assert (e.value.owner, e.value.param, e.value.value, e.value.allowed) == ("Problem", "lam_w", -1.0, "> 0")
    assert isinstance(e.value, ValueError) and isinstance(e.value, ufm.UFMError)
    with pytest.raises(ufm.ParameterError) as e:
        ufm.solve(ufm.Problem(K=2, n=1, d=2), max_steps=2**31)
    assert e.value.param == "max_steps" and "2147483646" in e.value.allowed
