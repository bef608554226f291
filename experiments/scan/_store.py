"""The scan store: one SQLite file (WAL), one row per (config hash, seed).

A row is 'pending', 'running' (leased to a worker), 'done' or 'failed'. Claims and results are written in
transactions (BEGIN IMMEDIATE), so two processes split the work without duplicates. A claim is a lease: the
worker's id (host:pid:token) and an expiry that a heartbeat thread of the running worker renews. A lease that
has expired is released by the next run on any host (a job that died on another node, or in a container whose
PID namespace restarted); on the claimer's own host a dead process is noticed at once.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager

import ufm

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    hash TEXT NOT NULL, seed INTEGER NOT NULL, idx INTEGER NOT NULL, grp TEXT NOT NULL,
    shape TEXT NOT NULL, problem TEXT NOT NULL, method TEXT NOT NULL, tol REAL, max_steps INTEGER,
    status TEXT NOT NULL DEFAULT 'pending', claimed_by TEXT, claimed_at REAL, result TEXT, lease_until REAL,
    PRIMARY KEY (hash, seed)
);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status, idx);
CREATE INDEX IF NOT EXISTS jobs_shape ON jobs (status, shape, idx);
"""


LEASE_SECONDS = float(os.environ.get("UFM_SCAN_LEASE_SECONDS", "600"))  # renewed every third of it
_TOKEN = uuid.uuid4().hex[:12]


def me() -> str:
    """This worker's id: host:pid:token (the token tells a restarted PID namespace's new process apart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{_TOKEN}"


APPLICATION_ID = 0x55464D31  # "UFM1" in the SQLite header: what makes a file a ufm store


class StoreError(ufm.UFMError, ValueError):
    """A store path that cannot be used: not a file, not a ufm store, or nothing that persists."""


def _is_ufm_store(con: sqlite3.Connection) -> bool:
    if con.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID:
        return True
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    return {"meta", "jobs"} <= tables  # a store written before the id was stamped


def check_path(path: str) -> None:
    """Refuse store paths that would store nothing or overwrite something that is not a store."""
    if not isinstance(path, str) or not path.strip() or path.strip() == ":memory:" or path.startswith("file:"):
        raise StoreError(f"store: {path!r} is not a file path (an empty name and :memory: store nothing)")
    if os.path.exists(path) and not os.path.isfile(path):
        raise StoreError(f"store: {path!r} exists and is not a regular file")


def connect(path: str, readonly: bool = False) -> sqlite3.Connection:
    """Open a store in WAL mode: an existing ufm store, or a new one (its folder created) unless `readonly`.
    A file that exists but is not a ufm store is refused, never modified; `readonly` opens without writing
    (a store on a read-only file system or shared by someone else can still be read)."""
    check_path(path)
    exists = os.path.exists(path) and os.path.getsize(path) > 0
    if readonly:
        if not exists:
            raise FileNotFoundError(f"store {path!r} does not exist")
        con = sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True, timeout=60.0, isolation_level=None)
        try:
            ours = _is_ufm_store(con)
        except sqlite3.DatabaseError:
            ours = False
        if not ours:
            con.close()
            raise StoreError(f"store: {path!r} is not a ufm store; refusing to use it")
        return con
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if exists:
        try:
            with sqlite3.connect(f"file:{os.path.abspath(path)}?mode=ro", uri=True) as probe:
                ours = _is_ufm_store(probe)
        except sqlite3.DatabaseError:
            raise StoreError(f"store: {path!r} exists and is not a ufm store (not an SQLite file)") from None
        if not ours:
            raise StoreError(f"store: {path!r} is an SQLite file but not a ufm store; refusing to modify it")
    con = sqlite3.connect(path, timeout=60.0, isolation_level=None)
    # The identity and the schema in one transaction, before WAL mode: a writer that opens a store another is
    # creating sees an empty file (a new store: it waits on the lock) or a stamped one, never a header without
    # the id (refused as "not a ufm store": seen once in tests/experiments/test_scan.py's two writers).
    with transaction(con):
        con.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        for statement in SCHEMA.split(";"):
            if statement.strip():
                con.execute(statement)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    if "lease_until" not in {r[1] for r in con.execute("PRAGMA table_info(jobs)")}:  # a store of version 0.1
        con.execute("ALTER TABLE jobs ADD COLUMN lease_until REAL")
    return con


@contextmanager
def transaction(con: sqlite3.Connection):
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def shape_key(p: ufm.Problem) -> str:
    return json.dumps(list(p.static), default=str)  # a user loss (ufm.losses.Custom) by its name


def _share_text(shard) -> str:
    return "all" if shard is None else f"{shard[0]}/{shard[1]}"


def initialise(con, spec, jobs, shard=None) -> None:
    """Record the spec and the share (i, m) of its jobs this store runs (refusing a different spec or share),
    and insert every job of the share not yet present as pending.

    A store keeps one share: a SLURM task resubmitted with another --array form maps to another share, and
    running it into the old store would solve jobs that another task's store already holds."""
    with transaction(con):
        row = con.execute("SELECT value FROM meta WHERE key='spec'").fetchone()
        if row is None:
            con.execute("INSERT INTO meta VALUES ('spec', ?)", (spec.canonical,))
            con.execute("INSERT INTO meta VALUES ('digest', ?)", (spec.digest,))
        elif row[0] != spec.canonical:
            raise ValueError("store: it holds a different scan spec; use another --store or the same spec")
        share = con.execute("SELECT value FROM meta WHERE key='share'").fetchone()
        if share is None:
            con.execute("INSERT INTO meta VALUES ('share', ?)", (_share_text(shard),))
        elif share[0] != _share_text(shard):
            raise StoreError(
                f"store: it holds share {share[0]} of the spec's jobs and this run is share {_share_text(shard)}; "
                "resubmit the same --array (or --shard) — finished rows are skipped — or use another --store")
        con.executemany(
            "INSERT OR IGNORE INTO jobs (hash, seed, idx, grp, shape, problem, method, tol, max_steps) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(j["hash"], j["seed"], j["index"], j["group"], shape_key(j["problem"]), json.dumps(j["problem"].to_dict()),
              j["method"], j["tol"], j["max_steps"]) for j in jobs],
        )


