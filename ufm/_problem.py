"""`Problem`: one UFM instance, validated at construction."""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar, Literal, NamedTuple

import numpy as np

from ._errors import ParameterError
from .losses import LOSSES as _RECORDS

LOSSES = tuple(_RECORDS)  # the built-in loss names, from their records in `ufm.losses.LOSSES`
DTYPES = ("float64", "float32")
FIXED_W = (None, "etf")
ACTIVATIONS = ("linear", "relu")
MAX_DEPTH = 64

# Fields that are traced numbers (may differ inside one batched solve) vs. fields that fix the shape and
# the code path (must agree inside one batched solve).
HYPER_FIELDS = ("lam_w", "lam_h", "lam_b", "delta", "gamma", "alpha", "M")
STATIC_FIELDS = ("K", "n", "d", "loss", "bias", "fixed_w", "dtype", "etf_norm", "means", "depth", "activation",
                 "widths")
# Allowed magnitudes of the positive numbers of a problem (see Problem.__post_init__).
RANGES = {"lam_w": (1e-12, 1e12), "lam_h": (1e-12, 1e12), "lam_b": (1e-12, 1e12), "gamma": (0.0, 100.0),
          "alpha": (1e-6, 1e6), "M": (1e-6, 1e6), "etf_norm": (1e-6, 1e6)}
# Fields a scan can put on a grid: the numbers of a problem and its bias switch.
GRID_FIELDS = ("K", "n", "d") + HYPER_FIELDS + ("etf_norm", "bias", "depth", "activation")
# Fields `to_dict` writes only when they differ from these one-layer defaults (a one-layer problem's dict, and the
# scan identities hashed from it, are those of earlier versions).
OPTIONAL = {"means": False, "depth": 1, "activation": "linear", "widths": ()}


class Hyper(NamedTuple):
    """The numbers of a problem that a batched solve may vary (scalars, or vectors under `vmap`), and the class
    counts n_k (K,) as numbers: the class-mean form (`Problem.means`) weighs its columns by them, so problems that
    differ only in their counts share one compiled program there."""

    lam_w: object
    lam_h: object
    lam_b: object
    delta: object
    gamma: object
    alpha: object
    M: object
    counts: object = None


def _fail(field: str, allowed: str, value) -> None:
    raise ParameterError(field, value, allowed, owner="Problem")


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_real(v) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and math.isfinite(v)


