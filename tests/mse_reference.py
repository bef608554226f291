"""Independent numpy reference for the vanilla/rescaled MSE global minimum: the "value route" of the proof of Thm B.1 of Zhou et al. 2022 (arXiv 2203.01238).

For Z = WH + b1ᵀ, min over factorizations of λ_W/2‖W‖² + λ_H/2‖H‖² is λ_Z‖WH‖_* (Zhu et al. 2021, arXiv 2105.02375, Lemma A.3), so
for fixed b the problem is singular-value soft-thresholding of Ỹ = MY − b1ᵀ at λ̃ = Nλ_Z, restricted to rank
≤ d:  f*(b) = (1/N)[Σ_{i≤min(d,K)} ½(σ_i − η_i)² + λ̃η_i + Σ_{i>min(d,K)} ½σ_i²] + (λ_b/2)K b²,
η_i = [σ_i − λ̃]_+, then minimised over the scalar b by a grid and a bounded Brent refinement.
"""

import numpy as np
from scipy.optimize import minimize_scalar


def value_at(b, K, n, d, lam_w, lam_h, lam_b, M=1.0):
    N = n * K
    Y = M * np.repeat(np.eye(K), n, axis=1)
    s = np.linalg.svd(Y - b, compute_uv=False)  # descending, K values
    lt = N * np.sqrt(lam_w * lam_h)
    r = min(d, K)
    eta = np.maximum(s[:r] - lt, 0.0)
    data = 0.5 * np.sum((s[:r] - eta) ** 2) + lt * np.sum(eta) + 0.5 * np.sum(s[r:] ** 2)
    return data / N + 0.5 * lam_b * K * b * b


def mse_optimum(K, n, d, lam_w, lam_h, lam_b, M=1.0, bias=True):
    """(f*, b*) of the MSE(α=1, M) UFM."""
    f = lambda b: value_at(b, K, n, d, lam_w, lam_h, lam_b, M)  # noqa: E731
    if not bias:
        return f(0.0), 0.0
    grid = np.linspace(-M, 2 * M, 3001)
    i = int(np.argmin([f(b) for b in grid]))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    res = minimize_scalar(f, bounds=(lo, hi), method="bounded", options={"xatol": 1e-14})
    return float(res.fun), float(res.x)
