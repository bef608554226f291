"""What 0.2 accepted and 0.3 spells differently: still accepted for one release, each with a DeprecationWarning
that says the new spelling."""

from __future__ import annotations

import functools
import inspect
import warnings


def keyword_only_since_0_3(fn):
    """Let `fn`'s keyword-only options (those after `problem, method`) still be passed by position, as 0.2
    allowed, with a DeprecationWarning that names them."""
    sig = inspect.signature(fn)
    positional = [p.name for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    options = [p.name for p in sig.parameters.values() if p.kind == p.KEYWORD_ONLY]

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if len(args) > len(positional):
            extra = args[len(positional):]
            if len(extra) > len(options):
                raise TypeError(f"{fn.__name__}() takes at most {len(positional) + len(options)} positional "
                                f"arguments ({len(args)} given)")
            names = options[: len(extra)]
            clash = [n for n in names if n in kwargs]
            if clash:
                raise TypeError(f"{fn.__name__}() got multiple values for argument {clash[0]!r}")
            warnings.warn(f"{fn.__name__}(): pass {', '.join(names)} by keyword ({names[0]}=...); positional "
                          "options are deprecated since ufm 0.3 and will be refused in 0.4",
                          DeprecationWarning, stacklevel=2)
            kwargs.update(zip(names, extra))
            args = args[: len(positional)]
        return fn(*args, **kwargs)

    return wrapper


__all__ = ["keyword_only_since_0_3"]
