"""The one second-order test of ufm: is there negative curvature at a point? Lanczos on Hessian-vector products
with full reorthogonalisation, from a start vector drawn from a fixed seed, with an HVP budget and early exit.

The solve's test of its converged end points (status "saddle"), `minimize`'s, `theory.census`'s classification
and the battery's saddle checks all call it. Its cost is bounded (at most `budget` Hessian-vector products and
`budget` stored vectors of the point's size) and repeatable: the same point, budget and seed give the same
verdict after the same number of products. After every `CHUNK` steps the tridiagonal Lanczos matrix T_j is
diagonalised on the host (Ritz values θ₁ ≤ … ≤ θ_j, residuals r_i = β_j |s_{j,i}|) and the test stops at

    "negative"      θ₁ < −noise: a Ritz value is a Rayleigh quotient, so λ_min(∇²f) ≤ θ₁ < 0 — a proof (up to
                    rounding), the point is a saddle (or a maximum);
    "nonnegative"   after at least MIN_STEPS products, θ₁ has converged to an eigenvalue ≥ −noise: θ₁ − r₁ ≥
                    −noise (an eigenvalue lies within r₁ of θ₁). Like every Krylov method it can miss an
                    eigenvalue the Krylov space has not resolved yet: one (nearly) orthogonal to the start vector,
                    or a negative one so close to a large cluster at 0 that j steps cannot separate them (about
                    1/√(|λ|/λ_max) steps are needed); what it reports is "none found within the budget";
    "undecided"     the budget is spent first (or, at a Krylov space exhausted early, never: its Ritz values are
                    exact eigenvalues of ∇²f on that space and decide).

noise = NEGATIVE·max(|θ₁|, |θ_j|) (1e-7 in float64, 1e-3 in float32): below it a Ritz value is rounding."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.flatten_util import ravel_pytree

from ._config import float64
from ._errors import ParameterError, check_int
from ._executables import Executables, compiled
from ._objective import Layout, value_x
from ._problem import Hyper, Problem
from ._program import Padding, bucket, program_form
from .solvers import Status

# A Ritz value below −NEGATIVE·max(|θ₁|, |θ_j|) is negative curvature, not rounding (float64, float32).
NEGATIVE = {np.dtype("float64"): 1e-7, np.dtype("float32"): 1e-3}
CHUNK = 8  # Lanczos steps between two looks at the Ritz values
MIN_STEPS = 16  # products before a "nonnegative" verdict (an invariant Krylov space decides earlier)
PROBE_BUDGET = 24  # the solve's and `minimize`'s test of a converged end point
CURVATURE_BUDGET = 300  # `curvature`'s and the census's default
VERDICTS = ("negative", "nonnegative", "undecided")


class Curvature(NamedTuple):
    """The verdict of the second-order test at one point (see the module): verdict ∈ VERDICTS; lambda_min θ₁ (an
    upper bound on λ_min(∇²f)), lambda_max θ_j (a lower bound on λ_max), error e₁ (how far θ₁ may sit above
    the eigenvalue it approximates), noise (the threshold below which θ₁ is negative), hvps (products used),
    budget and seed (what the test was given), vector (the unit Ritz vector of θ₁ where the verdict is "negative":
    a direction of negative curvature)."""

    verdict: str
    lambda_min: float
    lambda_max: float
    error: float
    noise: float
    hvps: int
    budget: int
    seed: int
    vector: np.ndarray | None = None  # the unit Ritz vector of θ₁ when the verdict is "negative"

    def __eq__(self, other):  # field by field; the vector (an array) by value
        if not isinstance(other, Curvature):
            return NotImplemented
        same = all(a == b for a, b in zip(self[:-1], other[:-1]))
        u, v = self.vector, other.vector
        return same and ((u is None and v is None) or (u is not None and v is not None and np.array_equal(u, v)))

    def __ne__(self, other):
        eq = self.__eq__(other)
        return eq if eq is NotImplemented else not eq

    __hash__ = None  # holds an array

    @property
    def negative(self) -> bool:
        """Negative curvature proved: the point is not a local minimum."""
        return self.verdict == "negative"

    @property
    def relative(self) -> float:
        """θ₁ over the spectrum's scale max(|θ₁|, |θ_j|)."""
        return self.lambda_min / max(abs(self.lambda_min), abs(self.lambda_max), np.finfo(np.float64).tiny)

    def describe(self) -> str:
        """One line: the verdict with its numbers."""
        what = {"negative": "negative curvature", "nonnegative": "no negative curvature",
                "undecided": "undecided (budget spent)"}[self.verdict]
        return (f"{what}: θ₁ = {self.lambda_min:.3e} (± {self.error:.1e}, noise {self.noise:.1e}), "
                f"θ_max = {self.lambda_max:.3e}, {self.hvps} Hessian-vector products of {self.budget}, seed {self.seed}")