@dataclasses.dataclass(frozen=True)
class Problem:
    """An unconstrained feature model (Zhou et al. 2022, "Are All Losses Created Equal", arXiv 2210.02192,
    eq. 7):

        f(W, H, b) = 1/N Σ_{k,i} L(W h_{k,i} + b, k) + λ_W/2 ‖W‖² + λ_H/2 ‖H‖² + λ_b/2 ‖b‖²

    with W (K,d), H (d,N) class-major (N = Σ_k n_k), b (K,) — or, with depth L > 1, the deep UFM

        f(W_1, …, W_L, H, b) = 1/N Σ_{k,i} L(W_L σ(W_{L−1} σ(… σ(W_1 h_{k,i}))) + b, k)
                               + Σ_l λ_{W_l}/2 ‖W_l‖² + λ_H/2 ‖H‖² + λ_b/2 ‖b‖²

    with W_l (d_l, d_{l−1}), d_0 = d, d_L = K, hidden widths (d_1, …, d_{L−1}) = `widths`, σ the activation
    after every layer but the last (identity: the deep linear UFM; ReLU). The free features H = H_1 do not pass
    through σ, and the data term keeps the 1/N. The deep UFM of Súkeník, Mondelli, Lampert 2023 (arXiv
    2305.13165) and Súkeník, Lampert, Mondelli 2024 (arXiv 2405.14468) is this one with MSE, no bias and 1/(2N)
    on ‖·‖² (ufm's MSE is ½‖z − y‖², so the same); Dang et al. 2023 (arXiv 2301.00437) is the deep linear case.

    Attributes:
      K: number of classes, ≥ 2.
      n: samples per class: an integer ≥ 1 (balanced), or a length-K sequence of counts n_k ≥ 1 (imbalanced;
        equal counts are stored as one integer, so a balanced problem has one spelling). The 1/N of the data
        term is the same in both cases.
      d: feature dimension, ≥ 1.
      loss: "ce", "ls" (label smoothing, `delta`), "fl" (focal, `gamma`) or "mse" (`alpha`, `M`); or a loss you
        write: a JAX function fn(z (K,), k) → scalar, or `ufm.losses.Custom(fn, convex=...)` (a plain function is
        wrapped in Custom; "package.module:function" imports one).
      lam_w: weight decay on W, > 0; with depth L > 1 one number for every layer or a sequence of L
        (λ_{W_1}, …, λ_{W_L}) (equal values are stored as one number).
      lam_h: weight decay on H, > 0.
      lam_b: weight decay on b, ≥ 0 (ignored when `bias=False`).
      delta: label-smoothing δ ∈ [0, 1) (loss "ls").
      gamma: focal γ ≥ 0 (loss "fl"; γ = 0 is CE).
      alpha: α of MSE(α, M) = ½[α(z_k − M)² + Σ_{l≠k} z_l²], > 0 (α = M = 1 is vanilla MSE).
      M: M of MSE(α, M), > 0.
      bias: learn b (True) or fix b ≡ 0 (False).
      fixed_w: None (W learned) or "etf" (W frozen to `simplex_etf(K, d, etf_norm)`; needs d ≥ K−1).
      etf_norm: row norm ‖w^k‖ of the frozen ETF, > 0.
      dtype: "float64" (default) or "float32".
      means: False (H holds every sample's feature) or True: the class-mean form. H (d, K) holds one feature h_k
        per class and f is the objective above at the features repeated n_k times (class k's columns all equal
        h_k): f = Σ_k (n_k/N) L(W h_k + b, k) + λ_W/2 ‖W‖² + Σ_k n_k λ_H/2 ‖h_k‖² + λ_b/2 ‖b‖². `ufm.solve`
        solves this form in place of the full one where that is exact (`ufm.reduction`).
      depth: L ≥ 1, the number of weight matrices (1: the UFM above).
      activation: σ between layers, "linear" or "relu" (only meaningful for depth > 1; stored as "linear" at 1).
      widths: the hidden widths (d_1, …, d_{L−1}), integers ≥ 1 (default: d for each); () at depth 1.
    """

    K: int = 10
    n: int = 50
    d: int = 20
    loss: Literal["ce", "ls", "fl", "mse"] = "ce"
    lam_w: float = 5e-4
    lam_h: float = 5e-4
    lam_b: float = 1e-2
    delta: float = 0.0
    gamma: float = 0.0
    alpha: float = 1.0
    M: float = 1.0
    bias: bool = True
    fixed_w: Literal[None, "etf"] = None
    etf_norm: float = 1.0
    dtype: Literal["float64", "float32"] = "float64"
    means: bool = False
    depth: int = 1
    activation: Literal["linear", "relu"] = "linear"
    widths: tuple | None = None

    HYPER_FIELDS: ClassVar[tuple] = HYPER_FIELDS
    STATIC_FIELDS: ClassVar[tuple] = STATIC_FIELDS
    GRID_FIELDS: ClassVar[tuple] = GRID_FIELDS

    def __post_init__(self):
        for name, lo in (("K", 2), ("d", 1)):
            v = getattr(self, name)
            if not _is_int(v) or v < lo:
                _fail(name, f"an integer ≥ {lo}", v)
        object.__setattr__(self, "n", _counts(self.n, self.K))
        self._check_depth()
        if not isinstance(self.loss, str) or ":" in self.loss:
            object.__setattr__(self, "loss", _custom(self.loss, self.K))
        elif self.loss not in LOSSES:
            _fail("loss", "one of " + ", ".join(LOSSES) + ", a function fn(z, k) or 'package.module:function'",
                  self.loss)
        for name in HYPER_FIELDS + ("etf_norm",):
            if name != "lam_w" and not _is_real(getattr(self, name)):
                _fail(name, "a finite real number", getattr(self, name))
        for name in ("lam_w", "lam_h"):
            if any(v <= 0 for v in np.ravel(getattr(self, name))):
                _fail(name, "> 0", getattr(self, name))
        if self.lam_b < 0:
            _fail("lam_b", "≥ 0", self.lam_b)
        if not 0 <= self.delta < 1:
            _fail("delta", "in [0, 1)", self.delta)
        if self.gamma < 0:
            _fail("gamma", "≥ 0", self.gamma)
        for name in ("alpha", "M", "etf_norm"):
            if getattr(self, name) <= 0:
                _fail(name, "> 0", getattr(self, name))
        # Magnitudes float64 can solve: beyond them the logits, norms or their squares over- or underflow and
        # the minimum is not representable (a λ of 1e-300 made λ_Z = 0; an M of 1e200 overflowed in M²).
        for name, (lo, hi) in RANGES.items():
            v = getattr(self, name)
            if any(u != 0 and not lo <= u <= hi for u in np.ravel(v)):
                zero = " or 0" if name == "lam_b" else ""
                _fail(name, f"in [{lo:g}, {hi:g}]{zero} (beyond, float64 cannot represent the minimum)", v)
        if not isinstance(self.bias, (bool, np.bool_)):
            _fail("bias", "True or False", self.bias)
        if self.fixed_w not in FIXED_W:
            _fail("fixed_w", "None or 'etf'", self.fixed_w)
        if self.fixed_w == "etf" and self.d < self.K - 1:
            _fail("d", f"≥ K−1 = {self.K - 1} when fixed_w='etf' (a simplex ETF needs K−1 dimensions)", self.d)
        if self.dtype not in DTYPES:
            _fail("dtype", "'float64' or 'float32'", self.dtype)
        # Coerce numbers to plain Python types so equal problems hash equally.
        for name in HYPER_FIELDS + ("etf_norm",):
            if name != "lam_w" or not isinstance(self.lam_w, tuple):
                object.__setattr__(self, name, float(getattr(self, name)))
        for name in ("K", "d"):
            object.__setattr__(self, name, int(getattr(self, name)))
        object.__setattr__(self, "bias", bool(self.bias))
        if not isinstance(self.means, (bool, np.bool_)):
            _fail("means", "True or False", self.means)
        object.__setattr__(self, "means", bool(self.means))

    def _check_depth(self) -> None:
        """depth, activation, widths and a per-layer lam_w, validated and stored in one spelling."""
        if not _is_int(self.depth) or not 1 <= self.depth <= MAX_DEPTH:
            _fail("depth", f"an integer in [1, {MAX_DEPTH}]", self.depth)
        L = int(self.depth)
        object.__setattr__(self, "depth", L)
        if self.activation not in ACTIVATIONS:
            _fail("activation", "'linear' or 'relu'", self.activation)
        if L == 1:
            object.__setattr__(self, "activation", "linear")  # no layer for σ to act after
        widths = (self.d,) * (L - 1) if self.widths is None else self.widths
        if isinstance(widths, (str, bytes)) or not hasattr(widths, "__len__") or len(widths) != L - 1 or \
                not all(_is_int(w) and w >= 1 for w in widths):
            _fail("widths", f"a sequence of depth − 1 = {L - 1} integers ≥ 1 (the hidden widths)", self.widths)
        object.__setattr__(self, "widths", tuple(int(w) for w in widths))
        lam = self.lam_w
        if not _is_real(lam):
            if isinstance(lam, (str, bytes)) or not hasattr(lam, "__len__") or len(lam) != L or \
                    not all(_is_real(v) for v in lam):
                _fail("lam_w", f"a finite real number, or a sequence of depth = {L} of them (one per layer)", lam)
            lam = tuple(float(v) for v in lam)
            object.__setattr__(self, "lam_w", lam[0] if len(set(lam)) == 1 else lam)
        if L > 1:
            if self.fixed_w is not None:
                _fail("fixed_w", "None when depth > 1 (a frozen classifier is a one-layer model)", self.fixed_w)

    @property
    def lam_ws(self) -> tuple:
        """(λ_{W_1}, …, λ_{W_L}): the weight decay of each layer."""
        return self.lam_w if isinstance(self.lam_w, tuple) else (self.lam_w,) * self.depth

    @property
    def dims(self) -> tuple:
        """(d_0 = d, d_1, …, d_{L−1}, d_L = K): the widths the layers map between."""
        return (self.d,) + self.widths + (self.K,)

    @property
    def counts(self) -> tuple:
        """The class counts (n_1, …, n_K)."""
        return (self.n,) * self.K if isinstance(self.n, int) else self.n

    @property
    def balanced(self) -> bool:
        """Whether every class has the same count."""
        return isinstance(self.n, int)

    @property
    def imbalance(self) -> float:
        """R = max_k n_k / min_k n_k (1 when balanced)."""
        return max(self.counts) / min(self.counts)

    @property
    def N(self) -> int:
        """Number of samples, Σ_k n_k (nK when balanced)."""
        return sum(self.counts)

    @property
    def lam_z(self) -> float:
        """λ_Z = sqrt(λ_W λ_H), the weight of the nuclear norm in the convex relaxation (one layer)."""
        if self.depth > 1:
            raise ParameterError("depth", self.depth, "1 for λ_Z = √(λ_W λ_H) (a one-layer quantity)", "Problem.lam_z")
        return math.sqrt(self.lam_w * self.lam_h)

    @property
    def labels(self) -> np.ndarray:
        """Class of each sample, class-major: (0,…,0, 1,…,1, …) with n_k of class k, shape (N,)."""
        return class_labels(self.K, self.n)

    @property
    def Y(self) -> np.ndarray:
        """One-hot labels (K, N), class-major."""
        return one_hot(self.labels, self.K)

    @property
    def static(self) -> tuple:
        """The fields that fix shapes and code paths: problems batch together iff these agree. The class-mean
        form has K columns whatever the counts, which it takes as numbers (`Hyper.counts`): n is None there."""
        return tuple(None if (f == "n" and self.means) else getattr(self, f) for f in STATIC_FIELDS)

    @property
    def hyper(self) -> Hyper:
        """The traced numbers; with depth > 1, lam_w is the vector (λ_{W_1}, …, λ_{W_L})."""
        values = [np.asarray(self.lam_ws, np.float64) if f == "lam_w" and self.depth > 1 else getattr(self, f)
                  for f in HYPER_FIELDS]
        return Hyper(*values, counts=np.asarray(self.counts, np.float64))

    def replace(self, **changes) -> "Problem":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        """The fields as a dict (n, a per-layer lam_w and widths as lists). `means`, `depth`, `activation` and
        `widths` appear only when they differ from a one-layer full problem's (`OPTIONAL`), so such a problem's
        dict, and the scan identities hashed from it, are those of earlier versions."""
        out = dataclasses.asdict(self)
        if not isinstance(self.loss, str):
            out["loss"] = self.loss.name  # "module:qualname": Problem(**d) imports it back
        if isinstance(out["n"], tuple):
            out["n"] = list(out["n"])
        for name in ("lam_w", "widths"):
            if isinstance(out[name], tuple):
                out[name] = list(out[name])
        for name, default in OPTIONAL.items():
            if getattr(self, name) == default:
                del out[name]
        return out


