"""The `ufm` command line. Bad input: one line on stderr naming the flag, exit code 2, no traceback."""

from __future__ import annotations

import argparse
import json
import math
import sqlite3
import sys
from pathlib import Path

from ._problem import Problem

# Problem field → the flag that sets it.
FLAGS = {
    "K": "--K", "n": "--n", "d": "--d", "loss": "--loss", "lam_w": "--lam-w", "lam_h": "--lam-h",
    "lam_b": "--lam-b", "delta": "--delta", "gamma": "--gamma", "alpha": "--alpha", "M": "--M",
    "bias": "--no-bias", "fixed_w": "--fixed-etf", "etf_norm": "--etf-norm", "dtype": "--dtype",
}


class UsageError(Exception):
    """A bad command line; its message is the single line printed before exiting with code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def _number(kind):
    def parse(text):
        try:
            v = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an integer' if kind is int else 'a number'}, got {text!r}")
        if kind is float and not math.isfinite(v):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        return v

    parse.__name__ = kind.__name__
    return parse


def add_problem_flags(p: argparse.ArgumentParser) -> None:
    """The flags that define a `Problem` (shared by the subcommands that take one)."""
    d = Problem()
    g = p.add_argument_group("problem")
    g.add_argument("--loss", default=d.loss, help="ce | ls | fl | mse (default %(default)s)")
    g.add_argument("--K", type=_number(int), default=d.K, help="classes, ≥ 2 (default %(default)s)")
    g.add_argument("--n", type=_number(int), default=d.n, help="samples per class, ≥ 1 (default %(default)s)")
    g.add_argument("--d", type=_number(int), default=d.d, help="feature dimension, ≥ 1 (default %(default)s)")
    g.add_argument("--lam-w", type=_number(float), default=d.lam_w, help="λ_W > 0 (default %(default)s)")
    g.add_argument("--lam-h", type=_number(float), default=d.lam_h, help="λ_H > 0 (default %(default)s)")
    g.add_argument("--lam-b", type=_number(float), default=d.lam_b, help="λ_b ≥ 0 (default %(default)s)")
    g.add_argument("--delta", type=_number(float), default=d.delta, help="LS δ in [0,1) (default %(default)s)")
    g.add_argument("--gamma", type=_number(float), default=d.gamma, help="FL γ ≥ 0 (default %(default)s)")
    g.add_argument("--alpha", type=_number(float), default=d.alpha, help="MSE α > 0 (default %(default)s)")
    g.add_argument("--M", type=_number(float), default=d.M, help="MSE M > 0 (default %(default)s)")
    g.add_argument("--no-bias", action="store_true", help="fix b ≡ 0")
    g.add_argument("--fixed-etf", action="store_true", help="freeze W to a simplex ETF (needs d ≥ K−1)")
    g.add_argument("--etf-norm", type=_number(float), default=d.etf_norm, help="row norm of the frozen ETF")
    g.add_argument("--dtype", default=d.dtype, help="float64 | float32 (default %(default)s)")


def problem_from_args(args) -> Problem:
    """Build the Problem, turning a field's ValueError into a UsageError that names the flag."""
    fields = dict(
        K=args.K, n=args.n, d=args.d, loss=args.loss, lam_w=args.lam_w, lam_h=args.lam_h, lam_b=args.lam_b,
        delta=args.delta, gamma=args.gamma, alpha=args.alpha, M=args.M, bias=not args.no_bias,
        fixed_w="etf" if args.fixed_etf else None, etf_norm=args.etf_norm, dtype=args.dtype,
    )
    try:
        return Problem(**fields)
    except ValueError as e:
        msg = str(e)
        for field, flag in sorted(FLAGS.items(), key=lambda kv: -len(kv[0])):
            prefix = f"Problem.{field} "
            if msg.startswith(prefix):
                raise UsageError(f"{flag} {msg[len(prefix):]}") from None
        raise UsageError(msg) from None


