"""Errors from the user's own code and data, tried as a new user would: a loss module that fails at import, a loss
that returns NaN, a stray label far above the classes, features without between-class spread or of magnitude
1e200 — each is one line naming the problem (exit 2 on the command line) or a value that says it is undefined,
never an internal error, a crash on NaNs, a huge allocation or a number that reads as "collapsed"."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import ufm
from ufm import theory


@pytest.fixture
def user_modules(tmp_path, monkeypatch):
    (tmp_path / "raises_at_import.py").write_text("1 / 0\n")
    (tmp_path / "syntax_error.py").write_text("def f(z k):\n    return z\n")
    (tmp_path / "exits_at_import.py").write_text("import sys\nsys.exit(3)\n")
    (tmp_path / "nan_loss.py").write_text("import jax.numpy as jnp\n\ndef f(z, k):\n    return jnp.nan * jnp.sum(z)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def _ufm(*argv, cwd):
    """`ufm ARGV` as a new process in `cwd`, which is on its import path (where the user's modules are)."""
    env = {**os.environ, "PYTHONPATH": str(cwd), "UFM_CACHE_DIR": "off"}
    return subprocess.run([sys.executable, "-m", "ufm", *argv], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env)


@pytest.mark.parametrize("module, why", [
    ("raises_at_import", "ZeroDivisionError: division by zero"),
    ("syntax_error", "SyntaxError"),
    ("exits_at_import", "importing it called sys.exit(3)"),
])
def test_a_loss_module_that_fails_at_import_is_one_line_and_exit_2(user_modules, module, why):
    run = _ufm("solve", "--K", "3", "--n", "2", "--d", "4", "--loss", f"{module}:f", cwd=user_modules)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1, run.stderr
    assert f"cannot import {module}: " in err[0] and why in err[0] and "internal error" not in err[0]
    with pytest.raises(ufm.ParameterError, match=f"cannot import {module}"):
        ufm.Problem(loss=f"{module}:f")


def test_a_loss_that_returns_nan_is_a_diverged_status_and_nothing_runs_on_it(user_modules):
    run = _ufm("solve", "--K", "3", "--n", "2", "--d", "4", "--loss", "nan_loss:f", "--json", cwd=user_modules)
    assert run.returncode == 1 and "internal error" not in run.stderr, run.stderr
    rec = json.loads(run.stdout)
    assert rec["status"] == "diverged" and rec["objective"] is None
    assert rec["certificate"]["ratio"] is None and "diverged" in rec["certificate"]["note"]
    assert rec["prediction"]["objective"] is None and "diverged" in rec["prediction"]["case"]
    table = _ufm("solve", "--K", "3", "--n", "2", "--d", "4", "--loss", "nan_loss:f", cwd=user_modules)
    assert table.returncode == 1 and "diverged  (at step 0 the objective or its gradient was not finite" in table.stdout
    sol = ufm.solve(ufm.Problem(K=3, n=2, d=4, loss="nan_loss:f"))
    assert sol.status == "diverged" and np.isfinite(sol.H).all()  # the last finite iterate, never a NaN answer


def test_a_stray_label_is_named_before_anything_of_its_size_is_allocated(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 2000)
    y[17] = 10**8
    X = rng.standard_normal((2000, 16)).astype(np.float32)
    np.savez(tmp_path / "stray.npz", features=X, labels=y)
    run = _ufm("metrics", str(tmp_path / "stray.npz"), cwd=tmp_path)
    err = run.stderr.strip().splitlines()
    assert run.returncode == 2 and len(err) == 1, run.stderr
    assert "the largest label, 100000000 (sample 17), makes K = 100000001 classes" in err[0]
    with pytest.raises(ufm.metrics.LabelError, match="out of place"):
        ufm.metrics.collapse(X, y)
    # Asked to measure the classes present, the statistics of 10⁸ classes are refused by their memory instead
    # (on a machine with 1 GiB available: 10⁸ × 16 float64 statistics need ~42 GiB).
    from ufm import _features

    monkeypatch.setattr(_features, "available_bytes", lambda: 2**30)
    with pytest.raises(ufm.metrics.LabelError, match="GiB"):
        ufm.metrics.collapse(X, y, allow_empty=True)
    y[17] = 2**40  # beyond what an int32 label holds: refused by name, never wrapped around
    with pytest.raises(ufm.metrics.LabelError, match="below 2"):
        ufm.metrics.collapse(X, y, allow_empty=True)


def test_metrics_without_between_class_spread_are_undefined_not_collapsed():
    y = np.repeat(np.arange(4), 10)
    rec = ufm.metrics.collapse(np.ones((40, 5)), y, W=np.eye(4, 5))
    for key in ("nc1", "cdnv", "nc2_means", "equinorm_means", "equiangle_means", "maxangle_means", "nc3",
                "nc3_duality"):
        assert np.isnan(getattr(rec, key)), key
    assert "no between-class spread" in rec.note and rec.nc2_w == pytest.approx(ufm.metrics.collapse(
        np.eye(4, 5)[y] + 0.1, y, W=np.eye(4, 5)).nc2_w)
    m = ufm.metrics.all(np.zeros((3, 4)), np.zeros((4, 6)), np.zeros(3))  # the UFM's zero solution
    assert np.isnan(m["nc1"]) and np.isnan(m["nc3"])
    assert ufm.metrics.collapse(np.eye(4, 5)[y] + 0.1, y).note == ""


@pytest.mark.parametrize("scale", [1e200, 1e-200])
def test_scale_invariant_metrics_are_computed_scale_invariantly(scale):
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(5), 30)
    X = rng.standard_normal((150, 7)) + 2 * np.eye(5, 7)[y]
    W, b = np.eye(5, 7) + 0.1, np.zeros(5)
    base, big = ufm.metrics.collapse(X, y, W, b), ufm.metrics.collapse(X * scale, y, W, b)
    for key in ("nc1", "cdnv", "nc2_means", "equinorm_means", "equiangle_means", "maxangle_means", "nc3",
                "nc3_duality", "ncc_accuracy", "nc4_nobias"):
        # Scaling by a power of two is exact, 1e±200 is not one: rounding of the inputs only.
        assert getattr(big, key) == pytest.approx(getattr(base, key), rel=1e-12, abs=1e-15), key
    assert 0 < big.nc1 < np.inf
    # the classifier scaled instead (its squares overflow or underflow just the same), in collapse and in all
    W_big = ufm.metrics.collapse(X, y, W * scale, b)
    for key in ("nc2_w", "equinorm_w", "nc3", "nc3_duality"):
        assert getattr(W_big, key) == pytest.approx(getattr(base, key), rel=1e-12), key
    H, m0 = X.T, ufm.metrics.all(W, X.T, b, y)
    for m in (ufm.metrics.all(W * scale, H, b, y), ufm.metrics.all(W, H * scale, b, y)):
        for key in ("nc1", "cdnv", "nc2_means", "nc2_w", "equinorm_w", "nc3", "nc3_duality"):
            assert m[key] == pytest.approx(m0[key], rel=1e-12), key