PROFILES = ("step", "longtail")


def class_counts(K: int, n_max: int, ratio: float, profile: str = "step", minority: int | None = None) -> tuple:
    """Class counts with imbalance ratio R = n_max / n_min, class-major from the largest class:

    "step": the first K − `minority` classes have n_max samples, the last `minority` (default ⌊K/2⌋) have
      round(n_max/R) (the step imbalance of Fang et al. 2021, "Exploring deep neural networks via layer-peeled
      model: minority collapse in imbalanced training", PNAS, arXiv 2101.12699);
    "longtail": n_k = round(n_max · R^(−k/(K−1))), k = 0…K−1 (the exponential profile of long-tailed CIFAR).

    Counts are rounded to integers ≥ 1; R = 1 gives the balanced n_max.
    """
    owner = "class_counts"
    if not (_is_int(K) and K >= 2):
        raise ParameterError("K", K, "an integer ≥ 2", owner)
    if not (_is_int(n_max) and n_max >= 1):
        raise ParameterError("n_max", n_max, "an integer ≥ 1", owner)
    if not (_is_real(ratio) and 1 <= ratio <= n_max):
        raise ParameterError("ratio", ratio, f"a number in [1, n_max = {n_max}] (the smallest class keeps ≥ 1 sample)",
                             owner)
    if profile not in PROFILES:
        raise ParameterError("profile", profile, "'step' or 'longtail'", owner)
    minority = K // 2 if minority is None else minority
    if not (_is_int(minority) and 1 <= minority <= K - 1):
        raise ParameterError("minority", minority, f"an integer in [1, K−1 = {K - 1}]", owner)
    if profile == "step":
        small = max(1, round(n_max / ratio))
        return tuple([int(n_max)] * (K - minority) + [small] * minority)
    return tuple(max(1, round(n_max * ratio ** (-k / (K - 1)))) for k in range(K))


