"""`ufm figures`: regenerate the papers' UFM figures and the toolkit's own (PNG, PDF, a JSON of the numbers and
their checks, and a gallery index.html)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ._common import UsageError

HELP = "regenerate the papers' UFM figures and the toolkit's own (PNG, PDF, index.html)"
EXAMPLE = """example:
  ufm figures --list
  ufm figures --quick --out figures/
  ufm figures --only certificate_path --out figures/"""


def add_parser(sub) -> None:
    p = sub.add_parser("figures", help=HELP, description=HELP + ".", epilog=EXAMPLE)
    p.add_argument("--only", nargs="+", action="extend", metavar="NAME", default=None, help="make only these figures (see --list)")
    p.add_argument("--out", default="figures", help="output folder (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="smaller grids and shorter runs (the documentation's gallery)")
    p.add_argument("--list", action="store_true", help="list the figures and what each reproduces, then exit")
    p.set_defaults(run=run)


def run(args) -> int:
    from ufm.experiments import figures

    mods = figures.modules()
    if args.list:
        for name, fig in mods.items():
            print(f"{name:32s} {fig.reproduces}")
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
