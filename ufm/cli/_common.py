"""What the subcommands share: the parser class, number flags, the Problem flags, error rendering, output files.

Nothing here imports JAX: `ufm --help` and `ufm --version` build the whole parser without it.
"""

from __future__ import annotations

import argparse
import math
import os
import sys

from ufm import Problem

# Problem field → the flag that sets it.
FLAGS = {
    "K": "--K", "n": "--n", "d": "--d", "loss": "--loss", "lam_w": "--lam-w", "lam_h": "--lam-h",
    "lam_b": "--lam-b", "delta": "--delta", "gamma": "--gamma", "alpha": "--alpha", "M": "--M",
    "bias": "--no-bias", "fixed_w": "--fixed-etf", "etf_norm": "--etf-norm", "dtype": "--dtype",
    "n_max": "--n", "ratio": "--imbalance", "profile": "--profile", "minority": "--minority",
    "depth": "--depth", "activation": "--activation", "widths": "--widths",
}


class UsageError(Exception):
    """A bad command line; its message is the single line printed before exiting with code 2."""


class Parser(argparse.ArgumentParser):
    """argparse that raises UsageError (one line, exit 2) instead of printing usage and exiting."""

    def __init__(self, *args, **kw):
        kw.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kw)

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def number(kind):
    """argparse type: an int or a finite float, with a one-line error."""
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


def counts(text):
    """argparse type of --n: one integer (every class) or K comma-separated integers (one per class)."""
    parts = text.split(",")
    try:
        values = [int(t) for t in parts]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer or comma-separated integers, got {text!r}")
    return values[0] if len(values) == 1 else tuple(values)


counts.__name__ = "counts"


