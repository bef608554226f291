"""The UFM objective f(W, H, b) and its derivatives, as pure JAX functions."""

from __future__ import annotations

import dataclasses
import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import losses as _losses
from ._config import require_float64
from ._problem import Hyper, Problem, class_labels, one_hot, simplex_etf
from ._executables import hashable, persistent_jit


class Params(NamedTuple):
    """A point of the UFM: W (K, d), H (d, N) class-major, b (K,). With depth L > 1, W is the tuple
    (W_1 (d_1, d), …, W_L (K, d_{L−1})) of the layers (`Problem`)."""

    W: jax.Array
    H: jax.Array
    b: jax.Array


@dataclasses.dataclass(frozen=True)
class Layout:
    """The static part of a problem: shapes, loss kind and which variables are free.

    The free variables as one flat vector x = [vec W (unless fixed), vec H, b (if bias)] (pack/unpack: the
    public and analysis form) or as the tuple of their arrays (free/full: what the solvers iterate on, so
    that no step copies H in and out of x).

    n: the class counts as in `Problem.n` (int or tuple), or None in the class-mean form (`means`), whose H has
    K columns weighted by the traced `Hyper.counts`.
    """

    K: int
    n: int | tuple | None
    d: int
    loss: str
    bias: bool
    fixed_w: str | None
    dtype: str
    etf_norm: float
    means: bool = False
    depth: int = 1
    activation: str = "linear"
    widths: tuple = ()

    @classmethod
    def of(cls, problem: Problem) -> "Layout":
        return cls(*problem.static)

    @property
    def N(self) -> int:
        """Number of columns of H: the samples, or K in the class-mean form."""
        if self.means:
            return self.K
        return self.n * self.K if isinstance(self.n, int) else sum(self.n)

    @property
    def deep(self) -> bool:
        return self.depth > 1

    @property
    def w_shapes(self) -> tuple:
        """The shapes of the weight matrices: ((K, d),) for one layer, ((d_l, d_{l−1}) for l = 1 … L) deep."""
        dims = (self.d,) + tuple(self.widths) + (self.K,)
        return tuple((dims[i + 1], dims[i]) for i in range(self.depth))

    @property
    def w_size(self) -> int:
        """How many free numbers the weights hold (0 for a frozen W)."""
        return 0 if self.fixed_w else sum(a * b for a, b in self.w_shapes)

    @property
    def size(self) -> int:
        """Length of the free vector x."""
        return self.w_size + self.d * self.N + (self.K if self.bias else 0)

    def Y(self):
        """One-hot labels (K, N), class-major (the identity in the class-mean form)."""
        return jnp.asarray(one_hot(class_labels(self.K, 1 if self.means else self.n), self.K), dtype=self.dtype)

    def W_fixed(self, xp=jnp):
        """The frozen W (a simplex ETF), as `xp` (jax.numpy or numpy) arrays."""
        return xp.asarray(simplex_etf(self.K, self.d, self.etf_norm), dtype=self.dtype)

    def unpack(self, x) -> Params:
        """Free vector x → full Params (the frozen W and b ≡ 0 filled in). A numpy x gives numpy arrays (host
        work: no program is compiled for it), a JAX x JAX arrays."""
        xp = np if isinstance(x, np.ndarray) else jnp
        K, d, N = self.K, self.d, self.N
        i = 0
        if self.fixed_w:
            W = self.W_fixed(xp)
        elif self.deep:
            W = []
            for shape in self.w_shapes:
                W.append(x[i : i + shape[0] * shape[1]].reshape(shape))
                i += shape[0] * shape[1]
            W = tuple(W)
        else:
            W, i = x[: K * d].reshape(K, d), K * d
        H = x[i : i + d * N].reshape(d, N)
        b = x[i + d * N :] if self.bias else xp.zeros(K, x.dtype)
        return Params(W, H, b)

    def free(self, params) -> tuple:
        """Full Params → the tuple of free arrays (W unless frozen, H, b if bias): the solvers' iterate."""
        W, H, b = params
        Ws = [] if self.fixed_w else list(W) if self.deep else [W]
        return tuple(Ws + [H] + ([b] if self.bias else []))

    def full(self, free) -> Params:
        """The tuple of free arrays → full Params (the frozen W and b ≡ 0 filled in)."""
        it = iter(free)
        if self.deep:
            W = tuple(next(it) for _ in range(self.depth))
        else:
            W = self.W_fixed() if self.fixed_w else next(it)
        H = next(it)
        b = next(it) if self.bias else jnp.zeros(self.K, H.dtype)
        return Params(W, H, b)

    def pack(self, params) -> jax.Array:
        """Full Params → free vector x (drops the frozen W and, without bias, b). numpy in, numpy out."""
        W, H, b = params
        Ws = list(W) if self.deep else [W]
        xp = np if all(isinstance(a, np.ndarray) for a in Ws + [H, b]) else jnp
        parts = ([] if self.fixed_w else [xp.ravel(w) for w in Ws]) + [xp.ravel(H)] + \
            ([xp.ravel(b)] if self.bias else [])
        return xp.concatenate(parts).astype(self.dtype)


