"""`predict` and `minimizer`: what theory says the global minimum of a UFM problem is, case by case."""

from __future__ import annotations

import dataclasses

import numpy as np

from ufm import ParameterError, Problem, UFMError, float64

from . import _contrastive, _deep, _imbalance, _mse, _userloss


@dataclasses.dataclass(frozen=True)
class Prediction:
    """Theory's global minimum of one problem. Fields are None where nothing is known; `case` says why.

    objective: global minimum value f*.  b: b* (K,).  case: regime label ("mse:d>=K:lam_b-large",
    "ls:collapsed-to-zero", "ce:d=K-1:extension", ...).  a: logit scale a* (CE/LS/FL).  p_t, p_n: softmax of
    a*(e_k − 1/K).  kappa: K·p_t where Guo et al. 2025, arXiv 2402.03979, Thm 4.2 applies (CE/LS, d ≥ K, s < 1; 1 at K = 2, see errata).  w_norm: mean ‖w^k‖.
    h_mean_norm: mean ‖h̄_k − h_G‖.  gram_h: H̄ᵀH̄ (K, K) when unique, else a description.
    extension: True where the label goes beyond the printed theorem's hypotheses (confirmed numerically).
    source: seed file and theorem.
    """

    objective: float | None
    b: np.ndarray | None
    case: str
    a: float | None = None
    p_t: float | None = None
    p_n: float | None = None
    kappa: float | None = None
    w_norm: float | None = None
    h_mean_norm: float | None = None
    gram_h: np.ndarray | str | None = None
    extension: bool = False
    source: str = ""

    def to_dict(self) -> dict:
        out = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = v.tolist() if isinstance(v, np.ndarray) else v
        return out



class NoClosedForm(UFMError, ValueError):
    """`minimizer` of a problem for which theory knows no closed-form global minimiser (`predict` says why)."""

def _norms(W, H, n):
    Hbar = H.reshape(H.shape[0], -1, n).mean(axis=2)
    M = Hbar - Hbar.mean(axis=1, keepdims=True)
    return float(np.mean(np.linalg.norm(W, axis=1))), float(np.mean(np.linalg.norm(M, axis=0))), Hbar.T @ Hbar


def _unknown(problem: Problem, why: str) -> Prediction:
    return Prediction(objective=None, b=None, case=f"{getattr(problem.loss, 'name', problem.loss)}:{why}",
                      source="none")


def _predict_deep(problem: Problem) -> Prediction:
    """Depth L > 1: the deep linear, bias-free, balanced MSE closed form (`theory.deep_linear_mse`); else none."""
    L = problem.depth
    try:
        dl = _deep.deep_linear_mse(problem)
    except ParameterError as e:
        return _unknown(problem, f"deep-L{L}-{problem.activation}:no-closed-form ({e.param} must be {e.allowed})")
    case = f"mse:deep-L{L}-linear:" + ("collapsed-to-zero" if dl.collapsed else f"rank-{dl.rank}")
    return Prediction(objective=dl.objective, b=np.zeros(problem.K), case=case,
                      source="derived (Schatten-2/(L+1) quasi-norm of W_L⋯W_1H, theory.deep_linear_mse); "
                             "geometry: Dang et al. 2023, arXiv 2301.00437 (bias-free MSE)")


def _predict_mse(problem: Problem) -> Prediction:
    if problem.alpha != 1.0:
        return _unknown(problem, "alpha!=1:no-closed-form (use the certificate)")
    c = _mse.cases(problem)
    W, H, b = _mse.minimizer(problem)
    unique = not (problem.d < problem.K - 1 or (not problem.bias and problem.d < problem.K))
    w_norm, h_norm, gram = _norms(W, H, problem.n)
    if c.case == "mse:zero":
        w_norm, h_norm, gram, unique = 0.0, 0.0, np.zeros((problem.K, problem.K)), True
    return Prediction(
        objective=c.objective,
        b=np.full(problem.K, c.b),
        case=c.case,
        w_norm=w_norm if unique else None,
        h_mean_norm=h_norm if unique else None,
        gram_h=gram if unique else f"M²-scaled rank-{problem.d} projector inside the top singular space (not unique)",
        source="Zhou et al. 2022, arXiv 2203.01238, Thm 3.1 / Thm B.1 (appendix form), Lemma B.2",
    )