def test_a_zero_classifier_is_undefined_with_a_reason_in_collapse_all_and_timeline():
    """W = 0 (a zero-initialised classifier at step 0) has no geometry: NaN with a note, never equinorm_w = 0
    (which read "perfectly equinorm"); the Timeline keeps each checkpoint's note beside its NaNs (`notes()`)."""
    rng = np.random.default_rng(2)
    y = np.repeat(np.arange(4), 10)
    X = rng.standard_normal((40, 6)) + 3 * np.eye(4, 6)[y]
    tl = ufm.metrics.Timeline()
    zero = tl.add(0, X, y, np.zeros((4, 6)))
    for key in ("nc2_w", "equinorm_w", "nc3", "nc3_duality"):
        assert np.isnan(getattr(zero, key)), key
    assert "W = 0" in zero.note and np.isfinite(zero.nc1)
    tl.add(1, X, y, np.eye(4, 6))
    table = tl.table()
    assert np.isnan(table["nc3"][0]) and np.isfinite(table["nc3"][1])
    assert "W = 0" in tl.notes()[0] and tl.notes()[1] == "" and "note" not in table  # the table stays numeric
    m = ufm.metrics.all(np.zeros((4, 6)), X.T, np.zeros(4), y)
    assert np.isnan(m["nc3"]) and np.isnan(m["equinorm_w"]) and "W = 0" in m.note


def test_theory_refuses_by_a_ufm_error():
    with pytest.raises(ufm.UFMError, match="no closed form"):
        theory.minimizer(ufm.Problem(K=4, n=2, d=2, loss="ce"))
    with pytest.raises(ufm.UFMError):
        ufm.losses.Custom(3.0)
