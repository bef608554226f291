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
    err = capsys.readouterr().err
    assert "--seed" in err and "--json" in err


@pytest.mark.slow
def test_full_battery_passes():
    report = theory.verify(quick=False, seed=1)
    assert report.passed, [c.name for c in report.claims if not c.passed]
