"""`ufm scan`: grid scans of UFM problems — run (resumable, sharded, SLURM arrays), status, export, merge,
plot, example."""

from __future__ import annotations

import argparse
import signal
import sqlite3
import sys

from ufm import Problem

from ._common import Parser, UsageError, check_output, number

HELP = "grid scans: run (resumable, sharded), status, export, merge, plot, example"
EXAMPLE = """example:
  ufm scan example > spec.toml
  ufm scan run spec.toml --store out/scan.sqlite
  ufm scan run --store out/ce.sqlite --loss ce --K 4 --n 5 --d 8 --lam-w 1e-4:1e-1:8:log
  ufm scan status out/scan.sqlite
  ufm scan plot out/scan.sqlite --x lam_w --y lam_h --z nc1 --log"""


def _grid(text: str):
    """A grid flag: a number, a comma list, start:stop:m (linear) or start:stop:m:log."""
    def num(t):
        v = float(t)
        return int(v) if v.is_integer() and "." not in t and "e" not in t.lower() else v

    try:
        if ":" in text:
            parts = text.split(":")
            if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != "log"):
                raise ValueError
            start, stop, m = float(parts[0]), float(parts[1]), int(parts[2])
            return {"logspace" if len(parts) == 4 else "linspace": [start, stop, m]}
        vals = [num(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a number, a comma list, start:stop:m or start:stop:m:log; got {text!r}") from None
    return vals if len(vals) > 1 else vals[0]


def _sub(ss, name: str, help: str, example: str):
    return ss.add_parser(name, help=help, description=help + ".", epilog="example:\n  " + example)


def add_parser(sub) -> None:
    p = sub.add_parser("scan", help=HELP, description=HELP + ".", epilog=EXAMPLE)
    ss = p.add_subparsers(dest="scan_command", metavar="SCAN_COMMAND", parser_class=Parser)
    ss.required = True
    r = _sub(ss, "run", "run or resume a scan into a store", "ufm scan run spec.toml --store out/scan.sqlite\n  ufm scan run --store out/ce.sqlite --loss ce --K 4 --n 5 --d 8 --lam-w 1e-4:1e-1:8:log --seeds 2\n  sbatch --array=0-15 --wrap 'ufm scan run spec.toml --store out/shard-$SLURM_ARRAY_TASK_ID.sqlite'")
    r.add_argument("spec", nargs="?", help="TOML spec (or give one group with the flags below)")
    r.add_argument("--store", required=True, help="SQLite store (created if missing, resumed if present)")
    r.add_argument("--shard", default=None, help="i/m: run the i-th of m deterministic shares (else SLURM_ARRAY_*)")
    r.add_argument("--name", default="cli", help="group name")
    r.add_argument("--loss", default=None)
    for key in Problem.GRID_FIELDS:
        if key != "bias":  # --no-bias below
            r.add_argument("--" + key.replace("_", "-"), dest=key, type=_grid, default=None)
    r.add_argument("--no-bias", action="store_true")
    r.add_argument("--dtype", default=None)
    r.add_argument("--seeds", type=number(int), default=None)
    r.add_argument("--method", default=None)
    r.add_argument("--tol", type=number(float), default=None)
    r.add_argument("--max-steps", type=number(int), default=None)
    r.add_argument("--chunk", type=number(int), default=None, help="configurations per batched solve")
    r.add_argument("--retry-failed", action="store_true", help="put the failed rows back to pending first")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(run=_cmd_scan_run)
    st = _sub(ss, "status", "done / pending / failed by group", "ufm scan status out/scan.sqlite")
    st.add_argument("store")
    st.set_defaults(run=_cmd_scan_status)
    ex = _sub(ss, "export", "write the results as csv, json or parquet", "ufm scan export out/scan.sqlite --format csv > scan.csv")
    ex.add_argument("store")
    ex.add_argument("--format", default="csv", help="csv | json | parquet (needs pyarrow)")
    ex.add_argument("--out", default=None, help="output file (default: stdout for csv/json)")
    ex.set_defaults(run=_cmd_scan_export)
    mg = _sub(ss, "merge", "combine stores of the same spec (e.g. shards)", "ufm scan merge out/shard-*.sqlite --into out/all.sqlite")
    mg.add_argument("stores", nargs="+")
    mg.add_argument("--into", required=True)
    mg.set_defaults(run=_cmd_scan_merge)
    pl = _sub(ss, "plot", "phase diagram: heatmap of z over (x, y) with theory boundaries", "ufm scan plot out/scan.sqlite --x lam_w --y lam_h --z nc1 --log --where d=6")
    pl.add_argument("store")
    pl.add_argument("--x", required=True)
    pl.add_argument("--y", required=True)
    pl.add_argument("--z", required=True)
    pl.add_argument("--log", action="store_true", help="colour by log10 z")
    pl.add_argument("--where", action="append", default=[], help="KEY=VALUE filter (repeatable)")
    pl.add_argument("--out", default=None, help="output path without extension")
    pl.set_defaults(run=_cmd_scan_plot)
    eg = _sub(ss, "example", "print the example spec (TOML) that ships with ufm, or a SLURM array script",
              "ufm scan example > spec.toml\n  ufm scan example --sbatch > array.sbatch")
    eg.add_argument("--sbatch", action="store_true", help="print the SLURM job-array script instead")
    eg.set_defaults(run=_cmd_scan_example)


def _scan_spec(args):
    from ufm.experiments import scan

    flags = {k: getattr(args, k) for k in Problem.GRID_FIELDS if k != "bias" and getattr(args, k) is not None}
    try:
        if args.spec is not None:
            if flags or args.loss:
                raise UsageError("give a SPEC file or grid flags, not both")
            raw = scan.read_spec(args.spec)
            if args.chunk is not None and isinstance(raw.get("solver", {}), dict):
                raw.setdefault("solver", {})["chunk"] = args.chunk
            return scan.from_dict(raw)
        if args.loss is None:
            raise UsageError("scan run: give a SPEC file or at least --loss and the grid flags")
        group = {"name": args.name, "loss": args.loss, **flags}
        if args.no_bias:
            group["bias"] = False
        for key in ("dtype", "seeds", "method", "tol", "max_steps"):
            if getattr(args, key) is not None:
                group[key] = getattr(args, key)
        solver = {} if args.chunk is None else {"chunk": args.chunk}
        return scan.from_dict({"group": [group], "solver": solver})
    except scan.SpecError as e:
        raise UsageError(f"scan spec: {e}") from None


def _cmd_scan_run(args) -> int:
    """Exit 0 when every job of this run's share is done, 1 when some failed (they are in the store with their
    error; --retry-failed runs them again), 130/143 when a signal stopped the run after its current chunk."""
    import ufm
    from ufm.experiments import scan

    scan.check_store(args.store)  # before the spec is expanded: a store path that stores nothing fails first
    spec = _scan_spec(args)
    try:
        shard = scan.shard_from_env(args.shard)
    except ValueError as e:
        raise UsageError(str(e)) from None
    got = []

    def on_signal(signum, frame):
        if got:  # a second signal: stop now (the claimed chunk goes back to pending on the next run)
            raise KeyboardInterrupt
        got.append(signum)
        print(f"ufm: {signal.Signals(signum).name} received; stopping after the current chunk "
              "(send it again to stop now)", file=sys.stderr)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        summary = scan.run(spec, args.store, shard=shard, progress=not args.quiet, retry_failed=args.retry_failed,
                           should_stop=lambda: bool(got))
    except ValueError as e:
        raise UsageError(str(e)) from None
    except (sqlite3.Error, OSError) as e:
        raise UsageError(f"--store {args.store}: {e}") from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print(ufm.dumps(summary))
    if got:
        print(f"ufm: stopped by {signal.Signals(got[0]).name}; every finished chunk is stored, run the same "
              "command again to resume", file=sys.stderr)
        return 128 + got[0]
    return 1 if summary["failed"] else 0


def _cmd_scan_status(args) -> int:
    from ufm.experiments import scan

    try:
        st = scan.status(args.store)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    width = max([len(g) for g in st] + [5])
    print(f"{'group':<{width}}  {'done':>6}  {'pending':>7}  {'failed':>6}  {'running':>7}  {'total':>6}")
    for g, c in st.items():
        print(f"{g:<{width}}  {c['done']:>6}  {c['pending']:>7}  {c['failed']:>6}  {c['running']:>7}  {c['total']:>6}")
    comp = scan.compilations(args.store)
    print(f"XLA compilations: {comp['compilations']} in {comp['runs']} run(s), {comp['compile_seconds']:.1f} s")
    return 1 if any(c["failed"] for c in st.values()) else 0


def _cmd_scan_export(args) -> int:
    from ufm.experiments import scan

    try:
        text = scan.export(args.store, args.format, args.out)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    if args.out is None:
        sys.stdout.write(text)
    else:
        print(f"wrote {text}", file=sys.stderr)
    return 0


def _cmd_scan_merge(args) -> int:
    import ufm
    from ufm.experiments import scan

    try:
        st = scan.merge(args.stores, args.into)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(ufm.dumps(st))
    return 0


def _cmd_scan_plot(args) -> int:
    from ufm.experiments import scan

    where = {}
    for item in args.where:
        if "=" not in item:
            raise UsageError(f"--where must be KEY=VALUE; got {item!r}")
        k, v = item.split("=", 1)
        where[k] = v
    if args.out is not None:
        for ext in (".png", ".pdf"):
            check_output(args.out if args.out.endswith(ext) else args.out + ext, "--out")
    try:
        paths = scan.plot(args.store, args.x, args.y, args.z, log=args.log, where=where, out=args.out)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    for p in paths:
        print(p)
    return 0


def _cmd_scan_example(args) -> int:
    from ufm.experiments import scan

    sys.stdout.write(scan.example_spec("array.sbatch" if args.sbatch else "example.toml"))
    return 0
