"""Theory checks run in float64: the suite turns on JAX's 64-bit mode for the whole process, as `ufm.configure`
does for the command line (ufm itself changes no global state on import; tests/core/test_architecture.py checks the
library without the switch, in fresh processes)."""

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

import jax

jax.config.update("jax_enable_x64", True)
# The persistent compilation cache of the commands the suite runs (in this process, and the processes it
# starts): $UFM_CACHE_DIR where the runner names one (CI shares the site's build with the tests), else a folder
# of this session, never ~/.cache/ufm — no test depends on what an earlier run left there. A command-line test
# turns it on for the rest of this process, so a program may be read back instead of compiled in a later test:
# the suite's compile checks count both (`ufm.compilations().loaded`).
if not os.environ.get("UFM_CACHE_DIR"):
    os.environ["UFM_CACHE_DIR"] = tempfile.mkdtemp(prefix="ufm-test-cache-")
    atexit.register(shutil.rmtree, os.environ["UFM_CACHE_DIR"], True)

# The suite mirrors the packages (core/, theory/, experiments/, cli/, docs/); helpers shared across them
# (mse_reference.py, an independent numpy value route) sit here.
sys.path.insert(0, str(Path(__file__).resolve().parent))


import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_executables():
    """Free every compiled program after each test module: XLA:CPU executables hold memory mappings, and the
    whole suite in one process would otherwise approach vm.max_map_count (see ufm/_executables.py)."""
    yield
    import ufm

    ufm.clear_caches()
    jax.clear_caches()
    gc.collect()


@pytest.fixture(scope="session")
def errata_records():
    """`theory.errata()` once per session (each call re-solves every record: ~25 s on 2 cores)."""
    from ufm import theory

    return theory.errata()


@pytest.fixture(scope="session")
def quick_figures(tmp_path_factory):
    """Every figure in quick mode, built once per session (the figure tests and the documentation site's
    gallery both read it): (folder, NAME → paths). $UFM_TEST_FIGURES names a folder that `ufm figures --quick`
    made already (CI's `make docs` does, into build/docs-figures): its files are tested instead of a rebuild."""
    import os

    from ufm.experiments import figures

    given = os.environ.get("UFM_TEST_FIGURES")
    if given:
        out = Path(given).resolve()
        paths = {name: [out / f"{name}{ext}" for ext in (".png", ".pdf", ".json")] for name in figures.modules()}
        missing = [str(p) for ps in paths.values() for p in ps if not p.is_file()]
        assert not missing, f"UFM_TEST_FIGURES={given} lacks {missing[:3]} (run `ufm figures --quick --out {given}`)"
        return out, paths
    out = tmp_path_factory.mktemp("figures")
    return out, figures.build(out, quick=True, progress=False)


@pytest.fixture(scope="session")
def chromium():
    """The headless browser of the page tests (Debian's chromium; `make browser` installs it). Skips without
    one, unless UFM_REQUIRE_BROWSER is set (CI), where a missing browser fails."""
    import os
    import shutil

    browser = next((b for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)
    if browser is None:
        if os.environ.get("UFM_REQUIRE_BROWSER"):
            pytest.fail("UFM_REQUIRE_BROWSER is set but no chromium is installed (make browser)")
        pytest.skip("no headless browser (chromium) installed; `make browser` installs Debian's")
    return browser