def _custom(loss, K: int):
    """A user loss as `losses.Custom`, checked on abstract values: fn(z (K,), k) must give a real scalar."""
    import jax
    import jax.numpy as jnp

    from .losses import Custom, resolve

    if isinstance(loss, str):
        try:
            custom = resolve(loss)
        except ValueError as e:
            raise ParameterError("loss", loss, f"one of {', '.join(LOSSES)} or an importable "
                                 f"'package.module:function' ({e})", "Problem") from None
    else:
        try:
            custom = loss if isinstance(loss, Custom) else Custom(loss)
        except (TypeError, ValueError) as e:
            raise ParameterError("loss", loss, f"one of {', '.join(LOSSES)} or a JAX function fn(z, k) ({e})",
                                 "Problem") from None
    try:
        out = jax.eval_shape(custom.fn, jax.ShapeDtypeStruct((K,), jnp.float32), jax.ShapeDtypeStruct((), jnp.int32))
    except Exception as e:  # noqa: BLE001 - any failure of the user's function is reported by name
        raise ParameterError("loss", custom.name, f"a JAX function fn(z (K,), k) → scalar; calling it on z of shape "
                             f"({K},) failed: {type(e).__name__}: {str(e)[:200]}", "Problem") from None
    if getattr(out, "shape", None) != () or not jnp.issubdtype(out.dtype, jnp.floating):
        raise ParameterError("loss", custom.name, f"a JAX function fn(z (K,), k) → real scalar; it returned "
                             f"{getattr(out, 'shape', out)} {getattr(out, 'dtype', '')}", "Problem")
    return custom


