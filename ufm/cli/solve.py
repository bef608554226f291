"""`ufm solve`: solve one UFM problem, print its NC metrics, theory's prediction and the certificate."""

from __future__ import annotations

from ._common import UsageError, add_problem_flags, check_fits, flag_of, number, problem_from_args

# The names of `ufm.solvers.methods()`, spelled here so that `ufm solve --help` needs no JAX
# (tests/core/test_one_home.py checks that the two agree).
METHODS = ("auto", "gd", "sgd", "adam", "lbfgs", "newton")

HELP = "solve one UFM problem and print its NC metrics, theory's prediction and a certificate"
EXAMPLE = """example:
  ufm solve --loss ls --delta 0.1 --K 10 --n 50 --d 20
  ufm solve --loss mse --K 4 --d 3 --json"""


def add_parser(sub) -> None:
    p = sub.add_parser("solve", help=HELP, description=HELP + ".", epilog=EXAMPLE)
    add_problem_flags(p)
    g = p.add_argument_group("solver")
    g.add_argument("--method", default="auto", help=" | ".join(METHODS) + " (default %(default)s)")
    g.add_argument("--tol", type=number(float), default=None, help="relative gradient tolerance ‖∇f‖/|f|")
    g.add_argument("--max-steps", type=number(int), default=None, help="iteration cap")
    g.add_argument("--lr", type=number(float), default=None, help="learning rate (gd, sgd, adam)")
    g.add_argument("--seed", type=number(int), default=0, help="seed of the random start (default 0)")
    g.add_argument("--init-scale", type=number(float), default=0.1, help="std of the random start")
    g.add_argument("--reduce", choices=("auto", "always", "never"), default="auto",
                   help="solve the exact class-mean problem (one feature per class, weighted by its count; "
                        "d = min(d, K)) and lift it: where exact (auto, the default), for any loss (always), or never")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(run=run)


def _method(args):
    """The solver of --method (and --lr), from the one name → solver table `ufm.solvers.methods()`."""
    import dataclasses

    import ufm

    table = ufm.solvers.methods()
    if args.method not in table:
        raise UsageError(f"--method must be one of {', '.join(table)}; got {args.method!r}")
    if args.lr is None:
        return args.method
    with_lr = [name for name, cls in table.items() if "lr" in {f.name for f in dataclasses.fields(cls)}]
    if args.method not in with_lr:
        raise UsageError(f"--lr applies to {', '.join(with_lr)} only; got --method {args.method}")
    if args.lr <= 0:
        raise UsageError(f"--lr must be > 0; got {args.lr}")
    return table[args.method](lr=args.lr)


def _f(v, spec: str) -> str:
    """`v` formatted, or "n/a" where the record has no finite value (strict JSON turned NaN/Inf into None)."""
    return "n/a" if v is None else format(v, spec)