def _solve_parser(sub) -> None:
    p = sub.add_parser("solve", help="solve one UFM problem and print its NC metrics")
    add_problem_flags(p)
    g = p.add_argument_group("solver")
    g.add_argument("--method", default="auto", help="auto | lbfgs | newton | gd | sgd | adam (default %(default)s)")
    g.add_argument("--tol", type=_number(float), default=None, help="relative gradient tolerance ‖∇f‖/|f|")
    g.add_argument("--max-steps", type=_number(int), default=None, help="iteration cap")
    g.add_argument("--lr", type=_number(float), default=None, help="learning rate (gd, sgd, adam)")
    g.add_argument("--seed", type=_number(int), default=0, help="seed of the random start (default 0)")
    g.add_argument("--init-scale", type=_number(float), default=0.1, help="std of the random start")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=_cmd_solve)


def _method(args):
    from . import solvers
    from ._solve import METHODS

    if args.method not in METHODS:
        raise UsageError(f"--method must be one of {', '.join(METHODS)}; got {args.method!r}")
    if args.lr is None:
        return args.method
    if args.method not in ("gd", "sgd", "adam"):
        raise UsageError(f"--lr applies to gd, sgd and adam only; got --method {args.method}")
    if args.lr <= 0:
        raise UsageError(f"--lr must be > 0; got {args.lr}")
    return {"gd": solvers.GD, "sgd": solvers.SGD, "adam": solvers.Adam}[args.method](lr=args.lr)


def _check_solver_flags(args) -> None:
    if args.tol is not None and not 0 <= args.tol < 1:
        raise UsageError(f"--tol must be in [0, 1); got {args.tol}")
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError(f"--max-steps must be ≥ 1; got {args.max_steps}")
    if args.seed < 0:
        raise UsageError(f"--seed must be ≥ 0; got {args.seed}")
    if args.init_scale < 0:
        raise UsageError(f"--init-scale must be ≥ 0; got {args.init_scale}")


def _finite_or_none(v):
    return None if v is None or (isinstance(v, float) and not math.isfinite(v)) else v


def theory_record(sol) -> dict:
    """`prediction` (objective, b, a, case, kappa, extension) and `certificate` (ratio, gap_bound, ...)."""
    import theory

    pred = theory.predict(sol.problem)
    cert = theory.certificate(sol.problem, sol.W, sol.H, sol.b)
    return {
        "prediction": {
            "objective": pred.objective, "b": None if pred.b is None else [float(v) for v in pred.b],
            "a": pred.a, "case": pred.case, "kappa": pred.kappa, "extension": pred.extension, "source": pred.source,
        },
        "certificate": {k: _finite_or_none(v) for k, v in cert._asdict().items()},
    }


def solution_record(sol) -> dict:
    """A JSON-ready dict of one solution: problem, objective, gradient, steps, status, b, metrics, times,
    and what theory predicts for it (prediction, certificate)."""
    from . import metrics

    return {
        "problem": sol.problem.to_dict(),
        "method": type(sol.method).__name__.lower(),
        "objective": sol.objective,
        "grad_norm": sol.grad_norm,
        "rel_grad_norm": sol.rel_grad_norm,
        "steps": sol.steps,
        "converged": bool(sol.converged),
        "status": sol.status,
        "b": [float(v) for v in sol.b],
        "metrics": metrics.all(sol.W, sol.H, sol.b),
        "seconds": sol.seconds,
        "compile_seconds": sol.compile_seconds,
        **theory_record(sol),
    }


