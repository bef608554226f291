"""First-order escape from strict saddles: plain gradient descent from a small random perturbation.

Near a critical point x_s with Hessian ∇²f = Σ λ_i v_i v_iᵀ, gradient descent with step η moves each component
c_i = ⟨x − x_s, v_i⟩ as c_i(t) = (1 − ηλ_i)^t c_i(0), so

    f(x_t) − f(x_s) ≈ ½ Σ_i λ_i (1 − ηλ_i)^{2t} c_i(0)²,

which the negative eigenvalues drive down geometrically: the predicted escape time is the first t at which this
drops below −drop·|f(x_s)|. `escape` runs the descent (one `lax.while_loop`) and records the measured time beside
the prediction (the strict-saddle property of Zhou et al. 2022, arXiv 2210.02192, Thm 2; Zhu et al. 2021,
arXiv 2105.02375, Thm 3.2; Zhou et al. 2022, arXiv 2203.01238, Thms 3.2–3.3, says there is a negative eigenvalue;
that gradient descent leaves, and how fast, is what this measures).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import ufm
from ufm import ParameterError, Problem, float64

from ufm.functional import Hyper, Layout, value_x

from . import _hessian


@functools.partial(jax.jit, static_argnums=(0, 1))
def _descend(layout, max_steps, hyper, x0, eta, target, f_s):
    """x ← x − η∇f(x) until f(x) ≤ target or max_steps; one compilation per (layout, max_steps)."""
    f = functools.partial(value_x, layout, hyper)
    fg = jax.value_and_grad(f)

    def cond(s):
        t, x, fx, g, _ = s
        return (t < max_steps) & (fx > target) & jnp.isfinite(fx)

    def body(s):
        t, x, fx, g, tr = s
        x = x - eta * g
        fx, g = fg(x)
        return t + 1, x, fx, g, tr.at[t + 1].set(fx - f_s)

    f0, g0 = fg(x0)
    tr = jnp.full((max_steps + 1,), jnp.nan, x0.dtype).at[0].set(f0 - f_s)
    t, x, fx, _, tr = jax.lax.while_loop(cond, body, (0, x0, f0, g0, tr))
    return t, x, fx, tr


class Escape(NamedTuple):
    """steps: gradient steps until f ≤ f(x_s) − drop·|f(x_s)| (None if not within max_steps); predicted: the
    same from the quadratic model; step: η = 1/λ_max; lambda_min, lambda_max: of ∇²f at the saddle; negative:
    how many eigenvalues are negative; radius: ‖x_0 − x_s‖; f_saddle, f_end: f at the saddle and at the exit;
    trace: f(x_t) − f(x_s) for every step taken (the first `len(trace)`)."""

    steps: int | None
    predicted: int | None
    step: float
    lambda_min: float
    lambda_max: float
    negative: int
    radius: float
    f_saddle: float
    f_end: float
    trace: np.ndarray


@float64()
def escape(problem: Problem, point, radius: float = 1e-6, drop: float = 1e-6, seed: int = 0,
           max_steps: int = 20_000) -> Escape:
    """Gradient descent x ← x − ∇f(x)/λ_max from x_s + `radius`·(random unit vector), x_s = `point` (W, H, b)
    (a critical point, e.g. `saddles(problem)[i].point`), until f drops `drop`·|f(x_s)| below f(x_s). The full
    Hessian is formed densely (≤ 4000 variables)."""
    if not (0 < radius < 1 and math.isfinite(radius)):
        raise ParameterError("radius", radius, "a number in (0, 1)", "escape")
    if not (0 < drop < 1):
        raise ParameterError("drop", drop, "a number in (0, 1)", "escape")
    obj = ufm.objective(problem)
    xs = np.asarray(obj.pack(point), np.float64)
    ev, V = np.linalg.eigh(_hessian.hessian_full(problem, *point))
    lmax, lmin = float(ev[-1]), float(ev[0])
    if lmin >= -1e-9 * lmax:  # zero modes of the rotation symmetry round to ±1e-17: not negative curvature
        raise ParameterError("point", f"λ_min = {lmin:.3g}", "a strict saddle (a negative Hessian eigenvalue)",
                             "escape")
    eta = 1.0 / lmax
    r = np.random.default_rng(seed).standard_normal(xs.shape)
    x0 = xs + radius * r / np.linalg.norm(r)
    f_s = float(obj.f_x(jnp.asarray(xs)))
    target = f_s - drop * abs(f_s)

    # The quadratic model's time: first t with ½ Σ λ_i (1 − ηλ_i)^{2t} c_i² ≤ −drop·|f_s| (negative modes grow,
    # the others do not; evaluate on a geometric grid of t and refine by bisection).
    c2 = (V.T @ (x0 - xs)) ** 2

    def model(t):
        return 0.5 * float(np.sum(ev * np.exp(2 * t * np.log(np.abs(1 - eta * ev) + 1e-300)) * c2))

    predicted = None
    hi = 1
    while hi <= max_steps and model(hi) > -drop * abs(f_s):
        hi *= 2
    if hi <= max_steps or model(max_steps) <= -drop * abs(f_s):
        hi, lo = min(hi, max_steps), hi // 2
        while hi - lo > 1:
            mid = (lo + hi) // 2
            lo, hi = (lo, mid) if model(mid) <= -drop * abs(f_s) else (mid, hi)
        predicted = hi

    layout = Layout.of(problem)
    hyper = Hyper(*(jnp.asarray(v, jnp.float64) for v in problem.hyper))
    t, x, fx, tr = _descend(layout, max_steps, hyper, jnp.asarray(x0), eta, target, f_s)
    t, fx = int(t), float(fx)
    tr = np.asarray(tr)[: t + 1]
    return Escape(t if fx <= target else None, predicted, eta, lmin, lmax, int(np.sum(ev < -1e-12 * lmax)),
                  radius, f_s, fx, tr)
