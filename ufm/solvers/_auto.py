"""The default method: L-BFGS to get close, then the Newton-CG polish to machine precision."""

from __future__ import annotations

import dataclasses

from ._lbfgs import LBFGS
from ._newton import Newton


@dataclasses.dataclass(frozen=True)
class Auto:
    """L-BFGS until the relative gradient norm reaches `switch` (or L-BFGS stalls), then `Newton`.

    `max_steps` of the solve bounds the L-BFGS phase; the polish takes at most `polish_steps` more.
    Both phases run inside the same compiled loop.
    """

    lbfgs: LBFGS = LBFGS()
    newton: Newton = Newton()
    switch: float = 1e-7
    polish_steps: int = 100

    def __post_init__(self):
        if not 0 < self.switch < 1:
            raise ValueError(f"Auto.switch must be in (0, 1); got {self.switch!r}")
        if not isinstance(self.polish_steps, int) or self.polish_steps < 1:
            raise ValueError(f"Auto.polish_steps must be an integer ≥ 1; got {self.polish_steps!r}")
