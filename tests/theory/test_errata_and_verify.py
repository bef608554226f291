"""Every erratum is confirmed by the numerics; the quick verification battery passes (as `ufm verify --quick`)."""

import json

import pytest

import ufm

from ufm import theory
from ufm.cli import main


def test_every_erratum_holds(errata_records):
    records = errata_records
    assert len(records) >= 12
    for e in records:
        assert e.holds, (e.location, e.evidence)
        assert e.paper in theory.PAPERS and e.printed and e.corrected
        assert f"arXiv {e.paper}" in e.citation and e.location in e.citation


def test_kappa_is_one_at_k_2_not_k_p_t(errata_records):
    """Guo et al. 2025 (arXiv 2402.03979) Thm 4.2 at K = 2: the erratum's numbers (condition number 1 on the
    nonzero eigenspace of each block, rounding 1e-12) against the printed K·p_t."""
    e = next(e for e in errata_records if "K = 2" in e.location)
    assert e.holds and abs(e.numerical_value - 1.0) < 1e-12 and e.printed_value > 1.5


def test_quick_battery_passes_and_writes_json(tmp_path, capsys):
    path = tmp_path / "verify.json"
    assert main(["verify", "--quick", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert "FAIL" not in out and "claims pass" in out and "Errata" in out
    report = json.loads(path.read_text())
    assert report["passed"] and report["quick"]
    # Compilations are counted (how many depends on what earlier tests left compiled in this process).
    assert isinstance(report["compilations"], int) and report["compilations"] >= 0 and "compilations" in out
    names = " ".join(c["claim"] for c in report["claims"])
    for word in ("global minimum", "value route", "rotation", "certificate", "K·p_t", "saddle", "escapes", "FL"):
        assert word in names
    for c in report["claims"]:
        assert c["cases"] and all("error" in case for case in c["cases"])
    # Every case about one problem names it completely: Problem(**case["problem"]) re-runs the row.
    by_key = {c["key"]: c for c in report["claims"]}
    for key in ("obj", "smin", "deep_lin", "deep_thr", "census"):
        for case in by_key[key]["cases"]:
            p = ufm.Problem(**case["problem"])
            assert p.K >= 2 and (key not in ("deep_lin", "deep_thr") or p.depth >= 2), case["case"]


def test_verify_bad_arguments(capsys):
    assert main(["verify", "--seed", "-1"]) == 2
    assert main(["verify", "--json", "/nonexistent/dir/x.json"]) == 2
    assert main(["verify", "--quick", "--workers", "0"]) == 2
    err = capsys.readouterr().err
    assert "--seed" in err and "--json" in err and "--workers must be in [1, 1024]; got 0" in err
    for bad in (0, -1, 2.0, True, 1025):
        with pytest.raises(ufm.ParameterError, match="workers"):
            theory.verify(quick=True, workers=bad)


def _cases(report) -> list:
    return [(c.name, json.dumps(c.cases, sort_keys=True, default=repr)) for c in report.claims]


def test_battery_report_is_the_same_for_any_worker_count(monkeypatch):
    """Families run concurrently on threads: each draws from its own generator and fills its own claims, so
    the report (every case, its error and numbers, in order) does not depend on `workers`. Checked on the
    families that draw random numbers (scale, fl) and a solving one (rates), with the errata re-check."""
    from ufm.theory import _verify

    keep = ("scale", "fl", "rates")
    monkeypatch.setattr(_verify, "FAMILIES", tuple(f for f in _verify.FAMILIES if f.name in keep))
    monkeypatch.setattr(_verify, "_START", keep)
    monkeypatch.setattr(_verify, "solve_all", lambda problems, seed, progress: {})
    one, two = theory.verify(quick=True, workers=1), theory.verify(quick=True, workers=2)
    assert one.claims and _cases(one) == _cases(two)
    assert {c.name for c in one.claims} == {c.name for c in two.claims}


def test_a_failing_family_fails_the_battery(monkeypatch):
    """An exception in a family on a worker thread reaches the caller, after the families before it ran."""
    from ufm.theory import _verify

    ran = []

    def broken(ctx):
        raise RuntimeError("family broke")

    families = (_verify.Family("scale", "broken", broken),
                _verify.Family("fl", "runs", lambda ctx: ran.append("fl")))
    monkeypatch.setattr(_verify, "FAMILIES", families)
    monkeypatch.setattr(_verify, "_START", ("fl", "scale"))
    monkeypatch.setattr(_verify, "solve_all", lambda problems, seed, progress: {})
    with pytest.raises(RuntimeError, match="family broke"):
        theory.verify(quick=True, workers=2)
    assert ran == ["fl"]


@pytest.mark.slow
def test_full_battery_passes():
    report = theory.verify(quick=False, seed=1)
    assert report.passed, [c.name for c in report.claims if not c.passed]
