"""The `ufm` command line: the top layer, one module per subcommand (solve, census, verify, metrics, scan,
figures, bench).

Bad input: one line on stderr naming the flag, exit code 2, never a traceback. Building the parser imports no
JAX, so `ufm --help` and `ufm --version` answer at once; a subcommand configures JAX (64-bit mode, compilation
cache) only when it runs.
"""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import sys

from ufm import __version__

from . import bench, census, figures, metrics, scan, solve, verify
from ._common import Parser, UsageError, setup_jax

SUBCOMMANDS = (solve, census, verify, metrics, scan, figures, bench)

DESCRIPTION = """The unconstrained feature model (UFM) of Neural Collapse: certified float64 solves, every
checkable claim of the UFM papers, scans and figures."""
EXAMPLE = """examples:
  ufm solve --loss ce --K 10 --n 50 --d 20     # one problem: metrics, theory's optimum, certificate
  ufm census --loss fl --gamma 5 --K 4 --d 5     # every critical point the solves find, classified
  ufm verify --quick                            # check the papers' theorems (the quick battery)
  ufm metrics features.npz                      # NC metrics of your own network's features
  ufm scan example > spec.toml && ufm scan run spec.toml --store out/scan.sqlite
  ufm figures --quick --out figures/
  ufm bench --quick

'ufm COMMAND --help' describes each command."""


EXIT_CODES = """exit codes:
  0  done            1  finished, but something failed (a diverged solve, failed scan rows, a failed check)
  2  bad input (one line on stderr)        130 / 143  interrupted (Ctrl-C / SIGTERM)"""


def build_parser() -> Parser:
    parser = Parser(prog="ufm", description=DESCRIPTION, epilog=EXAMPLE + "\n\n" + EXIT_CODES)
    parser.add_argument("--version", action="version", version=f"ufm {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an unexpected error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for mod in SUBCOMMANDS:
        mod.add_parser(sub)
    return parser


_NUMBER = re.compile(r"^-(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")


def _negative_values(argv: list[str]) -> list[str]:
    """`--lam-w -1e-3` → `--lam-w=-1e-3`: argparse reads a token like -1e-3 as an option, so a negative number
    given to a flag would fail with a confusing message instead of the flag's own range check."""
    out: list[str] = []
    for tok in argv:
        if out and _NUMBER.match(tok) and out[-1].startswith("--") and "=" not in out[-1]:
            out[-1] = f"{out[-1]}={tok}"
        else:
            out.append(tok)
    return out


class Interrupted(Exception):
    """SIGTERM, turned into an exception so that the command stops like on Ctrl-C."""


def _on_sigterm(signum, frame):
    raise Interrupted()


def main(argv=None) -> int:
    argv = _negative_values(list(sys.argv[1:] if argv is None else argv))
    debug = "--debug" in argv
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if _main_thread() else None
    try:
        args = build_parser().parse_args(argv)
        setup_jax()
        return args.run(args)
    except UsageError as e:
        return _fail(str(e))
    except sqlite3.Error as e:  # a scan store that is not a database, or cannot be written
        return _fail(f"store: {e}")
    except KeyboardInterrupt:
        print("ufm: interrupted (Ctrl-C)", file=sys.stderr)
        return 130
    except Interrupted:
        print("ufm: terminated (SIGTERM)", file=sys.stderr)
        return 143
    except BrokenPipeError:  # `ufm ... | head`: the reader left; stop quietly
        _silence_stdout()
        return 141
    except Exception as e:
        from ufm import UFMError

        if isinstance(e, UFMError):  # an error ufm raised on purpose: its one line, exit 2
            return _fail(str(e))
        if debug:
            raise
        first = (str(e).splitlines() or [""])[0]
        print(f"ufm: internal error: {type(e).__name__}: {first} (run again with --debug for the traceback)",
              file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


# XLA:CPU's flags for a `ufm` process: the older (non-MLIR) fusion emitters. Measured on this project's 2-core
# machine (jaxlib 0.10.2): a battery solve program compiles in 0.52 s instead of 1.08 s with identical numbers,
# `ufm verify --quick` in-process 24.7 → 22.4 s on top of the per-program options (ufm/_executables.py
# FAST_OPTIONS, which carry the same switch), and `ufm bench --only metrics hardware` is unchanged or faster
# (the flat-vector CE gradient 51.6 → 26.2 ms). Per-program options reach only ufm's own compiles; the flag
# reaches every compile of the process (JAX's single operations included). A flag that the user's XLA_FLAGS
# already sets is left as the user set it.
PROCESS_XLA_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)


def run() -> int:
    """The `ufm` executable and `python -m ufm`: the process's XLA flags (`PROCESS_XLA_FLAGS`, set before JAX
    starts its backend), then `main`. `main` itself changes no environment (tests and users call it in their
    own process)."""
    flags = os.environ.get("XLA_FLAGS", "")
    extra = [f for f in PROCESS_XLA_FLAGS if f.split("=")[0] not in flags]
    if extra:
        os.environ["XLA_FLAGS"] = " ".join([flags, *extra]).strip()
    return main()


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so that the interpreter's final flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


def _fail(message: str) -> int:
    msg = message.splitlines()[0] if message else "error"
    print(msg if msg.startswith("ufm") else f"ufm: {msg}", file=sys.stderr)
    return 2


__all__ = ["main", "run", "build_parser", "UsageError", "EXIT_CODES"]
