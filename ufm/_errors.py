"""The exceptions of ufm. Each carries what a caller needs to report it without parsing the message.

    UFMError                      every error ufm raises on purpose
    ├── ParameterError            a value outside its allowed range (also a ValueError)
    └── Float64Unavailable        a float64 computation asked for while JAX's 64-bit mode is off (a RuntimeError)
"""

from __future__ import annotations


class UFMError(Exception):
    """Base class of the errors ufm raises on purpose (the command line prints them as one line, exit 2)."""


class ParameterError(UFMError, ValueError):
    """A parameter outside its allowed range.

    owner: what took the parameter ("Problem", "solve", "LBFGS", ...), or None.
    param: its name as the caller spelled it (a field or keyword argument).
    value: the value given.  allowed: the allowed range, in words ("> 0", "in [0, 1)", ...).
    """

    def __init__(self, param: str, value, allowed: str, owner: str | None = None):
        self.owner, self.param, self.value, self.allowed = owner, param, value, allowed
        where = f"{owner}.{param}" if owner else param
        super().__init__(f"{where} must be {allowed}; got {value!r}")


class Float64Unavailable(UFMError, RuntimeError):
    """A float64 computation while JAX's 64-bit mode is off (arrays would silently become float32)."""

    def __init__(self, where: str):
        self.where = where
        super().__init__(
            f"{where}: float64 needs JAX's 64-bit mode, which is off in this process; call ufm.configure() "
            "(or jax.config.update('jax_enable_x64', True)) first, or use Problem(dtype='float32')"
        )


def check_int(param: str, value, lo: int, owner: str | None = None, hi: int | None = None) -> int:
    """`value` as an int in [lo, hi], else ParameterError (bools are not integers here)."""
    import numbers

    ok = isinstance(value, numbers.Integral) and not isinstance(value, bool) and value >= lo
    ok = ok and (hi is None or value <= hi)
    if not ok:
        allowed = f"an integer ≥ {lo}" if hi is None else f"an integer in [{lo}, {hi}]"
        raise ParameterError(param, value, allowed, owner)
    return int(value)


__all__ = ["UFMError", "ParameterError", "Float64Unavailable", "check_int"]