def lanczos_steps(hvp, V, alphas, betas, j, count, scale):
    """Up to `count` Lanczos steps from step j (pure; jit it). V (m+1, n): the orthonormal basis so far, rows
    after j zero; alphas, betas (m,): T's diagonal and off-diagonal; scale: the largest |α|, β seen. Each step
    reorthogonalises against the whole basis twice (classical Gram–Schmidt, the rows after j are zero so no
    mask is needed). Stops at step m or where the Krylov space is invariant (β ≤ √ε·scale). Returns (V, alphas,
    betas, j, live, scale); live False: the space is invariant."""
    m = alphas.shape[0]
    tiny = jnp.sqrt(jnp.finfo(V.dtype).eps)

    def cond(c):
        return c[5] & (c[4] < count) & (c[3] < m)

    def body(c):
        V, a, b, j, i, live, scale = c
        v = V[j]
        w = hvp(v)
        alpha = jnp.vdot(v, w)
        w = w - V.T @ (V @ w)
        w = w - V.T @ (V @ w)
        beta = jnp.linalg.norm(w)
        scale = jnp.maximum(scale, jnp.maximum(jnp.abs(alpha), beta))
        more = beta > tiny * scale
        V = V.at[j + 1].set(jnp.where(more, w / jnp.where(more, beta, 1.0), 0.0))
        return V, a.at[j].set(alpha), b.at[j].set(jnp.where(more, beta, 0.0)), j + 1, i + 1, more, scale

    V, alphas, betas, j, _, live, scale = lax.while_loop(
        cond, body, (V, alphas, betas, j, jnp.zeros((), jnp.int32), jnp.asarray(True), scale))
    return V, alphas, betas, j, live, scale


def judge(alphas, betas, live: bool, dtype) -> tuple:
    """(verdict or None while open, θ₁, θ_j, e₁, noise) from the first j steps' T_j (numpy, float64)."""
    j = alphas.size
    T = np.diag(alphas) + np.diag(betas[:-1], 1) + np.diag(betas[:-1], -1)
    theta, S = np.linalg.eigh(T)
    last = 0.0 if not live else float(betas[-1])
    r = np.abs(last * S[-1, :])
    noise = NEGATIVE[np.dtype(dtype)] * max(abs(theta[0]), abs(theta[-1]), np.finfo(np.float64).tiny)
    err = float(r[0])
    if theta[0] < -noise:
        verdict = "negative"
    elif theta[0] - err >= -noise and (j >= MIN_STEPS or not live):
        verdict = "nonnegative"
    else:
        verdict = None
    return verdict, float(theta[0]), float(theta[-1]), err, float(noise)


def check_budget(budget, owner: str) -> int:
    return check_int("budget", budget, 1, owner, hi=100_000)


def run(step, x, budget: int, seed: int, progress=None, padded: tuple | None = None) -> Curvature:
    """The test, driven from the host: `step(V, alphas, betas, j, count, scale)` runs Lanczos steps (a compiled
    `lanczos_steps` on this point's Hessian); x: the point as a flat array (its size and dtype). padded: None,
    or (size, index) of a bucketed program (`_program.bucket`) whose vectors hold x's numbers at `index`: the
    start vector is the same one embedded there, and the steps stop at the same count."""
    n, dtype = int(x.size), np.dtype(x.dtype)
    m = max(1, min(int(budget), n))
    v0 = np.random.default_rng(seed).standard_normal(n)
    v0 /= np.linalg.norm(v0)
    n_p, where = (n, slice(None)) if padded is None else padded
    m_p = max(1, min(int(budget), n_p))
    # Host arrays in, device arrays between chunks, host arrays out: no eager device operation (each would
    # compile a small program of its own per shape).
    V = np.zeros((m_p + 1, n_p), dtype)
    V[0, where] = v0
    alphas, betas = np.zeros(m_p, dtype), np.zeros(m_p, dtype)
    j, scale = np.zeros((), np.int32), np.zeros((), dtype)
    while True:
        count = np.asarray(min(CHUNK, m - int(j)), np.int32)  # never past m (a padded program could go on)
        V, alphas, betas, j, live, scale = step(V, alphas, betas, j, count, scale)
        k, live = int(j), bool(live)
        verdict, lo, hi, err, noise = judge(np.asarray(alphas, np.float64)[:k], np.asarray(betas, np.float64)[:k],
                                            live, dtype)
        if progress is not None:
            progress(f"{k} Hessian-vector products: θ₁ = {lo:.3e} ± {err:.1e}")
        if verdict is None and (k >= m or not live):
            verdict = "undecided"
        if verdict is not None:
            vec = None
            if verdict == "negative":
                a, b = np.asarray(alphas, np.float64)[:k], np.asarray(betas, np.float64)[:k]
                S = np.linalg.eigh(np.diag(a) + np.diag(b[:-1], 1) + np.diag(b[:-1], -1))[1]
                vec = np.asarray(V, np.float64)[:k][:, where].T @ S[:, 0]
                vec = (vec / np.linalg.norm(vec)).astype(dtype)
            return Curvature(verdict, lo, hi, err, noise, k, int(budget), int(seed), vec)


