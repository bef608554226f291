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
from ufm import ParameterError, Problem, float64, persistent_jit

from ufm.functional import Hyper, Layout, value_x

from . import _hessian


@functools.partial(persistent_jit, static_argnums=(0, 1))
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


class LocalRate(NamedTuple):
    """Gradient descent near a global minimiser (the conclusion side of Guo et al. 2025, arXiv 2402.03979,
    Thm 4.2). kappa_blocks: Thm 4.2's K·p_t (the condition number of the loss term's W- and H-blocks; 1 at K = 2);
    kappa_full: λ_max/λ_min over the nonzero eigenvalues of the full regularised ∇²f (rotation zero modes
    excluded); lambda_max, lambda_min: those two; zero_modes: how many were excluded; rate_predicted:
    1 − 1/kappa_full, the per-step contraction of the slowest mode under η = 1/λ_max; rate_measured: the
    contraction of ‖∇f‖ per step measured from a random 1e-4 start while it falls from 1e-2 to 1e-7 of its start;
    rate_model: the same average from the Hessian's linear model of that run (it tends to rate_predicted as the
    window grows; over a finite window the modes just above λ_min make it a little faster); rate_fixed_step: 1 − η₀λ_min for a common step η₀ (`fixed_step`), the slowest mode's contraction then."""

    kappa_blocks: float | None
    kappa_full: float
    lambda_max: float
    lambda_min: float
    zero_modes: int
    rate_predicted: float
    rate_measured: float
    rate_model: float
    rate_fixed_step: float
    steps: int


@functools.partial(persistent_jit, static_argnums=(0, 1))
def _grad_norms(layout, steps, hyper, x0, eta):
    g = jax.grad(functools.partial(value_x, layout, hyper))

    def body(x, _):
        gx = g(x)
        return x - eta * gx, jnp.linalg.norm(gx)

    return jax.lax.scan(body, x0, None, length=steps)[1]


@float64()
def local_rate(problem: Problem, steps: int | None = None, radius: float = 1e-4, seed: int = 0,
               fixed_step: float = 1.0) -> LocalRate:
    """The full Hessian's conditioning at the closed-form global minimiser (`minimizer`) and gradient descent's
    measured linear rate there. Needs a problem with a closed-form minimiser (dense Hessian, ≤ 4000 variables)."""
    from ._predict import minimizer, predict

    pred = predict(problem)
    point = minimizer(problem)
    ev, V = np.linalg.eigh(_hessian.hessian_full(problem, *point))
    lmax = float(ev[-1])
    nz = ev[np.abs(ev) > 1e-9 * lmax]
    if nz.min() < 0:
        raise ParameterError("problem", f"λ_min = {nz.min():.3g}", "a problem whose minimizer is a minimum",
                             "local_rate")
    lmin = float(nz.min())
    kappa = lmax / lmin
    # 20κ steps decay the slowest mode by e^{-20}; a power of two, so that problems of similar κ share the scan
    steps = steps or int(2 ** math.ceil(math.log2(min(max(20 * kappa, 256), 2**17))))
    obj = ufm.objective(problem)
    xs = np.asarray(obj.pack(point), np.float64)
    r = np.random.default_rng(seed).standard_normal(xs.shape)
    r *= radius / np.linalg.norm(r)
    layout = Layout.of(problem)
    hyper = Hyper(*(jnp.asarray(v, jnp.float64) for v in problem.hyper))
    norms = np.asarray(_grad_norms(layout, steps, hyper, jnp.asarray(xs + r), 1.0 / lmax))
    # The linear model of the same run: ‖∇f(x_t)‖² = Σ λ_i² (1 − λ_i/λ_max)^{2t} c_i², c = Vᵀ(x_0 − x*).
    c2 = (V.T @ r) ** 2
    t = np.arange(steps)[:, None]
    model = np.sqrt(np.sum(ev**2 * c2 * np.abs(1 - ev / lmax) ** (2 * t), axis=1))
    # The window: after the fast modes are gone (‖∇f‖ ≤ 1e-2 of its start) and before rounding (‖∇f‖ ≥ 1e-7
    # of its start, far above the ~1e-16 floor).
    t1 = int(np.argmax(norms <= 1e-2 * norms[0]))
    below = np.nonzero(norms >= 1e-7 * norms[0])[0]
    t2 = int(below[-1])
    if not (norms[t1] <= 1e-2 * norms[0] and t2 > t1 + 10):
        raise ParameterError("steps", steps, f"enough gradient steps to decay 1e-7 (κ = {kappa:.3g})", "local_rate")
    measured = float((norms[t2] / norms[t1]) ** (1.0 / (t2 - t1)))
    modelled = float((model[t2] / model[t1]) ** (1.0 / (t2 - t1)))
    return LocalRate(pred.kappa, kappa, lmax, lmin, int(ev.size - nz.size), 1 - 1 / kappa, measured, modelled,
                     1 - fixed_step * lmin, steps)