def _table(rec: dict) -> str:
    p = rec["problem"]
    loss = p["loss"] + {"ls": f"(δ={p['delta']:g})", "fl": f"(γ={p['gamma']:g})",
                        "mse": f"(α={p['alpha']:g}, M={p['M']:g})"}.get(p["loss"], "")
    head = (
        f"UFM {loss}  K={p['K']} n={p['n']} d={p['d']}  λ_W={p['lam_w']:g} λ_H={p['lam_h']:g} "
        f"λ_b={p['lam_b']:g}{'' if p['bias'] else ' (no bias)'}{'  W=ETF' if p['fixed_w'] else ''}  {p['dtype']}"
    )
    rows = [
        ("method", rec["method"]),
        ("status", rec["status"]),
        ("objective", f"{rec['objective']:.15g}"),
        ("grad norm", f"{rec['grad_norm']:.3e}  (relative {rec['rel_grad_norm']:.3e})"),
        ("steps", str(rec["steps"])),
        ("seconds", f"{rec['seconds']:.3f}  (+ {rec['compile_seconds']:.2f} compile)"),
        ("b mean ± spread", f"{sum(rec['b']) / len(rec['b']):.6g} ± {max(rec['b']) - min(rec['b']):.2e}"),
    ]
    rows += [(k, f"{v:.6g}") for k, v in rec["metrics"].items()]
    pred, cert = rec["prediction"], rec["certificate"]
    if pred["objective"] is not None:
        gap = (rec["objective"] - pred["objective"]) / abs(pred["objective"])
        rows.append(("theory f*", f"{pred['objective']:.15g}  (relative gap {gap:.1e}; {pred['case']})"))
    else:
        rows.append(("theory", pred["case"]))
    if cert["ratio"] is not None:
        rows.append(("‖G‖₂/λ_Z", f"{cert['ratio']:.12g}"))
    if cert["gap_bound"] is not None:
        rows.append(("certified f − f* ≤", f"{cert['gap_bound']:.2e}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join([head] + [f"  {k:<{width}}  {v}" for k, v in rows])


def _cmd_solve(args) -> int:
    problem = problem_from_args(args)
    _check_solver_flags(args)
    method = _method(args)
    from ._solve import solve

    sol = solve(problem, method=method, tol=args.tol, max_steps=args.max_steps, seed=args.seed,
                init_scale=args.init_scale)
    rec = solution_record(sol)
    print(json.dumps(rec) if args.json else _table(rec))
    return 0 if sol.status in ("converged", "stalled", "max_steps") else 1


def _verify_parser(sub) -> None:
    p = sub.add_parser("verify", help="check every theorem of the papers against float64 solves (the main job)")
    p.add_argument("--quick", action="store_true", help="the quick battery (< 1 min on 2 cores)")
    p.add_argument("--seed", type=_number(int), default=0, help="seed of the parameter draws (default 0)")
    p.add_argument("--json", metavar="PATH", default=None, help="write every case with its numbers to PATH")
    p.set_defaults(run=_cmd_verify)


def _cmd_verify(args) -> int:
    if args.seed < 0:
        raise UsageError(f"--seed must be ≥ 0; got {args.seed}")
    if args.json is not None:
        import os

        parent = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(parent):
            raise UsageError(f"--json: directory {parent} does not exist")
    import theory
    from theory._verify import main_progress

    report = theory.verify(quick=args.quick, seed=args.seed, progress=main_progress)
    print(report.table())
    if args.json is not None:
        with open(args.json, "w") as fh:
            json.dump(report.to_dict(), fh, indent=1, default=_json_default)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0 if report.passed else 1


def _json_default(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if hasattr(v, "tolist"):
        return v.tolist()
    return str(v)


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


def _scan_parser(sub) -> None:
    from experiments.scan._spec import GRID_KEYS

    p = sub.add_parser("scan", help="grid scans: run, status, export, merge, plot")
    ss = p.add_subparsers(dest="scan_command", metavar="SCAN_COMMAND", parser_class=_Parser)
    ss.required = True
    r = ss.add_parser("run", help="run or resume a scan into a store")
    r.add_argument("spec", nargs="?", help="TOML spec (or give one group with the flags below)")
    r.add_argument("--store", required=True, help="SQLite store (created if missing, resumed if present)")
    r.add_argument("--shard", default=None, help="i/m: run the i-th of m deterministic shares (else SLURM_ARRAY_*)")
    r.add_argument("--name", default="cli", help="group name")
    r.add_argument("--loss", default=None)
    for key in GRID_KEYS:
        if key != "bias":  # --no-bias below
            r.add_argument("--" + key.replace("_", "-"), dest=key, type=_grid, default=None)
    r.add_argument("--no-bias", action="store_true")
    r.add_argument("--dtype", default=None)
    r.add_argument("--seeds", type=_number(int), default=None)
    r.add_argument("--method", default=None)
    r.add_argument("--tol", type=_number(float), default=None)
    r.add_argument("--max-steps", type=_number(int), default=None)
    r.add_argument("--chunk", type=_number(int), default=None, help="configurations per batched solve")
    r.add_argument("--quiet", action="store_true", help="no progress output")
    r.set_defaults(run=_cmd_scan_run)
    st = ss.add_parser("status", help="done / pending / failed by group")
    st.add_argument("store")
    st.set_defaults(run=_cmd_scan_status)
    ex = ss.add_parser("export", help="write the results as csv, json or parquet")
    ex.add_argument("store")
    ex.add_argument("--format", default="csv", help="csv | json | parquet (needs pyarrow)")
    ex.add_argument("--out", default=None, help="output file (default: stdout for csv/json)")
    ex.set_defaults(run=_cmd_scan_export)
    mg = ss.add_parser("merge", help="combine stores of the same spec (e.g. shards)")
    mg.add_argument("stores", nargs="+")
    mg.add_argument("--into", required=True)
    mg.set_defaults(run=_cmd_scan_merge)
    pl = ss.add_parser("plot", help="phase diagram: heatmap of z over (x, y) with theory boundaries")
    pl.add_argument("store")
    pl.add_argument("--x", required=True)
    pl.add_argument("--y", required=True)
    pl.add_argument("--z", required=True)
    pl.add_argument("--log", action="store_true", help="colour by log10 z")
    pl.add_argument("--where", action="append", default=[], help="KEY=VALUE filter (repeatable)")
    pl.add_argument("--out", default=None, help="output path without extension")
    pl.set_defaults(run=_cmd_scan_plot)


def _scan_spec(args):
    from experiments import scan

    flags = {k: getattr(args, k) for k in scan.GRID_KEYS if k != "bias" and getattr(args, k) is not None}
    try:
        if args.spec is not None:
            if flags or args.loss:
                raise UsageError("give a SPEC file or grid flags, not both")
            try:
                with open(args.spec, "rb") as fh:
                    text = fh.read().decode()
            except OSError as e:
                raise UsageError(f"spec: cannot read {args.spec!r} ({e.strerror})") from None
            raw = scan.parse_toml(text)
            if args.chunk is not None:
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
    from experiments import scan

    spec = _scan_spec(args)
    try:
        shard = scan.shard_from_env(args.shard)
    except ValueError as e:
        raise UsageError(str(e)) from None
    try:
        summary = scan.run(spec, args.store, shard=shard, progress=not args.quiet)
    except ValueError as e:
        raise UsageError(str(e)) from None
    except (sqlite3.Error, OSError) as e:
        raise UsageError(f"--store {args.store}: {e}") from None
    print(json.dumps(summary))
    return 0


def _cmd_scan_status(args) -> int:
    from experiments import scan

    try:
        st = scan.status(args.store)
    except FileNotFoundError as e:
        raise UsageError(str(e)) from None
    width = max([len(g) for g in st] + [5])
    print(f"{'group':<{width}}  {'done':>6}  {'pending':>7}  {'failed':>6}  {'running':>7}")
    for g, c in st.items():
        print(f"{g:<{width}}  {c['done']:>6}  {c['pending']:>7}  {c['failed']:>6}  {c['running']:>7}")
    return 0


def _cmd_scan_export(args) -> int:
    from experiments import scan

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
    from experiments import scan

    try:
        st = scan.merge(args.stores, args.into)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    print(json.dumps(st))
    return 0


def _cmd_scan_plot(args) -> int:
    from experiments import scan

    where = {}
    for item in args.where:
        if "=" not in item:
            raise UsageError(f"--where must be KEY=VALUE; got {item!r}")
        k, v = item.split("=", 1)
        where[k] = v
    try:
        paths = scan.plot(args.store, args.x, args.y, args.z, log=args.log, where=where, out=args.out)
    except (FileNotFoundError, ValueError) as e:
        raise UsageError(str(e)) from None
    for p in paths:
        print(p)
    return 0


def _figures_parser(sub) -> None:
    p = sub.add_parser("figures", help="regenerate the papers' UFM figures and the toolkit's own (PNG, PDF, index.html)")
    p.add_argument("--only", nargs="+", metavar="NAME", default=None, help="make only these figures (see --list)")
    p.add_argument("--out", default="figures", help="output folder (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="smaller grids and shorter runs (all in < 2 min on 2 cores)")
    p.add_argument("--list", action="store_true", help="list the figures and what each reproduces, then exit")
    p.set_defaults(run=_cmd_figures)


def _cmd_figures(args) -> int:
    import os

    import experiments.figures as figures

    mods = figures.modules()
    if args.list:
        for name, mod in mods.items():
            print(f"{name:32s} {mod.REPRODUCES}")
        return 0
    unknown = [n for n in (args.only or []) if n not in mods]
    if unknown:
        raise UsageError(f"--only: unknown figure(s) {', '.join(unknown)} (ufm figures --list shows the names)")
    out = os.path.abspath(args.out)
    if os.path.exists(out) and not os.path.isdir(out):
        raise UsageError(f"--out {args.out} exists and is not a folder")
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise UsageError(f"--out {args.out}: cannot create the folder ({e.strerror})") from None
    if not os.access(out, os.W_OK):
        raise UsageError(f"--out {args.out} is not writable")
    made = figures.build(args.out, only=args.only, quick=args.quick)
    failed = 0
    for name in made:
        meta = json.loads(Path(args.out, f"{name}.json").read_text())
        bad = [k for k, c in meta["checks"].items() if not c["pass"]]
        failed += len(bad)
        print(f"{name:32s} {len(meta['checks']) - len(bad)}/{len(meta['checks'])} checks pass  "
              f"{meta['seconds']:.1f} s")
        for k in bad:
            c = meta["checks"][k]
            print(f"  FAIL {k}: {c['value']:.3g} (tolerance {c['kind']} {c['tol']:g})")
    print(f"wrote {os.path.join(args.out, 'index.html')}")
    return 1 if failed else 0


def _bench_parser(sub) -> None:
    p = sub.add_parser("bench", help="speed and memory as ratios: PyTorch loop, batched scans, GFLOP/s, memory, start-up")
    p.add_argument("--quick", action="store_true", help="the small sizes only (< 2 min on 2 cores)")
    p.add_argument("--json", metavar="PATH", default=None, help="write every number to PATH")
    p.add_argument("--only", nargs="+", metavar="SECTION", default=None,
                   help="torch | batched | hardware | memory | startup (default: all)")
    p.set_defaults(run=_cmd_bench)


def _cmd_bench(args) -> int:
    import os

    import experiments.benchmarks as bench

    bad = [s for s in (args.only or []) if s not in bench.SECTIONS]
    if bad:
        raise UsageError(f"--only: unknown section(s) {', '.join(bad)}; choose from {', '.join(bench.SECTIONS)}")
    if args.json is not None and not os.path.isdir(os.path.dirname(os.path.abspath(args.json))):
        raise UsageError(f"--json: directory {os.path.dirname(os.path.abspath(args.json))} does not exist")
    report = bench.run(quick=args.quick, only=args.only)
    print(bench.table(report))
    if args.json is not None:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=1, default=_json_default)
        print(f"wrote {args.json}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ufm", description="Unconstrained feature model toolkit (Neural Collapse).")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _solve_parser(sub)
    _verify_parser(sub)
    _scan_parser(sub)
    _figures_parser(sub)
    _bench_parser(sub)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return args.run(args)
    except UsageError as e:
        msg = str(e).splitlines()[0]
        print(msg if msg.startswith("ufm") else f"ufm: {msg}", file=sys.stderr)
        return 2
    except sqlite3.Error as e:  # a scan store that is not a database, or cannot be written
        print(f"ufm: store: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
