"""`ufm bench` sections at tiny sizes: the numbers are sane and the PyTorch loop solves the same problem.
(Speed itself is measured by `ufm bench`, not asserted here.)"""

import json

import numpy as np
import pytest

from ufm.experiments import benchmarks as bench
from ufm import theory
import ufm
from ufm.experiments.benchmarks import _torch_loop, hardware, memory, startup, versus_torch
from ufm.cli import main


def test_versus_torch_rows_reach_the_gaps():
    r = versus_torch.run(sizes={"tiny": (3, 6, 5)}, torch_seconds=30.0)
    assert [row["loss"] for row in r["rows"]] == ["mse", "ce"]
    for row in r["rows"]:
        # float64 solve at rel. gradient 1e-12: the objective gap is at rounding level.
        assert row["ufm_float64"]["gap"] <= 1e-12
        assert row["ufm_to_target"] is not None and row["ufm_to_target"]["gap"] <= versus_torch.TARGET
        if r["torch_available"]:
            t = row["torch"]
            assert t["reached"] and t["steps"] > 0
            # The loop's float32 objective agrees with the float64 one: its iterate really is within ~1e-6.
            assert t["gap_float64"] <= 5 * versus_torch.TARGET
            assert row["ratio"] > 0
        else:
            assert row["torch"] is None
    text = "\n".join(versus_torch.table(r))
    assert ("torch is not installed" in text) != r["torch_available"]


@pytest.mark.parametrize("loss", ["mse", "ce"])
def test_torch_loop_minimises_the_ufm_objective(loss):
    if not _torch_loop.available():
        with pytest.raises(ImportError):
            _torch_loop.run(ufm.Problem(loss=loss), 1.0)
        return
    p = ufm.Problem(K=3, n=4, d=5, loss=loss, lam_w=5e-3, lam_h=5e-3, lam_b=1e-2)
    f_star = theory.predict(p).objective
    r = _torch_loop.run(p, f_star, target=1e-5, seconds=30.0)
    assert r.reached
    f64 = float(ufm.objective(p).f((r.W, r.H, r.b)))
    # float32 loop, float64 re-evaluation: the two gaps agree to float32 rounding of f (~1e-7 relative).
    assert (f64 - f_star) / f_star == pytest.approx(r.gap, abs=1e-6)


def test_hardware_counts_flops_against_a_matmul():
    assert hardware.matmul_gflops(64, 64, 64) > 0
    gf, seconds = hardware.grad_step_gflops(4, 8, 16)
    assert gf > 0 and seconds > 0


def test_memory_peak_is_measured_against_the_array_bytes():
    r = memory.measure(3, 20, 16, "gd")
    if "error" in r:
        assert "Linux" in r["error"]
        return
    assert r["array_bytes"] == (3 * 16 + 16 * 60 + 3) * 8
    assert r["peak"] >= r["rss_before"] > 0 and r["ratio"] >= 0


def test_startup_process_timer_reads_json():
    seconds, rec = startup._process(["-c", "print('{\"a\": 1}')"])
    assert rec == {"a": 1} and seconds > 0


def test_cli_bench_hardware_writes_json_with_targets(tmp_path, capsys):
    out = tmp_path / "b.json"
    assert main(["bench", "--quick", "--only", "hardware", "--json", str(out)]) == 0
    rep = json.loads(out.read_text())
    h = rep["sections"]["hardware"]
    assert h["fraction_of_peak"] == pytest.approx(h["step_gflops"] / h["matmul_peak_gflops"])
    assert rep["targets"]["hardware"]["met"] == (h["fraction_of_peak"] >= 0.5)
    assert rep["machine"]["backend"] in ("cpu", "gpu", "cuda", "rocm", "tpu")
    assert "3. Hardware efficiency" in capsys.readouterr().out


