"""Hessian spectra: Guo et al. 2025, arXiv 2402.03979, App. E against dense autodiff Hessians; the block structure; Lanczos."""

import jax
import numpy as np
import pytest

from ufm import theory
import ufm


@pytest.mark.parametrize("loss, delta, d", [("ce", 0.0, 4), ("ls", 0.3, 4), ("ls", 0.1, 7), ("ce", 0.0, 6)])
def test_block_spectra_and_condition_number(loss, delta, d):
    p = ufm.Problem(K=4, n=3, d=d, loss=loss, delta=delta, lam_w=3e-3, lam_h=1e-3, lam_b=1e-2)
    sol = ufm.solve(p)  # the measured spectra are rotation invariant: use the solver's point
    ps = theory.predicted_spectra(p)
    sw = theory.spectrum_w(p, sol.W, sol.H, sol.b)
    sh = theory.spectrum_h(p, sol.W, sol.H, sol.b)
    assert [m for _, m in sw.clusters] == [m for _, m in ps.w]
    assert [m for _, m in sh.clusters] == [m for _, m in ps.h]
    # Values: the solve pins the minimizer to ~1e-12, eigenvalues follow to the same order.
    np.testing.assert_allclose([v for v, _ in sw.clusters], [v for v, _ in ps.w], rtol=1e-8, atol=1e-14)
    np.testing.assert_allclose([v for v, _ in sh.clusters], [v for v, _ in ps.h], rtol=1e-8, atol=1e-14)
    assert sw.condition == pytest.approx(ps.kappa, rel=1e-8)
    assert sh.condition == pytest.approx(ps.kappa, rel=1e-8)
    assert ps.kappa == pytest.approx(p.K * theory.predict(p).p_t)


def test_h_blocks_equal_dense_hessian():
    p = ufm.Problem(K=3, n=2, d=4, loss="fl", gamma=2.0)
    rng = np.random.default_rng(0)
    W, H, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 6)), rng.standard_normal(3)
    obj = ufm.objective(p)
    dense = np.asarray(jax.hessian(lambda h: obj.g(W @ h.reshape(4, 6) + b[:, None]))(H.ravel()))
    blocks = theory.hessian_h_blocks(p, W, H, b)
    # vec(H) row-major: entry (r, i) → r·N + i; block i couples rows r, s of column i.
    for i in range(6):
        idx = np.arange(4) * 6 + i
        np.testing.assert_allclose(blocks[i], dense[np.ix_(idx, idx)], rtol=1e-12, atol=1e-15)
    mask = np.ones_like(dense, bool)
    for i in range(6):
        idx = np.arange(4) * 6 + i
        mask[np.ix_(idx, idx)] = False
    assert np.abs(dense[mask]).max() < 1e-15


def test_full_hessian_zero_modes_are_rotations():
    p = ufm.Problem(K=4, n=3, d=6, loss="ls", delta=0.2, lam_w=2e-3, lam_h=1e-3)
    W, H, b = theory.minimizer(p)
    full = theory.spectrum_full(p, W, H, b)
    zeros = sum(m for v, m in full.clusters if v == 0.0)
    assert zeros == theory.rotation_zero_modes(p, rank=p.K - 1) == 15 - 3
    assert full.eigenvalues[0] > -1e-12  # a minimizer: no negative curvature


def test_lanczos_matches_dense():
    p = ufm.Problem(K=4, n=3, d=6, loss="ce", lam_w=2e-3, lam_h=1e-3)
    s = theory.origin(p)
    dense = theory.spectrum_full(p, *s.point).eigenvalues
    np.testing.assert_allclose(theory.extreme_eigenvalues(p, *s.point, k=2, which="SA"), dense[:2], rtol=1e-8)
    np.testing.assert_allclose(theory.extreme_eigenvalues(p, *s.point, k=1, which="LA"), dense[-1:], rtol=1e-8)


def test_clusters():
    assert theory.clusters([1e-18, -2e-18, 1.0, 1.0 + 1e-12, 2.0]) == [(0.0, 2), (1.0 + 5e-13, 2), (2.0, 1)]
    with pytest.raises(ValueError, match="CE/LS"):
        theory.predicted_spectra(ufm.Problem(loss="mse"))


def test_logit_hessian_eigenvalues_eq45():
    # D_k = diag(p̄_k) − p̄_k p̄_kᵀ at the minimizer has eigenvalues 0, p_n (K−2 times), K p_t p_n (Guo et al. 2025, arXiv 2402.03979, eq. 45).
    p = ufm.Problem(K=5, n=2, d=6, loss="ls", delta=0.3, lam_w=1e-3, lam_h=1e-3)
    pred = theory.predict(p)
    W, H, b = theory.minimizer(p)
    z = (W @ H + b[:, None])[:, 0]
    q = np.exp(z - z.max())
    q /= q.sum()
    ev = np.sort(np.linalg.eigvalsh(np.diag(q) - np.outer(q, q)))
    expected = np.sort([0.0] + [pred.p_n] * (p.K - 2) + [p.K * pred.p_t * pred.p_n])
    np.testing.assert_allclose(ev, expected, atol=1e-15)


def test_full_hessian_and_gradient_descent_rate_near_ce_and_ls_minimisers():
    """Guo et al. 2025 (arXiv 2402.03979) Thm 4.2's conclusion on the whole problem: at the closed-form minimiser
    the full regularised Hessian has the rotation orbit's zero modes and otherwise λ ≥ min(λ_W, λ_H); gradient
    descent's measured rate (η = 1/λ_max) is the Hessian's linear model of the run (rel 1e-3 on 1 − ρ, a 1e-4
    start is linear to that), and LS's κ_full exceeds CE's although its K·p_t is smaller."""
    out = {}
    for delta in (0.0, 0.3):
        p = ufm.Problem(K=4, n=2, d=5, loss="ls" if delta else "ce", delta=delta, lam_w=1e-3, lam_h=1e-3,
                        lam_b=1e-2)
        r = theory.local_rate(p)
        assert r.zero_modes == theory.rotation_zero_modes(p, p.K - 1)
        assert r.lambda_min == pytest.approx(1e-3, rel=1e-6)
        assert r.kappa_blocks == pytest.approx(theory.predict(p).kappa)
        assert abs(r.rate_measured - r.rate_model) <= 1e-3 * (1 - r.rate_model)
        assert r.rate_model <= r.rate_predicted + 1e-12  # a finite window is no slower than the asymptote
        out[delta] = r
    assert out[0.3].kappa_blocks < out[0.0].kappa_blocks and out[0.3].kappa_full > out[0.0].kappa_full


@pytest.mark.parametrize("loss, lam_b, extra", [("ce", 0.0, 1), ("ce", 1e-2, 0), ("mse", 0.0, 0)])
def test_zero_modes_count_the_softmax_shift_without_bias_decay(loss, lam_b, extra):
    """At the minimiser the dense Hessian's zero eigenvalues are the rotation orbit, plus one for CE with a bias
    and λ_b = 0 (b → b + c1 moves no softmax); MSE's bias is not shift-invariant. Rounding: |λ| ≤ 1e-9·λ_max."""
    p = ufm.Problem(K=3, n=1, d=4, loss=loss, lam_w=2e-2, lam_h=3e-2, lam_b=lam_b)
    ev = np.linalg.eigvalsh(theory.hessian_full(p, *theory.minimizer(p)))
    zeros = int(np.sum(np.abs(ev) <= 1e-9 * ev[-1]))
    assert zeros == theory.zero_modes(p, p.K - 1) == theory.rotation_zero_modes(p, p.K - 1) + extra