_PROGRAMS = Executables()


def _layout_steps(layout, hyper, x, V, alphas, betas, j, count, scale, mask=None):
    f = (lambda z: value_x(layout, hyper, z)) if mask is None else (lambda z: value_x(layout, hyper, z * mask))
    hvp = lambda v: jax.jvp(jax.grad(f), (x,), (v,))[1]  # noqa: E731
    return lanczos_steps(hvp, V, alphas, betas, j, count, scale)


def layout_test(layout, hyper, x, *, budget: int = CURVATURE_BUDGET, seed: int = 0, progress=None) -> tuple:
    """The test of f (`layout`, `hyper`: a solve program's form) at the free vector x (numpy): returns
    (`Curvature`, compile seconds). One program per (bucket of the layout, min(budget, size)), cached: a
    one-layer layout runs in its bucket's program (`_program.bucket`), x embedded in the padded vector and the
    start vector too, so the Krylov space — and the verdict — are those of the layout's own (the padded numbers
    are masked: their rows of the Hessian are 0 and no Lanczos vector enters them)."""
    x = np.asarray(x)
    spec, padding = layout_job(layout, hyper, x, budget)
    exe, seconds = compiled(*spec)
    if padding is None:
        return run(lambda *s: exe(hyper, x, *s), x, budget, seed, progress), seconds
    where = padding.index()
    xp, mask = np.zeros(padding.padded.size, x.dtype), np.zeros(padding.padded.size, x.dtype)
    xp[where], mask[where] = x, 1
    return run(lambda *s: exe(hyper, xp, *s, mask), x, budget, seed, progress, (xp.size, where)), seconds


def layout_job(layout, hyper, x, budget: int = PROBE_BUDGET) -> tuple:
    """The program of `layout_test` as `_executables.compile_many` takes it — (cache, key, fn, args, name) —
    and its padding (None: the layout's own program)."""
    x = np.asarray(x)
    padded = bucket(layout)
    if padded is not None and padded.deep:  # the class-mean form of the same numbers: no mask
        layout, padded = padded, None
    padding = None if padded is None else Padding(layout, padded)
    n = x.size if padded is None else padded.size
    m = max(1, min(int(budget), n))
    args = (hyper, np.zeros(n, x.dtype), np.zeros((m + 1, n), x.dtype), np.zeros(m, x.dtype), np.zeros(m, x.dtype),
            np.zeros((), np.int32), np.zeros((), np.int32), np.zeros((), x.dtype))
    if padded is None:
        fn = lambda h, x, *s: _layout_steps(layout, h, x, *s)  # noqa: E731
        return (_PROGRAMS, (layout, m), fn, args, "ufm_curvature"), None
    fn = lambda h, x, V, a, b, j, c, s, mask: _layout_steps(padded, h, x, V, a, b, j, c, s, mask)  # noqa: E731
    return (_PROGRAMS, (padded, m, "masked"), fn, args + (np.zeros(n, x.dtype),), "ufm_curvature"), padding


def function_test(fun, x, *, budget: int = PROBE_BUDGET, seed: int = 0) -> Curvature:
    """The test of any smooth scalar JAX function `fun` at the pytree x (`minimize`'s end point)."""
    flat, unravel = ravel_pytree(x)
    grad = jax.grad(lambda z: fun(unravel(z)))
    step = jax.jit(lambda V, a, b, j, c, s: lanczos_steps(lambda v: jax.jvp(grad, (flat,), (v,))[1], V, a, b, j, c, s))
    return run(step, np.asarray(flat), budget, seed)


