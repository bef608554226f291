"""Theory checks run in float64: enable it before any test builds an array."""

import jax

jax.config.update("jax_enable_x64", True)


import gc  # noqa: E402

import pytest  # noqa: E402


@pytest.fixture(autouse=True, scope="module")
def _release_executables():
    """Free every compiled program after each test module: XLA:CPU executables hold memory mappings, and the
    whole suite in one process would otherwise approach vm.max_map_count (see ufm/_executables.py)."""
    yield
    from ufm import _solve, _trajectory

    _solve._COMPILED.clear()
    _trajectory._COMPILED.clear()
    jax.clear_caches()
    gc.collect()
