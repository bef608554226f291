"""Theory checks run in float64: the suite turns on JAX's 64-bit mode for the whole process, as `ufm.configure`
does for the command line (ufm itself changes no global state on import; tests/test_architecture.py checks the
library without the switch, in fresh processes)."""

import jax

jax.config.update("jax_enable_x64", True)


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
