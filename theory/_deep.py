"""The deep linear UFM with balanced MSE, bias-free: its global minimum in closed form.

f(W_1, …, W_L, H) = 1/(2N) ‖W_L ⋯ W_1 H − M·Y‖²_F + Σ_l λ_l/2 ‖W_l‖²_F + λ_H/2 ‖H‖²_F    (`ufm.Problem`, depth L,
activation "linear", loss "mse" with α = 1, bias=False; Y the one-hot labels, n per class, N = nK.)

Derivation (checked against float64 solves in tests/theory/test_deep.py and by `ufm verify`):

1. Penalties → a quasi-norm. For a product Z = A_{L+1} ⋯ A_1 of L + 1 factors with weights c = (λ_H, λ_1, …, λ_L),
   min Σ_j c_j/2 ‖A_j‖² over the factorisations of Z is C Σ_i σ_i(Z)^q, q = 2/(L+1), C = (L+1)/2 · (Π_j c_j)^{1/(L+1)}
   (AM–GM on each singular value, attained by balanced factors: A_j has the singular values
   a_j = (Π c)^{1/(2(L+1))} σ^{1/(L+1)} / √c_j on Z's singular directions), provided every inner width is at
   least the rank of Z.
2. Alignment. ‖Z − MY‖² + C Σ σ_i(Z)^q is smallest with Z sharing Y's singular vectors (von Neumann's trace
   inequality). Y Yᵀ = n I_K: all K singular values of MY equal M√n, so the problem splits into r = min(d,
   d_1, …, d_{L−1}, K) copies (the rank Z can have) of the 1-D problem
       g(s) = (s − M√n)²/(2N) + C s^q,  s ≥ 0,
   plus K − r directions at s = 0. With s = M√n t, g = M²n/(2N) · [(t − 1)² + β t^q], β = 2NC(M√n)^q/(M²n).
3. The 1-D problem. For q < 1 (L ≥ 2) φ(t) = (t − 1)² + β t^q is not convex: t = 0 is always a local minimum
   (so is the origin of f), and a second one exists at the larger root of φ'(t) = 2(t − 1) + βq t^{q−1} = 0
   when φ' dips below 0 at t_m = (1 − q)/(2 − q). The nonzero point wins iff φ(t*) < φ(0) = 1; the two tie at
   t* = (L − 1)/L, i.e. at β* = (L + 1)/L · ((L − 1)/L)^{(L−1)/(L+1)}. Hence the global minimum collapses to
   zero exactly when β > β*, i.e. (M = 1, all λ's equal λ) when K^{L+1} L^{2L} n λ^{L+1} > (L − 1)^{L−1}; at L =
   1 this is λ_Wλ_H > 1/(NK), the one-layer threshold of Zhou et al. 2022 (arXiv 2203.01238, Thm 3.1).

The deep linear MSE geometry of Dang, Tran, Osher, Tran-The, Ho, Nguyen, "Neural Collapse in Deep Linear
Networks: From Balanced to Imbalanced Data", ICML 2023 (arXiv 2301.00437), bias-free case: at the global
minimum the class means of every layer's features form an orthogonal frame (Z* = s* times r columns of I_K).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import numpy as np

import ufm
from ufm import ParameterError, Problem

DEEP_LINEAR_MSE = "bias-free balanced MSE (α = 1)"


class DeepLinearMSE(NamedTuple):
    """The closed form (see the module): objective f*, s (each nonzero singular value of Z* = W_L ⋯ W_1 H), rank
    r of Z* (0 when collapsed), q = 2/(L+1), C, beta β and the collapse threshold beta_star β*, collapsed
    (β > β*: the global minimum is the origin), tie (β = β* to 1e-12: the origin and the nonzero point are
    both global), the factor scales a = (a_H, a_1, …, a_L) of the balanced minimiser, and critical_values: f at
    the aligned points Z = s Σ_{k<j} e_k 1_kᵀ/√n with s the nonzero 1-D local minimum, j = 0 … r (each direction
    adds g(s) − g(0)); () when the 1-D problem has no nonzero critical point. Below the threshold the rank-r one
    is the global minimum; above it they are all non-global, and the origin (j = 0) is global. s_branch: that
    nonzero 1-D local minimum (0 when there is none), whether or not it is global.

    With class counts n_k (imbalanced: Dang et al. 2023, arXiv 2301.00437): s_k, each class's singular value of
    Z* (0 for a collapsed class), and beta_k, each class's β_k = 2NC(M√n_k)^{q−2}; s, beta, critical_values and
    s_branch then describe the largest class, and collapsed means every class collapsed."""

    objective: float
    s: float
    rank: int
    q: float
    C: float
    beta: float
    beta_star: float
    collapsed: bool
    tie: bool
    a: tuple
    critical_values: tuple = ()
    s_branch: float = 0.0
    s_k: tuple = ()
    beta_k: tuple = ()


def _check(problem: Problem, owner: str, balanced: bool = True) -> None:
    """A ParameterError naming the first field that keeps `problem` out of the deep linear MSE setting (and every
    other one in the message); balanced=False admits per-class counts."""
    if not isinstance(problem, Problem):
        raise TypeError(f"{owner}(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    bad = []  # (field, value, what it must be)
    if problem.loss != "mse":
        bad.append(("loss", getattr(problem.loss, "name", problem.loss), "'mse'"))
    elif problem.alpha != 1.0:
        bad.append(("alpha", problem.alpha, "1"))
    if problem.bias:
        bad.append(("bias", True, "False (--no-bias)"))
    if balanced and not problem.balanced:
        bad.append(("n", list(problem.counts), "one count for every class (balanced)"))
    if problem.depth > 1 and problem.activation != "linear":
        bad.append(("activation", problem.activation, "'linear'"))
    if problem.means:
        bad.append(("means", True, "False (a full problem)"))
    if bad:
        field, value, allowed = bad[0]
        others = "; also " + ", ".join(f"{f} {a}" for f, _, a in bad[1:]) if len(bad) > 1 else ""
        raise ParameterError(field, value, f"{allowed} for the {DEEP_LINEAR_MSE} setting{others}", owner)


def beta_star(L: int) -> float:
    """β* = (L + 1)/L · ((L − 1)/L)^{(L−1)/(L+1)}: the 1-D problem's collapse threshold (2 at L = 1)."""
    return (L + 1) / L * ((L - 1) / L) ** ((L - 1) / (L + 1))


