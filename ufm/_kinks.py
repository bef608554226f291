"""The first-order test of a deep ReLU UFM at its kinks: is there a descent direction where a pre-activation sits
at 0?

A deep ReLU objective f (`ufm.Problem(activation="relu")`) is smooth except where a pre-activation
z = (W_l H_l)_{ij} (l = 1 … L−1) is 0 — and optimal deep ReLU points put many there (a class mean with zeros
in the other classes' coordinates). JAX differentiates relu with relu′(0) = 0, so at such a point ∇f is the
gradient of one smooth piece only (every kink unit off), and "‖∇f‖ small" does not mean that f cannot decrease:
turning a unit on may lower f at first order (a feature column left at 0 is the simplest case: every unit of that
sample sits at its kink, JAX's gradient in that column is 0, and any unit that feeds the sample's class would
lower the loss).

The test. The kinks are the pre-activations with |z| ≤ ZERO_BAND·max(1, max|Z_l|). Near x, f agrees with the
smooth piece f_S (ReLU replaced by the identity on the kinks in S and by 0 on the others) on the cone
T_S = {v : ∇z_k^S·v ≥ 0 for k ∈ S, ≤ 0 for k ∉ S}, where f′(x; v) = ∇f_S·v exactly. The steepest descent
direction of f_S inside T_S is the projection v = P_{T_S}(−∇f_S) (Moreau: v = −∇f_S + Bᵀμ*, μ* ≥ 0 the
non-negative least-squares solution, B the rows ±∇z_k^S), with f′(x; v) = −‖v‖². A v ≠ 0 is a descent
direction of f; the test confirms it by an Armijo decrease of f itself along v, and then the point is not a
local minimum (not even directionally stationary). Pieces tested: all kinks off (JAX's piece), all on, the
kinks whose back-propagated signal ∂f/∂z is negative (turning them on lowers f at first order), and each of
the SINGLE strongest such units alone. A local minimum has no descent direction in any of the 2^m pieces;
testing these few proves "descent" when it finds one and otherwise reports "no descent found" — not a
certificate.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ._config import float64
from ._curvature import point_x
from ._errors import ParameterError
from ._executables import persistent_jit
from ._objective import Layout, features, value, value_x
from ._problem import Hyper, Problem
from ._program import program_form
from .solvers import Status

# A pre-activation within ZERO_BAND·max(1, max|Z_l|) of 0 is at its kink (float64, float32).
ZERO_BAND = {np.dtype("float64"): 1e-9, np.dtype("float32"): 1e-4}
SINGLE = 4  # single-unit pieces tested (the most negative back-propagated signals)
MAX_ENTRIES = 20_000_000  # m kinks × n variables: the largest constraint matrix the test builds
KINK_VERDICTS = ("smooth", "descent", "no descent found", "too large")


class Kinks(NamedTuple):
    """The verdict of the kink test (see the module) at one point of a deep ReLU problem: verdict ∈
    KINK_VERDICTS ("smooth": no pre-activation at 0, f is smooth near the point; "descent": a descent direction
    was found and f decreased along it; "no descent found": kinks, none of the tested pieces has a descent
    direction; "too large": more than MAX_ENTRIES kink-by-variable entries, not tested); count: kinks, per_layer:
    per hidden layer; rate: f′(x; v)/‖v‖ of the best direction found (0.0 when none); decrease: f(x) − f(x + t v)
    found by the Armijo search (0.0 when none); step: that t; pieces: the pieces tested; direction: v (the free
    vector's layout, None when none)."""

    verdict: str
    count: int
    per_layer: tuple
    rate: float = 0.0
    decrease: float = 0.0
    step: float = 0.0
    pieces: tuple = ()
    direction: np.ndarray | None = None

    @property
    def descent(self) -> bool:
        return self.verdict == "descent"


def _pre_activations(layout: Layout, x: np.ndarray) -> list:
    """Z_l = W_l H_l for l = 1 … L−1 at the free vector x, on the host (numpy: compiles nothing)."""
    W, H, b = layout.unpack(np.asarray(x))
    A = features((W, H, b), "relu")
    return [w @ a for w, a in zip(W[:-1], A[:-1])]


def masks_of(layout: Layout, x: np.ndarray) -> list:
    """The kinks of x: one boolean mask per hidden layer (|Z_l| ≤ ZERO_BAND·max(1, max|Z_l|))."""
    band = ZERO_BAND[np.dtype(layout.dtype)]
    return [np.abs(z) <= band * max(1.0, float(np.max(np.abs(z), initial=0.0))) for z in _pre_activations(layout, x)]


def count(layout: Layout, x) -> int:
    """How many pre-activations of x sit at their kink (0 for a problem without ReLU layers)."""
    if not (layout.deep and layout.activation == "relu"):
        return 0
    return int(sum(m.sum() for m in masks_of(layout, np.asarray(x))))


def _pieces(masks, slopes):
    """The activation of the smooth piece: slope s·z on the kinks (s ∈ {0, 1} per kink), relu elsewhere."""
    return [lambda z, m=m, s=s: jnp.where(m, s * z, jnp.maximum(z, 0.0)) for m, s in zip(masks, slopes)]


@functools.partial(persistent_jit, static_argnums=0)
def _piece_grads(layout: Layout, hyper: Hyper, x, masks, slopes):
    """(∇f_S(x), ∂f_S/∂Z_l for each hidden layer) of the piece S (`slopes`)."""
    def f(x, E):
        acts = [lambda z, sig=sig, e=e: sig(z + e) for sig, e in zip(_pieces(masks, slopes), E)]
        return value(layout, hyper, layout.unpack(x), acts)

    E = tuple(jnp.zeros(m.shape, x.dtype) for m in masks)
    return jax.grad(f, argnums=(0, 1))(x, E)


@functools.partial(persistent_jit, static_argnums=0)
def _rows(layout: Layout, hyper: Hyper, x, masks, slopes, which, rows, cols):
    """∇z_k^S for the kinks k = (which, rows, cols) (a padded batch): the rows of B, shape (batch, len(x))."""
    def zs(x):
        W, H, b = layout.unpack(x)
        A, out = H, []
        for w, sig in zip(W[:-1], _pieces(masks, slopes)):
            out.append(w @ A)
            A = sig(out[-1])
        return tuple(out)

    _, pull = jax.vjp(zs, x)

    def row(l, i, j):
        cot = tuple(jnp.where((l == k) & (jnp.arange(m.shape[0])[:, None] == i) & (jnp.arange(m.shape[1])[None] == j),
                              1.0, 0.0).astype(x.dtype) for k, m in enumerate(masks))
        return pull(cot)[0]

    return jax.vmap(row)(which, rows, cols)


_value = persistent_jit(value_x, static_argnums=0)


def _bucket(m: int) -> int:
    return max(8, 1 << (m - 1).bit_length())


def _project(g: np.ndarray, B: np.ndarray) -> np.ndarray:
    """P_T(−g) for T = {v : B v ≥ 0}: −g + Bᵀμ*, μ* = argmin_{μ ≥ 0} ‖Bᵀμ − g‖ (Moreau's decomposition)."""
    from scipy.optimize import nnls

    if B.shape[0] == 0:
        return -g
    mu, _ = nnls(B.T, g, maxiter=50 * B.shape[0])
    return -g + B.T @ mu


def layout_kinks(layout: Layout, hyper: Hyper, x: np.ndarray, *, rtol: float = 1e-8) -> Kinks:
    """The kink test (see the module) of f (a solve program's `layout`, `hyper`) at the free vector x (numpy). A
    direction counts when ‖v‖ > rtol·max(|f|, tiny) and f decreases along it."""
    x = np.asarray(x)
    masks = masks_of(layout, x)
    per_layer = tuple(int(m.sum()) for m in masks)
    m = sum(per_layer)
    if m == 0:
        return Kinks("smooth", 0, per_layer)
    if m * x.size > MAX_ENTRIES:
        return Kinks("too large", m, per_layer)
    where = [(l, i, j) for l, mk in enumerate(masks) for i, j in zip(*np.nonzero(mk))]
    size = _bucket(m)
    pad = where + [where[0]] * (size - m)
    which, rows, cols = (np.asarray(c, np.int32) for c in zip(*pad))
    f0 = float(_value(layout, hyper, jnp.asarray(x)))
    floor = rtol * max(abs(f0), np.finfo(x.dtype).tiny)
    jm = tuple(jnp.asarray(mk) for mk in masks)

    def slopes_of(on):  # on: bool per kink (in `where` order) → per-layer slope arrays
        s = [np.zeros(mk.shape, x.dtype) for mk in masks]
        for (l, i, j), o in zip(where, on):
            s[l][i, j] = 1.0 if o else 0.0
        return tuple(jnp.asarray(a) for a in s)

    g_on, dz_on = _piece_grads(layout, hyper, jnp.asarray(x), jm, slopes_of([True] * m))
    signal = np.array([float(dz_on[l][i, j]) for l, i, j in where])
    candidates = [("all off", [False] * m), ("all on", [True] * m)]
    if (signal < 0).any():
        candidates.append(("signal < 0", list(signal < 0)))
        for k in np.argsort(signal)[:SINGLE]:
            if signal[k] < 0:
                layer, row, col = (int(v) for v in where[k])
                candidates.append((f"unit (layer {layer + 1}, row {row}, column {col})", [u == k for u in range(m)]))
    tried = []
    for label, on in candidates:
        s = slopes_of(on)
        g = np.asarray(_piece_grads(layout, hyper, jnp.asarray(x), jm, s)[0])
        R = np.asarray(_rows(layout, hyper, jnp.asarray(x), jm, s, which, rows, cols))[:m]
        B = R * np.where(on, 1.0, -1.0)[:, None]
        v = _project(g, B)
        tried.append(label)
        nv = float(np.linalg.norm(v))
        if nv <= floor:
            continue
        found = _armijo(layout, hyper, x, f0, v, nv)
        if found is not None:  # one proven direction settles the verdict; f′(x; v)/‖v‖ = −‖v‖
            return Kinks("descent", m, per_layer, -nv, found[0], found[1], tuple(tried), v)
    return Kinks("no descent found", m, per_layer, pieces=tuple(tried))


def _armijo(layout, hyper, x, f0, v, nv):
    """(f(x) − f(x + t v), t) for the largest t = 2^-k (k ≤ 60) with f(x + t v) ≤ f(x) − 1e-4 t‖v‖² and a decrease
    beyond rounding (64 ε |f|); None when there is none."""
    eps = np.finfo(x.dtype).eps
    t = 1.0
    for _ in range(61):
        f1 = float(_value(layout, hyper, jnp.asarray(x + t * v)))
        if f1 <= f0 - 1e-4 * t * nv * nv and f0 - f1 > 64 * eps * max(abs(f0), 1.0):
            return f0 - f1, t
        t *= 0.5
    return None


def kink_test(layout: Layout, hyper: Hyper, x, status, vectors=None):
    """The kink test of a solve's end points (ReLU layouts only). At a member whose pre-activations sit at 0:
    status SADDLE stands only where f itself decreases along ±t·v (v: the curvature test's direction,
    `vectors[i]`) — its Hessian is that of JAX's piece, which f follows only inside that piece's cone —, else
    the member is judged as converged; a converged member that a descent direction leaves through a kink
    (`layout_kinks`) gets status NONSTATIONARY. Returns (status codes, kinks per member: the count of
    pre-activations at 0, −1 where the layout has no ReLU layer)."""
    codes = np.array(status, dtype=np.int32, copy=True)
    counts = np.full(codes.shape, -1, dtype=np.int64)
    if not (layout.deep and layout.activation == "relu"):
        return codes, counts
    vectors = vectors or {}
    hyper, x = tuple(np.asarray(v) for v in hyper), tuple(np.asarray(a) for a in x)
    pick = (lambda a, i: a) if codes.ndim == 0 else (lambda a, i: a[i])
    for i in range(codes.size):
        h_i = Hyper(*(pick(v, i) for v in hyper))
        x_i = np.concatenate([np.ravel(pick(a, i)) for a in x])
        counts.flat[i] = count(layout, x_i)
        if counts.flat[i] == 0:
            continue
        if codes.flat[i] == Status.SADDLE.code and not _lower_along(layout, h_i, x_i, vectors.get(i)):
            codes.flat[i] = Status.CONVERGED.code
        if codes.flat[i] == Status.CONVERGED.code and layout_kinks(layout, h_i, x_i).descent:
            codes.flat[i] = Status.NONSTATIONARY.code
    return codes, counts


def _lower_along(layout, hyper, x, v) -> bool:
    """Whether f itself goes down quadratically along +v or −v (v: a direction of negative curvature of JAX's
    piece): decreases beyond rounding at three successive t = 2^-k·max(1, ‖x‖) (k ≤ 40), each about 4× the next
    (the ratio within [2.5, 6]), as f(x + t v) − f(x) ≈ θ t²/2 with θ < 0 makes them. Where v leaves the piece's
    cone f turns up at small t instead (a first-order increase), and the answer is False."""
    if v is None:
        return False
    f0 = float(_value(layout, hyper, jnp.asarray(x)))
    floor = 64 * np.finfo(x.dtype).eps * max(abs(f0), 1.0)
    scale = max(1.0, float(np.linalg.norm(x)))
    for sign in (1.0, -1.0):
        drops = [f0 - float(_value(layout, hyper, jnp.asarray(x + sign * scale * 0.5**k * v))) for k in range(41)]
        for k in range(39):
            a, b, c = drops[k:k + 3]
            if c > floor and 2.5 <= a / b <= 6.0 and 2.5 <= b / c <= 6.0:
                return True
    return False


@float64()
def kinks(problem: Problem, W, H, b=None) -> Kinks:
    """The kink test (see the module) of a deep ReLU `problem` at (W (the tuple of layers), H, b): whether a
    descent direction leaves the point through a pre-activation at 0, where JAX's gradient (relu′(0) = 0) sees
    only one smooth piece.

    >>> k = ufm.kinks(problem, sol.W, sol.H, sol.b)   # k.verdict: "smooth", "descent", "no descent found", ...
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"kinks(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    if problem.depth < 2 or problem.activation != "relu":
        raise ParameterError("activation", f"{problem.activation} (depth {problem.depth})",
                             "'relu' with depth ≥ 2 (only a deep ReLU objective has kinks)", "kinks")
    layout, hyper = program_form(problem)
    x = point_x(problem, W, H, b, "kinks")
    return layout_kinks(layout, Hyper(*(np.asarray(v) for v in hyper)), x)


__all__ = ["Kinks", "kinks", "kink_test", "layout_kinks", "masks_of", "count", "ZERO_BAND", "KINK_VERDICTS",
           "MAX_ENTRIES"]