def table(rec: dict) -> str:
    p = rec["problem"]
    loss = p["loss"] + {"ls": f"(δ={p['delta']:g})", "fl": f"(γ={p['gamma']:g})",
                        "mse": f"(α={p['alpha']:g}, M={p['M']:g})"}.get(p["loss"], "")
    lam_w = ",".join(f"{v:g}" for v in p["lam_w"]) if isinstance(p["lam_w"], list) else f"{p['lam_w']:g}"
    deep = "" if p.get("depth", 1) == 1 else (f"  depth {p['depth']} ({p.get('activation', 'linear')}, widths "
                                              f"{','.join(map(str, p['widths']))})")
    head = (
        f"UFM {loss}  K={p['K']} n={p['n']} d={p['d']}{deep}  λ_W={lam_w} λ_H={p['lam_h']:g} "
        f"λ_b={p['lam_b']:g}{'' if p['bias'] else ' (no bias)'}{'  W=ETF' if p['fixed_w'] else ''}  {p['dtype']}"
    )
    b = [v for v in rec["b"] if v is not None]
    rows = [
        ("method", rec["method"]),
        ("path", rec["path"] + ("" if rec["reduced"] is None else
                                f"  (solved the K class means weighted by their counts in d = "
                                f"{rec['reduced']['d']}; lifted exactly)")),
        ("status", rec["status"] + {
            "saddle": f"  (the gradient vanishes but the Hessian has a negative eigenvalue "
                      f"{_f(rec['min_curvature'], '.3e')}: a saddle, not a minimiser; start elsewhere, e.g. "
                      "--init-scale > 0)",
            "nonstationary": f"  (the gradient of the piece JAX differentiates vanishes, but f decreases along "
                             f"a direction that turns on some of the {rec.get('kinks')} ReLU units sitting at 0 "
                             "(ufm.kinks): not a minimiser; start elsewhere)",
            "diverged": f"  (at step {rec['steps']} the objective or its gradient was not finite, or blew up: "
                        "a loss that returns NaN or Inf, or a step too long; the last finite iterate is shown, and "
                        "no prediction or certificate is computed from it)",
        }.get(rec["status"], "")),
        *([("relu kinks", f"{rec['kinks']} pre-activations at 0" + (
            "; no descent direction found through them (ufm.kinks: the pieces it tests; not a certificate)"
            if rec["status"] == "converged" else ""))] if rec.get("kinks", -1) > 0 else []),
        ("objective", _f(rec["objective"], ".15g")),
        ("grad norm", f"{_f(rec['grad_norm'], '.3e')}  (relative {_f(rec['rel_grad_norm'], '.3e')})"),
        ("steps", str(rec["steps"])),
        ("seconds", f"{rec['seconds']:.3f}  (+ {rec['compile_seconds']:.2f} compile)"),
        ("b mean ± spread", f"{sum(b) / len(b):.6g} ± {max(b) - min(b):.2e}" if b else "n/a"),
    ]
    rows += [(k, _f(v, ".6g")) for k, v in rec["metrics"].items()]
    for r in rec.get("layers", []):  # deep: each layer's features and weights (ufm.metrics.layers)
        rows.append((f"layer {r['layer']}", f"class means rank {r['rank']}, nc1 {_f(r['nc1'], '.3g')}, orthogonal-frame "
                                            f"gap {_f(r['orthogonal_gap'], '.3g')}; W_{r['layer']} rank {r['w_rank']}"))
    pred, cert = rec["prediction"], rec["certificate"]
    if pred["objective"] is not None and rec["objective"] is not None and pred["objective"] != 0:
        gap = (rec["objective"] - pred["objective"]) / abs(pred["objective"])
        rows.append(("theory f*", f"{pred['objective']:.15g}  (relative gap {gap:.1e}; {pred['case']})"))
        if gap > 1e-6:
            rows.append(("verdict", "NOT the global minimum: the solve ended above the predicted f* (another "
                                    "--seed or --method, or `ufm census` for the critical points it can reach)"))
    else:
        rows.append(("theory", pred["case"]))
    if cert["ratio"] is not None:
        rows.append(("‖G‖₂/λ_Z", f"{cert['ratio']:.12g}"))
    if cert["gap_bound"] is not None:
        rows.append(("certified f − f* ≤", f"{cert['gap_bound']:.2e}"))
    width = max(len(k) for k, _ in rows)
    return "\n".join([head] + [f"  {k:<{width}}  {v}" for k, v in rows])


def run(args) -> int:
    problem = problem_from_args(args)
    method = _method(args)
    import ufm

    try:
        check_fits(problem, reduce=args.reduce)
        sol = ufm.solve(problem, method=method, tol=args.tol, max_steps=args.max_steps, seed=args.seed,
                        init_scale=args.init_scale, reduce=args.reduce)
    except ufm.ParameterError as e:
        raise UsageError(f"{flag_of(e.param)} must be {e.allowed}; got {e.value!r}") from None
    from ufm import theory

    rec = theory.solution_record(sol)
    print(ufm.dumps(rec) if args.json else table(rec))
    return 0 if sol.status in ("converged", "stalled", "max_steps") else 1