def _predict_contrastive(problem: Problem) -> Prediction:
    K, d, loss = problem.K, problem.d, problem.loss
    if d < K - 1:
        return _unknown(problem, "d<K-1:no-closed-form (ETF does not fit)")
    if loss in ("ce", "ls"):
        a = _contrastive.ce_ls_scale(problem)
        f = float(_contrastive.scale_objective(problem, a)[0])
        source = "Guo et al. 2025, arXiv 2402.03979, Thm 4.1, Lemma D.5" + ("; Zhu et al. 2021, arXiv 2105.02375, Thm 3.1" if loss == "ce" else "")
        extension = d < K
    else:
        m = _contrastive.scale_minima(problem)
        a, f = m.a, m.g
        source = "Zhou et al. 2022, arXiv 2210.02192, Thm 1 + Zhou et al. 2022, arXiv 2210.02192, App. B.2 (1-D scale)"
        extension = d <= K
    if a == 0.0:
        case = f"{loss}:collapsed-to-zero"
    elif extension:
        case = f"{loss}:d={'K-1' if d == K - 1 else 'K'}:extension"
    else:
        case = f"{loss}:d>={'K' if loss != 'fl' else 'K+1'}:etf"
    pt, pn = _contrastive.probabilities(K, a)
    W, H, _ = _contrastive.nc_minimizer(problem, a)
    w_norm, h_norm, gram = _norms(W, H, problem.n)
    # Thm 4.2's K·p_t needs K ≥ 3: at K = 2 each block Hessian has one nonzero eigenvalue (errata).
    kappa = (K * pt if K >= 3 else 1.0) if (loss in ("ce", "ls") and d >= K and a > 0) else None
    return Prediction(
        objective=f, b=np.zeros(K), case=case, a=a, p_t=pt, p_n=pn, kappa=kappa, w_norm=w_norm,
        h_mean_norm=h_norm, gram_h=gram, extension=extension, source=source,
    )


def _predict_custom(problem: Problem) -> Prediction:
    """A user loss: the 1-D scale of the losses paper's Thm 1 where the probe finds its hypotheses (d ≥ K)."""
    probe = _userloss.probe_loss(problem.loss, problem.K)
    if not probe.etf_theorem_applies:
        missing = [k for k in ("contrastive", "strict", "symmetric", "nonnegative") if not getattr(probe, k)]
        return _unknown(problem, f"not-contrastive (probe: {', '.join(missing)} fails; use the certificate)")
    if problem.d < problem.K:
        return _unknown(problem, "d<K:no-closed-form (the theorem needs d ≥ K)")
    m = _contrastive.scale_minima(problem)
    pt, pn = _contrastive.probabilities(problem.K, m.a)
    W, H, _ = _contrastive.nc_minimizer(problem, m.a)
    w_norm, h_norm, gram = _norms(W, H, problem.n)
    return Prediction(
        objective=m.g, b=np.zeros(problem.K), case=f"{problem.loss}:{'collapsed-to-zero' if m.a == 0 else 'd>=K:etf'}",
        a=m.a, p_t=pt, p_n=pn, w_norm=w_norm, h_mean_norm=h_norm, gram_h=gram,
        source=f"Zhou et al. 2022, arXiv 2210.02192, Thm 1 (1-D scale; contrastive property probed on {probe.points} "
               "points by ufm.theory.probe_loss)",
    )