def test_cli_bench_bad_section_exits_2(capsys):
    assert main(["bench", "--only", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--only" in err


def test_verdicts_flag_missed_targets():
    rep = {"sections": {"batched": {"rows": [{"ratio_map": 1.3}]},
                        "startup": {"compile_seconds_per_shape": {"s": {"auto": 6.0, "gd": 1.0}}}}}
    v = bench.verdicts(rep)
    assert v["batched"]["met"] is False and v["startup"]["met"] is False and v["startup"]["measured"] == 6.0
    assert "startup_warm" in v and v["startup_warm"]["met"] is None  # the section's warm process did not run
    assert np.isclose(v["batched"]["measured"], 1.3)


def test_startup_and_memory_verdicts_judge_the_issue_targets():
    rep = {"sections": {"startup": {"compile_seconds_per_shape": {}, "ufm_solve_warm_seconds": 1.6},
                        "memory": {"rows": [{"method": "auto", "ratio": 11.0}, {"method": "gd", "ratio": 40.0}]}}}
    v = bench.verdicts(rep)
    assert v["startup_warm"]["met"] is False and v["startup_warm"]["before"] == "2.2 s"
    assert v["memory"]["met"] is True and v["memory"]["measured"] == 11.0  # the auto row, not the others
    assert "before: 37×" in bench.table({"machine": bench.machine(), "quick": True, "sections": {}, "targets": v})


def test_census_verdicts_need_time_repeatability_and_the_origin():
    row = dict(seconds_first=12.0, identical=True, undecided=0, origin_local_minimum=True)
    rep = {"sections": {"census": {"rows": [row, dict(row, seconds_first=5.0)]}}}
    v = bench.verdicts(rep)
    assert v["census_k100"]["met"] is True and v["census_k4"]["met"] is True
    for change in (dict(identical=False), dict(undecided=1), dict(origin_local_minimum=False),
                   dict(seconds_first=121.0)):
        rep["sections"]["census"]["rows"][0] = dict(row, **change)
        assert bench.verdicts(rep)["census_k100"]["met"] is False, change


def test_nc_metrics_section_measures_both_modes_without_recompiling():
    from ufm.experiments.benchmarks import nc_metrics

    r = nc_metrics.run(quick=True)
    assert [row["mode"] for row in r["rows"]] == ["memory", "stream"]
    for row in r["rows"]:
        if "error" in row:  # not Linux
            continue
        assert row["relabelled_compiles"] == 0 and row["first_compiles"] > 0
        assert row["peak_growth_bytes"] > 0 and row["first_seconds"] > 0
    a, b = r["rows"]
    if "error" not in a and "error" not in b:
        assert abs(a["nc1"] - b["nc1"]) <= 1e-10 * a["nc1"]  # streamed = in memory
    assert "6. NC metrics" in nc_metrics.table(r)[0]


def test_scan_section_runs_the_whole_engine_and_judges_the_full_scan_only():
    from ufm.experiments.benchmarks import scan_throughput

    r = scan_throughput.run(quick=True)
    assert r["configurations"] == r["done"] == 36 and r["failed"] == 0
    assert r["configs_per_second"] == pytest.approx(36 / r["seconds"]) and r["compilations"] > 0
    assert "7. Scan at K = 10" in scan_throughput.table(r)[0]
    assert "scan" not in bench.verdicts({"quick": True, "sections": {"scan": r}})  # 36 rows are not the target's scan
    full = {**r, "configs_per_second": 20 * r["previous"]["2026-12-02, before"]}
    assert bench.verdicts({"quick": False, "sections": {"scan": full}})["scan"]["met"] is True


def test_verify_section_reads_the_report_and_judges_both_targets(monkeypatch):
    """Section 8 runs `ufm verify` as a process (minutes); here its child is replaced by a report of the same form."""
    from ufm.experiments.benchmarks import verify_battery

    def fake(args, **kw):
        path = args[args.index("--json") + 1]
        claims = [{"claim": "c", "passed": True}, {"claim": "d", "passed": "--quick" in args}]
        with open(path, "w") as fh:
            json.dump({"seconds": 1.0, "compilations": 7, "compile_seconds": 0.5, "claims": claims,
                       "errata": [{}], "passed": "--quick" in args}, fh)
        return type("Done", (), {"returncode": 0 if "--quick" in args else 1, "stdout": "", "stderr": ""})()

    monkeypatch.setattr(verify_battery.subprocess, "run", fake)
    r = verify_battery.run(quick=False)
    quick, full = r["rows"]
    assert quick["quick"] and quick["compilations"] == 7 and quick["claims_passed"] == 2
    assert not full["quick"] and full["claims_passed"] == 1 and not full["passed"]
    v = bench.verdicts({"sections": {"verify": r}})
    assert v["verify_quick"]["met"] is (quick["process_seconds"] <= 20)
    assert v["verify_quick"]["before"] == "39–71 s" and v["verify_full"]["before"] == "366–564 s"
    assert v["verify_full"]["met"] is False  # a failing battery never meets its target, however fast
    text = "\n".join(verify_battery.table(r))
    assert "2/2 claims" in text and "1/2 claims" in text and "before: 88 s" in text
