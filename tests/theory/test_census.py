"""`ufm.theory.census` and `ufm census`: the critical points solves end at, classified by the full Hessian."""

from __future__ import annotations

import json

import numpy as np
import pytest

import ufm
import ufm.theory as theory
from ufm.cli import main


@pytest.mark.parametrize("kw", [dict(loss="ce", n=2), dict(loss="ce", n=(6, 6, 2, 2), K=4),
                                pytest.param(dict(loss="fl", gamma=5.0, n=1, K=5, d=6), marks=pytest.mark.slow)],
                         ids=["ce", "ce-imbalanced", "fl5"])
def test_census_finds_the_global_minimum_and_the_padded_strict_saddles(kw):
    kw = {"K": 3, "d": 4, "lam_w": 1e-2, "lam_h": 1e-2, **kw}
    p = ufm.Problem(**kw)
    c = theory.census(p, starts=10, seed=1)
    kinds = [pt.kind for pt in c.points]
    assert kinds[0] == "global minimum" and not c.spurious
    # f* from the closed form (balanced) or from a certified end point (imbalanced CE): the lowest point is it.
    assert c.f_star_source == ("certificate" if not p.balanced else "predict")
    assert abs(c.points[0].gap) <= 1e-10 * c.f_star
    # Every zero-padded lower-rank minimiser is a critical point with negative curvature (Zhu et al. 2021,
    # arXiv 2105.02375, Thm 3.2; Zhou et al. 2022, arXiv 2210.02192, Thm 3): ranks 1 … min(d, K) − 2 at least.
    saddles = [pt for pt in c.points if pt.kind == "strict saddle"]
    assert saddles and all(pt.lambda_min < -1e-6 and pt.gap > 0 and "padded" in pt.starts for pt in saddles)
    assert {pt.rank for pt in saddles} >= set(range(1, min(p.d, p.K) - 1))
    assert sum(pt.count for pt in c.points) == c.starts
    assert "no non-global local minimum found" in c.table()


def test_census_reports_a_spurious_local_minimum_as_such():
    """A frozen-W problem is convex in (H, b): the census has one point, the global minimum. A hand-made
    non-convex loss with a spurious local minimum in the logits shows up as "local minimum"."""
    import jax.numpy as jnp

    def double_well(z, k):  # minima at margin 1 (value 0) and at margin −1 (value 0.3): a spurious one
        m = z[k] - jnp.max(jnp.where(jnp.arange(z.shape[0]) == k, -jnp.inf, z))
        return (m * m - 1.0) ** 2 / 4 + 0.15 * (1.0 - m) / 2

    p = ufm.Problem(K=2, n=1, d=2, loss=double_well, lam_w=1e-3, lam_h=1e-3, bias=False)
    c = theory.census(p, starts=16, seed=0)
    assert c.f_star_source == "lowest found"
    assert any(pt.kind == "local minimum" for pt in c.points)
    spurious = c.spurious[0]
    assert spurious.gap > 0.05 and spurious.lambda_min >= -1e-8 and "non-global local minim" in c.table()


def test_census_refuses_bad_input_and_the_cli_prints_table_and_json(capsys):
    with pytest.raises(ufm.ParameterError, match="starts"):
        theory.census(ufm.Problem(K=3, n=1, d=3), starts=1)
    with pytest.raises(ufm.ParameterError, match="problem"):
        theory.census(ufm.reduced_problem(ufm.Problem(K=3, n=2, d=5)))
    argv = ["census", "--K", "3", "--n", "2", "--d", "3", "--loss", "mse", "--starts", "6"]
    assert main(argv) == 0
    assert "global minimum" in capsys.readouterr().out
    assert main(argv + ["--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["spurious"] == 0 and rec["points"][0]["kind"] == "global minimum" and rec["starts"] == 6
    assert np.isfinite(rec["f_star"])
    assert main(["census", "--starts", "0"]) == 2
    assert "--starts" in capsys.readouterr().err
    assert main(["census", "--budget", "0"]) == 2
    assert "--budget" in capsys.readouterr().err


def test_a_census_repeats_exactly_and_says_undecided_when_its_budget_is_spent():
    """Same problem, starts, seed and budget: the same points, kinds, θ₁ and Hessian-vector products. With a
    budget too small to decide, a point above f* is "undecided" — never a local minimum or a saddle by default."""
    import jax.numpy as jnp

    def double_well(z, k):  # as above: a spurious local minimum at margin −1
        m = z[k] - jnp.max(jnp.where(jnp.arange(z.shape[0]) == k, -jnp.inf, z))
        return (m * m - 1.0) ** 2 / 4 + 0.15 * (1.0 - m) / 2

    p = ufm.Problem(K=2, n=1, d=2, loss=double_well, lam_w=1e-3, lam_h=1e-3, bias=False)
    a, b = (theory.census(p, starts=16, seed=0) for _ in range(2))
    assert [(q.kind, q.lambda_min, q.curvature) for q in a.points] == [(q.kind, q.lambda_min, q.curvature)
                                                                        for q in b.points]
    assert a.hvps == b.hvps == sum(q.curvature.hvps for q in a.points if q.curvature is not None) > 0
    tight = theory.census(p, starts=16, seed=0, budget=2)
    assert tight.undecided and not tight.spurious
    assert all(q.curvature.verdict == "undecided" and q.curvature.hvps <= 2 for q in tight.undecided)
    assert "undecided" in tight.table() and tight.to_dict()["undecided"] == len(tight.undecided)
    with pytest.raises(ufm.ParameterError, match="budget"):
        theory.census(p, budget=0)
