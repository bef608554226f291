"""Traced programs kept beside the persistent XLA cache (`ufm._executables.lowered`): a later process loads the
lowered program instead of tracing it, and runs exactly the same numbers; keys that do not name their program
portably are never kept; a changed package is a new name; a damaged file is traced again."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ufm
from ufm import _executables, _program, _start


@pytest.fixture
def folder(tmp_path, monkeypatch):
    where = tmp_path / "ufm-programs"
    monkeypatch.setattr(_executables, "programs_dir", lambda: str(where))
    return where


def _solve_job(problem, method="auto"):
    layout, hyper = _program.program_form(problem)
    tol, cfg = _program.settings(layout, ufm.solvers.as_solver(method), problem.dtype, None, None, None)
    x0 = _start.device_free(layout, _start.initial_point(problem))
    spec, padding = _program.job(cfg, None, None, hyper, x0, jnp.asarray(tol, problem.dtype))
    return spec, padding


def test_a_kept_program_is_loaded_without_tracing_and_runs_the_same_numbers(folder):
    spec, _ = _solve_job(ufm.Problem(K=3, n=4, d=5, loss="ce"))
    _, key, fn, args, name = spec
    traces = []

    def counted(*a):
        traces.append(1)
        return fn(*a)

    first = _executables.lowered(key, counted, args, name).compile()
    assert len(traces) == 1 and len(os.listdir(folder)) == 1
    again = _executables.lowered(key, counted, args, name).compile()
    assert len(traces) == 1  # loaded: not traced again
    a, b = first(*args), again(*args)
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))  # the same program: bit for bit


def test_keys_that_do_not_name_their_program_are_not_kept(folder):
    @dataclasses.dataclass(frozen=True)
    class MySolver:  # a user's solver: its repr need not say what it computes
        lr: float = 0.1

    p = ufm.Problem(K=3, n=4, d=5)
    spec, _ = _solve_job(p)
    _, key, fn, args, name = spec
    assert _executables.program_file(key, args, name) is not None
    assert _executables.program_file((key, MySolver()), args, name) is None
    assert _executables.program_file((key, lambda x: x), args, name) is None
    assert _executables.program_file((key, object()), args, name) is None


def test_names_change_with_the_package_the_key_and_the_shapes(folder, monkeypatch):
    spec, _ = _solve_job(ufm.Problem(K=3, n=4, d=5))
    _, key, fn, args, name = spec
    here = _executables.program_file(key, args, name)
    other_shapes = _solve_job(ufm.Problem(K=3, n=4, d=9))[0][3]
    assert _executables.program_file(key, other_shapes, name) != here
    assert _executables.program_file((key, 1), args, name) != here
    monkeypatch.setattr(_executables, "_SOURCES", ["an edited package"])
    assert _executables.program_file(key, args, name) != here


def test_a_damaged_file_is_traced_again_and_replaced(folder):
    spec, _ = _solve_job(ufm.Problem(K=3, n=4, d=5, loss="mse"))
    _, key, fn, args, name = spec
    _executables.lowered(key, fn, args, name)
    (path,) = folder.iterdir()
    path.write_bytes(b'["nothing"]\nnot a program')
    traces = []

    def counted(*a):
        traces.append(1)
        return fn(*a)

    exe = _executables.lowered(key, counted, args, name).compile()
    assert traces == [1] and path.read_bytes() != b'["nothing"]\nnot a program'
    assert np.isfinite(float(exe(*args).f))


def test_ufm_solve_in_a_second_process_loads_its_programs_and_prints_the_same_record(tmp_path):
    env = {**os.environ, "UFM_CACHE_DIR": str(tmp_path / "xla")}
    cmd = [sys.executable, "-m", "ufm", "solve", "--K", "3", "--n", "4", "--d", "5", "--json"]
    cold = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    kept = sorted(os.listdir(tmp_path / "xla" / "ufm-programs"))
    assert {k.split("-")[0] for k in kept} == {"ufm_solve", "ufm_curvature"}, kept
    warm = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    assert sorted(os.listdir(tmp_path / "xla" / "ufm-programs")) == kept  # nothing new: loaded
    a, b = json.loads(cold.stdout), json.loads(warm.stdout)
    for k in ("objective", "grad_norm", "steps", "status", "metrics", "certificate", "b"):
        assert a[k] == b[k], k
