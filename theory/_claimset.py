"""The claims of `ufm verify`, as data: one `ClaimSpec` per claim (key, one line, its sources as (arXiv id,
statement) pairs, its tolerance), grouped by the family of checks that decides it (`verify.FAMILIES`).
`CLAIM_KEYS`, the battery's table and the ledger's cross-check (`claims()` rows name these keys) derive from
`CLAIMS`; a claim is added here and nowhere else.

Sources: an arXiv id, or "derived" for a statement this toolkit derives and checks (its method in the statement).
"""

from __future__ import annotations

from typing import NamedTuple

DERIVED = "derived"


class ClaimSpec(NamedTuple):
    """One claim of the battery: `key` (what the ledger and `ufm verify --json` name it by), `name` (one line),
    `sources` ((arXiv id or "derived", statement), ...), `tol` (the worst error that passes) and `family` (the
    group of checks that decides it)."""

    key: str
    name: str
    sources: tuple
    tol: float
    family: str

    @property
    def source(self) -> str:
        """The sources as one line: "arXiv:2203.01238 Thm B.1; derived: …"."""
        return "; ".join(f"arXiv:{ref} {what}" if ref != DERIVED else f"derived: {what}" for ref, what in self.sources)

    @property
    def tol_text(self) -> str:
        return "exact" if self.tol == 0 else f"{self.tol:.2g}"


_MSE, _GEO, _LOSSES, _LS = "2203.01238", "2105.02375", "2210.02192", "2402.03979"
_DNC23, _DNC24, _GK = "2305.13165", "2405.14468", "2410.23169"
_NUCLEAR = ((DERIVED, "the nuclear-norm relaxation"), (_GEO, "Lemma A.3"))
_SADDLE = ((_GEO, "Thm 3.2"), (_MSE, "Thm 3.2–3.3"), (_LOSSES, "Thm 2"))


def _f(family: str, *rows) -> tuple:
    return tuple(ClaimSpec(key, name, sources, tol, family) for key, name, sources, tol in rows)


