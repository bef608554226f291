"""The default method: L-BFGS to get close, then the Newton-CG polish to machine precision."""

from __future__ import annotations

import dataclasses

from ._lbfgs import LBFGS
from ._newton import Newton


@dataclasses.dataclass(frozen=True)
class Auto:
    """L-BFGS until the relative gradient norm reaches `switch`, L-BFGS stalls, or `lbfgs_steps` (and the
    solve's `max_steps`) run out; then `Newton` for at most `polish_steps` more. Both phases run inside the
    same compiled loop.

    The defaults hand over early: L-BFGS is cheap per step far from the minimizer but slow on the flat
    weight-decay directions of the UFM (MSE took 200 L-BFGS steps where Newton-CG needs ~20). Ten L-BFGS
    steps then Newton converged on every problem of the comparison in the README's Performance section and
    was the fastest or within noise of it; Newton alone once stalled at float32's floor from a random start.
    """

    lbfgs: LBFGS = LBFGS(memory=10)  # = lbfgs_steps: no more pairs can exist; half the memory of the default 20
    newton: Newton = Newton()
    switch: float = 1e-2
    lbfgs_steps: int = 10
    polish_steps: int = 100

    def __post_init__(self):
        if not 0 < self.switch < 1:
            raise ValueError(f"Auto.switch must be in (0, 1); got {self.switch!r}")
        for key in ("lbfgs_steps", "polish_steps"):
            v = getattr(self, key)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"Auto.{key} must be an integer ≥ 1; got {v!r}")
