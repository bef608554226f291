"""Reliability of scans and their stores: SLURM shares that cannot drop work, status that counts missing shares,
failure isolation and --retry-failed, stores that are never confused with other files, strict specs (a property
test of the loader), clean signals, random kill points, leases."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ufm.cli import main
from ufm.experiments import scan
from ufm.experiments.scan import _run

from test_scan import SPEC, TOTAL, _count, _slow, _spawn, _started

SLURM = ("SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN", "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP",
         "SLURM_ARRAY_TASK_COUNT")


def _env(task, lo, hi, step, count):
    return dict(zip(SLURM, map(str, (task, lo, hi, step, count))))


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# --- SLURM shares ---------------------------------------------------------------------------------------------

def test_stepped_slurm_array_covers_every_job_exactly_once():
    """--array=0-6:2 runs tasks 0, 2, 4, 6: shares 0..3 of 4, whatever the ids."""
    shares = [_run.shard_from_env(None, _env(t, 0, 6, 2, 4)) for t in (0, 2, 4, 6)]
    assert shares == [(0, 4), (1, 4), (2, 4), (3, 4)]
    jobs = range(23)
    covered = sorted(j for i, m in shares for j in jobs if j % m == i)
    assert covered == list(jobs)
    assert _run.shard_from_env(None, _env(7, 3, 11, 4, 3)) == (1, 3)


@pytest.mark.parametrize("env, match", [
    (_env(3, 0, 6, 2, 4), "not on the array's step"),
    (_env(0, 0, 6, 2, 3), "has 4 tasks but COUNT=3"),
    (_env(0, 0, 0, 1, 0), "must be ≥ 1"),
    ({"SLURM_ARRAY_TASK_ID": "2"}, "SLURM_ARRAY_TASK_COUNT is not set"),
    ({**_env(2, 0, 6, 2, 4), "SLURM_ARRAY_TASK_STEP": "x"}, "must be an integer"),
])
def test_unmappable_slurm_arrays_are_refused(env, match):
    with pytest.raises(ValueError, match=match):
        _run.shard_from_env(None, env)


def test_cli_refuses_an_unmappable_array_with_exit_2(tmp_path, monkeypatch, capsys):
    (tmp_path / "spec.toml").write_text(SPEC)
    for k, v in _env(0, 0, 6, 2, 0).items():
        monkeypatch.setenv(k, v)
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", str(tmp_path / "s.db"), "--quiet"]) == 2
    assert "COUNT=0" in capsys.readouterr().err


def test_a_store_keeps_its_share_so_a_resubmitted_task_cannot_solve_jobs_twice(tmp_path, monkeypatch, capsys):
    # Task 2 of --array=0-6:2 is share 1/4. Resubmitted alone as --array=2 it would be share 0/1 (all jobs) and
    # would solve into its old store the jobs that the other three stores hold.
    (tmp_path / "spec.toml").write_text(SPEC)
    store = str(tmp_path / "shard-2.db")
    for k, v in _env(2, 0, 6, 2, 4).items():
        monkeypatch.setenv(k, v)
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", store, "--quiet"]) == 0
    share = _count(store)
    assert share == len(range(1, TOTAL, 4))
    for k, v in _env(2, 2, 2, 1, 1).items():
        monkeypatch.setenv(k, v)
    capsys.readouterr()
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", store, "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds share 1/4" in err and "share 0/1" in err and len(err.strip().splitlines()) == 1
    assert _count(store) == share and _count(store, "pending") == 0  # nothing added
    with pytest.raises(scan.StoreError, match="share"):
        scan.run(scan.parse(SPEC), store, progress=False)  # unsharded: also another share
    assert scan.run(scan.parse(SPEC), store, shard=(1, 4), progress=False)["solved_now"] == 0  # same share: resumes


def test_status_counts_the_jobs_of_shares_that_never_ran(tmp_path, capsys):
    spec = scan.parse(SPEC)
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    scan.run(spec, a, shard=(0, 3), progress=False)
    scan.run(spec, b, shard=(2, 3), progress=False)  # share 1 of 3 never ran
    merged = str(tmp_path / "m.db")
    scan.merge([a, b], merged)
    st = scan.status(merged)
    missing = sum(1 for i in range(TOTAL) if i % 3 == 1)
    assert sum(c["total"] for c in st.values()) == TOTAL
    assert sum(c["pending"] for c in st.values()) == missing > 0
    assert sum(c["done"] for c in st.values()) == TOTAL - missing
    assert main(["scan", "status", merged]) == 0
    assert "total" in capsys.readouterr().out


# --- failures -------------------------------------------------------------------------------------------------

def test_one_bad_configuration_fails_alone_and_retry_failed_reruns_it(tmp_path, monkeypatch, capsys):
    (tmp_path / "spec.toml").write_text(SPEC)
    store = str(tmp_path / "s.db")
    real = _run.solve_chunk

    def flaky(items, size, devices=None, shared=None):
        if any(p.lam_b == 1.0 and s == 1 for _, s, p, *_ in items):
            raise FloatingPointError("injected failure")
        return real(items, size, devices, shared)

    monkeypatch.setattr(_run, "solve_chunk", flaky)
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", store, "--quiet"]) == 1
    summary = json.loads(capsys.readouterr().out)
    bad = 3  # lam_b = 1.0 at seed 1, for each of the 3 lam_w
    assert summary["failed"] == bad and summary["done"] == TOTAL - bad
    failed = [r for r in scan.rows(store) if r["row_status"] == "failed"]
    assert len(failed) == bad and all("FloatingPointError: injected failure" in r["error"] for r in failed)
    assert main(["scan", "status", store]) == 1  # failed rows: exit 1
    monkeypatch.setattr(_run, "solve_chunk", real)
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", store, "--quiet"]) == 1  # not retried
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", store, "--quiet", "--retry-failed"]) == 0
    assert _count(store, "done") == TOTAL and _count(store, "failed") == 0


# --- stores and outputs ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("store", ["", ":memory:", "file:x.db?mode=memory"])
def test_store_names_that_store_nothing_are_refused(tmp_path, capsys, store):
    (tmp_path / "spec.toml").write_text(SPEC)
    assert main(["scan", "run", str(tmp_path / "spec.toml"), "--store", store, "--quiet"]) == 2
    assert "not a file path" in capsys.readouterr().err


def test_files_that_are_not_ufm_stores_are_never_modified(tmp_path, capsys):
    (tmp_path / "spec.toml").write_text(SPEC)
    other = tmp_path / "app.db"
    con = sqlite3.connect(other)
    con.execute("CREATE TABLE users (name TEXT)")
    con.commit()
    con.close()
    text = tmp_path / "notes.db"
    text.write_text("my notes\n" * 100)
    for path in (other, text):
        before = _digest(path)
        for argv in (["scan", "run", str(tmp_path / "spec.toml"), "--store", str(path), "--quiet"],
                     ["scan", "status", str(path)], ["scan", "merge", str(path), "--into", str(tmp_path / "m.db")]):
            assert main(argv) == 2, argv
            assert "not a ufm store" in capsys.readouterr().err
        assert _digest(path) == before


def test_reading_a_store_writes_nothing_and_export_never_overwrites_a_store(tmp_path, capsys):
    spec = scan.parse(SPEC.replace("seeds = 2", "seeds = 1"))
    store = str(tmp_path / "s.db")
    scan.run(spec, store, progress=False)
    con = sqlite3.connect(store)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    before = _digest(store)
    assert main(["scan", "status", store]) == 0
    assert main(["scan", "export", store, "--format", "csv"]) == 0
    assert _digest(store) == before
    for out in (store, str(tmp_path / "other.db")):
        if out != store:
            scan.run(spec, out, progress=False)
        assert main(["scan", "export", store, "--format", "json", "--out", out]) == 2
        assert "refusing to overwrite" in capsys.readouterr().err
    assert _digest(store) == before and sqlite3.connect(store).execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert main(["scan", "export", store, "--format", "csv", "--out", str(tmp_path / "nodir" / "x.csv")]) == 2


def test_outputs_are_checked_before_any_compute(tmp_path, capsys):
    t0 = time.perf_counter()
    assert main(["verify", "--json", str(tmp_path / "missing" / "v.json")]) == 2
    assert main(["bench", "--json", str(tmp_path)]) == 2  # a folder
    assert time.perf_counter() - t0 < 5  # refused up front, not after a battery
    assert "does not exist" in capsys.readouterr().err


# --- strict specs ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, match", [
    ('[[group]]\nloss = "ce"\nlam_w = true', "finite numbers"),
    ('[solver]\ntol = true\n[[group]]\nloss = "ce"', "tol"),
    ('[[group]]\nloss = "ce"\nmax_steps = true', "max_steps"),
    ('[[group]]\nloss = "ce"\nmax_steps = 2147483648', "max_steps"),
    ('[solver]\nchunk = true\n[[group]]\nloss = "ce"', "chunk"),
    ('[solver]\nmemory_gb = false\n[[group]]\nloss = "ce"', "memory_gb"),
    ('[[group]]\nloss = "ce"\nlam_w = {logspace = [1e-3, 1.0, 1000000000]}', "m ≤"),
    ('[[group]]\nloss = "ce"\nlam_w = {linspace = [true, 1.0, 3]}', "finite numbers"),
    ('[[group]]\nloss = "ce"\nlam_w = [[1e-3]]', "plain values"),
    ('group = [1, 2]', "must be a table"),
    ('group = "x"', "at least one"),
    ("a = " + "[" * 5000 + "]" * 5000, "nested too deeply|not valid TOML|unknown top-level"),
])
def test_malformed_specs_exit_2_with_one_line(tmp_path, capsys, text, match):
    (tmp_path / "s.toml").write_text(text)
    assert main(["scan", "run", str(tmp_path / "s.toml"), "--store", str(tmp_path / "s.db"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and __import__("re").search(match, err), err
    assert not (tmp_path / "s.db").exists()


def test_unreadable_specs_exit_2(tmp_path, capsys):
    (tmp_path / "latin1.toml").write_bytes('[[group]]\nname = "caf\xe9"\nloss = "ce"\n'.encode("latin-1"))
    for path, match in ((tmp_path / "latin1.toml", "not UTF-8"), ("/dev/zero", "not a regular file"),
                        (tmp_path, "not a regular file"), (tmp_path / "none.toml", "no such file")):
        assert main(["scan", "run", str(path), "--store", str(tmp_path / "s.db"), "--quiet"]) == 2
        assert match in capsys.readouterr().err


def test_sigterm_stops_after_the_current_chunk_and_the_rerun_completes(tmp_path):
    proc, spec_path, store = _started(tmp_path)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 143, err
    assert "stopping after the current chunk" in err and "Traceback" not in err
    assert json.loads(out)["stopped"] is True
    assert _count(store, "running") == 0  # nothing left claimed: the chunk in flight finished and was written
    done = _count(store)
    assert 2 <= done < TOTAL
    assert main(["scan", "run", str(spec_path), "--store", store, "--quiet"]) == 0
    con = sqlite3.connect(store)
    rows = con.execute("SELECT hash, seed, COUNT(*) FROM jobs GROUP BY hash, seed").fetchall()
    assert len(rows) == TOTAL and all(c == 1 for *_, c in rows) and _count(store) == TOTAL


_REFERENCE: dict = {}


def _reference_objectives(spec_text: str, tmp_dir) -> dict:
    """(hash, seed) → objective of one uninterrupted in-process run of the spec (computed once)."""
    if spec_text not in _REFERENCE:
        store = str(tmp_dir / "reference.db")
        scan.run(scan.parse(spec_text), store, progress=False)
        _REFERENCE[spec_text] = _objectives(store)
    return _REFERENCE[spec_text]


def _objectives(store) -> dict:
    con = sqlite3.connect(store)
    try:
        return {(h, s): json.loads(r)["objective"] for h, s, r in
                con.execute("SELECT hash, seed, result FROM jobs WHERE status='done'")}
    finally:
        con.close()


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(kills=st.lists(st.floats(0.0, 6.0), min_size=1, max_size=3), chunk=st.sampled_from([1, 2, 3]))
def test_random_kill_points_never_lose_or_duplicate_a_row(tmp_path_factory, kills, chunk):
    """SIGKILL a scan process at random moments (while it imports, creates the store, claims, solves or writes),
    once or several times in a row, then finish the scan: every configuration is stored exactly once, with the
    value of an uninterrupted run (rtol 1e-12: the same compiled solve, reassociation only)."""
    tmp = tmp_path_factory.mktemp("kill")
    text = _slow(SPEC, chunk)
    spec_path = tmp / "spec.toml"
    spec_path.write_text(text)
    store = str(tmp / "s.db")
    for delay in kills:
        proc = _spawn(spec_path, store)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
    before = _count(store)
    event("killed " + ("before the store existed" if not os.path.exists(store) else
                       "with no row stored" if before == 0 else "mid-scan" if before < TOTAL else "after the last row"))
    assert scan.run(scan.parse(text), store, progress=False)["pending"] == 0
    con = sqlite3.connect(store)
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = con.execute("SELECT hash, seed, COUNT(*), MIN(status), MAX(status) FROM jobs GROUP BY hash, seed").fetchall()
    con.close()
    assert len(rows) == TOTAL and all(c == 1 and lo == hi == "done" for *_, c, lo, hi in rows)
    got, ref = _objectives(store), _reference_objectives(text.replace(f"chunk = {chunk}", "chunk = 1"), tmp)
    assert got.keys() == ref.keys()
    assert all(got[k] == pytest.approx(ref[k], rel=1e-12) for k in ref)


# --- property tests -------------------------------------------------------------------------------------------

_values = st.one_of(st.integers(-5, 10**12), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                    st.text(max_size=6), st.lists(st.integers(-3, 5), max_size=3),
                    st.fixed_dictionaries({"logspace": st.lists(st.floats(-1, 2), max_size=4)}),
                    st.fixed_dictionaries({"linspace": st.lists(st.integers(-2, 10**10), max_size=4)}))
_keys = st.sampled_from(["loss", "K", "n", "d", "lam_w", "lam_h", "lam_b", "delta", "gamma", "alpha", "M", "bias",
                         "seeds", "method", "tol", "max_steps", "name", "fixed_w", "dtype", "etf_norm", "colour"])
_group = st.dictionaries(_keys, st.one_of(_values, st.sampled_from(["ce", "ls", "fl", "mse", "etf", "float32"])),
                         max_size=8)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(doc=st.fixed_dictionaries({"group": st.one_of(st.lists(_group, max_size=3), _values)},
                                 optional={"solver": st.dictionaries(st.sampled_from(
                                     ["chunk", "memory_gb", "method", "tol", "max_steps", "x"]), _values, max_size=3)}))
def test_any_spec_document_is_a_spec_or_one_spec_error(doc):
    """Random documents: the loader returns a Spec or raises SpecError (one line), never anything else."""
    try:
        spec = scan.from_dict(doc)
    except scan.SpecError as e:
        assert "\n" not in str(e)
    else:
        assert spec.jobs()


# --- leases ---------------------------------------------------------------------------------------------------

def test_expired_leases_of_vanished_workers_on_other_hosts_are_reclaimed(tmp_path):
    from ufm.experiments.scan import _store

    spec = scan.parse(SPEC)
    store = str(tmp_path / "s.db")
    scan.run(spec, store, progress=False, max_chunks=1)
    con = _store.connect(store)
    pending = [r for r in con.execute("SELECT hash, seed FROM jobs WHERE status='pending' ORDER BY idx")]
    now = time.time()
    gone, busy = pending[:2], pending[2:4]  # a worker that vanished on node7, one still working on node8
    con.executemany("UPDATE jobs SET status='running', claimed_by='node7:12:dead', lease_until=? "
                    "WHERE hash=? AND seed=?", [(now - 1, h, s) for h, s in gone])
    con.executemany("UPDATE jobs SET status='running', claimed_by='node8:34:live', lease_until=? "
                    "WHERE hash=? AND seed=?", [(now + 3600, h, s) for h, s in busy])
    con.close()
    summary = scan.run(spec, store, progress=False)
    assert summary["running"] == 2 and summary["done"] == TOTAL - 2  # node7's rows solved, node8's left alone
    con = sqlite3.connect(store)
    assert {r[0] for r in con.execute("SELECT claimed_by FROM jobs WHERE status='running'")} == {"node8:34:live"}


def test_the_heartbeat_renews_this_workers_leases(tmp_path):
    from ufm.experiments.scan import _store

    spec = scan.parse(SPEC)
    store = str(tmp_path / "s.db")
    scan.run(spec, store, progress=False, max_chunks=0)
    con = _store.connect(store)
    t0 = time.time()
    con.execute("UPDATE jobs SET status='running', claimed_by=?, lease_until=? WHERE idx=0", (_store.me(), t0))
    with _store.Heartbeat(store, seconds=0.3):
        time.sleep(0.6)
    until = con.execute("SELECT lease_until FROM jobs WHERE idx=0").fetchone()[0]
    assert until > t0 + 0.2  # renewed while the worker lives
    assert _store.release_dead_claims(con, now=until + 1) == 0  # a live claimer of this host is never released


def test_the_slurm_script_ships_and_runs_the_scan(capsys):
    assert main(["scan", "example", "--sbatch"]) == 0
    text = capsys.readouterr().out
    assert "#SBATCH --array=" in text and "ufm scan run" in text and "--signal=TERM@" in text and "mkdir -p out" in text


def test_a_failed_compile_ahead_loses_no_configuration(tmp_path, monkeypatch):
    """Compiling a shape's programs ahead (`prepare_shape`) is an optimisation: if it raises, the scan goes on and
    every configuration is solved and stored by its chunk, as without it."""
    def broken(*args, **kwargs):
        raise RuntimeError("injected compile failure")

    monkeypatch.setattr(_run.ufm, "prepare", broken)
    summary = scan.run(scan.parse(SPEC), str(tmp_path / "s.db"), progress=False)
    assert summary["done"] == TOTAL and summary["failed"] == 0 and summary["pending"] == 0
