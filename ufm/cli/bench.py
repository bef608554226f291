"""`ufm bench`: speed and memory as ratios — the public PyTorch loop, batched scans, GFLOP/s, memory, start-up."""

from __future__ import annotations

import sys

from ._common import UsageError, check_output, write_atomic

HELP = ("speed and memory as ratios: PyTorch loop, batched scans, GFLOP/s, memory, start-up, NC metrics, a K = 10 "
        "scan, ufm verify from a cold cache, the census at K = 100")
EXAMPLE = """example:
  ufm bench --quick
  ufm bench --only torch startup --json bench.json
  ufm bench --only verify            # ufm verify --quick and the full battery as processes, cold cache"""


def add_parser(sub) -> None:
    p = sub.add_parser("bench", help=HELP, description=HELP + ".", epilog=EXAMPLE)
    p.add_argument("--quick", action="store_true", help="the small sizes only")
    p.add_argument("--json", metavar="PATH", default=None, help="write every number to PATH")
    p.add_argument("--only", nargs="+", action="extend", metavar="SECTION", default=None,
                   help="torch | batched | hardware | memory | startup | metrics | scan | verify | census | "
                        "deep (default: all)")
    p.set_defaults(run=run)


def run(args) -> int:
    import ufm
    from ufm.experiments import benchmarks as bench

    bad = [s for s in (args.only or []) if s not in bench.SECTIONS]
    if bad:
        raise UsageError(f"--only: unknown section(s) {', '.join(bad)}; choose from {', '.join(bench.SECTIONS)}")
    check_output(args.json, "--json")
    report = bench.run(quick=args.quick, only=args.only)
    print(bench.table(report))
    if args.json is not None:
        write_atomic(args.json, ufm.dumps(report, indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0