def numbers(text):
    """argparse type of --lam-w: one finite number, or comma-separated ones (one per layer of a deep problem)."""
    try:
        values = [float(t) for t in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or comma-separated numbers, got {text!r}")
    if not all(math.isfinite(v) for v in values):
        raise argparse.ArgumentTypeError(f"expected finite numbers, got {text!r}")
    return values[0] if len(values) == 1 else tuple(values)


numbers.__name__ = "numbers"


def add_problem_flags(p: argparse.ArgumentParser) -> None:
    """The flags that define a `Problem` (shared by the subcommands that take one)."""
    d = Problem()
    g = p.add_argument_group("problem")
    g.add_argument("--loss", default=d.loss, help="ce | ls | fl | mse (default %(default)s)")
    g.add_argument("--K", type=number(int), default=d.K, help="classes, ≥ 2 (default %(default)s)")
    g.add_argument("--n", type=counts, default=d.n,
                   help="samples per class, ≥ 1, or K comma-separated counts such as 500,500,50,50; with "
                        "--imbalance, the largest class's count (default %(default)s)")
    g.add_argument("--imbalance", type=number(float), default=None, metavar="R",
                   help="imbalance ratio R = n_max/n_min ≥ 1 of the counts made from --n (ufm.class_counts)")
    g.add_argument("--profile", default="step", help="with --imbalance: step (the last --minority classes have "
                   "n/R) | longtail (n·R^(−k/(K−1))) (default %(default)s)")
    g.add_argument("--minority", type=number(int), default=None,
                   help="with --imbalance and the step profile: number of minority classes (default ⌊K/2⌋)")
    g.add_argument("--d", type=number(int), default=d.d, help="feature dimension, ≥ 1 (default %(default)s)")
    g.add_argument("--lam-w", type=numbers, default=d.lam_w,
                   help="λ_W > 0; with --depth L, one number or L comma-separated ones (default %(default)s)")
    g.add_argument("--lam-h", type=number(float), default=d.lam_h, help="λ_H > 0 (default %(default)s)")
    g.add_argument("--lam-b", type=number(float), default=d.lam_b, help="λ_b ≥ 0 (default %(default)s)")
    g.add_argument("--delta", type=number(float), default=d.delta, help="LS δ in [0,1) (default %(default)s)")
    g.add_argument("--gamma", type=number(float), default=d.gamma, help="FL γ ≥ 0 (default %(default)s)")
    g.add_argument("--alpha", type=number(float), default=d.alpha, help="MSE α > 0 (default %(default)s)")
    g.add_argument("--M", type=number(float), default=d.M, help="MSE M > 0 (default %(default)s)")
    g.add_argument("--no-bias", action="store_true", help="fix b ≡ 0")
    g.add_argument("--fixed-etf", action="store_true", help="freeze W to a simplex ETF (needs d ≥ K−1)")
    g.add_argument("--etf-norm", type=number(float), default=d.etf_norm, help="row norm of the frozen ETF")
    g.add_argument("--dtype", default=d.dtype, help="float64 | float32 (default %(default)s)")
    g.add_argument("--depth", type=number(int), default=d.depth,
                   help="weight matrices L ≥ 1 between the free features and the logits: the deep UFM (default 1)")
    g.add_argument("--activation", default=d.activation, help="σ between the layers: linear | relu (default linear)")
    g.add_argument("--widths", type=counts, default=None,
                   help="hidden widths d_1,…,d_{L−1} (default: --d for each)")


def problem_from_args(args) -> Problem:
    """The Problem of the flags; a field outside its range becomes a UsageError that names the flag."""
    from ufm import ParameterError, class_counts

    n = args.n
    try:
        if args.imbalance is not None:
            if not isinstance(n, int):
                raise UsageError("--imbalance needs one count in --n (the largest class's), not a list")
            n = class_counts(args.K, n, args.imbalance, args.profile, args.minority)
        elif args.minority is not None or args.profile != "step":
            raise UsageError("--profile and --minority go with --imbalance")
    except ParameterError as e:
        raise UsageError(f"{FLAGS.get(e.param, e.param)} must be {e.allowed}; got {e.value!r}") from None
    fields = dict(
        K=args.K, n=n, d=args.d, loss=args.loss, lam_w=args.lam_w, lam_h=args.lam_h, lam_b=args.lam_b,
        delta=args.delta, gamma=args.gamma, alpha=args.alpha, M=args.M, bias=not args.no_bias,
        fixed_w="etf" if args.fixed_etf else None, etf_norm=args.etf_norm, dtype=args.dtype,
        depth=args.depth, activation=args.activation,
        widths=(args.widths,) if isinstance(args.widths, int) else args.widths,
    )
    try:
        return Problem(**fields)
    except ParameterError as e:
        raise UsageError(f"{FLAGS.get(e.param, e.param)} must be {e.allowed}; got {e.value!r}") from None


def flag_of(param: str) -> str:
    """The command-line spelling of a keyword argument: max_steps → --max-steps."""
    return "--" + param.replace("_", "-")


def check_output(path: str | None, flag: str) -> None:
    """Fail before any compute if `path` cannot be written (its folder is missing or read-only)."""
    if path is None:
        return
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise UsageError(f"{flag}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError(f"{flag}: directory {parent} is not writable")
    if os.path.isdir(path):
        raise UsageError(f"{flag}: {path} is a directory")


def write_atomic(path: str, text: str) -> None:
    """`ufm.write_atomic`: a reader never sees a half-written output file."""
    import ufm

    ufm.write_atomic(path, text)


def progress(tag: str):
    """A progress printer on stderr (stdout stays clean for tables and JSON)."""
    def say(msg: str) -> None:
        print(f"[{tag}] {msg}", file=sys.stderr, flush=True)

    return say


def check_fits(problem, flag: str = "--K/--n/--d", reduce: str = "never") -> None:
    """Refuse, before anything is allocated, a problem whose solve needs more memory than is available."""
    import ufm

    need, have = ufm.estimate_bytes(problem, reduce=reduce), ufm.available_bytes()
    if have is not None and need > have:
        raise UsageError(f"{flag}: one solve of K={problem.K} n={problem.n} d={problem.d} needs ~"
                         f"{need / 2**30:.3g} GiB, more than the {have / 2**30:.3g} GiB available")


def setup_jax() -> None:
    """The command line's process configuration: JAX's 64-bit mode and the persistent compilation cache."""
    import ufm

    ufm.configure()