def _predict_imbalanced(problem: Problem) -> Prediction:
    if problem.loss != "mse" or problem.alpha != 1.0:
        return _unknown(problem, "imbalanced:no-closed-form (use the certificate and ufm.theory.minority_threshold)")
    if problem.bias and problem.d < problem.K:
        return _unknown(problem, "imbalanced:d<K-with-bias:no-closed-form (F(b) is not convex there)")
    th = _imbalance.imbalanced_mse(problem)
    collapsed = f"{len(th.collapsed)}-collapsed" if th.collapsed else "none-collapsed"
    return Prediction(
        objective=th.objective, b=th.b, case=f"mse:imbalanced:{'bias' if problem.bias else 'no-bias'}:{collapsed}",
        w_norm=float(np.mean(th.w_norms)), gram_h=th.gram_h, source=th.source,
    )


@float64()
def predict(problem: Problem) -> Prediction:
    """The global minimum of `problem` as far as theory (checked numerically) knows it.

    MSE(α=1, M): Zhou et al. 2022, arXiv 2203.01238, Thm B.1 in every bias/dimension regime (and the value route, `theory.mse_value_route`).
    CE/LS: a* = log(K/s − K + 1), s = √(KN)λ_Z + δ (Guo et al. 2025, arXiv 2402.03979, Lemma D.5), f* = g(a*), for d ≥ K; also d = K−1
    (extension: the ETF fits, the d-independent convex lower bound is attained). Imbalanced counts: MSE(α=1)
    by `imbalanced_mse` (bias-free any d; with a bias d ≥ K); CE/LS/FL have no closed form (use the certificate). FL: a* = global minimiser of
    the 1-D g (Zhou et al. 2022, arXiv 2210.02192, Thm 1, d > K; d ∈ {K−1, K} as an extension). Otherwise fields are None and `case`
    says why (d < K−1 for CE/LS/FL; MSE with α ≠ 1; a frozen W).
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"predict(problem): problem must be a ufm.Problem; got {type(problem).__name__}")
    if problem.depth > 1:
        return _predict_deep(problem)
    if problem.fixed_w:
        return _unknown(problem, "fixed-etf:no-closed-form (convex in H: use the certificate)")
    if not problem.balanced:
        return _predict_imbalanced(problem)
    if not isinstance(problem.loss, str):
        return _predict_custom(problem)
    if problem.loss == "mse":
        return _predict_mse(problem)
    return _predict_contrastive(problem)


@float64()
def minimizer(problem: Problem, P: np.ndarray | None = None):
    """An explicit global minimizer (W, H, b) where `predict` knows one (ValueError otherwise).

    P (d, r) fixes the rotation: r = min(d, K) for MSE (orthonormal columns), r = K for CE/LS/FL (PᵀP = I, or
    the default ETF basis which also covers d = K−1).
    """
    pred = predict(problem)
    if pred.objective is None:
        raise NoClosedForm(f"minimizer: no closed form for this problem ({pred.case})")
    if problem.depth > 1:
        return _deep.deep_linear_mse_minimizer(problem)
    if not problem.balanced:
        return _imbalance.imbalanced_mse_minimizer(problem)
    if problem.loss == "mse":
        return _mse.minimizer(problem, P)
    return _contrastive.nc_minimizer(problem, pred.a, P)


@float64()
def origin_bias(problem: Problem) -> np.ndarray:
    """b₀ making (0, 0, b₀) critical: 0 for CE/LS/FL (uniform logits are symmetric) and, for MSE(α, M),
    b₀ = αM/(α + K − 1 + Kλ_b)·1 (= 1/(K(1+λ_b)) at α = M = 1; Zhou et al. 2022, arXiv 2203.01238, proof of Lemma B.2); 0 without bias."""
    if not problem.bias or problem.loss != "mse":
        return np.zeros(problem.K)
    a, M, K = problem.alpha, problem.M, problem.K
    return np.full(K, a * M / (a + K - 1 + K * problem.lam_b))
