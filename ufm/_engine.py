"""The one engine behind `solve`, `solve_batch` and `trajectory`: a `lax.while_loop` over any `Solver`,
with a recorder that keeps what the caller wants of the path (a history of (step, f, ‖∇f‖) rows, or snapshots
of the iterate). Pure: jit it, vmap it, lax.map it."""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from .solvers import Status, relative_gradient
from .solvers import _tree as T

BLOWUP = 1e12  # f above BLOWUP·max(|f(x0)|, 1) counts as diverged (no solver here may raise f so far)

PROBE_STEPS = 24  # Lanczos steps of the second-order test at a converged point
# A Ritz value below −NEGATIVE·max(|λ_min|, |λ_max|) is negative curvature, not rounding (float64, float32).
NEGATIVE = {jnp.dtype("float64"): 1e-7, jnp.dtype("float32"): 1e-3}


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
    curvature: jax.Array  # the smallest Ritz value of ∇²f at a converged x (NaN where not probed)


class _Carry(NamedTuple):
    x: Any
    f: jax.Array
    g: Any
    state: Any
    k: jax.Array
    status: jax.Array
    buf: Any


def run(solver, fun, x0, tol, max_steps: int, recorder: Recorder, probe: int = 0) -> Run:
    """Minimise `fun` from x0 with `solver` until ‖∇f‖/min(|f|, |f(x0)|) ≤ tol (CONVERGED), the solver's
    `terminate` says so, the step count reaches max_steps (MAX_STEPS), or a step is non-finite or blows up
    (DIVERGED: the run ends at the last finite iterate).

    With `probe` > 0 a converged end point is then tested for second order in the same program (`probe`
    Lanczos steps): where the Hessian has a clearly negative eigenvalue the point is a saddle (or a maximum),
    and the status is SADDLE. (`solve` runs the same test as a separate program compiled once per shape.)"""
    f, g = jax.value_and_grad(fun)(x0)
    f0 = f
    state = solver.init(fun, x0, f, g, max_steps)
    finite = jnp.isfinite(f) & T.all_finite(g)
    status = jnp.where(~finite, Status.DIVERGED.code,
                       jnp.where(relative_gradient(f, g, f0) <= tol, Status.CONVERGED.code, Status.RUNNING.code))
    cap = BLOWUP * jnp.maximum(jnp.abs(f0), 1.0)

    def body(c: _Carry) -> _Carry:
        x1, f1, g1, state1 = solver.step(fun, c.x, c.f, c.g, c.state, max_steps)
        k1 = c.k + 1
        ok = jnp.isfinite(f1) & T.all_finite(g1) & T.all_finite(x1) & (f1 <= cap)
        x1, f1, g1 = T.where(ok, x1, c.x), jnp.where(ok, f1, c.f), T.where(ok, g1, c.g)
        done, code = solver.terminate(fun, x1, f1, g1, state1, max_steps)
        status = jnp.select(
            [~ok, relative_gradient(f1, g1, f0) <= tol, done, k1 >= max_steps],
            [Status.DIVERGED.code, Status.CONVERGED.code, code, Status.MAX_STEPS.code],
            Status.RUNNING.code,
        ).astype(jnp.int32)
        return _Carry(x1, f1, g1, state1, k1, status, recorder.write(c.buf, k1, x1, f1, g1))

    c = _Carry(x0, f, g, state, jnp.zeros((), jnp.int32), status.astype(jnp.int32), recorder.init(x0, f, g))
    c = lax.while_loop(lambda c: c.status == Status.RUNNING.code, body, c)
    status, lam = c.status, jnp.full((), jnp.nan, f.dtype)
    if probe:
        converged = c.status == Status.CONVERGED.code
        lam_min, lam_max = lax.cond(converged, lambda x: curvature(fun, x, probe), lambda x: (lam, lam), c.x)
        lam = lam_min
        status = jnp.where(converged & negative(lam_min, lam_max, f.dtype), Status.SADDLE.code, c.status)
        status = status.astype(jnp.int32)
    return Run(c.x, c.f, c.g, f0, c.k, status, recorder.close(c.buf, c.k, c.x, c.f, c.g), lam)


def negative(lam_min, lam_max, dtype):
    """Whether the Ritz values (λ_min, λ_max) of a `dtype` problem show negative curvature rather than rounding:
    λ_min < −NEGATIVE·max(−λ_min, λ_max) (NEGATIVE = 1e-7 in float64, 1e-3 in float32). JAX arrays in a
    program, numpy or Python numbers on the host (no program is compiled for them)."""
    xp = jnp if isinstance(lam_min, jax.Array) or isinstance(lam_max, jax.Array) else np
    scale = xp.maximum(xp.maximum(-lam_min, lam_max), np.finfo(np.float64).tiny)
    return lam_min < -NEGATIVE[jnp.dtype(dtype)] * scale