def curvature_test(layout: Layout, hyper: Hyper, x, status):
    """The second-order test of a solve's end points: each converged member (x: the tuple of free arrays, with a
    leading batch axis when `status` is an array) goes through the test (`layout_test`,
    PROBE_BUDGET products, seed 0); a member with negative curvature gets status SADDLE. Returns (status codes,
    θ₁: NaN where the test did not run, compile seconds, {member index: the direction of negative curvature}).
    One program per problem shape, whatever the method, step budget or batch size, and it runs only for the
    members that converged."""
    codes = np.array(status, dtype=np.int32, copy=True)
    lam = np.full(codes.shape, np.nan)
    todo = np.flatnonzero(codes.ravel() == Status.CONVERGED.code)
    seconds, vectors = 0.0, {}
    if todo.size == 0:
        return codes, lam, seconds, vectors
    hyper, x = tuple(np.asarray(v) for v in hyper), tuple(np.asarray(a) for a in x)  # host slicing: no programs
    pick = (lambda a, i: a) if codes.ndim == 0 else (lambda a, i: a[i])
    for i in todo:
        h_i = Hyper(*(pick(v, i) for v in hyper))
        x_i = np.concatenate([np.ravel(pick(a, i)) for a in x])
        c, s = layout_test(layout, h_i, x_i, budget=PROBE_BUDGET)
        seconds += s
        lam.flat[i] = c.lambda_min
        if c.negative:
            codes.flat[i] = Status.SADDLE.code
            vectors[int(i)] = c.vector
    return codes, lam, seconds, vectors


@float64()
def curvature(problem, W, H, b=None, *, budget: int = CURVATURE_BUDGET, seed: int = 0, progress=None) -> Curvature:
    """The second-order test (see the module) of `problem`'s objective f at (W, H, b) in its free variables
    (W unless frozen — the tuple of layers for depth > 1 —, H, b with a bias): at most `budget` Hessian-vector products from a start vector drawn with
    `seed`; `progress(line)`, if given, hears from it every CHUNK products. Computes in the problem's dtype.

    >>> c = ufm.curvature(problem, sol.W, sol.H, sol.b)   # c.verdict: "negative", "nonnegative" or "undecided"
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"curvature(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    check_budget(budget, "curvature")
    if not (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0):
        raise ParameterError("seed", seed, "an integer ≥ 0", "curvature")
    layout, hyper = program_form(problem)
    x = point_x(problem, W, H, b, "curvature")
    return layout_test(layout, hyper, x, budget=budget, seed=seed, progress=progress)[0]


def point_x(problem: Problem, W, H, b, owner: str) -> np.ndarray:
    """The free vector x (numpy, the problem's dtype) of the point (W, H, b) of `problem` — W the tuple of layers
    for depth > 1, b None for zeros —, each array's shape checked (a ParameterError naming it and `owner`)."""
    layout = Layout.of(problem)
    b = np.zeros(problem.K) if b is None else b
    deep = problem.depth > 1
    try:
        Ws = [np.asarray(w, dtype=problem.dtype) for w in W] if deep else [np.asarray(W, dtype=problem.dtype)]
    except (TypeError, ValueError):
        raise ParameterError("W", type(W).__name__, f"a sequence of {problem.depth} arrays (one per layer)",
                             owner) from None
    H, b = np.asarray(H, dtype=problem.dtype), np.asarray(b, dtype=problem.dtype)
    rows = problem.K if problem.means else problem.N
    names = [f"W_{i + 1}" for i in range(problem.depth)] if deep else ["W"]
    if len(Ws) != problem.depth:
        raise ParameterError("W", f"{len(Ws)} layers", f"{problem.depth}", owner)
    shapes = list(zip(names, Ws, layout.w_shapes)) + [("H", H, (problem.d, rows)), ("b", b, (problem.K,))]
    for name, a, shape in shapes:
        if a.shape != shape:
            raise ParameterError(name, f"shape {a.shape}", f"shape {shape} for this problem", owner)
    return np.asarray(layout.pack((tuple(Ws) if deep else Ws[0], H, b)))


__all__ = ["Curvature", "curvature", "VERDICTS", "CURVATURE_BUDGET", "PROBE_BUDGET", "NEGATIVE", "layout_test",
           "function_test", "lanczos_steps", "judge", "curvature_test", "point_x", "layout_job"]
