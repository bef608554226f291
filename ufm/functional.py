"""The objective as pure functions of (layout, hyper, ...): what `ufm.objective(problem)` closes over, for code
that compiles once per shape and varies the numbers of the problem (λ, δ, γ, α, M) without recompiling.

    layout = Layout.of(problem)      static: shapes, loss, which variables are free (hashable)
    hyper  = problem.hyper           traced: Hyper(lam_w, lam_h, lam_b, delta, gamma, alpha, M, counts (K,))

    value(layout, hyper, params)     f(W, H, b)
    value_x(layout, hyper, x)        f on the free vector x = layout.pack(params)
    data_term(layout, hyper, Z)      g(Z) = (1/N) Σ_i L(z_i, y_i) (class-mean form: Σ_k (n_k/N) L(z_k, k))
    data_term_and_grad               (g(Z), ∇_Z g(Z)), jitted
    grad_x, hvp_x, hessian_x         ∇f, ∇²f·v and the dense ∇²f on x, jitted (one compilation per layout)
    family_form(problem)             (layout, hyper) with CE/LS/FL as their shared softmax family, as ufm's own
                                     programs run them (one compilation serves the three losses)
    padded_d(d, K)                   the d that metrics and certificates pad to (one program per K)

The jitted functions compute in float64 only where JAX's 64-bit mode is on (inside `ufm.float64()` or after
`ufm.configure()`).
"""

from ._objective import (
    Layout, Params, data_term, data_term_and_grad, family_form, grad_x, hessian_x, hvp_x, padded_d, value, value_x,
)
from ._problem import GRID_FIELDS, HYPER_FIELDS, STATIC_FIELDS, Hyper

__all__ = [
    "Layout", "Params", "Hyper", "HYPER_FIELDS", "STATIC_FIELDS", "GRID_FIELDS", "value", "value_x", "data_term",
    "data_term_and_grad", "grad_x", "hvp_x", "hessian_x", "family_form", "padded_d",
]
