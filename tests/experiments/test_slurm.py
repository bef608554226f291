"""A scan on a real SLURM cluster (one node: slurmctld + slurmd + munged, started by the test): the shipped
sbatch script submitted as a stepped job array, one task suspended and cancelled mid-run, the array resubmitted,
the stores merged — every configuration present exactly once, with the values of a one-process run.

Skipped where SLURM is not installed or the tests do not run as root; CI installs it (`make slurm`) and sets
UFM_REQUIRE_SLURM=1, which turns the skip into a failure.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest

from ufm.experiments import scan

from _slurm import Cluster
from test_scan import SPEC, TOTAL, _slow

ARRAY = "0-6:2"  # task ids 0, 2, 4, 6 → shares 0..3 of 4
TASKS = (0, 2, 4, 6)


@pytest.fixture(scope="module")
def cluster():
    why = Cluster.available()
    if why is not None:
        if os.environ.get("UFM_REQUIRE_SLURM") == "1":
            pytest.fail(f"UFM_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    with Cluster() as c:
        yield c


def _rows(store) -> dict:
    """(hash, seed) → status of every row of a store (read-only: the task may still be writing)."""
    if not os.path.exists(store):
        return {}
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        return {(h, s): st for h, s, st in con.execute("SELECT hash, seed, status FROM jobs")}
    except sqlite3.OperationalError:
        return {}
    finally:
        con.close()


def _workers(work, store: str) -> list[int]:
    """PIDs of the `ufm scan run` processes working in `work` on `store` (from /proc)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
            if "scan run" in cmd and store in cmd and "srun" not in cmd and os.readlink(f"/proc/{pid}/cwd") == str(work):
                out.append(int(pid))
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return out


def _stopped(work, store: str) -> bool:
    """Whether every worker on `store` exists and is stopped (state T in /proc/PID/stat)."""
    pids = _workers(work, store)

    def state(pid):
        try:
            return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            return "gone"

    return bool(pids) and all(state(pid) == "T" for pid in pids)


def test_a_stepped_array_with_a_cancelled_task_resubmitted_and_merged_holds_every_configuration_once(
        cluster, tmp_path):
    t_start = time.time()
    work = tmp_path / "work"
    (work / "out").mkdir(parents=True)  # the recipe: the log folder exists before sbatch opens the logs
    (work / "spec.toml").write_text(_slow(SPEC, 1))  # fixed-length GD, one configuration per chunk
    r = subprocess.run([sys.executable, "-m", "ufm", "scan", "example", "--sbatch"], capture_output=True, text=True,
                       check=True)
    (work / "array.sbatch").write_text(r.stdout)  # the shipped script, unedited: its directives are overridden
    env = {"PATH": f"{os.path.dirname(sys.executable)}:{os.environ['PATH']}", "SPEC": "spec.toml",
           "UFM_CACHE_DIR": str(tmp_path / "xla")}
    options = (f"--array={ARRAY}", "--cpus-per-task=1", "--mem=2G", "--time=00:20:00", f"--chdir={work}",
               "--export=ALL")
    job = cluster.submit(str(work / "array.sbatch"), *options, env=env)
    shard = {t: str(work / "out" / f"shard-{t}.db") for t in TASKS}

    # Task 2 (share 1/4): once it has stored a row, freeze it with SIGSTOP and check that it is mid-run, then
    # cancel it (SIGCONT + SIGTERM, SIGKILL after KillWait).
    victim = f"{job}_2"
    deadline = time.time() + 300
    while "done" not in _rows(shard[2]).values():
        assert time.time() < deadline, f"task 2 stored nothing in 300 s\n{cluster.logs()}"
        assert (victim, "PENDING") in cluster.queued(job) or (victim, "RUNNING") in cluster.queued(job), \
            f"task 2 left the queue before storing a row: {cluster.queued(job)}"
        time.sleep(0.1)
    cluster.run("scontrol", "suspend", victim)
    # Suspension is asynchronous (slurmctld → slurmd → SIGSTOP): cancelling before the stop lands lets the late
    # SIGSTOP freeze the task after the cancel's SIGCONT/SIGTERM, leaving it stopped for good (seen: the victim
    # alive in state T after the job ended, its claims never released). Wait until it is stopped.
    deadline = time.time() + 60
    while not _stopped(work, "shard-2.db"):
        assert time.time() < deadline, f"task 2 not stopped 60 s after scontrol suspend\n{cluster.logs()}"
        time.sleep(0.1)
    frozen = _rows(shard[2])
    share = sum(1 for i in range(TOTAL) if i % 4 == 1)
    assert len(frozen) == share and 1 <= list(frozen.values()).count("done") < share, frozen
    cluster.run("scancel", victim)
    cluster.wait(job)
    assert not _workers(work, "shard-2.db"), "the cancelled task 2 is still alive after its job ended"
    left = _rows(shard[2])
    assert list(left.values()).count("done") < share  # the cancel landed mid-run: rows are missing
    for t in (0, 4, 6):
        assert set(_rows(shard[t]).values()) == {"done"}

    # Resubmit the same array: finished shares have nothing to do, the cancelled one solves only what it lacks.
    again = cluster.submit(str(work / "array.sbatch"), *options, env=env)
    cluster.wait(again)
    logs = {t: (work / "out" / f"ufm-scan-{again}_{t}.log").read_text() for t in TASKS}
    summaries = {t: _summary(logs[t]) for t in TASKS}
    assert all(s["pending"] == 0 and s["failed"] == 0 and s["running"] == 0 for s in summaries.values()), summaries
    assert summaries[2]["solved_now"] == share - list(left.values()).count("done")
    assert all(summaries[t]["solved_now"] == 0 for t in (0, 4, 6)), summaries

    # Every configuration in exactly one shard store, none twice; the merged store holds all of them.
    per_store = [set(_rows(shard[t])) for t in TASKS]
    assert sum(len(s) for s in per_store) == TOTAL == len(set().union(*per_store))
    merged = str(work / "out" / "all.db")
    r = subprocess.run([sys.executable, "-m", "ufm", "scan", "merge", *shard.values(), "--into", merged],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    st = scan.status(merged)
    assert sum(c["total"] for c in st.values()) == TOTAL == sum(c["done"] for c in st.values())

    # The values of one process running the whole spec (same compiled solves, one after another: rtol 1e-12
    # allows for reassociation only).
    ref = str(tmp_path / "one.db")
    scan.run(scan.parse((work / "spec.toml").read_text()), ref, progress=False)
    a, b = scan.load(merged), scan.load(ref)
    key = lambda c: np.lexsort((c["seed"], c["lam_b"], c["lam_w"], c["delta"]))  # noqa: E731
    np.testing.assert_allclose(a["objective"][key(a)], b["objective"][key(b)], rtol=1e-12)
    print(f"\nSLURM array test: {time.time() - t_start:.0f} s (cluster already up)")


def _summary(log: str) -> dict:
    import json

    lines = [line for line in log.splitlines() if line.startswith("{")]
    assert lines, f"no summary in the task's log:\n{log}"
    return json.loads(lines[-1])
