"""One home per idea: each fact has one definition that everything else derives from — the statuses (fixed codes,
a message each), the solve options after (problem, method), the loss records, the method table, the metric
vocabulary (with 0.2's names as warned aliases), the record of a solution (CLI and scans) and the figures."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

import ufm
from ufm import theory
from ufm.cli import main


def test_status_codes_are_fixed_by_value_with_a_message_each():
    codes = {s.value: s.code for s in ufm.Status}
    # Stored in scan rows and carried by compiled programs: a code never changes meaning.
    assert codes == {"running": 0, "converged": 1, "max_steps": 2, "diverged": 3, "stalled": 4, "saddle": 5,
                     "nonstationary": 6}
    for s in ufm.Status:
        assert ufm.Status.from_code(s.code) is s and s.message and s == s.value
    with pytest.raises(ValueError, match="no status has code 9"):
        ufm.Status.from_code(9)


def test_relative_gradient_has_one_definition_for_programs_and_the_host():
    import jax.numpy as jnp

    g = (np.array([3.0, 4.0]),)
    host = float(np.asarray(ufm.solvers.relative_gradient(np.float64(2.0), tuple(jnp.asarray(a) for a in g),
                                                          np.float64(10.0))))
    assert host == pytest.approx(2.5, rel=1e-15)
    assert float(ufm.solvers.gradient_scale(np.float64(-3.0), np.float64(2.0))) == 2.0


def test_options_after_problem_and_method_are_keyword_only_and_0_2_positional_calls_warn():
    p = ufm.Problem(K=3, n=2, d=4)
    ref = ufm.solve(p, tol=1e-10)
    with pytest.warns(DeprecationWarning, match=r"solve\(\): pass tol by keyword"):
        old = ufm.solve(p, "auto", 1e-10)
    assert old.objective == ref.objective
    with pytest.raises(TypeError, match="multiple values for argument 'tol'"):
        ufm.solve(p, "auto", 1e-10, tol=1e-9)
    with pytest.warns(DeprecationWarning, match="trajectory"):
        ufm.trajectory(p, "gd", 10, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ufm.solve_batch([p, p], "auto", seeds=[0, 1])  # the keyword spelling never warns


def test_loss_records_are_the_one_source_of_loss_facts():
    L = ufm.losses
    from ufm._problem import LOSSES as names  # what Problem validates against: derived from the records

    assert names == tuple(L.LOSSES)
    assert L.SOFTMAX_FAMILY == ("ce", "ls", "fl")
    for name, rec in L.LOSSES.items():
        assert rec.name == name and rec.cite and all(p in ufm.Problem.HYPER_FIELDS for p in rec.params)
        assert not callable(rec.convex) or rec.convex.__doc__  # a rule says where it holds (the docs show it)
    # The reduction's convexity rule is the record's: FL only at γ = 0; a declared-convex user loss too.
    assert ufm.reduction(ufm.Problem(K=3, n=2, loss="fl", gamma=0.0)).reduced is not None
    assert "γ = 2" in ufm.reduction(ufm.Problem(K=3, n=2, loss="fl", gamma=2.0)).reason
    # A program family runs its members with the terms they lack switched off (CE with δ set runs at δ = 0).
    h = L.LOSSES["ce"].program_numbers(ufm.Problem(loss="ce", delta=0.3, gamma=2.0).hyper)
    assert (h.delta, h.gamma) == (0.0, 0.0)
    h = L.LOSSES["ls"].program_numbers(ufm.Problem(loss="ls", delta=0.3, gamma=2.0).hyper)
    assert (h.delta, h.gamma) == (0.3, 0.0)
    # A user's loss is the same record.
    custom = L.Custom(lambda z, k: -z[k] + ufm.losses.LOSSES["ce"].fn(z[:, None], np.eye(3)[:, k:k + 1])[0],
                      name="mine", convex=True)
    assert isinstance(custom, L.Loss) and L.record(custom) is custom and custom.convex_at(None)
    with pytest.raises(ufm.UFMError):
        L.Custom(3.0)
    with pytest.raises(ufm.UFMError):
        L.record("hinge")


def test_the_command_line_uses_the_one_method_table():
    from ufm.cli import solve as cli_solve

    assert cli_solve.METHODS == tuple(ufm.solvers.methods()) == ufm.METHODS


def test_one_metric_vocabulary_everywhere(tmp_path, capsys):
    V = ufm.metrics
    keys = V.KEYS
    assert len(set(keys)) == len(keys) and all(q.formula and q.source for q in V.VOCABULARY)
    p = ufm.Problem(K=3, n=4, d=5, loss="ce")
    sol = ufm.solve(p)
    m = V.all(sol.W, sol.H, sol.b)
    assert tuple(m) == keys
    rec = V.collapse(sol.H.T, p.labels, sol.W, sol.b)
    shared = [k for k in rec._fields if k in keys]
    assert set(rec._fields) - set(shared) == {"num_classes", "num_samples", "classes_from", "note"}
    for k in shared:  # the same formula under the same name (in memory vs the UFM's program: rounding apart)
        assert rec._asdict()[k] == pytest.approx(m[k], rel=1e-9, abs=1e-12), k
    # 0.2's names still read, with a warning naming the key.
    with pytest.warns(DeprecationWarning, match="'nc2_w'"):
        assert m["nc2"] == m["nc2_w"]
    with pytest.warns(DeprecationWarning, match="1 − nc4"):
        assert m["ncc_agreement"] == 1 - m["nc4"]
    with pytest.warns(DeprecationWarning, match="metrics.nc3_duality"):
        assert float(V.nc3_guo(sol.W, sol.H)) == pytest.approx(m["nc3_duality"], rel=1e-12)
    # `ufm solve --json` prints the same keys.
    assert main(["solve", "--K", "3", "--n", "4", "--d", "5", "--json"]) == 0
    assert tuple(json.loads(capsys.readouterr().out)["metrics"]) == keys


def test_layout_is_one_argument_with_one_meaning():
    p = ufm.Problem(K=3, n=2, d=4)
    sol = ufm.solve(p)
    a = ufm.metrics.all(sol.W, sol.H, sol.b)
    b = ufm.metrics.all(sol.W, sol.H.T, sol.b, layout="N,d")
    assert a == b
    c = ufm.metrics.collapse(sol.H, p.labels, sol.W, sol.b, layout="d,N")
    assert c.nc1 == ufm.metrics.collapse(sol.H.T, p.labels, sol.W, sol.b).nc1


def test_the_solution_record_is_one_builder_for_the_cli_and_scans():
    p = ufm.Problem(K=3, n=(3, 2, 2), d=4, loss="mse")
    sol = ufm.solve(p)
    rec = theory.solution_record(sol)
    row = theory.flat_record(rec, seed=7)
    assert row["seed"] == 7 and row["imbalance"] == p.imbalance == 1.5 and row["n"] == [3, 2, 2]
    assert row["objective"] == rec["objective"] and row["solver_status"] == rec["status"] == "converged"
    assert row["pred_objective"] == rec["prediction"]["objective"] and row["cert_ratio"] == rec["certificate"]["ratio"]
    assert row["err_objective"] == rec["errors"]["objective"] < 1e-10
    assert all(row[k] == rec["metrics"][k] for k in ufm.metrics.KEYS)


def test_every_figure_module_describes_itself_once():
    from ufm.experiments import figures

    found = figures.modules()
    assert len(found) >= 17 and list(found) == [f.name for f in sorted(found.values(), key=lambda f: f.order)]
    for name, fig in found.items():
        assert isinstance(fig, figures.Figure) and fig.title and fig.caption and fig.reproduces
        assert callable(fig.params) and callable(fig.draw) and isinstance(fig.params(True), dict)
