"""Every figure builds in quick mode; the numbers behind each are checked here against `theory/` directly
(independently of the checks each figure records in its own JSON)."""

import html
import json
import math
import re

import numpy as np
import pytest

from ufm.experiments import figures
from ufm import theory
import ufm
from ufm.cli import main

NAMES = list(figures.modules())


@pytest.fixture(scope="module")
def built(quick_figures):
    return quick_figures


def meta(built, name):
    return json.loads((built[0] / f"{name}.json").read_text())


@pytest.mark.parametrize("name", NAMES)
def test_figure_builds_png_pdf_json_and_its_checks_pass(built, name):
    out, paths = built
    suffixes = sorted(p.suffix for p in paths[name])
    assert suffixes == [".json", ".pdf", ".png"]
    png = (out / f"{name}.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # a real raster, not an empty canvas
    assert (out / f"{name}.pdf").read_bytes()[:5] == b"%PDF-"
    m = meta(built, name)
    assert m["quick"] is True and m["checks"], "every figure checks its numbers"
    bad = {k: c for k, c in m["checks"].items() if not c["pass"]}
    assert not bad


def test_gallery_lists_every_figure_with_caption_source_and_command(built):
    out, _ = built
    page = (out / "index.html").read_text()
    for name, fig in figures.modules().items():
        assert f"src='{name}.png'" in page
        # The folder as `ufm figures --out` was given it (CI's `make docs` gives a relative one).
        assert re.search(rf"ufm figures --only {name} --out \S*{re.escape(out.name)} --quick", page), name
        assert html.escape(fig.reproduces.split(";")[0]) in page


def test_xi_minimum_is_the_ce_global_minimum(built):
    for key, v in meta(built, "geometric21-fig8-xi")["data"].items():
        K, lw, lh = (float(s.split("=")[1]) for s in key.split(", "))
        pred = theory.predict(ufm.Problem(K=int(K), n=100, d=int(K), loss="ce", lam_w=lw, lam_h=lh))
        assert v["xi_star"] == pytest.approx(pred.objective, rel=1e-9)  # bounded scalar search to 1e-10 in ρ
        assert v["rho_star"] == pytest.approx(int(K) * pred.w_norm**2, rel=1e-6)  # argmin of a flat minimum


def test_norm_vs_delta_equals_the_closed_form(built):
    from ufm.experiments.figures import _ls_runs

    for key, v in meta(built, "ls25-fig6-delta")["data"]["norms"].items():
        pred = theory.predict(_ls_runs.problem(float(key.split("=")[1]), "weight decay"))
        # float64 solves at rel. gradient 1e-12. Past the threshold the closed form is 0 and f − f* ~ λ‖W‖²:
        # the norms reach only the square root of the objective's accuracy, hence abs 1e-8.
        assert v["w_solve"] == pytest.approx(pred.w_norm, rel=1e-8, abs=1e-8)
        assert v["h_solve"] == pytest.approx(pred.h_mean_norm, rel=1e-8, abs=1e-8)


def test_condition_numbers_equal_k_pt(built):
    d = meta(built, "hessian-condition")["data"]
    for K in (4, 10):
        for delta, cw, ch in zip(d[f"K={K}"]["delta"], d[f"K={K}"]["cond_w"], d[f"K={K}"]["cond_h"], strict=True):
            prob = ufm.Problem(K=K, n=10, d=K + 2, loss="ls", delta=delta, lam_w=5e-4, lam_h=5e-4, lam_b=5e-4)
            kappa = theory.predict(prob).kappa
            assert cw == pytest.approx(kappa, rel=1e-7) and ch == pytest.approx(kappa, rel=1e-7)  # dense eigh


def test_regime_map_cells_equal_the_mse_cases(built):
    m = meta(built, "mse-regime-map")
    p, d = m["params"], m["data"]
    for i, lam_b in enumerate(d["lam_b"]):
        for j, prod in enumerate(d["lam_w_lam_h"]):
            prob = ufm.Problem(K=p["K"], n=p["n"], d=p["d"], loss="mse", lam_w=prod / p["lam_h"], lam_h=p["lam_h"],
                               lam_b=lam_b)
            c = theory.mse_cases(prob)
            assert d["cases"][int(d["case"][i][j])] == c.case
            assert d["b"][i][j] == pytest.approx(c.b, abs=1e-9)  # solves at rel. gradient 1e-12


def test_psi_minima_are_the_scale_minima(built):
    for key, v in meta(built, "losses22-figs9-10-psi-fl")["data"].items():
        K, gamma, c = (float(s.split("=")[1]) for s in key.split(", "))
        lam = c / 10.0  # n = 100: c = √n λ_Z
        m = theory.scale_minima(ufm.Problem(K=int(K), n=100, d=int(K) + 1, loss="fl", gamma=gamma, lam_w=lam, lam_h=lam))
        assert v["global_a"] == pytest.approx(m.a, abs=1e-9)
        assert len(v["local"]) == len(m.local)


def test_gradient_field_at_right_angle_matches_the_printed_text(built):
    # Zhou et al. 2022 (arXiv 2203.01238), App. C.2: at θ = π/2 the MSE field is (∂_s, ∂_θ) = (s, αMs).
    d = meta(built, "mse22-fig8-gradient-field")["data"]
    for title, (alpha, M) in (("MSE", (1.0, 1.0)), (r"MSE, $\alpha$=4", (4.0, 1.0)), ("MSE, $M$=4", (1.0, 4.0))):
        row = d[title]["theta=pi/2"]
        s = np.array(row["s"])
        theta = math.pi / 2  # the grid point nearest π/2 may differ slightly: use the field itself
        ds, dt = theory.polar_mse_limit_grad(s, theta, alpha, M)
        np.testing.assert_allclose(ds, s, atol=1e-12)
        np.testing.assert_allclose(dt, alpha * M * s, rtol=1e-12)
        assert np.all(np.array(row["d_theta"]) > 0)


def test_landscape_minimum_of_vanilla_mse(built):
    # MSE at θ = 0: ½(s − 1)² + ½ s²/(K−1) is minimised at s = (K−1)/K (Zhou et al. 2022, arXiv 2203.01238, eq. 31 with α = M = 1).
    v = meta(built, "mse22-fig2-landscape")["data"]["MSE"]
    K, s_max, g = 10, 6.0, meta(built, "mse22-fig2-landscape")["params"]["grid"][0]
    assert v["argmin_theta"] == 0.0
    assert abs(v["argmin_s"] - (K - 1) / K) <= s_max / (g - 1)  # within one grid step


def test_dimension_figure_margins_and_objectives(built):
    d = meta(built, "mse22-fig4-dimension")["data"]
    K = 10
    for loss, rows in d.items():
        for r in rows:
            prob = ufm.Problem(K=K, n=20, d=r["d"], loss=loss, lam_w=5e-4, lam_h=5e-4, lam_b=5e-4)
            pred = theory.predict(prob)
            if pred.objective is not None:
                assert r["objective"] == pytest.approx(pred.objective, rel=1e-10)
            if r["d"] >= K - 1:
                assert r["cm_min"] == pytest.approx(K / (K - 1), abs=1e-8)
    # Below K − 1 MSE's minimizer cannot classify every class; CE still does (the point of the figure).
    assert d["mse"][0]["accuracy"] < 1.0 and d["ce"][0]["accuracy"] == 1.0


def test_certificate_bound_dominates_the_true_gap(built):
    for name, v in meta(built, "certificate-path")["data"].items():
        gap, bound = np.array(v["true_gap"]), np.array(v["gap_bound"])
        assert np.all(bound >= gap - 1e-13 * max(1.0, abs(v["f_star"]))), name  # rigorous bound; rounding of f, f*


def test_saddle_runs_start_at_the_predicted_curvature(built):
    d = meta(built, "saddle-escape")["data"]
    assert {k.split(": ")[1] for k in d} >= {"origin", "padded-r1", "padded-r2", "mse-subset-1"}
    for key, v in d.items():
        if key.endswith("origin"):
            assert v["lambda_min"][0] == pytest.approx(v["predicted_start"], abs=1e-6)  # 1e-6 perturbation
        else:
            assert v["lambda_min"][0] <= v["predicted_start"] + 1e-6
        assert v["lambda_min"][0] < 0 and v["lambda_min"][-1] > -1e-6


def test_cli_list_and_bad_input(capsys, tmp_path):
    assert main(["figures", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in NAMES)
    assert main(["figures", "--only", "no-such-figure"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--only" in err and "no-such-figure" in err
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["figures", "--out", str(f), "--only", NAMES[0]]) == 2
    assert "not a folder" in capsys.readouterr().err


def test_cli_builds_one_figure_and_the_gallery(capsys, tmp_path):
    assert main(["figures", "--only", "mse22-fig8-gradient-field", "--out", str(tmp_path), "--quick"]) == 0
    out = capsys.readouterr().out
    assert "4/4 checks pass" in out and (tmp_path / "index.html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "index.html", "mse22-fig8-gradient-field.json", "mse22-fig8-gradient-field.pdf",
        "mse22-fig8-gradient-field.png"]


def test_first_order_escape_times_equal_the_quadratic_model(built):
    """Plain gradient descent leaves every constructed saddle (d ≤ K included) at the step the Hessian's quadratic
    model predicts (±1 step, 2 %); the origin's λ_min is the closed form of `theory.origin`."""
    m = meta(built, "first-order-escape")
    rows = {k: v for k, v in m["data"].items() if isinstance(v, dict)}
    assert len(rows) >= 15 and any("d < K" in k for k in rows)
    for key, v in rows.items():
        assert v["steps"] is not None and abs(v["steps"] - v["predicted"]) <= 1 + 0.02 * v["predicted"], key
        assert v["negative"] >= 1 and v["lambda_min"] < 0
    p = ufm.Problem(loss="ce", K=4, n=1, d=5, lam_w=1e-2, lam_h=1e-2)
    assert rows["CE d=5: origin"]["lambda_min"] == pytest.approx(theory.origin(p).lambda_min, rel=1e-9)


def test_full_conditioning_figure_against_local_rate(built):
    """The figure's κ_full at CE is `theory.local_rate`'s, and LS's κ_full exceeds CE's at every δ > 0 while
    K·p_t falls (the finding its caption states)."""
    m = meta(built, "ls-full-conditioning")
    for K in (4, 10):
        rows = m["data"][f"K={K}"]
        assert rows[0]["delta"] == 0.0 and all(r["kappa_full"] > rows[0]["kappa_full"] for r in rows[1:])
        assert all(a["kappa_blocks"] > b["kappa_blocks"] for a, b in zip(rows, rows[1:]))
    p = ufm.Problem(K=4, n=2, d=5, loss="ce", lam_w=1e-3, lam_h=1e-3, lam_b=1e-2)
    assert m["data"]["K=4"][0]["kappa_full"] == pytest.approx(theory.local_rate(p).kappa_full, rel=1e-9)


def test_gallery_renders_in_a_headless_browser(built, chromium, tmp_path):
    """The gallery is a web page: a real headless browser (Debian's chromium; CI installs it, `make browser`)
    loads index.html; every image decodes, every caption renders without raw markup (backticks, TeX braces,
    dollar signs, backslashes), and the page logs no console error."""
    import re
    import shutil
    import subprocess

    browser = chromium
    out = built[0]
    # A copy of the page with a read-only probe that records what the browser rendered into the DOM.
    probe = ("<script>window.addEventListener('load',function(){var im=[].slice.call(document.images);"
             "document.body.setAttribute('data-probe',JSON.stringify({images:im.length,"
             "broken:im.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).map(function(i){return i.src}),"
             "captions:[].slice.call(document.querySelectorAll('figcaption, .meta')).map(function(c){"
             "return c.innerText})}))});</script>")
    page = out / "probe.html"
    page.write_text((out / "index.html").read_text().replace("</body>", probe + "</body>"))
    profile = tmp_path / "profile"
    run = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=20000",
         "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180)
    shutil.rmtree(profile, ignore_errors=True)
    m = re.search(r'data-probe="([^"]*)"', run.stdout)
    assert m, run.stderr[-2000:]
    found = json.loads(html.unescape(m.group(1)))
    assert found["images"] == len(NAMES) and not found["broken"], found["broken"]
    for text in found["captions"]:
        assert not re.search(r"`|\$|\\|\^\{|_\{", text), text
    console = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert not console, console
