"""The architecture as a test: one `ufm` namespace when installed, layers that only point down (import-linter),
no private imports across layers, no import-time side effects, a command line that starts without JAX."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ("ufm.__main__", "ufm.cli", "ufm.experiments", "ufm.theory")  # top to bottom; the rest is the core


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """ufm installed from this checkout as a user gets it (`pip install .`, not editable) into a fresh folder.
    The build runs on a copy of the sources, so that no build/ folder of an earlier build leaks stale files in."""
    src, target = tmp_path_factory.mktemp("src") / "ufm", tmp_path_factory.mktemp("site")
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
    top = {".git", ".venv", "build", "dist", "figures", "out"}  # the checkout's own outputs, not its sources

    def ignore(folder, names):
        return set(skip(folder, names)) | (top & set(names) if Path(folder) == ROOT else set())

    shutil.copytree(ROOT, src, ignore=ignore)
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile", "--target",
                    str(target), str(src)], check=True, capture_output=True)
    return target


def _python(code: str, site: Path, cwd: Path, *argv: str, isolated: bool = True) -> subprocess.CompletedProcess:
    """Run `code` (with sys.argv[1:] = argv) in a fresh interpreter that imports ufm from `site`, never from this
    checkout, in `cwd`; isolated=True keeps the working directory off sys.path (python -P)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JAX_", "XLA_", "UFM_"))}
    env["PYTHONPATH"] = str(site)
    env["UFM_CACHE_DIR"] = "off"
    opts = ["-P"] if isolated else []
    return subprocess.run([sys.executable, *opts, "-c", textwrap.dedent(code), *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_installed_as_one_namespace(installed, tmp_path):
    assert (installed / "ufm" / "theory" / "__init__.py").is_file()
    assert (installed / "ufm" / "experiments" / "scan" / "example.toml").is_file()  # the example ships
    assert (installed / "ufm" / "experiments" / "scan" / "array.sbatch").is_file()  # and the SLURM script
    assert not (installed / "theory").exists() and not (installed / "experiments").exists()
    # An unrelated research folder with its own experiments/ and theory/ packages next to the user's script.
    for name in ("experiments", "theory"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "__init__.py").write_text("raise ImportError('the user package, not ufm')\n")
    out = _python("""
        import importlib.util, sys
        import ufm.theory, ufm.experiments, ufm.experiments.scan, ufm.experiments.figures
        assert ufm.theory.__file__.startswith(sys.argv[1]), ufm.theory.__file__
        print(importlib.util.find_spec("theory").origin)
    """, installed, tmp_path, str(installed), isolated=False)
    assert out.returncode == 0, out.stderr
    assert str(tmp_path) in out.stdout  # `import theory` finds the user's package, never ufm's


def test_import_theory_fails_without_the_checkout(installed, tmp_path):
    out = _python("import theory", installed, tmp_path)
    assert out.returncode == 1 and "ModuleNotFoundError: No module named 'theory'" in out.stderr


def test_python_m_ufm_next_to_an_unrelated_experiments_package(installed, tmp_path):
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "__init__.py").write_text("raise ImportError('the user package, not ufm')\n")
    out = _python("import runpy, sys; sys.argv = ['ufm', 'scan', 'example']; runpy.run_module('ufm', run_name='__main__')",
                  installed, tmp_path, isolated=False)
    assert out.returncode == 0, out.stderr
    assert "[[group]]" in out.stdout


def test_layers_contract(installed, tmp_path):
    """import-linter's contracts of pyproject.toml, on the installed layout (ufm.theory inside ufm/)."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert lint, "import-linter is part of the test extra"
    env = dict(os.environ, PYTHONPATH=str(installed))
    out = subprocess.run([lint, str(ROOT / "pyproject.toml"), "--no-cache"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "2 kept, 0 broken" in out.stdout


def test_no_private_imports_across_layers(installed, tmp_path):
    """An upper layer imports only public modules of the layers below (no `_name` module of another layer),
    and no layer imports one above it, lazily or not (grimp sees imports inside functions too)."""
    out = _python("""
        import grimp, sys
        layers = sys.argv[1].split(",")
        def layer(m):
            return next((l for l in layers if m == l or m.startswith(l + ".")), "ufm")
        g = grimp.build_graph("ufm")
        bad = []
        for m in sorted(g.modules):
            for dep in sorted(g.find_modules_directly_imported_by(m)):
                a, b = layer(m), layer(dep)
                if a == b:
                    continue
                rest = dep[len(b) + 1:].split(".") if dep != b else []
                if any(p.startswith("_") and not p.startswith("__") for p in rest):
                    bad.append(f"{m} -> {dep} (private)")
                order = layers + ["ufm"]
                if order.index(a) > order.index(b):
                    bad.append(f"{m} -> {dep} (upward)")
        print("\\n".join(bad))
    """, installed, tmp_path, ",".join(LAYERS))
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", out.stdout


def test_import_changes_no_global_state(installed, tmp_path):
    out = _python("""
        import sys
        import ufm, ufm.cli
        assert "jax" not in sys.modules and "matplotlib" not in sys.modules, "import ufm loads no JAX"
        import jax, matplotlib
        backend = matplotlib.rcParams._get_backend_or_none()
        rc = {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != "backend"}  # reading it resolves it
        x64, cache = jax.config.jax_enable_x64, jax.config.jax_compilation_cache_dir
        import ufm.theory, ufm.experiments.scan, ufm.experiments.figures, ufm.experiments.benchmarks
        ufm.Problem(), ufm.solvers, ufm.metrics
        assert (jax.config.jax_enable_x64, jax.config.jax_compilation_cache_dir) == (x64, cache)
        assert matplotlib.rcParams._get_backend_or_none() == backend
        assert {k: matplotlib.rcParams[k] for k in matplotlib.rcParams if k != "backend"} == rc
        print("x64", x64)
    """, installed, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "x64 False" in out.stdout


def test_float64_without_the_process_switch(installed, tmp_path):
    """With JAX's 64-bit mode off, solves and theory still compute float64 (scoped), the process setting stays
    off, and a float64 objective for the user's own jit fails with the fix in one line."""
    out = _python("""
        import jax, jax.numpy as jnp, numpy as np
        import ufm, ufm.theory
        p = ufm.Problem(K=3, n=2, d=3, loss="mse")
        sol = ufm.solve(p)
        assert sol.W.dtype == np.float64 and sol.status == "converged", (sol.W.dtype, sol.status)
        f_star = ufm.theory.predict(p).objective
        assert abs(sol.objective - f_star) <= 1e-12 * abs(f_star), (sol.objective, f_star)
        assert not jax.config.jax_enable_x64 and jnp.zeros(2).dtype == jnp.float32
        try:
            ufm.objective(p)
        except ufm.Float64Unavailable as e:
            print(e)
        with ufm.float64():
            assert ufm.objective(p).f(ufm.theory.minimizer(p)).dtype == jnp.float64
        ufm.configure(compilation_cache=False)
        assert jax.config.jax_enable_x64
    """, installed, tmp_path)
    assert out.returncode == 0, out.stderr
    assert "ufm.configure()" in out.stdout and "dtype='float32'" in out.stdout


def test_help_and_version_import_no_jax(installed, tmp_path):
    out = _python("""
        import sys, contextlib, io
        from ufm.cli import main
        for argv in (["--version"], ["--help"], ["solve", "--help"], ["metrics", "--help"], ["scan", "--help"], ["scan", "run", "--help"],
                     ["verify", "--help"], ["figures", "--help"], ["bench", "--help"]):
            buf = io.StringIO()
            with contextlib.redirect_stdout(buf):
                try:
                    main(argv)
                except SystemExit as e:
                    assert e.code == 0, argv
            text = buf.getvalue()
            assert argv == ["--version"] or "example" in text, argv
        assert "jax" not in sys.modules, "the parser must not import JAX"
        print(text.splitlines()[0])
    """, installed, tmp_path)
    assert out.returncode == 0, out.stderr


def test_every_public_name_resolves():
    """`__all__` of each package names only things that exist (the core loads them lazily)."""
    import ufm
    from ufm import experiments, theory
    from ufm.experiments import benchmarks, figures, scan

    for mod in (ufm, ufm.solvers, ufm.functional, theory, experiments, scan, figures, benchmarks):
        for name in mod.__all__:
            assert getattr(mod, name) is not None, (mod.__name__, name)
    assert set(ufm.__all__) <= set(dir(ufm))
