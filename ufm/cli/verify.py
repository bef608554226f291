"""`ufm verify`: check every theorem of the UFM papers against float64 solves (the main job)."""

from __future__ import annotations

import sys

from ._common import UsageError, check_output, number, progress, write_atomic

HELP = "check every theorem of the UFM papers against float64 solves and list the papers' errata"
EXAMPLE = """example:
  ufm verify --quick                 # the quick battery (its time: ufm bench --only verify)
  ufm verify --json verify.json      # the full battery, every case with its numbers
  ufm verify --ledger                # every numbered statement of the papers: checked / erratum / not checkable"""


def add_parser(sub) -> None:
    p = sub.add_parser("verify", help=HELP, description=HELP + ".", epilog=EXAMPLE)
    p.add_argument("--quick", action="store_true", help="the quick battery: K = 4 and the K = 2, 3 edges (times of both: ufm bench --only verify)")
    p.add_argument("--seed", type=number(int), default=0, help="seed of the parameter draws (default 0)")
    p.add_argument("--json", metavar="PATH", default=None, help="write every case with its numbers to PATH")
    p.add_argument("--workers", type=number(int), default=None, metavar="N",
                   help="families of checks run at once on N threads, 1 ≤ N ≤ 1024 (default: this process's CPUs; "
                        "the report is the same for any N)")
    p.add_argument("--ledger", action="store_true",
                   help="print the claims ledger (a Markdown table; with --json, also write it as JSON) and exit "
                        "without solving")
    p.set_defaults(run=run)


def run(args) -> int:
    if args.seed < 0:
        raise UsageError(f"--seed must be ≥ 0; got {args.seed}")
    if args.workers is not None and not 1 <= args.workers <= 1024:
        raise UsageError(f"--workers must be in [1, 1024]; got {args.workers}")
    check_output(args.json, "--json")
    import ufm
    from ufm import theory

    if args.ledger:
        print(theory.ledger_markdown(), end="")
        if args.json is not None:
            rows = [{**r._asdict(), "citation": r.citation} for r in theory.claims()]
            write_atomic(args.json, ufm.dumps(rows, indent=1))
            print(f"wrote {args.json}", file=sys.stderr)
        return 0
    report = theory.verify(quick=args.quick, seed=args.seed, progress=progress("verify"), workers=args.workers)
    print(report.table())
    if args.json is not None:
        write_atomic(args.json, ufm.dumps(report.to_dict(), indent=1))
        print(f"wrote {args.json}", file=sys.stderr)
    return 0 if report.passed else 1
