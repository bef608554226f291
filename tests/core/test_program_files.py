"""Compiled programs kept beside the persistent XLA cache (`ufm._executables.compiled`, `ufm.persistent_jit`): a
later process loads the executable instead of tracing, lowering and compiling it, and runs exactly the same
numbers; keys that do not name their program portably are never kept; a changed package, shape or option is a
new name; a damaged file is compiled again; what JAX's own cache answered is never kept (it did not run once
kept); `ufm.compilations` tells loaded programs from compiled ones."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
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


def _fresh(key, folder):
    """`key` made unique to this test: an earlier test of this process may have compiled the same program with
    JAX's persistent cache on, and what that cache answers is (rightly) not kept."""
    return (key, str(folder))


def _solve_job(problem, method="auto"):
    layout, hyper = _program.program_form(problem)
    tol, cfg = _program.settings(layout, ufm.solvers.as_solver(method), problem.dtype, None, None, None)
    x0 = _start.device_free(layout, _start.initial_point(problem))
    spec, padding = _program.job(cfg, None, None, hyper, x0, jnp.asarray(tol, problem.dtype))
    return spec, padding


def _same(a, b):
    for u, v in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b), strict=True):
        np.testing.assert_array_equal(np.asarray(u), np.asarray(v))  # the same executable: bit for bit


def test_a_kept_program_is_loaded_without_tracing_and_runs_the_same_numbers(folder):
    spec, _ = _solve_job(ufm.Problem(K=3, n=4, d=5, loss="ce"))
    _, key, fn, args, name = spec
    key = _fresh(key, folder)
    traces = []

    def counted(*a):
        traces.append(1)
        return fn(*a)

    first, seconds = _executables.compiled(_executables.Executables(), key, counted, args, name)
    assert len(traces) == 1 and seconds > 0 and len(os.listdir(folder)) == 1
    again, seconds = _executables.compiled(_executables.Executables(), key, counted, args, name)  # a new process's
    assert len(traces) == 1 and seconds == 0  # loaded: neither traced nor compiled
    _same(first(*args), again(*args))


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


def test_names_change_with_the_package_the_key_the_shapes_and_the_options(folder, monkeypatch):
    spec, _ = _solve_job(ufm.Problem(K=3, n=4, d=5))
    _, key, fn, args, name = spec
    here = _executables.program_file(key, args, name)
    other_shapes = _solve_job(ufm.Problem(K=3, n=4, d=9))[0][3]
    assert _executables.program_file(key, other_shapes, name) != here
    assert _executables.program_file((key, 1), args, name) != here
    assert _executables.program_file(key, args, name, _executables.FAST_OPTIONS) != here
    monkeypatch.setattr(_executables, "_SOURCES", ["an edited package"])
    assert _executables.program_file(key, args, name) != here


def test_a_damaged_file_is_compiled_again_and_replaced(folder):
    spec, _ = _solve_job(ufm.Problem(K=3, n=4, d=5, loss="mse"))
    _, key, fn, args, name = spec
    key = _fresh(key, folder)
    _executables.compiled(_executables.Executables(), key, fn, args, name)
    (path,) = folder.iterdir()
    path.write_bytes(b"not a program")
    traces = []

    def counted(*a):
        traces.append(1)
        return fn(*a)

    exe, seconds = _executables.compiled(_executables.Executables(), key, counted, args, name)
    # Replaced by the new program, or (where JAX's cache answered the compile, which is not kept) removed.
    assert traces == [1] and (not path.exists() or path.read_bytes() != b"not a program")
    assert np.isfinite(float(exe(*args).f))


def _svd_norms(A, k: int):
    return jnp.linalg.svd(A, compute_uv=False)[:k], jnp.linalg.norm(A)


def test_persistent_jit_is_jax_jit_per_static_value_and_shape(folder):
    f = ufm.persistent_jit(_svd_norms, static_argnums=1)
    A = np.random.default_rng(0).normal(size=(4, 3))
    with ufm.float64():
        got, want = f(A, 2), jax.jit(_svd_norms, static_argnums=1)(A, 2)
        for u, v in zip(got, want):  # small programs compile at XLA's optimisation level 0: rounding differs
            np.testing.assert_allclose(u, v, rtol=1e-14)
        assert got[0].shape == (2,) and f(A, 3)[0].shape == (3,) and f(A[:3], 2)[0].shape == (2,)
        assert len(os.listdir(folder)) == 3  # one program per static value and per shape
        for u, v in zip(f(A, k=2), got):  # by keyword: jax.jit's path (default optimisation level), same function
            np.testing.assert_allclose(u, v, rtol=1e-14)
        with ufm.compilations() as c:
            f(A, 2), f(A[:3], 2)
        assert c.count == 0  # held by this process
        # Under a transformation it is jax.jit: differentiable and batchable, nothing kept.
        g = jax.grad(lambda B: f(B, 2)[1])(A)
        np.testing.assert_allclose(g, A / np.linalg.norm(A), rtol=1e-12)  # ∇‖A‖_F = A/‖A‖_F; rounding only
        assert jax.vmap(lambda B: f(B, 2)[1])(np.stack([A, 2 * A])).shape == (2,)
        assert len(os.listdir(folder)) == 3


