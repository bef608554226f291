"""Full-batch first-order solvers built on optax transformations (gradient descent, momentum SGD, Adam)."""

from __future__ import annotations

import abc
import dataclasses
from typing import TYPE_CHECKING, Callable, NamedTuple, Union

import jax
import jax.numpy as jnp

from .._errors import ParameterError
from ._protocol import FIRST_ORDER_DEFAULTS, Status

if TYPE_CHECKING:  # optax is imported where a solver runs (a Newton solve never loads it)
    import optax

SCHEDULES = ("constant", "cosine", "step")
LearningRate = Union[float, Callable]


def _schedule(lr: LearningRate, schedule: str, max_steps: int) -> LearningRate:
    """Learning rate as an optax schedule.

    constant: lr;  cosine: lr·½(1 + cos(πt/T)) down to lr·1e-3 at T = max_steps;
    step: lr, ×0.1 at T/3 and again at 2T/3 (the step decay of the papers' experiments).
    A callable `lr` is used as given.
    """
    import optax

    if callable(lr):
        return lr
    if schedule == "constant":
        return lr
    if schedule == "cosine":
        return optax.cosine_decay_schedule(lr, max(int(max_steps), 1), alpha=1e-3)
    if schedule == "step":
        third = max(int(max_steps) // 3, 1)
        return optax.piecewise_constant_schedule(lr, {third: 0.1, 2 * third: 0.1})
    raise ParameterError("schedule", schedule, "one of " + ", ".join(SCHEDULES))


def _check(name: str, lr, schedule: str, **positive) -> None:
    if not callable(lr) and not (isinstance(lr, (int, float)) and not isinstance(lr, bool) and 0 < lr < float("inf")):
        raise ParameterError("lr", lr, "a positive finite number or an optax schedule", name)
    if schedule not in SCHEDULES:
        raise ParameterError("schedule", schedule, "one of " + ", ".join(SCHEDULES), name)
    for key, (value, lo, hi) in positive.items():
        if not (isinstance(value, (int, float)) and lo <= value < hi):
            raise ParameterError(key, value, f"in [{lo}, {hi})", name)


class OptaxState(NamedTuple):
    opt_state: optax.OptState


class _Optax(abc.ABC):
    """Shared init/step for a solver that is one optax transformation: x ← x + update(∇f(x))."""

    @abc.abstractmethod
    def transform(self, max_steps: int) -> optax.GradientTransformation:
        """The optax transformation of this solver for a run of `max_steps` steps."""

    def defaults(self, dtype: str) -> tuple[float, int]:
        return FIRST_ORDER_DEFAULTS[dtype]

    def init(self, fun, x, f, g, max_steps):
        return OptaxState(self.transform(max_steps).init(x))

    def step(self, fun, x, f, g, state, max_steps):
        import optax

        updates, opt_state = self.transform(max_steps).update(g, state.opt_state, x)
        x = optax.apply_updates(x, updates)
        f, g = jax.value_and_grad(fun)(x)
        return x, f, g, OptaxState(opt_state)

    def terminate(self, fun, x, f, g, state, max_steps):
        """A fixed-step method never stops on its own: the engine's tolerance and budget decide."""
        return jnp.asarray(False), jnp.asarray(Status.RUNNING.code, jnp.int32)


@dataclasses.dataclass(frozen=True)
class GD(_Optax):
    """Fixed-step full-batch gradient descent, x ← x − lr·∇f(x) (the papers' UFM experiments)."""

    lr: LearningRate = 0.1
    schedule: str = "constant"

    def __post_init__(self):
        _check("GD", self.lr, self.schedule)

    def transform(self, max_steps):
        import optax

        return optax.sgd(_schedule(self.lr, self.schedule, max_steps))


@dataclasses.dataclass(frozen=True)
class SGD(_Optax):
    """Full-batch gradient descent with heavy-ball (or Nesterov) momentum: optax.sgd."""

    lr: LearningRate = 0.1
    momentum: float = 0.9
    nesterov: bool = False
    schedule: str = "constant"

    def __post_init__(self):
        _check("SGD", self.lr, self.schedule, momentum=(self.momentum, 0.0, 1.0))

    def transform(self, max_steps):
        import optax

        return optax.sgd(_schedule(self.lr, self.schedule, max_steps), momentum=self.momentum, nesterov=self.nesterov)


@dataclasses.dataclass(frozen=True)
class Adam(_Optax):
    """Full-batch Adam (Kingma & Ba): optax.adam."""

    lr: LearningRate = 1e-2
    b1: float = 0.9
    b2: float = 0.999
    eps: float = 1e-12
    schedule: str = "constant"

    def __post_init__(self):
        _check("Adam", self.lr, self.schedule, b1=(self.b1, 0.0, 1.0), b2=(self.b2, 0.0, 1.0))

    def transform(self, max_steps):
        import optax

        return optax.adam(_schedule(self.lr, self.schedule, max_steps), b1=self.b1, b2=self.b2, eps=self.eps)
