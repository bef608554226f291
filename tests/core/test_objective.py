"""Objective values against a direct numpy evaluation, gradients against finite differences, stability."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ufm

LOSSES = [
    dict(loss="ce"),
    dict(loss="ls", delta=0.3),
    dict(loss="fl", gamma=2.0),
    dict(loss="fl", gamma=0.5),
    dict(loss="mse"),
    dict(loss="mse", alpha=3.0, M=2.0),
]
IDS = ["ce", "ls0.3", "fl2", "fl0.5", "mse", "mse-a3-M2"]


def numpy_loss(Z, labels, p):
    """The losses of Zhou et al. 2022 (arXiv 2210.02192, eqs. 3–5) written out sample by sample, without any shared code."""
    out = []
    for i, k in enumerate(labels):
        z = Z[:, i]
        m = z.max()
        logp = z - m - np.log(np.sum(np.exp(z - m)))
        pk = np.exp(logp[k])
        if p.loss == "ce":
            out.append(-logp[k])
        elif p.loss == "ls":
            y = np.full(len(z), p.delta / len(z))
            y[k] += 1 - p.delta
            out.append(-np.sum(y * logp))
        elif p.loss == "fl":
            out.append(-((1 - pk) ** p.gamma) * logp[k])
        else:
            rest = np.sum(z**2) - z[k] ** 2
            out.append(0.5 * (p.alpha * (z[k] - p.M) ** 2 + rest))
    return np.array(out)


def numpy_f(p, W, H, b):
    b = b if p.bias else np.zeros_like(b)
    Z = W @ H + b[:, None]
    reg = 0.5 * (p.lam_w * np.sum(W**2) + p.lam_h * np.sum(H**2) + p.lam_b * np.sum(b**2))
    return np.mean(numpy_loss(Z, p.labels, p)) + reg


def point(p, seed=0, scale=0.7):
    rng = np.random.default_rng(seed)
    return ufm.Params(
        rng.standard_normal((p.K, p.d)) * scale, rng.standard_normal((p.d, p.N)) * scale, rng.standard_normal(p.K)
    )


@pytest.mark.parametrize("kw", LOSSES, ids=IDS)
@pytest.mark.parametrize("bias", [True, False])
def test_objective_equals_numpy(kw, bias):
    p = ufm.Problem(K=5, n=3, d=4, lam_w=0.03, lam_h=0.02, lam_b=0.1, bias=bias, **kw)
    W, H, b = point(p)
    obj = ufm.objective(p)
    # Same formula, different summation order: agreement to a few ulps of f ~ O(1).
    np.testing.assert_allclose(float(obj.f((W, H, b))), numpy_f(p, W, H, b), rtol=1e-13)
    Z = W @ H + (b[:, None] if bias else 0)
    np.testing.assert_allclose(np.asarray(obj.per_sample(Z)), numpy_loss(Z, p.labels, p), rtol=1e-13)
    np.testing.assert_allclose(float(obj.g(Z)), np.mean(numpy_loss(Z, p.labels, p)), rtol=1e-13)


@pytest.mark.parametrize("kw", LOSSES, ids=IDS)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("fixed_w", [None, "etf"])
def test_gradient_matches_finite_differences(kw, bias, fixed_w):
    p = ufm.Problem(K=4, n=2, d=5, lam_w=0.05, lam_h=0.02, lam_b=0.3, bias=bias, fixed_w=fixed_w, **kw)
    obj = ufm.objective(p)
    x = obj.pack(point(p, seed=1))
    g = np.asarray(obj.grad_x(x))
    rng = np.random.default_rng(2)
    for _ in range(3):
        v = rng.standard_normal(x.shape)
        h = 1e-5
        # Central differences: truncation O(h²·f''') ≈ 1e-10, rounding O(eps/h) ≈ 1e-11.
        fd = (float(obj.f_x(x + h * v)) - float(obj.f_x(x - h * v))) / (2 * h)
        np.testing.assert_allclose(g @ v, fd, rtol=1e-7, atol=1e-9)
    # Hessian-vector product against differences of gradients.
    v = rng.standard_normal(x.shape)
    h = 1e-5
    fd = (np.asarray(obj.grad_x(x + h * v)) - np.asarray(obj.grad_x(x - h * v))) / (2 * h)
    np.testing.assert_allclose(np.asarray(obj.hvp_x(x, v)), fd, rtol=1e-6, atol=1e-8)


def test_free_vector_layout():
    p = ufm.Problem(K=3, n=2, d=4, fixed_w="etf", bias=False, etf_norm=2.0)
    obj = ufm.objective(p)
    assert obj.layout.size == p.d * p.N
    W, H, b = point(p)
    W2, H2, b2 = obj.unpack(obj.pack((W, H, b)))
    np.testing.assert_array_equal(np.asarray(H2), H)
    np.testing.assert_array_equal(np.asarray(b2), 0.0)
    np.testing.assert_allclose(np.asarray(W2), ufm.simplex_etf(3, 4, 2.0))
    # Without bias, f ignores b: b ≡ 0 by definition (ufm.Problem).
    assert float(obj.f((W2, H, b))) == float(obj.f((W2, H, np.zeros(3))))


@pytest.mark.parametrize("kw", LOSSES[:4], ids=IDS[:4])
def test_stable_for_logits_of_magnitude_1e3(kw):
    p = ufm.Problem(K=3, n=1, d=3, **kw)
    obj = ufm.objective(p)
    # Columns are samples of classes 0, 1, 2.
    Z = jnp.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0], [0.0, 1000.0, -1000.0]])
    L = np.asarray(obj.per_sample(Z))
    G = np.asarray(jax.grad(obj.g)(Z))
    assert np.all(np.isfinite(L)) and np.all(np.isfinite(G))
    # Sample 0 is right by a margin of 1000: CE = log(1 + e^-1000 + e^-1000) rounds to 0.
    # Sample 1: true class 1 ties class 2 at 1000: CE = log 2 exactly in exact arithmetic.
    # Sample 2: true class 2 has −1000, others 0: CE = 1000 + log 2.
    # log-sum-exp at |z| = 1000 carries an absolute rounding of a few ulps of 1000 (≈ 1e-13).
    atol = 8 * 1000 * np.finfo(np.float64).eps
    if kw["loss"] == "ce":
        np.testing.assert_allclose(L, [0.0, np.log(2), 1000 + np.log(2)], rtol=0, atol=atol)
    if kw["loss"] == "fl":
        # (1 − p_k)^γ: 1 − p_k = 1/2 for sample 1, 1 for sample 2.
        np.testing.assert_allclose(L[1:], [0.5 ** kw["gamma"] * np.log(2), 1000 + np.log(2)], rtol=0, atol=atol)


def test_focal_zero_is_cross_entropy():
    rng = np.random.default_rng(3)
    Z = rng.standard_normal((6, 12)) * 5
    ce = ufm.objective(ufm.Problem(K=6, n=2, d=2, loss="ce"))
    fl = ufm.objective(ufm.Problem(K=6, n=2, d=2, loss="fl", gamma=0.0))
    np.testing.assert_allclose(np.asarray(fl.per_sample(Z)), np.asarray(ce.per_sample(Z)), rtol=1e-15)


def test_float32_problem_computes_in_float32():
    p = ufm.Problem(K=3, n=2, d=3, dtype="float32")
    obj = ufm.objective(p)
    x = obj.pack(point(p))
    assert x.dtype == jnp.float32 and obj.f_x(x).dtype == jnp.float32


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e3])
def test_softmax_family_is_ce_ls_and_fl(scale):
    """The solvers compute CE, LS(δ) and FL(γ) as one family (one compiled program per shape): it equals each
    loss's own formula at (δ, γ) = (0, 0), (δ, 0), (0, γ), values and gradients, for logits up to 1e3. Tolerance
    1e-12 relative (+1e-12 absolute for losses near 0): the same terms summed in another order."""
    from ufm import losses

    K, N = 5, 40
    rng = np.random.default_rng(0)
    Z = jnp.asarray(scale * rng.standard_normal((K, N)))
    Y = jnp.asarray(ufm.one_hot(rng.integers(0, K, N), K))
    with ufm.float64():
        for (delta, gamma), own in [((0.0, 0.0), lambda Z: losses.ce(Z, Y)),
                                    ((0.3, 0.0), lambda Z: losses.ls(Z, Y, 0.3)),
                                    ((0.0, 2.5), lambda Z: losses.fl(Z, Y, 2.5))]:
            fam = lambda Z: losses.softmax_family(Z, Y, delta, gamma)  # noqa: E731
            np.testing.assert_allclose(fam(Z), own(Z), rtol=1e-12, atol=1e-12)
            g_fam, g_own = (jax.grad(lambda Z: jnp.sum(f(Z)))(Z) for f in (fam, own))
            assert np.all(np.isfinite(g_fam))
            np.testing.assert_allclose(g_fam, g_own, rtol=1e-10, atol=1e-12)
