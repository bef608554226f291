"""Reading stores: status, columns as numpy arrays, export (CSV, JSON, Parquet), merging sharded stores."""

from __future__ import annotations

import csv
import io
import json
import math
import os

import numpy as np

import ufm

from . import _store


def _open(path: str):
    """A store opened for reading only."""
    return _store.connect(path, readonly=True)


def expected(spec_text: str | None) -> dict:
    """{group: number of jobs} of a store's spec (grid sizes × seeds), without expanding the grids."""
    if spec_text is None:
        return {}
    spec = json.loads(spec_text)
    return {g["name"]: math.prod(len(v) for v in g["grids"].values()) * g["seeds"] for g in spec["groups"]}


def status(path: str) -> dict:
    """{group: {'done', 'pending', 'failed', 'running', 'total'}}, counted against every job of the store's
    spec: jobs missing from this store (a shard that never ran, before or after a merge) count as pending."""
    con = _open(path)
    try:
        out = _store.counts(con)
        total = expected(_store.spec_text(con))
    finally:
        con.close()
    res = {}
    for g in list(total) + [g for g in out if g not in total]:
        c = out.get(g, {})
        row = {s: c.get(s, 0) for s in ("done", "failed", "running")}
        n = total.get(g, sum(c.values()))
        row["pending"] = n - row["done"] - row["failed"] - row["running"]
        row["total"] = n
        res[g] = {k: row[k] for k in ("done", "pending", "failed", "running", "total")}
    return res


def compilations(path: str) -> dict:
    """{'runs', 'compilations', 'compile_seconds'}: the XLA compilations of every `run` into this store (and
    into the stores merged into it)."""
    con = _open(path)
    try:
        recs = _store.compile_records(con)
    finally:
        con.close()
    return {"runs": len(recs), "compilations": sum(r["count"] for r in recs),
            "compile_seconds": sum(r["seconds"] for r in recs)}


def rows(path: str, include_failed: bool = True) -> list[dict]:
    """Result rows (dicts) of the finished jobs, in job order, each with its 'group' and 'row_status'."""
    con = _open(path)
    try:
        statuses = ("done", "failed") if include_failed else ("done",)
        q = f"SELECT grp, status, result FROM jobs WHERE status IN ({','.join('?' * len(statuses))}) ORDER BY idx"
        return [{"group": g, "row_status": st, **json.loads(r)} for g, st, r in con.execute(q, statuses)]
    finally:
        con.close()


def load(path: str) -> dict:
    """Columns of every finished row as numpy arrays: numbers → float64 (None → NaN), booleans → bool,
    integers → int64, anything else → object."""
    data = rows(path)
    keys: list = []
    for r in data:
        for k in r:
            if k not in keys:
                keys.append(k)
    out = {}
    for k in keys:
        vals = [r.get(k) for r in data]
        present = [v for v in vals if v is not None]
        if present and all(isinstance(v, bool) for v in present) and len(present) == len(vals):
            out[k] = np.array(vals, dtype=bool)
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present) and len(present) == len(vals):
            out[k] = np.array(vals, dtype=np.int64)
        elif present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
            out[k] = np.array([math.nan if v is None else float(v) for v in vals])
        else:
            out[k] = np.array(vals, dtype=object)
    return out


def _check_out(store: str, out: str) -> None:
    """An export target must be a writable file path that is neither the store nor any other ufm store."""
    if os.path.isdir(out):
        raise ValueError(f"--out {out!r} is a directory")
    if not os.path.isdir(os.path.dirname(os.path.abspath(out))):
        raise ValueError(f"--out {out!r}: its folder does not exist")
    if os.path.exists(out):
        if os.path.exists(store) and os.path.samefile(store, out):
            raise ValueError(f"--out {out!r} is the store itself; refusing to overwrite it")
        with open(out, "rb") as fh:
            if fh.read(16) == b"SQLite format 3\x00":
                raise ValueError(f"--out {out!r} is an SQLite database (a store?); refusing to overwrite it")


def export(path: str, fmt: str, out: str | None = None) -> str:
    """Write the finished rows as csv, json or parquet (needs pyarrow) to `out` (atomically; never over a
    store), or return CSV/JSON text."""
    if fmt not in ("csv", "json", "parquet"):
        raise ValueError(f"--format must be csv, json or parquet; got {fmt!r}")
    if out is not None:
        _check_out(path, out)
    data = rows(path)
    if fmt == "json":
        text = ufm.dumps(data, indent=1)
    elif fmt == "csv":
        keys: list = []
        for r in data:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        w.writeheader()
        for r in data:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in keys})
        text = buf.getvalue()
    elif fmt == "parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise ValueError("--format parquet needs pyarrow (pip install pyarrow)") from None
        if out is None:
            raise ValueError("--format parquet needs --out PATH")
        tmp = f"{out}.tmp-{os.getpid()}"
        try:
            pq.write_table(pa.Table.from_pylist(data), tmp)
            os.replace(tmp, out)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return out
    else:
        raise ValueError(f"--format must be csv, json or parquet; got {fmt!r}")
    if out is not None:
        ufm.write_atomic(out, text)
        return out
    return text


_RANK = {"done": 3, "failed": 2, "running": 0, "pending": 1}


def merge(paths: list[str], into: str) -> dict:
    """Combine stores of the same spec (e.g. shards) into `into`; refuses stores of different specs.
    For a job present in several, the finished copy wins. Returns status(into)."""
    if not paths:
        raise ValueError("merge: give at least one store")
    specs = []
    for p in paths:
        con = _open(p)
        specs.append(_store.spec_text(con))
        con.close()
    if os.path.exists(into):
        con = _store.connect(into, readonly=True)
        specs.append(_store.spec_text(con))
        con.close()
    known = [s for s in specs if s is not None]
    if len(set(known)) > 1:
        bad = [p for p, s in zip(paths, specs) if s != known[0]]
        raise ValueError(f"merge: stores hold different scan specs ({', '.join(bad) or into}); refusing to merge")
    out = _store.connect(into)
    cols = "hash, seed, idx, grp, shape, problem, method, tol, max_steps, status, claimed_by, claimed_at, result"
    with _store.transaction(out):
        if known and _store.spec_text(out) is None:
            out.execute("INSERT INTO meta VALUES ('spec', ?)", (known[0],))
        for p in paths:
            src = _store.connect(p, readonly=True)
            for key, value in src.execute("SELECT key, value FROM meta WHERE key LIKE 'compile:%'"):
                out.execute("INSERT OR IGNORE INTO meta VALUES (?, ?)", (key, value))
            for row in src.execute(f"SELECT {cols} FROM jobs"):
                row = list(row)
                if row[9] == "running":
                    row[9], row[10] = "pending", None
                cur = out.execute("SELECT status FROM jobs WHERE hash=? AND seed=?", (row[0], row[1])).fetchone()
                if cur is None:
                    out.execute(f"INSERT INTO jobs ({cols}) VALUES ({','.join('?' * 13)})", row)
                elif _RANK[row[9]] > _RANK[cur[0]]:
                    out.execute("UPDATE jobs SET status=?, result=? WHERE hash=? AND seed=?", (row[9], row[12], row[0], row[1]))
            src.close()
    out.close()
    return status(into)
