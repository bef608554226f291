"""Losses the user writes (`Problem(loss=fn)`, `ufm.losses.Custom`): validation, solve, reduction, certificate,
the 1-D-scale prediction of the losses paper's Thm 1 (Zhou et al. 2022, arXiv 2210.02192), the probe of its
hypotheses, the trajectory, the command line and a scan."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ufm
import ufm.theory as theory
from ufm.cli import main
from ufm.experiments import losses as examples
from ufm.experiments import scan

EXAMPLES = {"temperature_ce": examples.temperature_ce, "pairwise_logistic": examples.pairwise_logistic}


def test_a_plain_function_is_wrapped_and_checked_on_abstract_values():
    p = ufm.Problem(K=3, loss=examples.pairwise_logistic)
    assert isinstance(p.loss, ufm.losses.Custom) and p.loss.convex is True  # the function's declaration
    assert p.loss.name == "ufm.experiments.losses:pairwise_logistic"
    assert p.to_dict()["loss"] == p.loss.name and ufm.Problem(**p.to_dict()) == p  # imported back by name
    assert ufm.losses.Custom(lambda z, k: jnp.sum(z), convex=False).convex is False
    for bad, why in ((lambda z: z[0], "failed"), (lambda z, k: z, "returned"), ("nomodule_xyz:fn", "cannot import"),
                     ("ufm.experiments.losses:absent", "cannot import"), (3, "callable")):
        with pytest.raises(ufm.ParameterError, match=f"Problem.loss must be .*{why}"):
            ufm.Problem(K=3, loss=bad)


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_worked_examples_reach_the_predicted_global_minimum_and_are_certified(name):
    p = ufm.Problem(K=4, n=5, d=6, loss=EXAMPLES[name], lam_w=1e-3, lam_h=2e-3, lam_b=1e-2)
    probe = theory.probe_loss(p.loss, p.K)
    assert probe.convex and probe.contrastive and probe.strict and probe.symmetric and probe.etf_theorem_applies
    sol = ufm.solve(p)
    assert sol.status == "converged" and sol.path == "reduced"  # declared convex: the exact reduction applies
    pred = theory.predict(p)
    # The losses paper's Thm 1: an ETF at the scale a* minimising g(a); 1e-12: two float64 minimisations.
    assert pred.a > 0 and sol.objective == pytest.approx(pred.objective, rel=1e-12)
    cert = theory.certificate(p, sol.W, sol.H, sol.b)
    assert cert.ratio == pytest.approx(1.0, abs=1e-8) and cert.gap_bound < 1e-10
    m = ufm.metrics.all(sol.W, sol.H, sol.b)
    assert m["nc1"] < 1e-25 and m["nc2_w"] < 1e-8 and m["self_duality"] < 1e-8
    full = ufm.solve(p, reduce="never", method="newton")
    assert full.objective == pytest.approx(sol.objective, rel=1e-12)


def test_temperature_ce_at_tau_1_is_ce():
    a = ufm.solve(ufm.Problem(K=3, n=2, d=4, loss=examples.temperature(1.0)))
    b = ufm.solve(ufm.Problem(K=3, n=2, d=4, loss="ce"))
    assert a.objective == pytest.approx(b.objective, rel=1e-12)


def test_an_undeclared_or_non_convex_user_loss_is_solved_in_full_and_not_certified():
    def focal3(z, k):  # focal loss, γ = 3, as a user would write it: not convex in z
        logp = jax.nn.log_softmax(z)
        return -(1 - jnp.exp(logp[k])) ** 3 * logp[k]

    p = ufm.Problem(K=3, n=3, d=5, loss=focal3, lam_w=1e-3, lam_h=1e-3)
    assert p.loss.convex is None and "not declared convex" in ufm.reduction(p).reason
    probe = theory.probe_loss(p.loss, 3)
    assert not probe.convex and probe.min_curvature < 0 and probe.contrastive  # FL is contrastive, not convex
    sol = ufm.solve(p)
    assert sol.path == "full" and sol.status == "converged"
    builtin = ufm.solve(ufm.Problem(K=3, n=3, d=5, loss="fl", gamma=3.0, lam_w=1e-3, lam_h=1e-3))
    assert sol.objective == pytest.approx(builtin.objective, rel=1e-10)
    assert theory.certificate(p, sol.W, sol.H, sol.b).gap_bound is None
    assert theory.predict(p).objective == pytest.approx(theory.predict(builtin.problem).objective, rel=1e-9)


def test_probe_tells_the_built_in_losses_apart():
    assert theory.probe_loss("ce", 5).etf_theorem_applies and theory.probe_loss("ls", 5).etf_theorem_applies
    mse = theory.probe_loss("mse", 5)
    assert mse.convex and not mse.contrastive  # MSE depends on the logits themselves, not only their differences
    assert theory.predict(ufm.Problem(K=3, loss=ufm.losses.Custom(lambda z, k: jnp.sum((z - jax.nn.one_hot(k, 3)) ** 2)
                                                                   / 2, convex=True))).objective is None
    with pytest.raises(ufm.ParameterError, match="K"):
        theory.probe_loss("ce", 1)


def test_trajectory_and_imbalanced_counts_with_a_user_loss():
    p = ufm.Problem(K=3, n=(6, 3, 1), d=4, loss=examples.pairwise_logistic, lam_w=1e-3, lam_h=1e-3)
    traj = ufm.trajectory(p, method="gd", steps=40, every=10)
    assert traj.objective[-1] < traj.objective[0] and np.isfinite(traj.metrics()["nc1"]).all()
    red, full = ufm.solve(p), ufm.solve(p, reduce="never", method="newton")
    assert red.path == "reduced" and red.objective == pytest.approx(full.objective, rel=1e-12)


def test_cli_and_scan_name_a_user_loss_by_module_and_function(tmp_path, capsys):
    name = "ufm.experiments.losses:temperature_ce"
    assert main(["solve", "--K", "3", "--n", "2", "--d", "4", "--loss", name, "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["problem"]["loss"] == name and rec["status"] == "converged"
    assert abs(rec["objective"] - rec["prediction"]["objective"]) < 1e-12 * rec["objective"]
    assert main(["solve", "--loss", "nomodule_xyz:fn"]) == 2
    assert "--loss" in capsys.readouterr().err
    spec = scan.parse(f'[[group]]\nloss = "{name}"\nK = 3\nn = 2\nd = 4\nlam_w = [1e-3, 1e-2]\n')
    store = str(tmp_path / "s.db")
    assert scan.run(spec, store, progress=False)["done"] == 2
    for row in json.loads(scan.export(store, "json")):
        assert row["loss"] == name and row["err_objective"] < 1e-10 and row["cert_gap"] < 1e-9
