"""`ufm census`: the critical points that solves of one problem end at, classified by the objective and the
second-order test (`ufm.curvature`)."""

from __future__ import annotations

from ._common import UsageError, add_problem_flags, check_fits, flag_of, number, problem_from_args, progress

HELP = "census of one problem's critical points: global minima, spurious local minima, strict saddles"
EXAMPLE = """example:
  ufm census --loss fl --gamma 5 --K 4 --n 3 --d 5 --starts 32
  ufm census --loss ce --K 4 --n 30,30,3,3 --d 4 --json
  ufm census --loss fl --gamma 5 --K 100 --n 1 --d 101 --no-bias --lam-w 0.01212 --lam-h 0.01212 --starts 8"""


def add_parser(sub) -> None:
    p = sub.add_parser("census", help=HELP, description=HELP + " (ufm.theory.census).", epilog=EXAMPLE)
    add_problem_flags(p)
    p.add_argument("--starts", type=number(int), default=24,
                   help="start points: near the origin, padded lower-dimensional minimisers, the rest random "
                        "(default %(default)s)")
    p.add_argument("--seed", type=number(int), default=0,
                   help="seed of the random starts and of the second-order test's start vector (default 0)")
    p.add_argument("--budget", type=number(int), default=None,
                   help="Hessian-vector products the second-order test may spend per end point; a point it cannot "
                        "decide within them is reported 'undecided' (default: ufm.CURVATURE_BUDGET)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=run)


def run(args) -> int:
    problem = problem_from_args(args)
    import ufm
    from ufm import theory

    try:
        check_fits(problem, reduce="never")
        if args.seed < 0:
            raise ufm.ParameterError("seed", args.seed, "an integer ≥ 0", "census")
        budget = ufm.CURVATURE_BUDGET if args.budget is None else args.budget
        result = theory.census(problem, starts=args.starts, seed=args.seed, budget=budget,
                               progress=progress("census"))
    except ufm.ParameterError as e:
        raise UsageError(f"{flag_of(e.param)} must be {e.allowed}; got {e.value!r}") from None
    print(ufm.dumps(result.to_dict()) if args.json else result.table())
    return 0