def _relu(a):
    """max(a, 0): numpy in, numpy out (host work compiles nothing), else JAX's relu (derivative 0 at 0)."""
    return np.maximum(a, 0.0) if isinstance(a, np.ndarray) else jax.nn.relu(a)


ACTIVATIONS = {"linear": lambda a: a, "relu": _relu}


def features(params, activation: str = "linear") -> list:
    """The features each layer sees: [H_1 = H, H_2 = σ(W_1 H_1), …, H_L = σ(W_{L−1} H_{L−1})] (one entry, H,
    for one layer). H_L is what the last layer W_L classifies. activation: a name of ACTIVATIONS, or one
    function per hidden layer (what `ufm.kinks` uses to evaluate the smooth pieces of a ReLU objective)."""
    W, H, b = params
    if not isinstance(W, (tuple, list)):
        return [H]
    sigmas = [ACTIVATIONS[activation]] * (len(W) - 1) if isinstance(activation, str) else list(activation)
    out = [H]
    for w, sigma in zip(W[:-1], sigmas):
        out.append(sigma(w @ out[-1]))
    return out


def logits(params, activation: str = "linear") -> jax.Array:
    """Z = W H + b 1_N^T, shape (K, N); with depth L > 1 (W the tuple of layers) Z = W_L σ(… σ(W_1 H)) + b 1ᵀ."""
    W, H, b = params
    if isinstance(W, (tuple, list)):
        return W[-1] @ features(params, activation)[-1] + b[:, None]
    return W @ H + b[:, None]


def data_term(layout: Layout, hyper: Hyper, Z) -> jax.Array:
    """g(Z) = (1/N) Σ_i L(z_i, y_i), the data term of f as a function of the logits; in the class-mean form
    (Z (K, K), one column per class) Σ_k (n_k/N) L(z_k, k)."""
    losses = _losses.per_sample(layout.loss, Z, layout.Y(), hyper)
    if layout.means:
        return jnp.sum(hyper.counts * losses) / jnp.sum(hyper.counts)
    return jnp.mean(losses)


def value(layout: Layout, hyper: Hyper, params, activation=None) -> jax.Array:
    """f(W, H, b) of `Problem` (Zhou et al. 2022, arXiv 2210.02192, eq. 7; deep: W the tuple of layers), with
    b ≡ 0 when the layout has no bias; in the class-mean form λ_H/2 ‖H‖² is Σ_k n_k λ_H/2 ‖h_k‖² (each h_k stands
    for n_k features). activation: None (the layout's), or per-layer functions as in `features`."""
    W, H, b = params
    if not layout.bias:
        b = jnp.zeros_like(b)
    HH = jnp.sum(hyper.counts * jnp.sum(H * H, axis=0)) if layout.means else jnp.sum(H * H)
    if layout.deep:  # Σ_l λ_{W_l}/2 ‖W_l‖²: lam_w is the vector of the layers' λ's (or one number)
        lam = jnp.broadcast_to(hyper.lam_w, (layout.depth,))
        WW = sum(lam[i] * jnp.sum(w * w) for i, w in enumerate(W))
    else:
        WW = hyper.lam_w * jnp.sum(W * W)
    reg = 0.5 * (WW + hyper.lam_h * HH + hyper.lam_b * jnp.sum(b * b))
    act = layout.activation if activation is None else activation
    return data_term(layout, hyper, logits((W, H, b), act)) + reg


def value_x(layout: Layout, hyper: Hyper, x) -> jax.Array:
    """f as a function of the free vector x (what the solvers minimise)."""
    return value(layout, hyper, layout.unpack(x))


class Objective(NamedTuple):
    """The pure functions of one problem; every one is jit-compatible and differentiable.

    f(params) -> scalar               the objective of `Problem`
    g(Z) -> scalar                    its data term (1/N) Σ L as a function of the logits Z (K, N)
    per_sample(Z) -> (N,)             L(z_i, y_i) for each sample
    grad(params) -> Params            ∇f (the gradient of the formula in all of W, H, b)
    hvp(params, v) -> Params          ∇²f[v], Hessian-vector product (forward-over-reverse)
    f_x / grad_x / hvp_x              the same on the free vector x (frozen W and b ≡ 0 removed)
    pack(params) -> x, unpack(x) -> params
    """

    problem: Problem
    layout: Layout
    f: Callable
    g: Callable
    per_sample: Callable
    grad: Callable
    hvp: Callable
    f_x: Callable
    grad_x: Callable
    hvp_x: Callable
    pack: Callable
    unpack: Callable


def _hvp(fun):
    def hvp(x, v):
        return jax.jvp(jax.grad(fun), (x,), (v,))[1]

    return hvp


