"""The documentation site: every Python example on its pages (and in README.md) runs as written, the site builds
in strict mode (a broken link, a missing reference or a docstring that does not resolve fails), every page that
asks for a generated table gets it, and a real headless browser opens every page without a console error."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md"))
FENCE = re.compile(r"^```python\n(.*?)^```", re.M | re.S)


def _examples(page: Path) -> str:
    """The page's Python blocks, in order, as one program (a block may use what an earlier one defined)."""
    return "\n".join(m.group(1) for m in FENCE.finditer(page.read_text()))


WITH_EXAMPLES = [p for p in PAGES + [ROOT / "README.md"] if _examples(p)]


def test_every_page_is_in_the_navigation():
    nav = (ROOT / "mkdocs.yml").read_text()
    for page in PAGES:
        assert str(page.relative_to(DOCS)) in nav, page


@pytest.mark.parametrize("page", WITH_EXAMPLES, ids=lambda p: str(p.relative_to(ROOT)))
def test_examples_run_as_written(page, tmp_path):
    """In a fresh interpreter with JAX's defaults (as a reader runs them): asserts in the examples check what the
    prose says."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_"))}
    run = subprocess.run([sys.executable, "-c", _examples(page)], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]


@pytest.fixture(scope="module")
def site(quick_figures, tmp_path_factory):
    """The site built strictly, as `make docs` does, with the session's quick figures in its gallery."""
    import importlib.util

    if importlib.util.find_spec("mkdocs") is None:
        if os.environ.get("CI"):
            pytest.fail("mkdocs is not installed: pip install '.[docs]'")
        pytest.skip("mkdocs is not installed: pip install '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "UFM_DOCS_FIGURES": str(quick_figures[0]), "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)], cwd=ROOT,
                         env=env, capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, run.stderr[-4000:]
    return out


def test_site_has_every_page_and_every_generated_block(site):
    import ufm
    from ufm import theory

    for page in PAGES:
        assert (site / page.relative_to(DOCS).with_suffix(".html")).is_file(), page
    claims = (site / "claims.html").read_text()
    assert "<!-- ufm:" not in claims and all(f"<code>{c.key}</code>" in claims for c in theory.CLAIMS)
    assert claims.count("<tr>") >= len(theory.claims()) + len(theory.CLAIMS)
    metrics = (site / "metrics.html").read_text()
    assert all(f"<code>{q.key}</code>" in metrics for q in ufm.metrics.VOCABULARY)
    solvers = (site / "solvers.html").read_text()
    assert all(html.escape(s.message, quote=False) in solvers for s in ufm.Status)
    gallery = (site / "figures.html").read_text()
    from ufm.experiments import figures

    for name in figures.modules():
        assert f"gallery/{name}.png" in gallery and (site / "gallery" / f"{name}.png").is_file(), name
    assert "**FAIL**" not in gallery and "FAIL" not in re.sub(r"<[^>]+>", "", gallery)
    api = re.sub(r"<[^>]+>", "", (site / "api" / "core.html").read_text())
    for name in ("solve", "solve_batch", "Problem", "Solution", "Status"):  # docstrings, rendered
        doc = getattr(ufm, name).__doc__.split("\n")[0].strip()
        assert html.escape(doc.split("`")[0][:40], quote=False) in api, (name, doc)


def test_site_pages_open_in_a_headless_browser(site, chromium, tmp_path):
    """Every page loads in headless chromium: no console error, no failed resource (the material theme's fonts
    are off: the site works offline), every image decodes."""
    probe = ("<script>window.addEventListener('load',function(){var im=[].slice.call(document.images);"
             "document.body.setAttribute('data-probe',JSON.stringify({images:im.length,"
             "broken:im.filter(function(i){return !(i.complete&&i.naturalWidth>0)}).map(function(i){return i.src})"
             "}))});</script>")
    failures = {}
    for page in sorted(site.rglob("*.html")):
        if page.name == "404.html":
            continue
        probed = page.with_name(f"_probe_{page.name}")
        probed.write_text(page.read_text().replace("</body>", probe + "</body>"))
        profile = tmp_path / "profile"
        run = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--allow-file-access-from-files",
             "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=10000",
             "--dump-dom", probed.as_uri()], capture_output=True, text=True, timeout=180)
        shutil.rmtree(profile, ignore_errors=True)
        probed.unlink()
        m = re.search(r'data-probe="([^"]*)"', run.stdout)
        errors = [line for line in run.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
        found = json.loads(html.unescape(m.group(1))) if m else None
        if found is None or found["broken"] or errors:
            failures[str(page.relative_to(site))] = (found, errors[:5], run.stderr[-500:] if found is None else "")
    assert not failures, failures
