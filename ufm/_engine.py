"""The one engine behind `solve`, `solve_batch` and `trajectory`: a `lax.while_loop` over any `Solver`,
with a recorder that keeps what the caller wants of the path (a history of (step, f, ‖∇f‖) rows, or snapshots
of the iterate). Pure: jit it, vmap it, lax.map it."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
from jax import lax

from .solvers import Status, relative_gradient
from .solvers import _tree as T

BLOWUP = 1e12  # f above BLOWUP·max(|f(x0)|, 1) counts as diverged (no solver here may raise f so far)

class Recorder(Protocol):
    """What a run keeps of its path: `init` at step 0, `write` after every step k ≥ 1, `close` at the end."""

    def init(self, x, f, g) -> Any: ...

    def write(self, buf, k, x, f, g) -> Any: ...

    def close(self, buf, k, x, f, g) -> Any: ...


class Run(NamedTuple):
    """The end of a run: the final iterate x with f, ∇f, f(x0), the step count, the `Status` code, the record."""

    x: Any
    f: jax.Array
    g: Any
    f0: jax.Array
    steps: jax.Array
    status: jax.Array
    record: Any


class _Carry(NamedTuple):
    x: Any
    f: jax.Array
    g: Any
    state: Any
    k: jax.Array
    status: jax.Array
    handed: jax.Array  # the phase's solver said done and a later phase takes over
    buf: Any


def run(solver, fun, x0, tol, max_steps: int, recorder: Recorder) -> Run:
    """Minimise `fun` from x0 with `solver` until ‖∇f‖/min(|f|, |f(x0)|) ≤ tol (CONVERGED), the solver's
    `terminate` says so, the step count reaches max_steps (MAX_STEPS), or a step is non-finite or blows up
    (DIVERGED: the run ends at the last finite iterate).

    A solver with `phases(x0)` (a tuple of solvers, `ufm.Auto`) is run as one `lax.while_loop` per phase, in
    turn: a phase ends where its `terminate` says done (then the next phase starts from its end point with a
    fresh `init`; only the last phase's `terminate` ends the run) or where the run ends. The step count, f(x0),
    the tolerance, the budget and the record run across phases; a phase's state lives only in its own loop, so
    the program's peak memory is the largest phase's, not their sum.
    (The second-order test of a converged end point is `ufm._curvature`'s, run after the program.)"""
    own = getattr(solver, "phases", None)
    stages = tuple(own(x0)) if callable(own) else (solver,)
    f, g = jax.value_and_grad(fun)(x0)
    f0 = f
    finite = jnp.isfinite(f) & T.all_finite(g)
    status = jnp.where(~finite, Status.DIVERGED.code,
                       jnp.where(relative_gradient(f, g, f0) <= tol, Status.CONVERGED.code, Status.RUNNING.code))
    cap = BLOWUP * jnp.maximum(jnp.abs(f0), 1.0)
    x, k, status, buf = x0, jnp.zeros((), jnp.int32), status.astype(jnp.int32), recorder.init(x0, f, g)
    for i, stage in enumerate(stages):
        last = i == len(stages) - 1
        state = stage.init(fun, x, f, g, max_steps)
        handed = jnp.zeros((), bool) if last else stage.terminate(fun, x, f, g, state, max_steps)[0]

        def body(c: _Carry, stage=stage, last=last) -> _Carry:
            x1, f1, g1, state1 = stage.step(fun, c.x, c.f, c.g, c.state, max_steps)
            k1 = c.k + 1
            ok = jnp.isfinite(f1) & T.all_finite(g1) & T.all_finite(x1) & (f1 <= cap)
            x1, f1, g1 = T.where(ok, x1, c.x), jnp.where(ok, f1, c.f), T.where(ok, g1, c.g)
            done, code = stage.terminate(fun, x1, f1, g1, state1, max_steps)
            status = jnp.select(
                [~ok, relative_gradient(f1, g1, f0) <= tol, done & last, k1 >= max_steps],
                [Status.DIVERGED.code, Status.CONVERGED.code, code, Status.MAX_STEPS.code],
                Status.RUNNING.code,
            ).astype(jnp.int32)
            handed = jnp.logical_and(done, not last)
            return _Carry(x1, f1, g1, state1, k1, status, handed, recorder.write(c.buf, k1, x1, f1, g1))

        c = _Carry(x, f, g, state, k, status, jnp.asarray(handed, bool), buf)
        c = lax.while_loop(lambda c: (c.status == Status.RUNNING.code) & ~c.handed, body, c)
        x, f, g, k, status, buf = c.x, c.f, c.g, c.k, c.status, c.buf
    return Run(x, f, g, f0, k, status, recorder.close(buf, k, x, f, g))


class History(NamedTuple):
    """Rows (step, f, ‖∇f‖) at step 0, every `every` steps and at the end, NaN-padded to `rows` rows."""

    every: int
    rows: int

    def init(self, x, f, g):
        hist = jnp.full((self.rows, 3), jnp.nan, f.dtype).at[0].set(self._row(0, f, g))
        return hist, jnp.ones((), jnp.int32)

    def _row(self, k, f, g):
        return jnp.stack([jnp.asarray(k, f.dtype), f, T.norm(g)])

    def _put(self, buf, write, k, f, g):
        hist, row = buf
        write = write & (row < self.rows)
        i = jnp.minimum(row, self.rows - 1)
        hist = hist.at[i].set(jnp.where(write, self._row(k, f, g), hist[i]))
        return hist, row + write

    def write(self, buf, k, x, f, g):
        return self._put(buf, k % self.every == 0, k, f, g)

    def close(self, buf, k, x, f, g):
        hist, row = buf
        return self._put(buf, hist[jnp.maximum(row - 1, 0), 0] != k, k, f, g)[0]


class Snapshots(NamedTuple):
    """The iterate with f and ‖∇f‖ at steps 0, every, 2·every, ..., `count`·every; slots after an early end
    (divergence, convergence, a stalled solver) repeat the final iterate."""

    every: int
    count: int

    def init(self, x, f, g):
        slots = self.count + 1
        xs = jax.tree_util.tree_map(lambda a: jnp.zeros((slots,) + a.shape, a.dtype).at[0].set(a), x)
        fs = jnp.zeros(slots, f.dtype).at[0].set(f)
        gs = jnp.zeros(slots, f.dtype).at[0].set(T.norm(g))
        return xs, fs, gs

    def write(self, buf, k, x, f, g):
        xs, fs, gs = buf
        take = k % self.every == 0
        i = jnp.minimum(k // self.every, self.count)
        xs = jax.tree_util.tree_map(lambda s, a: s.at[i].set(jnp.where(take, a, s[i])), xs, x)
        return xs, fs.at[i].set(jnp.where(take, f, fs[i])), gs.at[i].set(jnp.where(take, T.norm(g), gs[i]))

    def close(self, buf, k, x, f, g):
        xs, fs, gs = buf
        after = jnp.arange(self.count + 1) * self.every > k

        def fill(s, a):
            return jnp.where(after.reshape((-1,) + (1,) * a.ndim), a[None], s)

        return jax.tree_util.tree_map(fill, xs, x), fill(fs, f), fill(gs, T.norm(g))


__all__ = ["run", "Run", "Recorder", "History", "Snapshots", "BLOWUP"]