def objective(problem: Problem) -> Objective:
    """The objective of `problem` and its derivatives as pure functions (jit them as you need).

    The functions compute in the problem's dtype: a float64 problem needs JAX's 64-bit mode when they run (call
    them inside `with ufm.float64():`, or turn it on with `ufm.configure()`); asking for one while the mode is
    off raises `Float64Unavailable` here rather than silently computing in float32.
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"objective(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    require_float64("ufm.objective", problem.dtype)
    layout = Layout.of(problem)
    hyper = Hyper(*(jnp.asarray(v, problem.dtype) for v in problem.hyper))
    Y = layout.Y()

    def f(params):
        return value(layout, hyper, Params(*params))

    def f_x(x):
        return value_x(layout, hyper, x)

    # compiled per shape and shared by every problem of it (λ's, δ, γ, ... are traced); a user's loss that
    # cannot be hashed (no static argument) gets plain functions
    if hashable(layout):
        return Objective(
            problem=problem,
            layout=layout,
            f=functools.partial(_f, layout, hyper),
            g=functools.partial(_g, layout, hyper),
            per_sample=functools.partial(_per_sample, layout, hyper),
            grad=functools.partial(_grad, layout, hyper),
            hvp=functools.partial(_hvp_params, layout, hyper),
            f_x=functools.partial(_f_x, layout, hyper),
            grad_x=functools.partial(grad_x, layout, hyper),
            hvp_x=functools.partial(hvp_x, layout, hyper),
            pack=layout.pack,
            unpack=layout.unpack,
        )
    return Objective(
        problem=problem,
        layout=layout,
        f=f,
        g=lambda Z: data_term(layout, hyper, Z),
        per_sample=lambda Z: _losses.per_sample(layout.loss, Z, Y, hyper),
        grad=jax.grad(f),
        hvp=_hvp(f),
        f_x=f_x,
        grad_x=jax.grad(f_x),
        hvp_x=_hvp(f_x),
        pack=layout.pack,
        unpack=layout.unpack,
    )


# Compiled derivatives shared by the theory checks: the layout is static (one compilation per shape), the
# numbers of the problem are traced (no recompilation when λ, δ, γ, α, M change).


@functools.partial(persistent_jit, static_argnums=0)
def _f(layout: Layout, hyper: Hyper, params):
    """`Objective.f`, compiled once per shape (an eager call ran each operation as a program of its own)."""
    return value(layout, hyper, Params(*params))


@functools.partial(persistent_jit, static_argnums=0)
def _grad(layout: Layout, hyper: Hyper, params):
    return jax.grad(lambda p: value(layout, hyper, Params(*p)))(params)


@functools.partial(persistent_jit, static_argnums=0)
def _hvp_params(layout: Layout, hyper: Hyper, params, v):
    return jax.jvp(jax.grad(lambda p: value(layout, hyper, Params(*p))), (params,), (v,))[1]


@functools.partial(persistent_jit, static_argnums=0)
def _f_x(layout: Layout, hyper: Hyper, x):
    return value_x(layout, hyper, x)


@functools.partial(persistent_jit, static_argnums=0)
def _g(layout: Layout, hyper: Hyper, Z):
    return data_term(layout, hyper, Z)


@functools.partial(persistent_jit, static_argnums=0)
def _per_sample(layout: Layout, hyper: Hyper, Z):
    return _losses.per_sample(layout.loss, Z, layout.Y(), hyper)


def padded_d(d: int, K: int) -> int:
    """The feature dimension the checks of a solution pad d to (`ufm.metrics.all`, the certificate): the power of
    two ≥ max(d, K + 2), so that every d a study draws around K (1, K − 1, K, K + 1, K + 2, ...) shares one
    program per K. Zero features change neither f, its gradient in the real numbers, nor any NC quantity."""
    return 1 << (max(d, K + 2) - 1).bit_length()


def family_form(problem: Problem) -> tuple["Layout", Hyper]:
    """(layout, hyper) of `problem` as ufm's compiled programs run it: a loss with a program family (CE, LS(δ) and
    FL(γ): "softmax", `ufm.losses.softmax_family`) as that family, at the numbers the family runs it with — so
    one program per shape serves the three (solves, the second-order test, the theory's checks)."""
    layout, rec = Layout.of(problem), _losses.record(problem.loss)
    hyper = rec.program_numbers(problem.hyper)
    return (dataclasses.replace(layout, loss=rec.program) if rec.program else layout), hyper


@functools.partial(persistent_jit, static_argnums=0)
def data_term_and_grad(layout: Layout, hyper: Hyper, Z):
    """(g(Z), ∇_Z g(Z)) with the 1/N included."""
    return jax.value_and_grad(data_term, argnums=2)(layout, hyper, Z)


@functools.partial(persistent_jit, static_argnums=0)
def hessian_x(layout: Layout, hyper: Hyper, x):
    """Dense ∇²f on the free vector x."""
    return jax.hessian(value_x, argnums=2)(layout, hyper, x)


@functools.partial(persistent_jit, static_argnums=0)
def hvp_x(layout: Layout, hyper: Hyper, x, v):
    """∇²f(x)·v on the free vector (forward-over-reverse)."""
    return jax.jvp(lambda y: jax.grad(value_x, argnums=2)(layout, hyper, y), (x,), (v,))[1]


@functools.partial(persistent_jit, static_argnums=0)
def grad_x(layout: Layout, hyper: Hyper, x):
    """∇f on the free vector x."""
    return jax.grad(value_x, argnums=2)(layout, hyper, x)
