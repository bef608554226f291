"""`ufm solve`: table, JSON, and one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

from ufm.cli import main

SMALL = ["--K", "3", "--n", "2", "--d", "4"]


def test_json_output(capsys):
    assert main(["solve", *SMALL, "--loss", "ls", "--delta", "0.2", "--lam-w", "1e-2", "--lam-h", "1e-2", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    for key in ("problem", "objective", "grad_norm", "steps", "converged", "status", "b", "metrics", "seconds"):
        assert key in rec
    assert rec["problem"]["delta"] == 0.2 and rec["problem"]["K"] == 3 and rec["converged"] is True
    assert len(rec["b"]) == 3
    for key in ("nc1", "nc2_w", "nc3", "w_norm_mean", "h_mean_norm_mean"):
        assert key in rec["metrics"]


def test_table_output(capsys):
    assert main(["solve", *SMALL, "--loss", "mse", "--no-bias", "--method", "lbfgs"]) == 0
    out = capsys.readouterr().out
    assert "UFM mse" in out and "(no bias)" in out and "objective" in out and "nc1" in out


def test_first_order_with_lr(capsys):
    assert main(["solve", *SMALL, "--method", "sgd", "--lr", "0.5", "--max-steps", "50", "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["method"] == "sgd" and rec["steps"] == 50 and rec["status"] == "max_steps"


@pytest.mark.parametrize(
    "argv, flag",
    [
        (["--K", "1"], "--K"),
        (["--lam-w", "-1"], "--lam-w"),
        (["--loss", "ls", "--delta", "1.5"], "--delta"),
        (["--loss", "hinge"], "--loss"),
        (["--K", "ten"], "--K"),
        (["--gamma", "abc"], "--gamma"),
        (["--lam-h", "nan"], "--lam-h"),
        (["--fixed-etf", "--K", "10", "--d", "3"], "--d"),
        (["--dtype", "float16"], "--dtype"),
        (["--method", "bfgs"], "--method"),
        (["--tol", "2"], "--tol"),
        (["--max-steps", "0"], "--max-steps"),
        (["--method", "auto", "--lr", "0.1"], "--lr"),
    ],
)
def test_bad_input_one_line_exit_2(argv, flag, capsys):
    assert main(["solve", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "Traceback" not in err


def test_module_entry_point_exit_code_and_no_traceback():
    r = subprocess.run([sys.executable, "-m", "ufm", "solve", "--K", "1"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.strip() == "ufm: --K must be an integer ≥ 2; got 1"


def test_table_says_plainly_when_the_end_point_is_not_the_global_minimum(capsys):
    assert main(["solve", *SMALL, "--method", "gd", "--max-steps", "20"]) == 0
    out = capsys.readouterr().out
    assert "NOT the global minimum" in out
    assert main(["solve", *SMALL]) == 0
    assert "NOT the global minimum" not in capsys.readouterr().out


@pytest.mark.parametrize("before, after", [
    (None, "--xla_cpu_use_fusion_emitters=false"),
    ("--xla_dump_to=/tmp/x", "--xla_dump_to=/tmp/x --xla_cpu_use_fusion_emitters=false"),
    ("--xla_cpu_use_fusion_emitters=true", "--xla_cpu_use_fusion_emitters=true"),  # the user's value stays
])
def test_the_ufm_process_sets_its_xla_flag_and_main_sets_none(monkeypatch, before, after):
    """`ufm.cli.run` (the executable, `python -m ufm`) adds the process's XLA flag before anything runs;
    `main`, which users and tests call in their own process, leaves the environment alone."""
    import os

    import ufm.cli as cli

    if before is None:
        monkeypatch.delenv("XLA_FLAGS", raising=False)
    else:
        monkeypatch.setenv("XLA_FLAGS", before)
    assert main(["verify", "--seed", "-1"]) == 2
    assert os.environ.get("XLA_FLAGS") == before
    seen = []
    monkeypatch.setattr(cli, "main", lambda argv=None: seen.append(os.environ.get("XLA_FLAGS")) or 0)
    assert cli.run() == 0 and seen == [after]
