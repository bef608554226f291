"""The record of one solution: what `ufm solve --json` prints and what a scan stores, built in one place.

`solution_record(sol)` is the nested record (problem, solver outcome, the NC metrics under the keys of
`ufm.metrics.VOCABULARY`, what theory predicts for the problem, the certificate of the point and the errors
against the prediction); `flat_record(record, seed)` is the same record as one flat row of a scan store: the
problem's fields and the metrics at the top level, `pred_*`, `cert_*` and `err_*` for the rest.
"""

from __future__ import annotations

import numpy as np

import ufm

from ._certificate import Certificate, certificate
from ._predict import predict


def certificate_of(sol) -> Certificate:
    """`certificate` of a solution's point (one member of a batch): a reduced solve's on its K class means
    (`ufm.Solution.class_means`, the same numbers; its N feature columns are not built)."""
    p = sol.problem
    return certificate(p, sol.W, sol.class_means if sol.reduced is not None and p.depth == 1 else sol.H, sol.b)


def solution_record(sol, metrics: dict | None = None, certificate: Certificate | None = None) -> dict:
    """A JSON-ready dict of one solution (a `ufm.Solution` of `ufm.solve`, or one member of a batch).

    Keys: problem, method, objective, grad_norm, rel_grad_norm, steps, converged, status, min_curvature, kinks, path,
    reduced, b, metrics, seconds, compile_seconds, prediction (objective, b, a, case, kappa, extension, source),
    certificate (ratio, gap_bound, ...) and errors (objective: |f − f*|/|f*|, b: max |b − b*|; None where theory
    has no prediction); with depth L > 1 also layers (`ufm.metrics.layers`: each layer's collapse). `metrics`: the solution's `ufm.metrics.all`, when the caller computed it already (a scan
    does, batched); else it is computed here (depth L > 1: of W_L and the features H_L it classifies).

    A diverged solve (its objective or gradient was not finite, or blew up) gets no prediction, certificate or
    errors (None, with the reason in `certificate.note` and `prediction.case`): nothing downstream runs on the
    non-finite values of the loss. Its metrics are those of the last finite iterate it returns.
    `certificate`: the point's `certificate_of(sol)` when the caller has it (a scan that embeds one solve in
    several d: Z = WH, f and ∇f do not change with zero coordinates, so neither does the certificate).
    """
    p = sol.problem
    m = ufm.metrics.all(sol.W, sol.H, sol.b, labels=p.labels, activation=p.activation) if metrics is None \
        else metrics
    b = np.asarray(sol.b, np.float64)
    if sol.status == ufm.Status.DIVERGED:
        why = f"not computed: the solve diverged ({ufm.Status.DIVERGED.message})"
        return ufm.jsonable({
            **_outcome(sol, m, b),
            "prediction": dict.fromkeys(("objective", "b", "a", "kappa", "extension", "source"), None) | {"case": why},
            "certificate": dict.fromkeys(Certificate._fields, None) | {"note": why},
            "errors": {"objective": None, "b": None},
        })
    pred = predict(p)
    cert = certificate_of(sol) if certificate is None else certificate
    deep = {} if p.depth == 1 else {"layers": ufm.metrics.layers(sol.W, sol.H, sol.b, p.labels,
                                                                 activation=p.activation)}
    return ufm.jsonable({
        **_outcome(sol, m, b),
        **deep,
        "prediction": {
            "objective": pred.objective, "b": None if pred.b is None else [float(v) for v in pred.b],
            "a": pred.a, "case": pred.case, "kappa": pred.kappa, "extension": pred.extension, "source": pred.source,
        },
        "certificate": cert._asdict(),
        "errors": {
            "objective": None if pred.objective is None
            else abs(sol.objective - pred.objective) / abs(pred.objective),
            "b": None if pred.b is None else float(np.max(np.abs(b - np.asarray(pred.b)))),
        },
    })


def _outcome(sol, m, b) -> dict:
    """The solver's part of the record: the problem, the outcome, the point's bias and metrics, the times."""
    return {
        "problem": sol.problem.to_dict(),
        "method": type(sol.method).__name__.lower(),
        "objective": sol.objective,
        "grad_norm": sol.grad_norm,
        "rel_grad_norm": sol.rel_grad_norm,
        "steps": sol.steps,
        "converged": bool(sol.converged),
        "status": sol.status,
        "min_curvature": sol.min_curvature,
        "kinks": int(sol.kinks),
        "path": sol.path,
        "reduced": None if sol.reduced is None else sol.reduced.to_dict(),
        "b": [float(v) for v in b],
        "metrics": {k: m[k] for k in ufm.metrics.KEYS},
        "seconds": sol.seconds,
        "compile_seconds": sol.compile_seconds,
    }


def flat_record(record: dict, seed: int) -> dict:
    """`solution_record` as one flat scan row: the problem's fields, `imbalance` and `seed`; the solver outcome
    (the status as `solver_status`, the bias as its mean `b_mean`); every metric; `pred_objective`, `pred_case`,
    `pred_a`, `pred_kappa`, `pred_b` (the mean of b*); `cert_ratio`, `cert_gap`; `err_objective`, `err_b`."""
    n = record["problem"]["n"]
    imbalance = max(n) / min(n) if isinstance(n, list) else 1.0  # = Problem.imbalance
    pred, cert, err = record["prediction"], record["certificate"], record["errors"]
    row = {**record["problem"], "imbalance": imbalance, "seed": seed}
    row.update({k: record[k] for k in ("objective", "grad_norm", "rel_grad_norm", "steps")})
    row.update(solver_status=record["status"], min_curvature=record["min_curvature"], path=record["path"],
               b_mean=float(np.mean(record["b"])), **record["metrics"])
    row.update(pred_objective=pred["objective"], pred_case=pred["case"], pred_a=pred["a"], pred_kappa=pred["kappa"],
               pred_b=None if pred["b"] is None else float(np.mean(pred["b"])),
               cert_ratio=cert["ratio"], cert_gap=cert["gap_bound"],
               err_objective=err["objective"], err_b=err["b"])
    return ufm.jsonable(row)


__all__ = ["certificate_of", "solution_record", "flat_record"]