def _counts(n, K: int):
    """`Problem.n` validated: an int ≥ 1, or K counts ≥ 1 as a tuple of ints (an int when all are equal)."""
    if _is_int(n):
        if n < 1:
            _fail("n", "an integer ≥ 1 or a sequence of K integers ≥ 1", n)
        return int(n)
    if isinstance(n, (str, bytes)) or not hasattr(n, "__len__"):
        _fail("n", "an integer ≥ 1 or a sequence of K integers ≥ 1", n)
    counts = tuple(n)
    if len(counts) != K or not all(_is_int(c) and c >= 1 for c in counts):
        _fail("n", f"an integer ≥ 1 or a sequence of K = {K} integers ≥ 1", n)
    counts = tuple(int(c) for c in counts)
    return counts[0] if len(set(counts)) == 1 else counts


def class_labels(K: int, n) -> np.ndarray:
    """The class-major labels (0,…,0, 1,…,1, …, K−1) with n of each (or n_k of class k for a sequence n),
    shape (N,): the UFM's column order."""
    return np.repeat(np.arange(K), n)


def one_hot(labels, K: int) -> np.ndarray:
    """One-hot matrix Y (K, N) with Y[labels[i], i] = 1 (float64)."""
    labels = np.asarray(labels)
    return (np.arange(K)[:, None] == labels[None, :]).astype(np.float64)


def etf_basis(K: int, d: int) -> np.ndarray:
    """P (d, K): the first K−1 coordinates hold an orthonormal basis of 1^⊥ (rows), the rest are zero.

    PᵀP = Π = I − 11ᵀ/K and PΠ = P, so ΠPᵀ (K, d) is a centred simplex ETF; needs d ≥ K−1. Deterministic
    (a QR of the centred identity), shared by `simplex_etf`, the closed-form minimizers and the landscape plots.
    """
    if not (_is_int(K) and K >= 2):
        raise ParameterError("K", K, "an integer ≥ 2", "etf_basis")
    if not (_is_int(d) and d >= K - 1):
        raise ParameterError("d", d, f"an integer ≥ K−1 = {K - 1} (a simplex ETF needs K−1 dimensions)", "etf_basis")
    Pi = np.eye(K) - 1.0 / K
    V, _ = np.linalg.qr(Pi[:, : K - 1])  # (K, K−1), orthonormal columns ⟂ 1
    P = np.zeros((d, K))
    P[: K - 1] = V.T
    return P


def simplex_etf(K: int, d: int, norm: float = 1.0) -> np.ndarray:
    """A simplex ETF as the rows of W (K, d), d ≥ K−1 (Zhu et al. 2021, arXiv 2105.02375, Def. A.1):
    W = norm·sqrt(K/(K−1))·Pᵀ with P = `etf_basis(K, d)`, so ‖w^k‖ = norm, ⟨w^k, w^l⟩ = −norm²/(K−1) for k ≠ l,
    W Wᵀ = norm²·K/(K−1)·Π.
    """
    return norm * math.sqrt(K / (K - 1)) * etf_basis(K, d).T
