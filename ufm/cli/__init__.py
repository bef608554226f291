"""The `ufm` command line: the top layer, one module per subcommand (solve, verify, metrics, scan, figures,
bench).

Bad input: one line on stderr naming the flag, exit code 2, never a traceback. Building the parser imports no
JAX, so `ufm --help` and `ufm --version` answer at once; a subcommand configures JAX (64-bit mode, compilation
cache) only when it runs.
"""

from __future__ import annotations

import sqlite3
import sys

from ufm import __version__

from . import bench, figures, metrics, scan, solve, verify
from ._common import Parser, UsageError, setup_jax

SUBCOMMANDS = (solve, verify, metrics, scan, figures, bench)

DESCRIPTION = """The unconstrained feature model (UFM) of Neural Collapse: certified float64 solves, every
checkable claim of the UFM papers, scans and figures."""
EXAMPLE = """examples:
  ufm solve --loss ce --K 10 --n 50 --d 20     # one problem: metrics, theory's optimum, certificate
  ufm verify --quick                            # check the papers' theorems (< 1 min)
  ufm metrics features.npz                      # NC metrics of your own network's features
  ufm scan example > spec.toml && ufm scan run spec.toml --store out/scan.sqlite
  ufm figures --quick --out figures/
  ufm bench --quick

'ufm COMMAND --help' describes each command."""


def build_parser() -> Parser:
    parser = Parser(prog="ufm", description=DESCRIPTION, epilog=EXAMPLE)
    parser.add_argument("--version", action="version", version=f"ufm {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for mod in SUBCOMMANDS:
        mod.add_parser(sub)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        setup_jax()
        return args.run(args)
    except UsageError as e:
        return _fail(str(e))
    except sqlite3.Error as e:  # a scan store that is not a database, or cannot be written
        return _fail(f"store: {e}")
    except Exception as e:  # an error ufm raised on purpose: its one line, exit 2
        from ufm import UFMError

        if isinstance(e, UFMError):
            return _fail(str(e))
        raise


def _fail(message: str) -> int:
    msg = message.splitlines()[0] if message else "error"
    print(msg if msg.startswith("ufm") else f"ufm: {msg}", file=sys.stderr)
    return 2


__all__ = ["main", "build_parser", "UsageError"]