def test_persistent_jit_keeps_no_closure_across_processes(folder):
    scale = 3.0
    f = ufm.persistent_jit(lambda x: x * scale)  # what it computes is not in its name
    with ufm.float64():
        assert float(f(np.float64(2.0))) == 6.0
    assert not folder.exists() or not os.listdir(folder)


def _records(env, *extra):
    cmd = [sys.executable, "-m", "ufm", "solve", "--K", "3", "--n", "4", "--d", "5", "--json", *extra]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def test_ufm_solve_in_later_processes_loads_its_programs_and_prints_the_same_record(tmp_path):
    """The record's programs (metrics with an SVD, certificate, contrastive scale) and the solve's are kept and
    loaded by a second process, whose record is the same; with the kept files deleted but JAX's cache still
    holding the programs, a third process reads them from JAX's cache and keeps nothing (those executables,
    serialised again, failed to run), and a fourth still runs."""
    env = {**os.environ, "UFM_CACHE_DIR": str(tmp_path / "xla")}
    kept_dir = tmp_path / "xla" / "ufm-programs"
    cold = _records(env)
    kept = sorted(os.listdir(kept_dir))
    names = {k.rsplit("-", 1)[0] for k in kept}
    assert {"ufm_solve", "ufm_curvature", "_all", "_means_value_and_grads", "_g_and_slope"} <= names, kept
    warm = _records(env)
    assert sorted(os.listdir(kept_dir)) == kept  # nothing new: loaded
    assert warm["compile_seconds"] == 0 and cold["compile_seconds"] > 0
    shutil.rmtree(kept_dir)
    third = _records(env)
    # What JAX's cache held is read from there and not kept (the solve program, compiled in ~1 s, is always
    # there; a program compiled faster than JAX's 0.1 s threshold was not written there, and is compiled and kept).
    again = {k.rsplit("-", 1)[0] for k in os.listdir(kept_dir)} if kept_dir.exists() else set()
    assert again <= names and "ufm_solve" not in again, again
    fourth = _records(env)
    for k in ("objective", "grad_norm", "steps", "status", "metrics", "certificate", "prediction", "b"):
        assert cold[k] == warm[k] == third[k] == fourth[k], k


def test_threads_compile_a_shared_program_once():
    """Threads that need the same program at once (the battery's families run concurrently) compile it once:
    the others wait for it instead of compiling it again."""
    import threading

    import jax.numpy as jnp

    @ufm.persistent_jit
    def shared_program(x):
        return jnp.cumsum(jnp.sin(x) ** 2) @ x

    x = np.linspace(0.0, 1.0, 37)
    barrier, results = threading.Barrier(4), []

    def call():
        barrier.wait()
        results.append(float(shared_program(x)))

    with ufm.compilations() as c:
        threads = [threading.Thread(target=call) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len(results) == 4 and len(set(results)) == 1
    assert c.by_name.get("jit(shared_program)", [0])[0] + c.loaded <= 1, c.by_name


def test_no_program_is_kept_or_read_while_the_persistent_cache_is_switched_off(tmp_path):
    """Kept programs follow JAX's persistent cache: a folder configured but the cache switched off
    (`jax_enable_compilation_cache`, as `ufm bench` does to report compile times cold) keeps and reads none."""
    was, dir_was = jax.config.jax_enable_compilation_cache, jax.config.jax_compilation_cache_dir
    try:
        jax.config.update("jax_compilation_cache_dir", str(tmp_path))
        jax.config.update("jax_enable_compilation_cache", True)
        assert _executables.programs_dir() == os.path.join(str(tmp_path), "ufm-programs")
        jax.config.update("jax_enable_compilation_cache", False)
        assert _executables.programs_dir() is None
        spec, _ = _solve_job(ufm.Problem(K=3, n=4, d=6, loss="mse"))
        assert _executables.program_file(spec[1], spec[3], spec[4]) is None
    finally:
        jax.config.update("jax_enable_compilation_cache", was)
        jax.config.update("jax_compilation_cache_dir", dir_was)