CLAIMS: tuple[ClaimSpec, ...] = (
    *_f("solutions",
        ("obj", "solver f = predicted global minimum f* (rel)",
         ((_MSE, "Thm B.1"), (_LS, "Thm 4.1"), (_LOSSES, "Thm 1")), 1e-9),
        ("route", "MSE case formulas = SVD value route (rel)", ((_MSE, "Thm B.1 vs Lemma B.2–B.3"),), 1e-12),
        ("ext", "EXTENSION beyond the printed d-hypotheses: f = g(a*)",
         ((DERIVED, "d = K−1 for CE/LS/FL, d = K for FL, numerically"),), 1e-9),
        ("proc", "solution = predicted minimizer mod rotation", ((_MSE, "Thm B.1"), (_LS, "eqs. 11–12")), 1e-6),
        ("b", "bias b = b*", ((_MSE, "Thm B.1 (bias)"), (_LS, "Thm 4.1 (iii)")), 1e-7),
        ("nc", "NC1, self-duality, NC4 (and NC2, NC3 where H̄ᵀH̄ ∝ Π) ≈ 0",
         ((_MSE, "Thm 3.1"), (_GEO, "Thm 3.1"), (_LOSSES, "Thm 1")), 1e-8),
        ("norm", "mean ‖w^k‖, ‖h̄_k − h_G‖ = closed form (rel)", ((_LS, "Thm 4.1, Fig. 6(b)"),), 1e-6),
        ("cert", "certificate ‖G‖₂/λ_Z = 1 at minimizers (≤ 1 at 0)", _NUCLEAR, 1e-6),
        ("gap", "certified gap bound f − f* ≤ bound, bound/|f| small", _NUCLEAR, 1e-9),
        ("crit", "critical points: λ_W WᵀW = λ_H HHᵀ (rel)", ((_GEO, "Lemma B.2"), (_LOSSES, "App. C Lemma 5")), 1e-7),
        ("sdual", "self-duality with its scale: h_{k,i} = √(λ_W/(λ_H n)) w^k (rel)",
         ((_MSE, "Lemma B.4"), (_GEO, "Thm 3.1"), (_LOSSES, "Thm 1")), 1e-7),
        ("dlow", "MSE d < K−1: WWᵀ ∝ rank-d projection in range(Π); an equal-norm polygon also attains f*",
         ((_MSE, "Thm 3.1 (d < K−1: P_d(I − 11ᵀ/K)) and its discussion of d"),), 1e-8),
        ("small", "λ·√(KN) = 10⁻⁶: f = f* (claim obj) and, to the float64 floor √(ε/λ), the minimiser, NC, "
                  "self-duality, λ_W WᵀW = λ_H HHᵀ, certificate ratio 1",
         ((DERIVED, "claims proc, nc, sdual, crit, cert at the tiny-λ edge"),), 1e-4)),
    *_f("scale",
        ("scale", "CE/LS a* closed form = 1-D global minimiser of g", ((_LS, "Lemma D.5"), (_LOSSES, "Thm 1")), 1e-9),
        ("xi", "min_ρ ξ(ρ) = CE minimum; ξ = g on the NC family", ((_GEO, "App. B.1, Fig. 8"),), 1e-10),
        ("phi", "L(z) ≥ φ(Σ(z_j − z_k)), equality iff off-target equal", ((_LOSSES, "Def. 1, App. B"),), 1e-12)),
    *_f("hessian",
        ("kappa", "cond(∇²_W φ) = cond(∇²_H φ) = K·p_t, K ≥ 3; = 1 at K = 2 (rel)",
         ((_LS, "Thm 4.2, eqs. 51, 59 (K = 2: erratum)"),), 1e-8),
        ("spec", "block spectra = eqs. 45/49/58 with multiplicities", ((_LS, "App. E (eq. 52 with 1/N)"),), 1e-8),
        ("zero", "zero modes of ∇²f = rotation-orbit dimension (+1 for CE/LS/FL when λ_b = 0)",
         ((DERIVED, "rotations W→WR, H→RᵀH; the softmax shift b → b + c1"),), 0.0)),
    *_f("rescaled",
        ("alpha", "rescaled MSE (α, M), d ≥ K: certified; NC1, self-duality, NC3, NC4 ≈ 0; WWᵀ ∈ span{I, 11ᵀ}",
         ((_MSE, "§3.1 (rescaled MSE, conjectured there); App. Thm B.1 for the Gram's form"),), 1e-8)),
    *_f("rates",
        ("lsrate", "CE/LS minimiser: GD rate = full-Hessian model (rel on 1 − rate); κ_full(LS) > κ_full(CE)",
         ((_LS, "Thm 4.2 (its conclusion; the blocks' K·p_t is claim kappa)"),), 1e-3)),
    *_f("saddles",
        ("sgrad", "saddle: ‖∇f‖ ≈ 0", _SADDLE, 1e-10),
        ("sray", "saddle: ∇²f[Δ,Δ] = 2(λ_Z − ‖G‖₂) (rel)", ((_GEO, "App. C"),), 1e-8),
        ("smin", "saddle: λ_min(∇²f) ≤ Rayleigh(Δ) < 0, and ufm.curvature proves it (verdict negative)", ((_GEO, "Thm 3.2"), (_MSE, "Thm 3.2")), 1e-10),
        ("sexact", "origin: λ_min = (λ_W+λ_H)/2 − √(((λ_W−λ_H)/2)² + ‖G‖²)",
         ((DERIVED, "the origin's block Hessian"),), 1e-8),
        ("sratio", "saddle: certificate ratio > 1", ((_GEO, "Thm 3.2 proof"),), 0.0),
        ("sesc", "saddle + 1e-6 perturbation escapes to f* (rel)", ((_LOSSES, "Thm 2"), (_MSE, "Thm 3.3")), 1e-9),
        ("fesc", "saddle: gradient descent (η = 1/λ_max) from a 1e-6 random start escapes when the quadratic "
                 "model says (steps, rel, ±1)",
         ((_LOSSES, "Thm 2"), (_GEO, "Thm 3.2"), (DERIVED, "ufm.theory.escape")), 0.02)),
    *_f("fl",
        ("fl", "FL convex iff p_k ≥ τ(γ) (sharp; printed: 0.21 suffices)", ((_LOSSES, "Cor. 2 (τ derived)"),), 1e-12)),
    *_f("imbalance",
        ("imb_mse", "imbalanced MSE: f, WWᵀ, H̄ᵀH̄, b = closed form",
         ((DERIVED, "closed form, in the setting of"), ("2301.00437", "(Dang et al. 2023)")), 1e-7),
        ("imb_red", "imbalanced: class-mean solve = full solve, certified", ((DERIVED, "ufm.reduction"),), 1e-10),
        ("imb_thr", "MSE minority collapse at λ_Z = M√n_min/N (bisection, rel)",
         ((DERIVED, "closed form, in the setting of"), ("2301.00437", "(Dang et al. 2023)")), 1e-8),
        ("imb_mc", "CE/LS minority merge at λ_Z = (1−δ)√n_min/N (rel); vanish certified both sides",
         ((DERIVED, "ufm.theory.merge_threshold"), ("2101.12699", "minority collapse"),
          ("2309.09725", "the two-cluster threshold")), 1e-8),
        ("imb_seli", "CE λ→0, no bias: WWᵀ → SELI, away from the ETF", (("2208.05512", "SELI geometry"),), 0.15)),
    *_f("deep",
        ("deep_lin", "deep linear UFM, balanced bias-free MSE, depth L: f* = r·g(s*) + (K − r)·g(0), the 1-D "
                     "problem of the Schatten-2/(L+1) quasi-norm (rel)",
         ((DERIVED, "AM–GM on the L + 1 factors and von Neumann's inequality (theory.deep_linear_mse)"),
          ("2301.00437", "(Dang et al. 2023) bias-free MSE: orthogonal-frame global minima")), 1e-10),
        ("deep_thr", "deep linear MSE: collapse to the origin iff β > β* = (L+1)/L·((L−1)/L)^((L−1)/(L+1)) "
                     "(0.95× and 1.05× λ*, rel)",
         ((DERIVED, "the 1-D problem's tie t* = (L − 1)/L"), (_MSE, "Thm 3.1 at L = 1")), 1e-10),
        ("deep_imb", "deep linear MSE, class counts n_k: f* = Σ_k of each class's 1-D problem (β_k = "
                     "2NC(M√n_k)^{q−2}); the minimiser is critical with that value, no solve goes lower, the "
                     "smallest class collapses first at its λ* (rel)",
         ((DERIVED, "the target M·D^{1/2} in the quasi-norm route (theory.deep_linear_mse)"),
          ("2301.00437", "(Dang et al. 2023) bias-free imbalanced MSE: orthogonal frame, lengths by n_k")), 1e-10),
        ("deep_l1", "deep linear MSE at L = 1 = the one-layer closed form (rel)",
         ((DERIVED, "the quasi-norm is the nuclear norm at L = 1"), (_MSE, "Thm 3.1, Thm B.1")), 1e-12),
        ("dnc_val", "ReLU MSE DUFM: the DNC point (orthogonal frames, balanced) has f = theory.dnc's value (rel) and "
                    "orthogonal-frame class means at every layer",
         ((DERIVED, "ReLU is the identity on the nonnegative frame: the deep linear rank-K value"),
          (_DNC23, "the DNC geometry")), 1e-12),
        ("dnc_opt", "ReLU MSE DUFM, K = 2 or L = 2: no start of the census ends below the DNC value (rel margin)",
         ((_DNC23, "binary classification: DNC is the global optimum"),
          (_DNC24, "DNC optimal with two layers or two classes")), 1e-9),
        ("dnc_low", "ReLU MSE DUFM beyond two layers and two classes (K = 4, L = 4, λ = 2e-3): the census reaches "
                    "a point below the DNC value (its objective proves f* < f_DNC)",
         ((_DNC24, "DNC is not optimal beyond two layers or two classes (low-rank bias)"),), 0.0),
        ("deep_ce", "deep linear CE, balanced, bias-free: the simplex-ETF (DNC) point is critical with no negative "
                    "curvature found; at L = 2 no census start ends below it, at L ≥ 3 (K ≥ 4) lower-rank points do "
                    "(rel)",
         ((DERIVED, "the 1-D problem on the ETF family (theory.dnc for CE)"),
          (_GK, "low-rank bias with cross-entropy; DNC persists as a local minimum"),
          ("2301.00437", "(Dang et al. 2023) NC of deep linear CE global minima: holds here at L = 2 only")), 1e-10),
        ("dnc_graph", "ReLU MSE DUFM, K = m(m−1)/2: the complete-graph point of rank m (theory.low_rank) has f = "
                      "its 1-D closed form (rel), below f_DNC exactly where C_LR < C_DNC (K = 6, 10 at L = 4)",
         ((DERIVED, "the pattern's norms and the balanced 1-D problem (theory.low_rank)"),
          (_DNC24, "the K = 10 construction from the complete graph on 5 vertices")), 1e-12)),
    *_f("census",
        ("census", "census: every end point is the global minimum or a strict saddle",
         ((_GEO, "Thm 3.2"), (_MSE, "Thm 3.2–3.3"), (_LOSSES, "Thm 2, Cor. 1–2")), 0.0)),
)

#: The keys of the battery's claims (`ufm.theory.claims()` names them); the full battery runs every one.
CLAIM_KEYS = frozenset(c.key for c in CLAIMS)
assert len(CLAIM_KEYS) == len(CLAIMS), "two claims share a key"


def claim_spec(key: str) -> ClaimSpec:
    """The claim with this key (KeyError names the known keys)."""
    for c in CLAIMS:
        if c.key == key:
            return c
    raise KeyError(f"no claim {key!r}; the claims are {', '.join(sorted(CLAIM_KEYS))}")


__all__ = ["ClaimSpec", "CLAIMS", "CLAIM_KEYS", "claim_spec", "DERIVED"]