def curvature(fun, x, steps: int = PROBE_STEPS):
    """(λ_min, λ_max): the extreme Ritz values of ∇²fun(x) after `steps` Lanczos steps (`lanczos`, `ritz`)."""
    return ritz(*lanczos(fun, x, steps))


def ritz(alphas, betas):
    """(λ_min, λ_max) of the Lanczos matrix (diagonal alphas, off-diagonal betas[:-1]): in a program for JAX
    arrays, on the host for numpy arrays (the compiled second-order test returns the Lanczos matrix and this
    takes its eigenvalues there: a 24 × 24 eigvalsh in the program would cost more to compile than to run)."""
    xp = jnp if isinstance(alphas, jax.Array) else np
    tri = xp.diag(alphas) + xp.diag(betas[:-1], 1) + xp.diag(betas[:-1], -1)
    values = xp.linalg.eigvalsh(tri)
    return values[0], values[-1]


def lanczos(fun, x, steps: int = PROBE_STEPS):
    """The tridiagonal Lanczos matrix (diagonal alphas (m,), off-diagonal betas[:-1]) of ∇²fun(x) after
    m = min(steps, size of x) steps (Hessian-vector products, no matrix) from a fixed pseudo-random vector.
    Its eigenvalues (Ritz values) lie in [λ_min(∇²f), λ_max(∇²f)] (up to rounding), so a clearly negative
    first one proves negative curvature; the test can miss a negative
    eigenvalue only if the start vector is (nearly) orthogonal to its eigenspace or the Krylov space of
    `steps` vectors has not reached it. When the Krylov space is invariant early (repeated eigenvalues, a small
    x) the remaining steps repeat the first Rayleigh quotient, which adds no value outside the spectrum."""
    size = sum(a.size for a in jax.tree_util.tree_leaves(x))
    m = max(1, min(int(steps), size))
    dtype = T.dtype(x)
    grad = jax.grad(fun)

    def hvp(v):
        return jax.jvp(grad, (x,), (v,))[1]

    # A fixed pseudo-random start (the fractional parts of a sine hash, centred): no PRNG in the program, which
    # would cost more to compile than the rest of the test.
    leaves, tree = jax.tree_util.tree_flatten(x)
    offsets = [0]
    for a in leaves:
        offsets.append(offsets[-1] + a.size)

    def hashed(a, start):
        i = jnp.arange(start, start + a.size, dtype=dtype).reshape(a.shape)
        u = jnp.sin(i * 12.9898 + 78.233) * 43758.5453
        return u - jnp.floor(u) - 0.5

    v = jax.tree_util.tree_unflatten(tree, [hashed(a, o) for a, o in zip(leaves, offsets)])
    v = jax.tree_util.tree_map(lambda a: a / T.norm(v), v)
    tiny = jnp.sqrt(jnp.finfo(dtype).eps)

    def body(j, c):
        v_prev, v, beta, alphas, betas, scale, live = c
        w = hvp(v)
        a = T.vdot(v, w)
        w = T.axpy(-beta, v_prev, T.axpy(-a, v, w))
        w = T.axpy(-T.vdot(v, w), v, w)  # local reorthogonalisation
        b = T.norm(w)
        scale = jnp.maximum(scale, jnp.maximum(jnp.abs(a), b))
        more = live & (b > tiny * scale)
        alphas = alphas.at[j].set(jnp.where(live, a, alphas[0]))
        betas = betas.at[j].set(jnp.where(more, b, 0.0))
        v_next = T.where(more, jax.tree_util.tree_map(lambda u: u / jnp.where(more, b, 1.0), w), v)
        return v, v_next, jnp.where(more, b, 0.0), alphas, betas, scale, more

    zero = jnp.zeros((), dtype)
    init = (T.zeros_like(v), v, zero, jnp.zeros(m, dtype), jnp.zeros(m, dtype), zero, jnp.asarray(True))
    _, _, _, alphas, betas, _, _ = lax.fori_loop(0, m, body, init)
    return alphas, betas


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


__all__ = ["run", "curvature", "ritz", "lanczos", "Run", "Recorder", "History", "Snapshots", "BLOWUP", "PROBE_STEPS", "negative"]
