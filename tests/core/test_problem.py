"""Problem validation names the field and its range; the simplex ETF has its defining Gram."""

import numpy as np
import pytest

import ufm

BAD = [
    (dict(K=1), "Problem.K"),
    (dict(K=2.5), "Problem.K"),
    (dict(n=0), "Problem.n"),
    (dict(d=0), "Problem.d"),
    (dict(loss="hinge"), "Problem.loss"),
    (dict(lam_w=0.0), "Problem.lam_w"),
    (dict(lam_h=-1e-3), "Problem.lam_h"),
    (dict(lam_b=-1.0), "Problem.lam_b"),
    (dict(lam_w=float("nan")), "Problem.lam_w"),
    (dict(lam_h="0.1"), "Problem.lam_h"),
    (dict(delta=1.0), "Problem.delta"),
    (dict(delta=-0.1), "Problem.delta"),
    (dict(gamma=-1.0), "Problem.gamma"),
    (dict(alpha=0.0), "Problem.alpha"),
    (dict(M=-2.0), "Problem.M"),
    (dict(bias="yes"), "Problem.bias"),
    (dict(fixed_w="random"), "Problem.fixed_w"),
    (dict(fixed_w="etf", K=10, d=5), "Problem.d"),
    (dict(etf_norm=0.0), "Problem.etf_norm"),
    (dict(dtype="float16"), "Problem.dtype"),
]


@pytest.mark.parametrize("kwargs, field", BAD, ids=[f"{f}-{i}" for i, (_, f) in enumerate(BAD)])
def test_bad_field_raises_naming_it(kwargs, field):
    with pytest.raises(ValueError, match=field.replace(".", r"\.") + " must be"):
        ufm.Problem(**kwargs)


def test_problem_is_frozen_hashable_and_normalised():
    p = ufm.Problem(K=np.int64(3), lam_w=np.float32(0.5))
    assert type(p.K) is int and type(p.lam_w) is float
    assert hash(p) == hash(ufm.Problem(K=3, lam_w=0.5))
    with pytest.raises(Exception):
        p.K = 4
    assert p.N == 3 * p.n and p.labels.tolist() == sorted(p.labels.tolist())
    assert p.replace(d=3).d == 3


@pytest.mark.parametrize("K, d", [(2, 1), (4, 3), (5, 9)])
def test_simplex_etf(K, d):
    W = ufm.simplex_etf(K, d, norm=1.5)
    G = W @ W.T
    # ‖w^k‖ = 1.5, ⟨w^k, w^l⟩ = −1.5²/(K−1): W Wᵀ = 1.5²·K/(K−1)·Π.
    np.testing.assert_allclose(G, 1.5**2 * K / (K - 1) * (np.eye(K) - 1 / K), atol=1e-14)
    with pytest.raises(ValueError, match="≥ K−1"):
        ufm.simplex_etf(K, K - 2)