def _alive_here(claimer: str) -> bool | None:
    """For a claimer on this host: whether its process still exists (None: another host, or cannot tell)."""
    parts = claimer.split(":")
    if len(parts) < 2 or parts[0] != socket.gethostname():
        return None
    try:
        os.kill(int(parts[1]), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, ValueError, OverflowError):
        return None
    return True


def release_dead_claims(con, now: float | None = None) -> int:
    """Return to 'pending' the rows whose lease has expired (any host) and those of dead processes on this
    host. Returns the number of claimers released."""
    now = time.time() if now is None else now
    with transaction(con):
        rows = con.execute("SELECT claimed_by, MAX(COALESCE(lease_until, 0)) FROM jobs WHERE status='running' "
                           "GROUP BY claimed_by").fetchall()
        dead = []
        for c, until in rows:
            alive = _alive_here(c or "")  # this host: the process table decides; elsewhere: the lease
            if c != me() and (alive is False or (alive is None and until < now)):
                dead.append(c)
        for c in dead:
            con.execute("UPDATE jobs SET status='pending', claimed_by=NULL, lease_until=NULL "
                        "WHERE status='running' AND claimed_by IS ?", (c,))
    return len(dead)


class Heartbeat:
    """Renews this worker's leases every `LEASE_SECONDS / 3` in a background thread (its own connection), so
    that a long chunk keeps its claim while a vanished worker's claim expires."""

    def __init__(self, path: str, seconds: float | None = None):
        self.path, self.seconds = path, LEASE_SECONDS if seconds is None else seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="ufm-scan-heartbeat", daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        con = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
        try:
            while not self._stop.wait(self.seconds / 3):
                try:
                    con.execute("UPDATE jobs SET lease_until=? WHERE status='running' AND claimed_by=?",
                                (time.time() + self.seconds, me()))
                except sqlite3.OperationalError:  # busy: the next beat renews
                    pass
        finally:
            con.close()


def shard_clause(shard) -> tuple[str, tuple]:
    """SQL condition (and its parameters) selecting the jobs of shard (i, m): idx ≡ i (mod m)."""
    return ("", ()) if shard is None else (" AND idx % ? = ?", (shard[1], shard[0]))


def claim(con, chunk: int, shard=None):
    """Claim up to `chunk` pending jobs of one shape and solver setting (the one of the lowest pending job
    index), within shard (i, m) if given. Returns [(hash, seed, problem, method, tol, max_steps)].
    Two indexed queries per chunk: the cost does not grow with the size of the scan."""
    cond, args = shard_clause(shard)
    with transaction(con):
        first = con.execute(
            f"SELECT shape, method, tol, max_steps FROM jobs WHERE status='pending'{cond} ORDER BY idx LIMIT 1", args
        ).fetchone()
        if first is None:
            return []
        picked = con.execute(
            "SELECT hash, seed, problem, method, tol, max_steps FROM jobs WHERE status='pending' AND shape=? "
            f"AND method=? AND tol IS ? AND max_steps IS ?{cond} ORDER BY idx LIMIT ?",
            (*first, *args, chunk),
        ).fetchall()
        now, who = time.time(), me()
        con.executemany("UPDATE jobs SET status='running', claimed_by=?, claimed_at=?, lease_until=? "
                        "WHERE hash=? AND seed=?", [(who, now, now + LEASE_SECONDS, r[0], r[1]) for r in picked])
    return [(r[0], r[1], ufm.Problem(**json.loads(r[2])), r[3], r[4], r[5]) for r in picked]


def finish(con, results) -> None:
    """Write [(hash, seed, status, result_dict)] in one transaction."""
    with transaction(con):
        con.executemany("UPDATE jobs SET status=?, result=?, claimed_by=NULL, lease_until=NULL WHERE hash=? AND seed=?",
                        [(st, ufm.dumps(res), h, s) for h, s, st, res in results])


def record_compilations(con, count: int, seconds: float) -> None:
    """One run's XLA compilations, under a key of its own (meta 'compile:<uuid>'): concurrent writers never
    overwrite each other, and a merge copies each run's record once however often it is repeated."""
    with transaction(con):
        con.execute("INSERT INTO meta VALUES (?, ?)", (f"compile:{uuid.uuid4().hex}",
                                                      json.dumps({"count": int(count), "seconds": float(seconds)})))


def compile_records(con) -> list[dict]:
    return [json.loads(v) for (v,) in con.execute("SELECT value FROM meta WHERE key LIKE 'compile:%' ORDER BY key")]


def counts(con) -> dict:
    """{group: {status: count}}."""
    out: dict = {}
    for grp, status, n in con.execute("SELECT grp, status, COUNT(*) FROM jobs GROUP BY grp, status"):
        out.setdefault(grp, {})[status] = n
    return out


def spec_text(con) -> str | None:
    row = con.execute("SELECT value FROM meta WHERE key='spec'").fetchone()
    return None if row is None else row[0]