def _one_d(beta: float, q: float) -> tuple:
    """(t*, φ(t*)) of φ(t) = (t − 1)² + β t^q on t > 0: the larger critical point, or (0, 1) when there is none."""
    from scipy.optimize import brentq

    def dphi(t):
        return 2.0 * (t - 1.0) + beta * q * t ** (q - 1.0)

    t_m = (1.0 - q) / (2.0 - q)
    lo = max(t_m, 1e-300)
    if q < 1 and dphi(lo) >= 0:
        return 0.0, 1.0
    if q >= 1 and dphi(1e-300) >= 0:  # one layer: φ convex, minimum at 0
        return 0.0, 1.0
    t = brentq(dphi, lo, 1.0, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return t, (t - 1.0) ** 2 + beta * t**q


def deep_linear_mse_threshold(problem: Problem) -> float:
    """λ* with every λ (λ_H, λ_{W_1}, …, λ_{W_L}) equal to λ*: above it the global minimum of the deep linear MSE
    problem is the origin (β > β*; the module's step 3). At L = 1: λ* = 1/√(NK), the one-layer threshold of Zhou et
    al. 2022 (arXiv 2203.01238, Thm 3.1) at M = 1. With class counts n_k: the λ* of the smallest class, above
    which it collapses to 0 (minority collapse; class k's own λ*_k = β*(M√n_k)^{2−q}/((L+1)N), larger for larger
    classes)."""
    _check(problem, "deep_linear_mse_threshold", balanced=False)
    L, N, M = problem.depth, problem.N, problem.M
    q = 2.0 / (L + 1)
    n = min(problem.counts)
    return beta_star(L) * M * M * n / ((L + 1) * N * (M * math.sqrt(n)) ** q)


def deep_linear_mse(problem: Problem) -> DeepLinearMSE:
    """The global minimum of a deep linear, bias-free MSE problem (α = 1, any M, any depth L ≥ 1, equal or
    per-layer λ's, any widths, balanced or per-class counts) in closed form; see the module for the derivation.

    Counts n_k: the features of a class collapse (each sample's subproblem in its feature is strictly convex for
    fixed weights), and with G = H̄ D^{1/2} (D = diag(n_k)) the data term is ‖W_L⋯W_1 G − M D^{1/2}‖²/(2N), the
    penalty λ_H/2 ‖G‖² + Σ λ_l/2 ‖W_l‖². Steps 1–2 of the module apply with the target M D^{1/2}, whose singular
    values are M√n_k on the standard basis: class k's own 1-D problem g_k(s) = (s − M√n_k)²/(2N) + C s^q, i.e.
    β_k = 2NC(M√n_k)^{q−2}. At most r = min(d, d_1, …, d_{L−1}, K) classes get a nonzero s_k: the largest ones
    (von Neumann pairs the largest singular values). Small classes have the larger β_k and collapse to 0 first
    — minority collapse in the deep linear model; the class means form an orthogonal frame whose lengths depend
    on n_k (Dang et al. 2023's bias-free imbalanced geometry, here at any depth). At L = 1 a class collapses iff
    M√n_k ≤ N√(λ_Wλ_H), the one-layer imbalanced threshold (`imbalanced_mse`)."""
    _check(problem, "deep_linear_mse", balanced=False)
    L, K, N, M = problem.depth, problem.K, problem.N, problem.M
    c = (problem.lam_h,) + problem.lam_ws
    q = 2.0 / (L + 1)
    C = (L + 1) / 2.0 * math.exp(sum(math.log(v) for v in c) / (L + 1))
    r_max = min((problem.d,) + problem.widths + (K,))
    bs = beta_star(L)
    if problem.balanced:
        n = problem.n
        y = M * math.sqrt(n)
        beta = 2.0 * N * C * y**q / (M * M * n)
        t, phi = _one_d(beta, q)
        unit = M * M * n / (2.0 * N)  # g(0) per direction: n M²/(2N) = M²/(2K)
        tie = abs(beta - bs) <= 1e-12 * bs and L > 1
        collapsed = t == 0.0 or phi > 1.0
        values = () if t == 0.0 else tuple(j * unit * phi + (K - j) * unit for j in range(r_max + 1))
        if collapsed:
            return DeepLinearMSE(K * unit, 0.0, 0, q, C, beta, bs, True, tie, (0.0,) * (L + 1), values, y * t,
                                 (0.0,) * K, (beta,) * K)
        return DeepLinearMSE(values[-1], y * t, r_max, q, C, beta, bs, False, tie, _factors(c, y * t), values,
                             y * t, tuple(y * t if k < r_max else 0.0 for k in range(K)), (beta,) * K)
    counts = problem.counts
    order = sorted(range(K), key=lambda k: -counts[k])  # largest first (stable)
    s_k, beta_k, f = [0.0] * K, [0.0] * K, 0.0
    kept = 0
    for k in order:
        y = M * math.sqrt(counts[k])
        beta_k[k] = 2.0 * N * C * y ** (q - 2.0)
        t, phi = _one_d(beta_k[k], q)
        nonzero = t > 0.0 and phi <= 1.0 and kept < r_max
        f += y * y / (2.0 * N) * (phi if nonzero else 1.0)
        if nonzero:
            s_k[k], kept = y * t, kept + 1
    top = order[0]
    tie = L > 1 and any(abs(b - bs) <= 1e-12 * bs for b in beta_k)
    a = _factors(c, s_k[top]) if s_k[top] > 0 else (0.0,) * (L + 1)
    return DeepLinearMSE(f, s_k[top], kept, q, C, beta_k[top], bs, kept == 0, tie, a, (), s_k[top], tuple(s_k),
                         tuple(beta_k))


def _factors(c: tuple, s: float) -> tuple:
    """The balanced factor scales a_j = (Π c)^{1/(2(L+1))} s^{1/(L+1)} / √c_j of a singular value s (weights c =
    (λ_H, λ_1, …, λ_L)): Π a_j = s and every c_j a_j² equal."""
    m = len(c)
    root = math.exp(sum(math.log(v) for v in c) / (2 * m))
    return tuple(root * s ** (1.0 / m) / math.sqrt(v) for v in c)


def deep_linear_mse_minimizer(problem: Problem) -> tuple:
    """A global minimiser (W (the tuple W_1 … W_L), H, b = 0) of a deep linear MSE problem (`deep_linear_mse`):
    balanced factors on each kept class's direction — the j-th nonzero class (largest counts first) on
    coordinate j: h = a_H(s_k)/√n_k e_j for its samples, W_l = Σ_j a_l(s_{k_j}) e_j e_jᵀ (padded), W_L = Σ_j
    a_L(s_{k_j}) e_{k_j} e_jᵀ (K × d_{L−1}); W_L ⋯ W_1 h = (s_k/√n_k) e_k. Its class means form an orthogonal frame
    at every layer (lengths depending on n_k when imbalanced). Depth 1: (W, H, b) as arrays."""
    sol = deep_linear_mse(problem)
    K, counts, labels = problem.K, problem.counts, np.asarray(problem.labels)
    dims = problem.dims
    c = (problem.lam_h,) + problem.lam_ws
    kept = [k for k in sorted(range(K), key=lambda k: -counts[k]) if sol.s_k[k] > 0]
    H = np.zeros((problem.d, problem.N))
    Ws = [np.zeros((dims[layer + 1], dims[layer])) for layer in range(problem.depth)]
    for j, k in enumerate(kept):
        a = _factors(c, sol.s_k[k])
        H[j, labels == k] = a[0] / math.sqrt(counts[k])
        for layer, W in enumerate(Ws):
            W[k if layer == problem.depth - 1 else j, j] = a[layer + 1]
    W = tuple(Ws) if problem.depth > 1 else Ws[0]
    return W, H, np.zeros(K)




# --------------------------------------------------------------------------------------------------------------
# Deep neural collapse (DNC) in the ReLU (or linear) deep UFM with MSE, and the census that tests its optimality.


class DNC(NamedTuple):
    """The best deep-neural-collapse point of a bias-free balanced MSE deep UFM (`dnc`): objective, s (the
    singular value of every class's logit block, 0 when the best DNC point is the origin), the factor scales a =
    (a_H, a_1, …, a_L), and the point (W as the tuple of layers, H, b = 0)."""

    objective: float
    s: float
    a: tuple
    W: tuple
    H: np.ndarray
    b: np.ndarray


SOFTMAX = ("ce", "ls", "fl")  # losses invariant to adding a constant to every logit: DNC is a simplex ETF


def _softmax_family(problem: Problem) -> bool:
    return getattr(problem.loss, "name", problem.loss) in SOFTMAX


def _check_dnc(problem: Problem, owner: str) -> None:
    if problem.depth < 2:
        raise ParameterError("depth", problem.depth, "≥ 2 (deep neural collapse is about the layers of a deep UFM)",
                             owner)
    if _softmax_family(problem):
        bad = [("activation", problem.activation, "'linear' (the CE/LS/FL DNC point is a simplex ETF at every "
                "layer, which ReLU does not keep)")] if problem.activation != "linear" else []
        bad += [("bias", True, "False (--no-bias)")] if problem.bias else []
        bad += [("n", list(problem.counts), "one count for every class (balanced)")] if not problem.balanced else []
        bad += [("widths", (problem.d,) + problem.widths, f"d and every width ≥ K − 1 = {problem.K - 1}")] \
            if min(problem.dims[:-1]) < problem.K - 1 else []
        if bad:
            raise ParameterError(*bad[0], owner)
        return
    if min(problem.dims[:-1]) < problem.K:
        raise ParameterError("widths", (problem.d,) + problem.widths, f"d and every width ≥ K = {problem.K} (an "
                             "orthogonal frame of K class means needs K dimensions)", owner)
    _check(problem.replace(activation="linear"), owner)


def _dnc_softmax(problem: Problem) -> "DNC":
    """The best DNC point of a bias-free balanced deep linear CE/LS/FL problem: the logits s·(I − 11ᵀ/K) per class
    (a simplex ETF), every layer's class means the same (K − 1)-dimensional ETF, the layers balanced. With
    P = I − 11ᵀ/K = QQᵀ (Q: K × (K−1), orthonormal, centred), Z̄ = sP has K − 1 singular values s, so on this
    family f(s) = g(s·P ⊗ 1ᵀ) + C̄(K − 1)s^q with C̄ = (L+1)/2 · (λ_H n Π_l λ_l)^{1/(L+1)}, minimised over s ≥ 0
    (a grid on log s, then a bounded search, against s = 0)."""
    K, n, L = problem.K, problem.n, problem.depth
    with ufm.float64():
        return _dnc_softmax_64(problem, K, n, L)


@functools.lru_cache(maxsize=64)
def _etf_scale(problem: Problem) -> tuple:
    """(s*, φ(s*), φ(0)) of the 1-D problem of `_dnc_softmax`, once per problem (the census and the battery ask
    for the same problem's DNC point more than once; each call would compile the data term again)."""
    from scipy.optimize import minimize_scalar

    K, n, L = problem.K, problem.n, problem.depth

    obj = ufm.objective(problem)
    P = np.eye(K) - 1.0 / K
    Z1 = np.repeat(P, n, axis=1)
    c = (problem.lam_h * n,) + problem.lam_ws
    q = 2.0 / (L + 1)
    C = (L + 1) / 2.0 * math.exp(sum(math.log(v) for v in c) / (L + 1))
    g = jax.jit(obj.g)

    def phi(s):
        return float(g(s * Z1)) + C * (K - 1) * s**q

    # φ is not unimodal for q < 1 (it rises from log K at s = 0, then falls): a grid on log s brackets the
    # lowest interior point, a bounded search refines it.
    grid = np.linspace(-12.0, 7.0, 381)
    vals = [phi(math.exp(t)) for t in grid]
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    r = minimize_scalar(lambda t: phi(math.exp(t)), bounds=(lo, hi), method="bounded",
                        options={"xatol": 1e-13, "maxiter": 500})
    s = math.exp(r.x)
    # A minimum found from values is good to √ε; the root of φ′ (brentq, bracketed around it) to ε.
    dg = jax.jit(jax.grad(lambda t: obj.g(t * Z1)))

    def dphi(t):
        return float(dg(t)) + C * (K - 1) * q * t ** (q - 1.0)

    a_, b_ = s * math.exp(-0.05), s * math.exp(0.05)
    if dphi(a_) < 0 < dphi(b_):
        from scipy.optimize import brentq

        s = brentq(dphi, a_, b_, xtol=1e-300, rtol=4 * np.finfo(float).eps, maxiter=500)
    return s, phi(s), phi(0.0)


def _dnc_softmax_64(problem, K, n, L):
    s, f_s, f_0 = _etf_scale(problem)
    c = (problem.lam_h * n,) + problem.lam_ws
    shapes = ufm.Layout.of(problem).w_shapes
    if f_0 <= f_s:
        return DNC(f_0, 0.0, (0.0,) * (L + 1), tuple(np.zeros(sh) for sh in shapes),
                   np.zeros((problem.d, problem.N)), np.zeros(K))
    Q = np.linalg.qr(np.concatenate([np.ones((K, 1)), np.eye(K)[:, :K - 1]], axis=1))[0][:, 1:]
    a = _factors(c, s)
    H = np.zeros((problem.d, problem.N))
    H[:K - 1] = a[0] * np.repeat(Q.T, n, axis=1)
    Ws = []
    for layer, shape in enumerate(shapes):
        W = np.zeros(shape)
        if layer == L - 1:
            W[:, :K - 1] = a[layer + 1] * Q
        else:
            W[np.arange(K - 1), np.arange(K - 1)] = a[layer + 1]
        Ws.append(W)
    return DNC(f_s, s, a, tuple(Ws), H, np.zeros(K))


def dnc(problem: Problem) -> DNC:
    """The best point with deep neural collapse in a bias-free balanced MSE deep UFM (ReLU or linear, d and every
    width ≥ K): features collapsed to their class means, the class means of every layer an orthogonal frame of
    nonnegative vectors (so ReLU acts as the identity on them) and the layers balanced — the DNC geometry of
    Súkeník, Mondelli, Lampert 2023 (arXiv 2305.13165) for the MSE DUFM. On that family f is the deep linear
    objective at a rank-K point aligned with Y, so its best value is the deep linear 1-D problem with all K
    directions used (`DeepLinearMSE.critical_values[K]`), or the origin's M²/2 where that is lower or the 1-D
    problem has no nonzero critical point.

    CE, LS and FL (deep linear, bias-free, balanced, d and widths ≥ K − 1): the point with a simplex ETF at every
    layer (`_dnc_softmax`), the NC geometry Dang et al. 2023 (arXiv 2301.00437) state for deep linear CE."""
    _check_dnc(problem, "dnc")
    if _softmax_family(problem):
        return _dnc_softmax(problem)
    lin = deep_linear_mse(problem.replace(activation="linear"))
    K, n, L = problem.K, problem.n, problem.depth
    origin = problem.M ** 2 / 2.0
    if not lin.critical_values or lin.critical_values[K] >= origin:
        W = tuple(np.zeros(s) for s in ufm.Layout.of(problem).w_shapes)
        return DNC(origin, 0.0, (0.0,) * (L + 1), W, np.zeros((problem.d, problem.N)), np.zeros(K))
    s = lin.s_branch
    a = _factors((problem.lam_h,) + problem.lam_ws, s)
    H = np.zeros((problem.d, problem.N))
    for k in range(K):
        H[k, k * n:(k + 1) * n] = a[0] / math.sqrt(n)
    Ws = []
    for layer, shape in enumerate(ufm.Layout.of(problem).w_shapes):
        W = np.zeros(shape)
        W[np.arange(K), np.arange(K)] = a[layer + 1]
        Ws.append(W)
    return DNC(lin.critical_values[K], s, a, tuple(Ws), H, np.zeros(K))


class LowRank(NamedTuple):
    """A low-rank point of a bias-free balanced MSE deep ReLU UFM with K = m(m−1)/2 classes (`low_rank`):
    objective, s (every class's logit), m (the rank of the class means of H_1 … H_{L−1}), ratio: its penalty
    constant over the DNC one, C_LR/C_DNC = (m^{L−1} K² / (2 K^L))^{1/(L+1)} with equal λ's (below 1 the
    construction beats DNC at every λ where both are nonzero), the factor scales a, and the point (W as the tuple
    of layers, H, b = 0); f_dnc: the best DNC value (`dnc`) beside it."""

    objective: float
    s: float
    m: int
    ratio: float
    a: tuple
    W: tuple
    H: np.ndarray
    b: np.ndarray
    f_dnc: float


def _triangular(K: int) -> int:
    """m with m(m−1)/2 = K, or 0 when K is not of that form."""
    m = int(round((1 + math.sqrt(1 + 8 * K)) / 2))
    return m if m * (m - 1) // 2 == K else 0


def low_rank(problem: Problem) -> LowRank:
    """A low-rank point of a bias-free balanced MSE deep ReLU UFM whose class means in the layers before the last
    ReLU have rank m < K, for K = m(m−1)/2 (m ≥ 4: K = 6, 10, 15, …) — the complete-graph structure Súkeník,
    Lampert, Mondelli 2024 (arXiv 2405.14468) use for K = 10 (m = 5) to show that deep neural collapse is not
    optimal. Class k is the edge {a, b} of the complete graph on m vertices (lexicographic order):

    - H_1's class means are the incidence vectors e_a + e_b (rank m), and W_1 … W_{L−2} are the identity on the
      first m coordinates (ReLU keeps these nonnegative vectors);
    - the last hidden layer W_{L−1} has the row 2(e_a + e_b) − 1_m for class {a, b}: on class {i, j} its
      pre-activation is 2 (same edge), 0 (one shared vertex: a kink) or −2 (disjoint), so ReLU returns 2·e_k;
    - W_L is the identity on the first K coordinates.

    The pattern's norms are ‖P_H‖² = 2N, ‖P_l‖² = m (l ≤ L − 2), ‖P_{L−1}‖² = Km, ‖P_L‖² = K, and its output is 2e_k.
    Scaling each factor, f = ½(s − M)² + C_LR s^q with C_LR = (L+1)/2 · (Π_j λ_j ‖P_j‖²)^{1/(L+1)} · 2^{−q}
    (balanced factors, as in the deep linear module's step 1), the same 1-D problem as DNC's with
    C_DNC = (L+1)/2 · (λ_H N Π_l λ_l K)^{1/(L+1)}: C_LR < C_DNC iff m·2^{L−3} < (m − 1)^{L−2}, i.e. for K = 10 at
    L ≥ 4 and for K = 6 at L ≥ 4 (above DNC at L = 2, 3: the construction alone does not settle those). The scales
    here are ours (the minimum of that 1-D problem); solving from the point (`theory.census`) can only go lower.
    Needs depth ≥ 2, d and the widths of H_2 … H_{L−1} ≥ m, the last width ≥ K."""
    _check_dnc(problem, "low_rank")
    K, L, n, N, M = problem.K, problem.depth, problem.n, problem.N, problem.M
    m = _triangular(K)
    if m < 4:
        raise ParameterError("K", K, "m(m−1)/2 for an m ≥ 4 (6, 10, 15, 21, …): the complete-graph construction", "low_rank")
    if problem.activation != "relu":
        raise ParameterError("activation", problem.activation, "'relu' (the last hidden ReLU expands rank m to K)",
                             "low_rank")
    edges = [(a, b) for a in range(m) for b in range(a + 1, m)]
    shapes = ufm.Layout.of(problem).w_shapes
    PH = np.zeros((problem.d, N))
    for k, (a, b) in enumerate(edges):
        PH[[a, b], k * n:(k + 1) * n] = 1.0
    Ps = []
    for layer, shape in enumerate(shapes):
        P = np.zeros(shape)
        if layer < L - 2:
            P[np.arange(m), np.arange(m)] = 1.0
        elif layer == L - 2:
            for k, (a, b) in enumerate(edges):
                P[k, :m] = -1.0
                P[k, [a, b]] = 1.0
        else:
            P[np.arange(K), np.arange(K)] = 1.0
        Ps.append(P)
    lams = (problem.lam_h,) + problem.lam_ws
    c = tuple(lam * float(np.sum(P * P)) for lam, P in zip(lams, [PH] + Ps))
    q = 2.0 / (L + 1)
    C_lr = (L + 1) / 2.0 * math.exp(sum(math.log(v) for v in c) / (L + 1)) * 2.0 ** (-q)
    C_dnc = (L + 1) / 2.0 * math.exp(sum(math.log(v) for v in (problem.lam_h * N,) + tuple(
        lam * K for lam in problem.lam_ws)) / (L + 1))
    t, phi = _one_d(2.0 * C_lr * M ** (q - 2.0), q)
    f_dnc = dnc(problem).objective
    if t == 0.0 or phi >= 1.0:  # the 1-D problem's best point is 0: the construction is the origin
        zeros = tuple(np.zeros(sh) for sh in shapes)
        return LowRank(M * M / 2.0, 0.0, m, C_lr / C_dnc, (0.0,) * (L + 1), zeros, np.zeros((problem.d, N)),
                       np.zeros(K), f_dnc)
    s = M * t
    scales = _factors(c, s / 2.0)  # the factor of each unit pattern: Π = s/2, every c_j a_j² equal
    H = scales[0] * PH
    W = tuple(sc * P for sc, P in zip(scales[1:], Ps))
    return LowRank(M * M / 2.0 * phi, s, m, C_lr / C_dnc, scales, W, H, np.zeros(K), f_dnc)


class DeepRun(NamedTuple):
    """One start of a deep census: its label, the end point's objective, solver status and the rank of each
    layer's class means (`ufm.metrics.layers`)."""

    label: str
    objective: float
    status: str
    ranks: tuple


class DeepCensus(NamedTuple):
    """What solves of a deep MSE problem reach, against deep neural collapse (`deep_census`).

    f_dnc: the best DNC value (`dnc`); lowest: the lowest objective reached (an upper bound on the global minimum
    whatever the solver's status: every point's objective is one); margin: (lowest − f_dnc)/f_dnc; below_dnc:
    margin < −1e-9 (then DNC is not globally optimal: proved by the point `best`); first_below: how many starts it
    took to find a point below f_dnc (None if none did); runs: every start's end."""

    problem: Problem
    seed: int
    f_dnc: float
    lowest: float
    margin: float
    below_dnc: bool
    first_below: int | None
    runs: tuple
    best: tuple

    def table(self) -> str:
        lines = [f"{'start':<16} {'objective':>20}  {'status':<10} class-mean ranks"]
        for r in self.runs:
            lines.append(f"{r.label:<16} {r.objective:>20.15g}  {r.status:<10} {','.join(map(str, r.ranks))}")
        verdict = (f"below DNC by {-self.margin:.3e} (relative), found after {self.first_below} start(s): deep "
                   "neural collapse is not the global minimum" if self.below_dnc else
                   f"nothing below DNC (margin {self.margin:.1e}): DNC is the lowest point found")
        return "\n".join(lines + ["", f"f_DNC = {self.f_dnc:.15g}; lowest = {self.lowest:.15g}: {verdict}"])

    def to_dict(self) -> dict:
        return {"problem": self.problem.to_dict(), "seed": self.seed, "f_dnc": self.f_dnc, "lowest": self.lowest,
                "margin": self.margin, "below_dnc": self.below_dnc, "first_below": self.first_below,
                "runs": [r._asdict() for r in self.runs]}


def deep_census(problem: Problem, starts: int = 12, seed: int = 0, method: str = "lbfgs", max_steps: int = 5000,
                progress=None) -> DeepCensus:
    """Solves of a bias-free balanced MSE deep UFM (ReLU or linear) from the DNC point (exactly and perturbed by
    1e-3), from the complete-graph point of `low_rank` where K = m(m−1)/2 (m ≥ 4, ReLU), from low-rank starts (for L ≥ 3: the DNC point with the middle layers W_2 … W_{L−1} keeping r < K
    directions, r = 1 … K − 1, plus N(0, 0.3²) noise everywhere — the structure of the low-rank solutions of
    Súkeník, Lampert, Mondelli 2024) and from random N(0, s²) starts (s cycling through 0.3, 1, 3), all drawn
    with `seed`, compared with the best DNC value (`dnc`). A ReLU objective is not smooth, so a solve may end "stalled" or "max_steps"; its objective is still
    an upper bound on the global minimum, and a point below f_DNC proves that deep neural collapse is not optimal
    (Súkeník, Lampert, Mondelli 2024, arXiv 2405.14468) whatever the status."""
    _check_dnc(problem, "deep_census")
    if not (isinstance(starts, int) and not isinstance(starts, bool) and 1 <= starts <= 10_000):
        raise ParameterError("starts", starts, "an integer in [1, 10000]", "deep_census")
    say = progress or (lambda msg: None)
    d = dnc(problem)
    rng = np.random.default_rng(seed)
    K, L = problem.K, problem.depth
    shapes = ufm.Layout.of(problem).w_shapes

    def truncated(r):  # the DNC point with the middle layers W_2 … W_{L−1} keeping r < K directions, plus noise
        Ws = [w.copy() for w in d.W]
        for w in Ws[1:L - 1]:
            w[r:, :] = 0.0
        return (tuple(w + 0.3 * rng.standard_normal(w.shape) for w in Ws),
                d.H + 0.3 * rng.standard_normal(d.H.shape), d.b)

    def random(sc):
        return (tuple(sc * rng.standard_normal(s) for s in shapes), sc * rng.standard_normal((problem.d, problem.N)),
                np.zeros(K))

    inits = [("dnc", (d.W, d.H, d.b))]
    if starts > 1:
        inits.append(("dnc+1e-3", (tuple(w + 1e-3 * rng.standard_normal(w.shape) for w in d.W),
                                   d.H + 1e-3 * rng.standard_normal(d.H.shape), d.b)))
    if starts > 2 and _triangular(K) >= 4 and problem.activation == "relu":
        g = low_rank(problem)
        if g.s > 0:
            inits.append((f"graph K_{g.m}", (g.W, g.H, g.b)))
    top = K - 1 if _softmax_family(problem) else K  # the DNC point's rank
    ranks = list(range(1, top)) if L >= 3 else []
    scales = (0.3, 1.0, 3.0)
    n_low = n_random = 0
    while len(inits) < starts:  # every low rank once, then a random and a low-rank start in turn
        if ranks and (n_low < len(ranks) or n_random >= n_low - len(ranks) + 1):
            r = ranks[n_low % len(ranks)]
            inits.append((f"low-rank {r}", truncated(r)))
            n_low += 1
        else:
            sc = scales[n_random % len(scales)]
            inits.append((f"random ×{sc:g}", random(sc)))
            n_random += 1
    runs, best, first = [], None, None
    for i, (label, init) in enumerate(inits, 1):
        sol = ufm.solve(problem, method=method, init=init, max_steps=max_steps, reduce="never")
        ranks = tuple(r["rank"] for r in ufm.metrics.layers(sol.W, sol.H, sol.b, activation=problem.activation))
        runs.append(DeepRun(label, float(sol.objective), str(sol.status), ranks))
        say(f"start {i}/{len(inits)} ({label}): f = {sol.objective:.12g} ({sol.status}); f_DNC = {d.objective:.12g}")
        if best is None or sol.objective < best.objective:
            best = sol
        if first is None and sol.objective < d.objective * (1 - 1e-9):
            first = i
    margin = (best.objective - d.objective) / abs(d.objective)
    return DeepCensus(problem, seed, d.objective, float(best.objective), float(margin), margin < -1e-9, first,
                      tuple(runs), (best.W, best.H, best.b))


__all__ = ["DeepLinearMSE", "deep_linear_mse", "deep_linear_mse_minimizer", "deep_linear_mse_threshold", "beta_star",
           "DEEP_LINEAR_MSE", "DNC", "dnc", "LowRank", "low_rank", "DeepRun", "DeepCensus", "deep_census"]
